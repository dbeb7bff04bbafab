"""``transfer-fsm replay FIXTURE``: replay a failing delivery ``transfer-fsm conform`` wrote,
input by input through the reference, and show where the reference and the bot part."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from ..report import step
from ..values import Call
from .inputs import describe_input, events_of
from .verdict import compare_view, counted, project


def is_fixture(data: object) -> bool:
    """Whether a decoded log is a fixture (an object with a ``fixture`` version)."""
    return isinstance(data, dict) and "fixture" in data and "inputs" in data


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def replay_fixture(fixture: Mapping[str, Any], out: TextIO) -> bool:
    """Replay ``fixture`` through the reference, one line per input; whether the bot's
    recorded answer agrees with the reference (it does not, for a fixture conform wrote)."""
    call_id = fixture["call_id"]
    start = fixture.get("start")
    call = Call(call_id) if start is None else Call.from_dict(start)
    out.write(
        f"case {fixture['case']}, delivery {fixture['delivery']} ({fixture.get('kind', '-')}): "
        f"{fixture.get('name', '')}\n"
        f"{'#':>3}  {'call state':17} {'audio':9} {'transfer':13} {'event':9} "
        f"{'milestones':30} input\n"
    )
    fired: list[dict[str, Any]] = []
    for number, item in enumerate(fixture["inputs"], 1):
        for event in events_of(item, call_id):
            done = step(call, event)
            call = done.call
            attempt = 0 if call.transfer is None else call.transfer.attempt
            fired += [{"milestone": m.value, "attempt": attempt} for m in done.milestones]
            status = None if call.transfer is None else call.transfer.status
            named = ",".join(f"{m.value}#{attempt}" for m in done.milestones) or "-"
            out.write(
                f"{number:3}  {_cell(call.state):17} {_cell(call.audio):9} {_cell(status):13} "
                f"{done.outcome.value:9} {named:30} {describe_input(item)}\n"
            )
    return _part(fixture, call.to_dict(), fired, out)


def _part(
    fixture: Mapping[str, Any], final: dict[str, Any], fired: list[dict[str, Any]], out: TextIO
) -> bool:
    """Print where the bot's recorded answer and the reference part; whether they agree."""
    actual = fixture.get("actual") or {}
    view = actual.get("view") or {}
    expected = fixture.get("expected") or {}
    if expected.get("final") not in (None, final):
        out.write("note: the reference now ends elsewhere than when the fixture was written\n")
    _, differ = compare_view(final, view)
    out.write(f"reference: {json.dumps(project(final, view))}\n")
    out.write(f"bot:       {json.dumps(view)}\n")
    milestones = actual.get("milestones")
    parts = [
        f"{path}: reference {json.dumps(_at(final, path))}, bot {json.dumps(_at(view, path))}"
        for path in differ
    ]
    if milestones is not None and counted(milestones) != counted(fired):
        mine = sorted(counted(fired).elements())
        theirs = sorted(counted(milestones).elements())
        parts.append(f"milestones: reference {json.dumps(mine)}, bot {json.dumps(theirs)}")
    if not parts:
        out.write("the bot agrees with the reference\n")
        return True
    out.write("they part at:\n" + "".join(f"  {part}\n" for part in parts))
    return False


def _at(data: Mapping[str, Any], path: str) -> object:
    value: Any = data
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value
