"""The command line: ``python -m transfer_fsm replay [FILE]`` and ``python -m transfer_fsm table``.

``replay`` reads a notification log (a JSON array of commsNotifications
bodies, or one body per line), reduces every notification into its call and
prints one line per notification, then each call's final view. Without FILE
it replays a bundled log of a failed consultative transfer. This module is
the only one that does I/O; the library itself never does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from typing import TextIO

from .parse import NotificationError, parse_notifications
from .render import generated_markdown
from .report import step
from .values import Call, TransferRequested

EXAMPLE = "failed-consultative-transfer.jsonl"


def read_log(text: str) -> list[object]:
    """The bodies of a log: a JSON array of bodies, or JSON lines."""
    if text.lstrip().startswith("["):
        bodies = json.loads(text)
        if not isinstance(bodies, list):
            raise ValueError("expected a JSON array of bodies")
        return bodies
    return [line for line in text.splitlines() if line.strip()]


def _value(item: object) -> str:
    return "-" if item is None else str(item)


def describe(call: Call) -> str:
    """A call's view in three columns: call state, audio, transfer status."""
    transfer = call.transfer
    status = None if transfer is None else transfer.status
    return f"{_value(call.state):17} {_value(call.audio):9} {_value(status):13}"


def outcome(call: Call) -> str:
    """The final view of a call, in words."""
    transfer = call.transfer
    status = None if transfer is None else transfer.status
    lines = [
        f"call {call.call_id}: state {_value(call.state)}, audio {_value(call.audio)}, "
        f"transfer {_value(status)}"
    ]
    if transfer is not None and transfer.result is not None:
        result = transfer.result
        lines.append(f"  transfer result: {result.code}/{result.subcode} {result.message or ''}")
    if transfer is not None and transfer.replaces_context is not None:
        lines.append(f"  replacesContext: {transfer.replaces_context}")
    if call.termination_reason is not None:
        lines.append(f"  terminationReason: {call.termination_reason}")
    return "\n".join(lines)


def replay(bodies: Sequence[object], requested: bool, out: TextIO) -> dict[str, Call]:
    """Reduce every notification of the log, printing a line for each."""
    calls: dict[str, Call] = {}
    number = 0
    out.write(f"{'#':>3}  {'call state':17} {'audio':9} {'transfer':13} {'event':9} milestones\n")
    for index, body in enumerate(bodies, 1):
        try:
            events = parse_notifications(body)  # type: ignore[arg-type]
        except NotificationError as error:
            out.write(f"body {index}: rejected: {error}\n")
            continue
        for event in events:
            number += 1
            call = calls.get(event.call_id)
            if call is None:
                call = Call(event.call_id)
                if requested:
                    call = step(call, TransferRequested()).call
            result = step(call, event)
            calls[event.call_id] = result.call
            milestones = ",".join(m.value for m in result.milestones) or "-"
            did = result.outcome.value
            out.write(f"{number:3}  {describe(result.call)} {did:9} {milestones}\n")
    return calls


BEGIN, END = "<!-- generated:table -->", "<!-- /generated:table -->"


def write_generated(path: str) -> None:
    """Replace what stands between the generated-table markers of a Markdown file."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w", encoding="utf-8") as file:
        file.write(f"{head}{BEGIN}\n{generated_markdown()}\n{END}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m transfer_fsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser("replay", help="replay a notification log")
    replay_cmd.add_argument("file", nargs="?", help="JSON array or JSON lines of bodies")
    replay_cmd.add_argument(
        "--requested", action="store_true", help="reduce TransferRequested into each call first"
    )
    table_cmd = commands.add_parser("table", help="print the transition tables as Markdown")
    table_cmd.add_argument("--write", metavar="FILE", help="replace the generated part of FILE")
    args = parser.parse_args(argv)
    if args.command == "table":
        if args.write is None:
            sys.stdout.write(generated_markdown() + "\n")
        else:
            write_generated(args.write)
        return 0
    if args.file is None:
        text = (resources.files("transfer_fsm") / "examples" / EXAMPLE).read_text("utf-8")
        sys.stdout.write(f"replaying the bundled example {EXAMPLE}\n")
    else:
        with open(args.file, encoding="utf-8") as log:
            text = log.read()
    try:
        bodies = read_log(text)
    except ValueError as error:
        sys.stderr.write(f"{args.file}: not a notification log: {error}\n")
        return 2
    calls = replay(bodies, args.requested, sys.stdout)
    sys.stdout.write("final:\n")
    for call in calls.values():
        sys.stdout.write(outcome(call) + "\n")
    return 0
