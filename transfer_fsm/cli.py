"""The ``transfer-fsm`` command (also ``python -m transfer_fsm``): replay, table, diagram, schema,
vectors, conform.

``replay`` reads a notification log (a JSON array of commsNotifications
bodies, one body per line, or a single body; ``-`` for standard input),
reduces every notification into its call and prints one line per
notification, then each call's final view. Without FILE it replays a bundled
log of a failed consultative transfer. ``table`` prints the transition tables,
``diagram`` the Mermaid state diagrams drawn from them, ``schema`` the JSON
Schema of call snapshots (``Call.to_dict``). ``vectors`` and ``conform``
(the conformance vectors, and the runner that checks a bot in any language
against them) live in :mod:`transfer_fsm.testing.commands`, imported only
when they run; ``replay`` also replays a fixture ``conform`` wrote.

Exit status: 0 when every body was applied, 1 when some bodies were rejected,
2 for a usage error or input that cannot be read as a log (one line on
stderr). Only this module and the test kit's commands (the runner starts the
harness, writes reports and fixtures) do I/O; the core never does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TextIO

from . import __version__
from .diagram import diagram_markdown
from .parse import NotificationError, decode, parse_notifications
from .render import generated_markdown
from .report import step
from .snapshot import json_schema
from .values import Call, TransferRequested

EXAMPLE = "failed-consultative-transfer.jsonl"
PROG = "transfer-fsm"

APPLIED, REJECTED, UNUSABLE = 0, 1, 2
"""Exit statuses: every body applied; some bodies rejected; usage error or unreadable input."""

INTERRUPTED, PIPE_CLOSED = 130, 141  # as a shell reports SIGINT and SIGPIPE

EXIT_STATUS = """\
exit status:
  0  every body was applied
  1  some bodies were rejected (each is listed in the output)
  2  usage error, or input that cannot be read as a log (one line on stderr)"""


class InputError(Exception):
    """Input the command cannot use; its message is the one line printed on stderr."""


def read_log(text: str) -> list[object]:
    """The bodies of a log: a JSON array of bodies, one body per line, or one body.

    Raises :class:`InputError` when the text is not JSON or holds no body.
    Whether each body is a notification body is :func:`replay`'s question.
    """
    if not text.strip():
        raise InputError("empty: no notification bodies")
    try:
        whole = decode(text)
    except NotificationError as error:
        lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        if text.lstrip().startswith("[") or len(lines) < 2:  # meant as one JSON value
            raise _not_json(error, "") from None
        return [_json(line, f"line {number}: ") for number, line in lines]  # JSON lines
    if not isinstance(whole, list):
        return [whole]
    if not whole:
        raise InputError("an empty JSON array: no notification bodies")
    return whole


def _json(line: str, where: str) -> object:
    """Decode one line of JSON lines exactly as the library decodes a body."""
    try:
        return decode(line)
    except NotificationError as error:
        raise _not_json(error, where) from None


def _not_json(error: NotificationError, where: str) -> InputError:
    found = error.found
    if where:  # the decoder counts lines within the one line
        found = re.sub(r" at line 1 column (\d+)$", r" at column \1", found)
    return InputError(f"{where}not {error.expected}: {found}")


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


def replay(bodies: Sequence[object], requested: bool, out: TextIO) -> tuple[dict[str, Call], int]:
    """Reduce every notification of the log, printing a line for each.

    Returns each call's final view and how many bodies were rejected.
    """
    calls: dict[str, Call] = {}
    number = rejected = 0
    out.write(f"{'#':>3}  {'call state':17} {'audio':9} {'transfer':13} {'event':9} milestones\n")
    for index, body in enumerate(bodies, 1):
        try:
            events = parse_notifications(body)  # type: ignore[arg-type]
        except NotificationError as error:
            rejected += 1
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
    return calls, rejected


BEGIN, END = "<!-- generated:table -->", "<!-- /generated:table -->"
DIAGRAM_BEGIN, DIAGRAM_END = "<!-- generated:diagram -->", "<!-- /generated:diagram -->"


def read_text(path: str) -> str:
    """The UTF-8 text of a file, or of standard input for ``-``; :class:`InputError` if none."""
    name = _name(path)
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: a directory, not a file") from None
    except OSError as error:
        raise InputError(f"{name}: cannot read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        where = f"byte 0x{byte:02x} at offset {error.start}"
        raise InputError(f"{name}: not UTF-8 text ({where})") from None


def _name(path: str) -> str:
    return "standard input" if path == "-" else path


GENERATED = {
    "table": (generated_markdown, BEGIN, END),
    "diagram": (diagram_markdown, DIAGRAM_BEGIN, DIAGRAM_END),
}
"""What each generating command prints, and the markers its ``--write`` writes between."""


def write_generated(path: str, command: str) -> None:
    """Replace what stands between a generating command's markers in a Markdown file."""
    generate, opening, closing = GENERATED[command]
    text = read_text(path)
    head, begin, rest = text.partition(opening)
    _, end, tail = rest.partition(closing)
    if not (begin and end):
        raise InputError(f"{path}: no {opening} ... {closing} markers to write between")
    try:
        Path(path).write_text(f"{head}{opening}\n{generate()}\n{closing}{tail}", "utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error.strerror or error}") from None


