"""``transfer-fsm conform``: drive a harness (any program) over the conformance vectors.

The runner starts the harness once and speaks JSON lines with it
(``docs/conformance.md``; the lines' JSON Schema is ``protocol.schema.json``):
one line to its standard input per delivery, one line back from its standard
output. Its standard error is left to the terminal. Nothing here needs hypothesis.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TextIO

from .schemas import PROTOCOL
from .verdict import (
    ProtocolError,
    Result,
    failure_text,
    json_report,
    judge,
    junit_report,
    write_fixture,
)

CONFORMS, DIFFERS, BROKEN = 0, 1, 2
"""Exit statuses: every delivery conforms; some delivery does not; protocol or usage error."""

TIMEOUT = 10.0
"""Seconds the harness has to answer one delivery, by default."""


def select(
    cases: Sequence[Mapping[str, Any]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tier: str | None = None,
) -> list[Mapping[str, Any]]:
    """The cases whose id matches some ``include`` glob (all without one), no ``exclude``
    glob, and whose tier is ``tier`` (any without one)."""
    return [
        case
        for case in cases
        if (not include or any(fnmatchcase(case["id"], glob) for glob in include))
        and not any(fnmatchcase(case["id"], glob) for glob in exclude)
        and (tier is None or case["tier"] == tier)
    ]


class Harness:
    """The harness process: one line in, one line out, each answer awaited with a timeout."""

    def __init__(self, command: Sequence[str]) -> None:
        env = {**os.environ, "TRANSFER_FSM_PROTOCOL": str(PROTOCOL)}
        try:
            self.process = subprocess.Popen(
                list(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as error:
            raise ProtocolError(f"cannot start the harness {command[0]!r}: {error}") from None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.read = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Send one delivery; the harness's answer, decoded. Raises :class:`ProtocolError`."""
        where = f"case {request['case']} delivery {request['delivery']}"
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ProtocolError(f"the harness exited{self._status()} before {where}") from None
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise ProtocolError(f"no answer to {where} within {timeout:g} s") from None
        if line is None:
            raise ProtocolError(f"the harness exited{self._status()} without answering {where}")
        self.read += 1
        return _answer(line, self.read, request)

    def _status(self) -> str:
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return ""
        return f" (status {code})"

    def stop(self) -> None:
        """Close its input, give it a second to exit, then kill it."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _answer(line: str, number: int, request: Mapping[str, Any]) -> dict[str, Any]:
    """A line from the harness, checked to be the answer to ``request``."""
    shown = line.strip()[:200]
    try:
        answer = json.loads(line)
    except ValueError:
        raise ProtocolError(f"line {number} from the harness is not JSON: {shown!r}") from None
    if not isinstance(answer, dict):
        raise ProtocolError(f"line {number} from the harness is not a JSON object: {shown!r}")
    got = (answer.get("case"), answer.get("delivery"))
    if got != (request["case"], request["delivery"]):
        raise ProtocolError(
            f"line {number} from the harness answers case {got[0]} delivery {got[1]}, "
            f"not case {request['case']} delivery {request['delivery']}"
        )
    return answer


def requests(case: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The lines sent to the harness for one case: one per delivery, inputs in delivery order."""
    for number, delivery in enumerate(case["deliveries"]):
        yield (
            number,
            {
                "case": case["id"],
                "delivery": number,
                "call_id": case["call_id"],
                "start": case["start"],
                "inputs": [case["inputs"][index] for index in delivery["order"]],
            },
        )


def conform(
    command: Sequence[str],
    cases: Sequence[Mapping[str, Any]],
    out: TextIO,
    *,
    timeout: float = TIMEOUT,
    fixtures: Path | None = None,
) -> tuple[list[Result], str | None]:
    """Run ``command`` over every delivery of ``cases``, printing each failure.

    Returns every verdict reached and, when the harness broke the protocol,
    how (the run stops there).
    """
    results: list[Result] = []
    try:
        harness = Harness(command)
    except ProtocolError as error:
        return results, str(error)
    try:
        for case in cases:
            for number, request in requests(case):
                answer = harness.ask(request, timeout)
                try:
                    result = judge(case, number, answer)
                except ProtocolError as error:
                    raise ProtocolError(f"case {case['id']} delivery {number}: {error}") from None
                results.append(result)
                if not result.passed:
                    path = None if fixtures is None else write_fixture(fixtures, result)
                    out.write(failure_text(result, path) + "\n")
    except ProtocolError as error:
        return results, str(error)
    finally:
        harness.stop()
    return results, None


def summary(results: Sequence[Result]) -> list[str]:
    """The closing lines: what was compared, then ``N passed, N failed`` (always last)."""
    paths = {path for result in results for path in result.compared}
    # a field null in some deliveries and an object in others is named by its leaves
    fields = sorted(path for path in paths if not any(p.startswith(f"{path}.") for p in paths))
    sent = sum(result.milestones is not None for result in results)
    milestones = (
        "compared in every delivery"
        if sent == len(results)
        else f"compared in {sent} deliveries, not compared in {len(results) - sent} "
        "(the harness sent none)"
    )
    passed = sum(result.passed for result in results)
    return [
        f"view fields compared: {', '.join(fields) or 'none'}",
        f"milestones: {milestones}",
        f"{passed} passed, {len(results) - passed} failed",
    ]


def write_reports(
    results: Sequence[Result], command: Sequence[str], report: str | None, junit: str | None
) -> None:
    """Write the ``--report`` JSON and the ``--junit`` XML files that were asked for."""
    if report is not None:
        text = json.dumps(json_report(results, command), indent=2) + "\n"
        Path(report).write_text(text, encoding="utf-8")
    if junit is not None:
        Path(junit).write_bytes(junit_report(results))
