"""The diagrams say what the reducer does: every arrow is a move, every move an arrow.

The generated Mermaid is parsed back by a small parser of the grammar the
generator uses, and each arrow's claim is checked by reducing that fact's
event into a call in that phase and state; conversely every move the reducer
makes from the states a diagram shows is one of its arrows. The docs embed
the generated diagrams, and ``python -m transfer_fsm diagram`` prints them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from flows import CALL_ID, note

import transfer_fsm as tf
from transfer_fsm import Call, CallState, ResultInfo, Transfer, TransferStatus
from transfer_fsm.cli import DIAGRAM_BEGIN, DIAGRAM_END
from transfer_fsm.diagram import diagram_markdown
from transfer_fsm.reducer import classify
from transfer_fsm.rules import Fact

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

FAILURE = ResultInfo(500, 7000, "failed")
LATE = ResultInfo(500, 7700, "an earlier attempt's failure")
TRANSFERRED = ResultInfo(0, 7015, "GracefulTransferCompleted")


def _operation(**fields: str | ResultInfo) -> tf.OperationNotification:
    return tf.OperationNotification(CALL_ID, "op1", **fields)  # type: ignore[arg-type]


# One event for each fact, built as Graph and the bot send them.
EVENTS: dict[Fact, tf.Event] = {
    **{
        Fact(state.value): note(state)
        for state in CallState
        if state.value in Fact._value2member_map_
    },
    Fact.ESTABLISHED_FAILED: note(CallState.ESTABLISHED, result=FAILURE),
    Fact.TERMINATED_TRANSFERRED: note(CallState.TERMINATED, result=TRANSFERRED),
    Fact.NO_STATE: note(None, tf.Audio.ACTIVE),
    Fact.UNKNOWN_STATE: note("someFutureState"),
    Fact.OPERATION_TRANSFERRING: _operation(status="running", progress="transferring"),
    Fact.OPERATION_ACCEPTED: _operation(status="running", progress="transferAccepted"),
    Fact.OPERATION_FAILED: _operation(status="failed", result=FAILURE, progress="transferring"),
    Fact.EARLIER_FAILURE: note(CallState.ESTABLISHED, result=LATE),
    Fact.REQUESTED: tf.TransferRequested(),
    Fact.REJECTED: tf.TransferRejected(FAILURE),
    Fact.ABANDONED: tf.TransferAbandoned(),
}
PHASE_OF: dict[str, TransferStatus | None] = {
    "no attempt": None,
    **{status.value: status for status in TransferStatus},
}


def start(phase: TransferStatus | None, state: CallState | None) -> Call:
    """A call in ``state`` and ``phase`` that remembers the failure ``LATE``."""
    transfer = None if phase is None else Transfer(phase)
    return Call(CALL_ID, state, None, transfer, earlier_failures=(LATE,))


# The grammar the generator uses, and its parser -----------------------------------

ID = r"[A-Za-z][A-Za-z0-9_]*"
LABEL = r"[^:;\"{}#\n]+"
HEADER = re.compile(r"stateDiagram-v2")
DECLARE = re.compile(rf'    state "([^"\n]+)" as ({ID})')
EDGE = re.compile(rf"    (\[\*\]|{ID}) --> ({ID}): ({LABEL})")
BLOCK = re.compile(r"```mermaid\n(.*?)\n```", re.S)
HEADING = re.compile(r"^### (.*)$", re.M)
BOX = re.compile(r"(.+) \(rank (-?\d+)\)")
ONLY_HERE = " (from here only)"


class Edge(NamedTuple):
    source: str
    target: str
    labels: list[str]


class Diagram(NamedTuple):
    heading: str
    boxes: dict[str, tuple[int, tuple[CallState, ...]]]  # id -> rank, states
    edges: list[Edge]


def parse(markdown: str) -> list[Diagram]:
    """Every mermaid block of ``markdown``, under its heading; fails on a line off the grammar."""
    diagrams = []
    for block in BLOCK.finditer(markdown):
        heading = HEADING.findall(markdown[: block.start()])[-1]
        lines = block.group(1).split("\n")
        assert HEADER.fullmatch(lines[0]), lines[0]
        boxes: dict[str, tuple[int, tuple[CallState, ...]]] = {}
        edges = []
        for line in lines[1:]:
            if declared := DECLARE.fullmatch(line):
                text, name = declared.groups()
                found = BOX.fullmatch(text)
                assert found, text
                states = tuple(CallState(state) for state in found.group(1).split(" = "))
                assert name == "_".join(state.value for state in states)
                boxes[name] = (int(found.group(2)), states)
            else:
                edge = EDGE.fullmatch(line)
                assert edge, f"not in the grammar: {line!r}"
                source, target, label = edge.groups()
                edges.append(Edge(source, target, label.split(" / ")))
        diagrams.append(Diagram(heading, boxes, edges))
    return diagrams


DIAGRAMS = parse(diagram_markdown())
STATUS = DIAGRAMS[0]
AXES = DIAGRAMS[1:]


def phases_of(diagram: Diagram) -> list[TransferStatus | None]:
    """The phases a call-state diagram's heading names."""
    found = re.fullmatch(r"Call-state axis, phase: (.+) \(`rules.RULES`\)", diagram.heading)
    assert found, diagram.heading
    return [PHASE_OF[name] for name in re.split(r", | or ", found.group(1))]