SCHEMA_FILE = "transfer_fsm/snapshot.schema.json"
"""Where the published schema lives, relative to the checkout (the package ships it)."""


def schema_text() -> str:
    """The JSON Schema of call snapshots as the published file holds it: indent 2, final newline."""
    return json.dumps(json_schema(), indent=2) + "\n"


def write_schema(path: str) -> None:
    """Write :func:`schema_text` to ``path``, replacing the file."""
    try:
        Path(path).write_text(schema_text(), "utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error.strerror or error}") from None


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command line's arguments, with the help each command prints."""
    formatter = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(
        prog=prog,
        description="Reconcile Microsoft Graph call-transfer notifications delivered in any "
        "order:\nreplay a log of webhook bodies, print the state machine's tables, its\n"
        "diagrams or the JSON Schema of stored calls, or check a bot in any language\n"
        "against the conformance vectors.",
        epilog=f'{EXIT_STATUS}\n\nRun "{prog} COMMAND --help" for the arguments of a command.',
        formatter_class=formatter,
    )
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    replay_cmd = commands.add_parser(
        "replay",
        help="replay a notification log, one line per notification",
        description="Reduce every notification of a log into its call. Prints one line per\n"
        "notification (the call's state, audio and transfer status after it, what\n"
        "the event did, the milestones it caused), then each call's final view.",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    replay_cmd.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the log: a JSON array of commsNotifications bodies, one body per line, or "
        "a single body, in UTF-8; '-' reads standard input. Without FILE: a bundled "
        "example, a failed consultative transfer",
    )
    replay_cmd.add_argument(
        "--requested",
        action="store_true",
        help="reduce TransferRequested into each call before its first notification, as a "
        "bot does before it POSTs the transfer",
    )
    for name, what, lead in (
        (
            "table",
            "the transition tables",
            "Print the state machine's transition tables, generated from its rules, as\nMarkdown.",
        ),
        (
            "diagram",
            "the state diagrams",
            "Print Mermaid state diagrams of the transfer status and of the call-state\n"
            "axis in each phase, generated from the state machine's rules, as Markdown\n"
            "(mermaid code blocks, which GitHub draws).",
        ),
    ):
        _, opening, closing = GENERATED[name]
        command = commands.add_parser(
            name,
            help=f"print {what} as Markdown" + (" (Mermaid)" if name == "diagram" else ""),
            description=f"{lead}\n"
            "With --write FILE, put them into FILE instead, between the lines\n"
            f"  {opening}\n  {closing}\n"
            "which FILE must already hold (as docs/model.md does).",
            epilog="exit status: 0 done, 2 usage error or a FILE that cannot be rewritten.",
            formatter_class=formatter,
        )
        command.add_argument(
            "--write",
            metavar="FILE",
            help=f"write {what} into FILE between its marker lines",
        )
    schema_cmd = commands.add_parser(
        "schema",
        help="print the JSON Schema of call snapshots (Call.to_dict)",
        description="Print the JSON Schema of the snapshots Call.to_dict writes and\n"
        "Call.from_dict reads, generated from the code, so that a program in another\n"
        "language can read a stored call. With --write FILE, write it to FILE instead\n"
        f"(replacing it), as {SCHEMA_FILE} is generated.",
        epilog="exit status: 0 done, 2 usage error or a FILE that cannot be written.",
        formatter_class=formatter,
    )
    schema_cmd.add_argument("--write", metavar="FILE", help="write the schema to FILE")
    from .testing.commands import add_commands  # imported only when the command line runs

    add_commands(commands)
    return top


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command line; returns the exit status (see :data:`APPLIED`)."""
    args = parser(prog).parse_args(argv)
    if args.command in ("vectors", "conform"):
        from .testing import commands

        if args.command == "vectors":
            return commands.run_vectors(args.write, prog)
        return commands.run_conform(args, prog)
    try:
        if args.command in GENERATED:
            if args.write is None:
                sys.stdout.write(GENERATED[args.command][0]() + "\n")
            else:
                write_generated(args.write, args.command)
            return APPLIED
        if args.command == "schema":
            if args.write is None:
                sys.stdout.write(schema_text())
            else:
                write_schema(args.write)
            return APPLIED
        status, problem = _replay(args.file, args.requested)
    except InputError as error:
        sys.stdout.flush()
        sys.stderr.write(f"{prog} {args.command}: {error}\n")
        return UNUSABLE
    if problem:
        sys.stdout.flush()
        sys.stderr.write(f"{prog} {args.command}: {problem}\n")
    return status


def _replay(file: str | None, requested: bool) -> tuple[int, str]:
    """Replay FILE (or the bundled example, or a fixture ``conform`` wrote): the exit
    status, and what to say on stderr (nothing when all went well)."""
    if file is None:
        name, text = (
            EXAMPLE,
            (resources.files(__package__) / "examples" / EXAMPLE).read_text("utf-8"),
        )
        sys.stdout.write(f"replaying the bundled example {EXAMPLE}\n")
    else:
        name, text = _name(file), read_text(file)
    try:
        bodies = read_log(text)
    except InputError as error:
        raise InputError(f"{name}: {error}") from None
    if len(bodies) == 1 and isinstance(bodies[0], dict) and "fixture" in bodies[0]:
        from .testing.fixture import replay_fixture  # a fixture transfer-fsm conform wrote

        try:
            agrees = replay_fixture(bodies[0], sys.stdout)
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{name}: not a fixture transfer-fsm conform wrote: {error}") from None
        return (APPLIED, "") if agrees else (REJECTED, "the bot's view differs from the reference")
    calls, rejected = replay(bodies, requested, sys.stdout)
    sys.stdout.write("final:\n")
    for call in calls.values():
        sys.stdout.write(outcome(call) + "\n")
    if not rejected:
        return APPLIED, ""
    noun = "body" if len(bodies) == 1 else "bodies"
    return REJECTED, f"{rejected} of {len(bodies)} {noun} rejected"


def run(prog: str = PROG) -> int:
    """The ``transfer-fsm`` program: :func:`main` on ``sys.argv``; quiet on ``| head``, Ctrl-C."""
    for stream in (sys.stdout, sys.stderr):  # text the log carries prints even if not encodable
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        status = main(prog=prog)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED
    except KeyboardInterrupt:
        return INTERRUPTED
    return status
