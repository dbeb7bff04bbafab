"""Mermaid state diagrams generated from the transition table: never drawn by hand.

``python -m transfer_fsm diagram`` prints them; ``docs/model.md`` embeds them
between ``<!-- generated:diagram -->`` markers and a test keeps the two equal.

Two kinds of diagram, both read only from :mod:`transfer_fsm.rules`:

* the **transfer status**: one arrow per status change a rule makes, from the
  phase it is read in (``[*]``: no attempt) to the status it moves to;
* the **call-state axis** of each phase (phases whose tables rank the states
  alike share one): a box per rank, lowest first (states of equal rank share a
  box), and for each fact one arrow into the box of the state it puts the call
  in, from the highest box it can still move the call from. Every box below
  that one moves too, so the axis needs one arrow per fact rather than one per
  pair of states. A refused POST moves only the states it restores
  (``rules.REFUSAL_RESTORES``); its arrows say "from here only", or, from
  ``[*]``, name the unranked states they leave.
"""

from __future__ import annotations

from typing import NamedTuple

from .render import PHASES
from .rules import (
    FACT_STATE,
    REFUSAL_RESTORES,
    RULES,
    SETTLED_AFTER_END,
    STATE_RANK,
    Fact,
    advances_to,
)
from .values import CallState, TransferStatus

ONLY_HERE = " (from here only)"
"""Marks a fact that moves the call only from the box its arrow leaves."""
START = "[*]"
"""The diagrams' start: no call state reported yet, or no attempt yet."""


class Box(NamedTuple):
    """The call states that share one rank on a phase's call-state axis."""

    rank: int
    states: tuple[CallState, ...]

    @property
    def id(self) -> str:
        """The Mermaid state id: the states' names, joined by ``_``."""
        return "_".join(state.value for state in self.states)

    @property
    def label(self) -> str:
        """What the box shows: its states (``=``: the later delivered wins) and its rank."""
        return f"{' = '.join(state.value for state in self.states)} (rank {self.rank})"


def boxes(phase: TransferStatus | None) -> list[Box]:
    """The phase's ranked call states, grouped by rank, lowest rank first."""
    by_rank: dict[int, list[CallState]] = {}
    for state, rank in STATE_RANK[phase].items():
        if state is not None:
            by_rank.setdefault(rank, []).append(state)
    return [Box(rank, tuple(states)) for rank, states in sorted(by_rank.items())]


def fact_label(fact: Fact, state: CallState) -> str:
    """A fact's wire words, naming the state it puts the call in unless they start with it."""
    named = fact.value.partition(" ")[0] == state.value
    return fact.value if named else f"{fact.value} → {state.value}"


def call_state_edges(phase: TransferStatus | None) -> dict[tuple[str, str], list[str]]:
    """The arrows of a phase's call-state axis: (from, to) → the labels of their facts.

    A fact of rank ``r`` puts the call in its state from any state ranked at
    most ``r``; its arrow leaves the highest such box other than the one it
    enters (``[*]`` when there is none), so that every box below moves too.
    A refused POST (``TransferRejected``) moves the states of
    ``REFUSAL_RESTORES`` only: its arrows are marked :data:`ONLY_HERE`.
    """
    ranked = boxes(phase)
    home = {state: box for box in ranked for state in box.states}
    edges: dict[tuple[str, str], list[str]] = {}
    for box in ranked:
        for fact, rule in RULES[phase].items():
            state = FACT_STATE.get(fact)
            if rule.rank is None or state is None or home[state] != box:
                continue
            below = [other for other in ranked if other.rank <= rule.rank and other != box]
            source = below[-1].id if below else START
            edges.setdefault((source, box.id), []).append(fact_label(fact, state))
    if Fact.REJECTED in RULES[phase]:  # a refused POST gives back what only an attempt reports
        unranked: dict[CallState, list[CallState]] = {}
        for seen, restored in REFUSAL_RESTORES.items():
            if seen is None or restored is None or restored not in home:
                continue
            if seen in home:
                label = fact_label(Fact.REJECTED, restored) + ONLY_HERE
                edges.setdefault((home[seen].id, home[restored].id), []).append(label)
            else:  # a state this phase does not rank: drawn from [*], naming it
                unranked.setdefault(restored, []).append(seen)
        for restored, seen_states in unranked.items():
            named = ", ".join(state.value for state in seen_states)
            label = f"{fact_label(Fact.REJECTED, restored)} (from {named} only)"
            edges.setdefault((START, home[restored].id), []).append(label)
    return edges


