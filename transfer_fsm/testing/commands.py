"""The ``vectors`` and ``conform`` commands of ``transfer-fsm`` (``transfer_fsm.cli``).

Their arguments are added to the command line's parser here, and each runs
from here; neither needs hypothesis.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from .cases import TIERS
from .runner import BROKEN, CONFORMS, DIFFERS, TIMEOUT, conform, select, summary, write_reports
from .vectors import generated, load_cases, write_vectors

CONFORM_STATUS = """\
exit status:
  0  every selected delivery conforms
  1  some delivery does not (each is printed, and written as a fixture)
  2  the harness broke the protocol (it exited, wrote a line that is not an
     answer, skipped a delivery or exceeded the timeout), or a usage error"""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vectors`` and ``conform`` to the command line's sub-commands."""
    formatter = argparse.RawDescriptionHelpFormatter
    vectors = commands.add_parser(
        "vectors",
        help="list the conformance vectors, or write them as JSON files",
        description="List the conformance cases (id, tier, deliveries) generated from the\n"
        "documented flows, or with --write DIR write one JSON file per case into DIR\n"
        "(the format is transfer_fsm/testing/case.schema.json).",
        epilog="exit status: 0 done, 2 usage error or a DIR that cannot be written.",
        formatter_class=formatter,
    )
    vectors.add_argument("--write", metavar="DIR", help="write one JSON file per case into DIR")
    _add_conform(commands)


def _add_conform(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``conform`` and its arguments."""
    run = commands.add_parser(
        "conform",
        help="check a harness (a program in any language) against the vectors",
        description="Run CMD once and send it each delivery of the selected cases as a JSON\n"
        "line on its standard input; read its view (and milestones) from a JSON line\n"
        "on its standard output, compare them with the reference, print each failing\n"
        "delivery, and end with a line 'N passed, N failed'. See docs/conformance.md.",
        epilog=CONFORM_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] -- CMD [ARG ...]",
    )
    run.add_argument(
        "--cases",
        metavar="GLOB",
        action="append",
        default=[],
        help="only the cases whose id matches GLOB (repeatable)",
    )
    run.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="leave out the cases whose id matches GLOB (repeatable)",
    )
    run.add_argument("--tier", choices=TIERS, help="only the cases of this tier")
    run.add_argument("--report", metavar="FILE.json", help="write every verdict to FILE as JSON")
    run.add_argument("--junit", metavar="FILE.xml", help="write a JUnit XML report to FILE")
    run.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=TIMEOUT,
        help=f"seconds the harness has to answer one delivery (default {TIMEOUT:g})",
    )
    run.add_argument(
        "--fixtures",
        metavar="DIR",
        default="conform-failures",
        help="where failing deliveries are written as fixtures (default: conform-failures)",
    )
    run.add_argument(
        "--vectors", metavar="DIR", help="read the cases from DIR, not the shipped ones"
    )
    run.add_argument(
        "harness",
        nargs=argparse.REMAINDER,
        metavar="CMD",
        help="the harness and its arguments, after --",
    )


def run_vectors(write: str | None, prog: str) -> int:
    """``vectors``: list the cases, or write them into a folder."""
    if write is not None:
        try:
            names = write_vectors(write)
        except OSError as error:
            sys.stderr.write(f"{prog} vectors: {write}: cannot write: {error.strerror or error}\n")
            return BROKEN
        sys.stdout.write(f"wrote {len(names)} cases into {write}\n")
        return CONFORMS
    cases, deliveries = Counter[str](), Counter[str]()
    for text in generated().values():
        case = json.loads(text)
        cases[case["tier"]] += 1
        deliveries[case["tier"]] += len(case["deliveries"])
        sys.stdout.write(f"{case['id']}  {case['tier']}  {len(case['deliveries'])} deliveries\n")
    for tier in TIERS:
        sys.stdout.write(f"{tier}: {cases[tier]} cases, {deliveries[tier]} deliveries\n")
    total = sum(deliveries.values())
    sys.stdout.write(f"total: {sum(cases.values())} cases, {total} deliveries\n")
    return CONFORMS


def run_conform(args: argparse.Namespace, prog: str) -> int:
    """``conform``: run the harness over the selected cases; the exit status."""
    command = list(args.harness)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        sys.stderr.write(
            f"{prog} conform: no harness: give it after --, as in\n"
            f"  {prog} conform -- node examples/harness/arrival_order.js\n"
        )
        return BROKEN
    if args.timeout <= 0:
        sys.stderr.write(f"{prog} conform: --timeout: a number of seconds above 0\n")
        return BROKEN
    try:
        cases = select(load_cases(args.vectors), args.cases, args.exclude, args.tier)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"{prog} conform: --vectors {args.vectors}: {error}\n")
        return BROKEN
    if not cases:
        sys.stderr.write(f"{prog} conform: no case is selected\n")
        return BROKEN
    results, broken = conform(
        command, cases, sys.stdout, timeout=args.timeout, fixtures=Path(args.fixtures)
    )
    write_reports(results, command, args.report, args.junit)
    if broken is not None:
        sys.stdout.flush()
        sys.stderr.write(f"{prog} conform: the harness broke the protocol: {broken}\n")
    sys.stdout.write("\n".join(summary(results)) + "\n")
    if broken is not None:
        return BROKEN
    return CONFORMS if all(result.passed for result in results) else DIFFERS