def test_the_docs_embed_the_generated_diagrams() -> None:
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    embedded = text.split(DIAGRAM_BEGIN, 1)[1].split(DIAGRAM_END, 1)[0].strip()
    assert embedded == diagram_markdown(), "python -m transfer_fsm diagram --write docs/model.md"


def test_every_block_is_in_the_grammar_and_every_state_it_uses_is_declared() -> None:
    assert STATUS.heading == "Transfer status (`rules.RULES`)"
    assert {e.source for e in STATUS.edges} | {e.target for e in STATUS.edges} == {
        "[*]",
        *(status.value for status in TransferStatus),
    }
    for diagram in AXES:
        used = {edge.source for edge in diagram.edges} | {edge.target for edge in diagram.edges}
        assert used - {"[*]"} <= set(diagram.boxes), diagram.heading
        ranks = [rank for rank, _ in diagram.boxes.values()]
        assert ranks == sorted(set(ranks)), "boxes lowest rank first, one box a rank"


def test_a_line_outside_the_grammar_is_refused() -> None:
    for bad in ['    state "a b" as a b', "    a -> b: x", "    a --> b: x: y", "    a --> [*]: x"]:
        with pytest.raises(AssertionError):
            parse(f"### H\n\n```mermaid\nstateDiagram-v2\n{bad}\n```")


def test_the_events_are_the_facts_they_stand_for() -> None:
    for phase in PHASE_OF.values():
        for fact, event in EVENTS.items():
            assert classify(start(phase, CallState.ESTABLISHED), event) is fact
    assert set(EVENTS) == set(Fact)


# The transfer status ---------------------------------------------------------------

# Every call state a transfer status can move from: all but the absorbing one.
LIVE: list[CallState | None] = [None, *(s for s in CallState if s is not CallState.TERMINATED)]


def _status(call: Call) -> str:
    return "[*]" if call.transfer is None else call.transfer.status.value


def test_every_status_arrow_is_a_move_and_every_move_an_arrow() -> None:
    claimed = {
        (edge.source, Fact(label), edge.target) for edge in STATUS.edges for label in edge.labels
    }
    made = set()
    for name, phase in PHASE_OF.items():
        source = "[*]" if phase is None else name
        for state in LIVE:
            for fact, event in EVENTS.items():
                after = _status(tf.reduce(start(phase, state), event))
                if after != source:
                    made.add((source, fact, after))
    assert made == claimed


def test_a_terminated_call_moves_only_the_status_of_an_attempt_still_to_settle() -> None:
    """``terminated`` is absorbing, but Graph's word still settles an abandoned attempt."""
    settling: dict[TransferStatus | None, list[Fact]] = {
        TransferStatus.ABANDONED: [
            Fact.ESTABLISHED_FAILED,
            Fact.TERMINATED_TRANSFERRED,
            Fact.OPERATION_FAILED,
            Fact.REJECTED,
        ]
    }
    for phase in PHASE_OF.values():
        call = start(phase, CallState.TERMINATED)
        moved = [fact for fact, event in EVENTS.items() if tf.reduce(call, event) != call]
        assert moved == settling.get(phase, []), phase
        for fact in moved:
            after = tf.reduce(call, EVENTS[fact])
            assert after.state is CallState.TERMINATED
            assert after.transfer is not None
            assert after.transfer.status in (TransferStatus.FAILED, TransferStatus.COMPLETED)
    assert "in `abandoned`, `established + failure resultInfo`" in diagram_markdown()


# The call-state axis ---------------------------------------------------------------


FROM_NAMED = re.compile(r"(.*) \(from ([a-zA-Z, ]+) only\)")


def _target(label: str) -> tuple[Fact, CallState, bool, set[CallState]]:
    """What an arrow's label claims: the fact, the state it puts the call in, from here only,
    and the unranked states it names as its only sources (``[*]`` arrows of a refusal)."""
    only_here = label.endswith(ONLY_HERE)
    label = label.removesuffix(ONLY_HERE)
    named: set[CallState] = set()
    if not only_here and (found := FROM_NAMED.fullmatch(label)):
        label = found.group(1)
        named = {CallState(state) for state in found.group(2).split(", ")}
    fact, _, state = label.partition(" → ")
    return Fact(fact), CallState(state or fact.split(" ", 1)[0]), only_here, named


