"""What ``transfer-fsm conform`` makes of a harness's answer: the comparison with the
reference, the failure text, the fixtures, and the JSON and JUnit reports."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from .inputs import describe_input

FIXTURE = 1
"""The version of the fixture format (``"fixture"`` in each fixture file)."""


class ProtocolError(Exception):
    """The harness broke the protocol: its message says how (exit status 2)."""


@dataclass
class Result:
    """One delivery's verdict: which fields were compared, and which differ."""

    case: Mapping[str, Any]
    delivery: int
    compared: list[str]
    differ: list[str]
    milestones: list[dict[str, Any]] | None
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every compared field (and the milestones, when sent) is the reference's."""
        return not self.differ

    @property
    def expected(self) -> Mapping[str, Any]:
        """The reference's delivery: its kind, order, final and milestones."""
        found: Mapping[str, Any] = self.case["deliveries"][self.delivery]
        return found


def _same(left: object, right: object) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return left == right


def compare_view(
    expected: Mapping[str, Any], view: Mapping[str, Any], path: str = ""
) -> tuple[list[str], list[str]]:
    """The fields ``view`` holds (JSON paths), and those that differ from ``expected``.

    A nested object is compared field by field where the reference has an
    object too. Raises :class:`ProtocolError` for a field the snapshot form
    does not have.
    """
    compared: list[str] = []
    differ: list[str] = []
    for key, value in view.items():
        where = f"{path}{key}"
        if key not in expected:
            raise ProtocolError(f"view.{where}: not a field of the snapshot form (Call.to_dict)")
        reference = expected[key]
        if isinstance(value, dict) and isinstance(reference, dict):
            more, wrong = compare_view(reference, value, f"{where}.")
            compared += more
            differ += wrong
            continue
        compared.append(where)
        if not _same(value, reference):
            differ.append(where)
    return compared, differ


def project(expected: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``expected`` that ``view`` covers (what was compared)."""
    shown: dict[str, Any] = {}
    for key, value in view.items():
        reference = expected.get(key)
        nested = isinstance(value, dict) and isinstance(reference, dict)
        shown[key] = project(reference, value) if nested else reference  # type: ignore[arg-type]
    return shown


def counted(milestones: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, int]]:
    """Milestones as a multiset of ``(milestone, attempt)``."""
    return Counter((item["milestone"], item["attempt"]) for item in milestones)


def check_milestones(answer: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The answer's milestones, checked for shape; ``None`` when it sent none."""
    if "milestones" not in answer:
        return None
    milestones = answer["milestones"]
    if not isinstance(milestones, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("milestone"), str)
        and type(item.get("attempt")) is int
        for item in milestones
    ):
        raise ProtocolError('milestones: a list of {"milestone": text, "attempt": integer}')
    return milestones


def judge(case: Mapping[str, Any], delivery: int, answer: Mapping[str, Any]) -> Result:
    """Compare a harness's answer for one delivery with the reference's."""
    view = answer.get("view")
    if not isinstance(view, dict) or "state" not in view:
        raise ProtocolError('view: an object of snapshot fields, with at least "state"')
    expected = case["deliveries"][delivery]
    compared, differ = compare_view(expected["final"], view)
    milestones = check_milestones(answer)
    if milestones is not None and counted(milestones) != counted(expected["milestones"]):
        differ.append("milestones")
    return Result(case, delivery, compared, differ, milestones, view)


def _inputs_lines(case: Mapping[str, Any], order: Sequence[int]) -> list[str]:
    return [
        f"    {at}. #{index} {describe_input(case['inputs'][index])}"
        for at, index in enumerate(order, 1)
    ]


def _pairs(milestones: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([[item["milestone"], item["attempt"]] for item in milestones])


def failure_text(result: Result, fixture: Path | None) -> str:
    """The lines that name a failing delivery: its order, expected and actual, the doc."""
    case, expected = result.case, result.expected
    lines = [
        f"FAIL {case['id']} delivery {result.delivery} ({expected['kind']}): "
        f"{', '.join(result.differ)} differ{'s' if len(result.differ) == 1 else ''}",
        f"  {case['name']}",
        f"  inputs in delivery order (the case's by index): {expected['order']}",
        *_inputs_lines(case, expected["order"]),
        f"  expected: {json.dumps(project(expected['final'], result.view))}",
        f"  actual:   {json.dumps(result.view)}",
    ]
    if "milestones" in result.differ:
        lines.append(f"  expected milestones: {_pairs(expected['milestones'])}")
        lines.append(f"  actual milestones:   {_pairs(result.milestones or [])}")
    lines.append(f"  rests on: {case['source']['says']}")
    if fixture is not None:
        lines.append(f"  fixture: {fixture} (transfer-fsm replay {fixture})")
    return "\n".join(lines)


def fixture_json(result: Result) -> dict[str, Any]:
    """A failing delivery as a portable fixture: what ``transfer-fsm replay FIXTURE`` reads."""
    case, expected = result.case, result.expected
    return {
        "fixture": FIXTURE,
        "case": case["id"],
        "delivery": result.delivery,
        "kind": expected["kind"],
        "name": case["name"],
        "source": case["source"],
        "call_id": case["call_id"],
        "start": case["start"],
        "inputs": [case["inputs"][index] for index in expected["order"]],
        "expected": {"final": expected["final"], "milestones": expected["milestones"]},
        "actual": {"view": result.view, "milestones": result.milestones},
    }


def write_fixture(folder: Path, result: Result) -> Path:
    """Write a failing delivery's fixture into ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.case['id']}.{result.delivery}.json"
    path.write_text(json.dumps(fixture_json(result), indent=2) + "\n", encoding="utf-8")
    return path


def json_report(results: Sequence[Result], command: Sequence[str]) -> dict[str, Any]:
    """The ``--report`` file: every delivery's verdict and what was compared."""
    return {
        "protocol": 1,
        "command": list(command),
        "passed": sum(result.passed for result in results),
        "failed": sum(not result.passed for result in results),
        "deliveries": [
            {
                "case": result.case["id"],
                "tier": result.case["tier"],
                "delivery": result.delivery,
                "kind": result.expected["kind"],
                "passed": result.passed,
                "compared": result.compared,
                "milestones": "not compared" if result.milestones is None else "compared",
                "differ": result.differ,
            }
            for result in results
        ],
    }


def junit_report(results: Sequence[Result]) -> bytes:
    """The ``--junit`` file: one test case per delivery, one suite per tier."""
    top = ElementTree.Element("testsuites", name="transfer-fsm conform")
    for tier in dict.fromkeys(result.case["tier"] for result in results):
        mine = [result for result in results if result.case["tier"] == tier]
        suite = ElementTree.SubElement(
            top,
            "testsuite",
            name=tier,
            tests=str(len(mine)),
            failures=str(sum(not result.passed for result in mine)),
        )
        for result in mine:
            test = ElementTree.SubElement(
                suite, "testcase", classname=result.case["id"], name=f"delivery {result.delivery}"
            )
            if not result.passed:
                failure = ElementTree.SubElement(
                    test, "failure", message=f"{', '.join(result.differ)} differ"
                )
                failure.text = failure_text(result, None)
    data: bytes = ElementTree.tostring(top, encoding="utf-8", xml_declaration=True)
    return data