def call_state_diagram(phase: TransferStatus | None) -> str | None:
    """The phase's call-state axis as a ``stateDiagram-v2`` (``None``: no fact moves it)."""
    edges = call_state_edges(phase)
    if not edges:
        return None
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{box.label}" as {box.id}' for box in boxes(phase)]
    lines += [f"    {a} --> {b}: {' / '.join(facts)}" for (a, b), facts in edges.items()]
    return "\n".join(lines)


def status_edges() -> dict[tuple[str, str], list[str]]:
    """The arrows of the transfer status: (from, to) → the wire words of their facts.

    One arrow per status change a rule makes in a phase (``[*]``: no attempt),
    attempts opened by observation and the bot's own events included.
    """
    edges: dict[tuple[str, str], list[str]] = {}
    for _, phase in PHASES:
        for fact, rule in RULES[phase].items():
            status = advances_to(rule, phase)
            if status is not None:
                source = START if phase is None else phase.value
                edges.setdefault((source, status.value), []).append(fact.value)
    return edges


def status_diagram() -> str:
    """The transfer status as a ``stateDiagram-v2``."""
    lines = ["stateDiagram-v2"]
    lines += [f"    {a} --> {b}: {' / '.join(facts)}" for (a, b), facts in status_edges().items()]
    return "\n".join(lines)


def _mermaid(diagram: str) -> str:
    return f"```mermaid\n{diagram}\n```"


def _names(names: list[str]) -> str:
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


STATUS_TEXT = (
    "Each arrow is a status change and the facts that make it: `[*]` is a call with no "
    "attempt, so an arrow out of it opens one (by observation, or the bot's "
    "`TransferRequested`), and so does an arrow into `requested` or out of `failed`; a fact "
    "that names "
    "no arrow out of a status leaves it as it is, and so does every fact once the call is "
    "`terminated`, but for an attempt that is still Graph's to settle"
)


def status_text() -> str:
    """The status diagram's legend, naming the facts that still settle an attempt after the
    call ended (``rules.SETTLED_AFTER_END``)."""
    settled = []
    for phase, facts in SETTLED_AFTER_END.items():
        named = [f"`{fact.value}`" for fact in RULES[phase] if fact in facts]
        settled.append(f"in `{phase.value if phase else 'no attempt'}`, {_names(named)}")
    return f"{STATUS_TEXT} ({'; '.join(settled)}: its arrows hold then too)."


AXIS_TEXT = (
    "Each box is a call state, or states of one rank (`=`: the later delivered wins), "
    "lowest rank first; an arrow names the facts that put the call in the box (in the "
    "state they name, or after `→`) from the box it leaves, from every box of lower rank "
    "and from the other states of its own box, unless marked as from here only (`[*]`: no "
    "state reported yet, or a state this phase does not rank, such as `transferring` after "
    "a failed attempt); any other fact is stale for the call state."
)


def diagram_markdown() -> str:
    """What ``docs/model.md`` embeds as diagrams: the transfer status, then each phase's axis."""
    parts = ["### Transfer status (`rules.RULES`)", status_text(), _mermaid(status_diagram())]
    by_diagram: dict[str | None, list[str]] = {}
    for name, phase in PHASES:
        by_diagram.setdefault(call_state_diagram(phase), []).append(name)
    for diagram, names in by_diagram.items():
        phases = _names(names)
        if diagram is None:
            parts.append(f"In phase {phases} no fact moves the call-state axis.")
        else:
            parts += [f"### Call-state axis, phase: {phases} (`rules.RULES`)", AXIS_TEXT]
            parts.append(_mermaid(diagram))
    return "\n\n".join(parts)