def claimed_moves(diagram: Diagram) -> set[tuple[CallState | None, Fact, CallState]]:
    """Every (from, fact, to) with from ≠ to that the diagram's arrows claim."""
    rank = {name: box_rank for name, (box_rank, _) in diagram.boxes.items()}
    rank["[*]"] = -1
    claims: set[tuple[CallState | None, Fact, CallState]] = set()
    for edge in diagram.edges:
        _, into = diagram.boxes[edge.target]
        for label in edge.labels:
            fact, state, only_here, named = _target(label)
            assert state in into, label
            if named:  # from the unranked states it names, and from nothing else
                claims |= {(source, fact, state) for source in named}
                continue
            # the box the arrow leaves ([*]: no state yet), then what it stands for besides
            sources: set[CallState | None] = set(diagram.boxes.get(edge.source, (0, (None,)))[1])
            if not only_here:
                sources |= {None, *into}
                sources |= {
                    s for n, (r, b) in diagram.boxes.items() if r <= rank[edge.source] for s in b
                }
            claims |= {(source, fact, state) for source in sources if source is not state}
    return claims


def made_moves(
    phase: TransferStatus | None, states: list[CallState | None]
) -> set[tuple[CallState | None, Fact, CallState]]:
    """Every (from, fact, to) with from ≠ to that ``reduce`` makes from ``states`` in ``phase``."""
    made = set()
    for state in states:
        for fact, event in EVENTS.items():
            after = tf.reduce(start(phase, state), event).state
            if after is not state:
                assert after is not None
                made.add((state, fact, after))
    return made


@pytest.mark.parametrize("diagram", AXES, ids=[d.heading for d in AXES])
def test_every_call_state_arrow_is_a_move_and_every_move_an_arrow(diagram: Diagram) -> None:
    shown: list[CallState | None] = [None]
    shown += [state for _, states in diagram.boxes.values() for state in states]
    claims = claimed_moves(diagram)
    # a refusal's arrow from [*] names unranked states: checked with them, in the next test
    drawn = {claim for claim in claims if claim[0] in shown}
    for phase in phases_of(diagram):
        assert made_moves(phase, shown) == drawn, phase


@pytest.mark.parametrize("diagram", AXES, ids=[d.heading for d in AXES])
def test_a_state_the_phase_does_not_rank_moves_as_no_state_does(diagram: Diagram) -> None:
    """``[*]`` stands for them too: in phase failed a call may still say transferring (but
    for the refusal's arrows from ``[*]`` that name it)."""
    shown = {state for _, states in diagram.boxes.values() for state in states}
    unshown = [state for state in CallState if state not in shown]
    assert unshown
    named = claimed_moves(diagram)
    for phase in phases_of(diagram):
        from_nothing = {(fact, to) for _, fact, to in made_moves(phase, [None])}
        for state in unshown:
            moves = {(fact, to) for _, fact, to in made_moves(phase, [state])}
            own = {(fact, to) for source, fact, to in named if source is state}
            assert moves == {(f, to) for f, to in from_nothing if to is not state} | own, state


def test_every_phase_has_its_call_state_axis_or_moves_nothing() -> None:
    drawn = [phase for diagram in AXES for phase in phases_of(diagram)]
    assert len(drawn) == len(set(drawn))
    undrawn = [phase for phase in PHASE_OF.values() if phase not in drawn]
    for phase in undrawn:
        assert (
            f"In phase {phase.value if phase else 'no attempt'} no fact moves" in diagram_markdown()
        )
        assert made_moves(phase, [None, *CallState]) == set()
    assert undrawn == [TransferStatus.COMPLETED]


# The command -----------------------------------------------------------------------


def _run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "transfer_fsm", *args],
        capture_output=True,
        cwd=cwd,
        env=ENV,
        timeout=120,
    )
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def test_the_diagrams_print_as_markdown() -> None:
    assert _run("diagram") == (0, diagram_markdown() + "\n", "")


def test_diagram_write_replaces_only_the_generated_part(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n{DIAGRAM_BEGIN}\nold\n{DIAGRAM_END}\nafter\n", "utf-8")
    assert _run("diagram", "--write", str(page)) == (0, "", "")
    written = f"# Title\n{DIAGRAM_BEGIN}\n{diagram_markdown()}\n{DIAGRAM_END}\nafter\n"
    assert page.read_text("utf-8") == written
    assert _run("diagram", "--write", str(page)) == (0, "", "")
    assert page.read_text("utf-8") == written


@pytest.mark.parametrize(
    "content",
    [
        "# No markers here\n",
        f"{DIAGRAM_BEGIN}\nbut no end\n",
        "<!-- generated:table -->\nthe table's markers\n<!-- /generated:table -->\n",
    ],
)
def test_diagram_write_without_its_markers_is_one_line_and_exit_2(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "page.md").write_text(content, "utf-8")
    problem = f"no {DIAGRAM_BEGIN} ... {DIAGRAM_END} markers to write between"
    status, out, err = _run("diagram", "--write", "page.md", cwd=tmp_path)
    assert (status, out, err) == (2, "", f"python -m transfer_fsm diagram: page.md: {problem}\n")
    assert (tmp_path / "page.md").read_text("utf-8") == content
