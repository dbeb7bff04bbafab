"""``transfer-fsm conform`` drives real harness processes: exit 0, 1 and 2, reports, fixtures.

Every harness is a real process the runner starts and stops: the Python
harness around the reference, harnesses that answer wrong, crash, stay
silent, write garbage or skip a delivery (``tests/conform_harness.py``), and
the Node.js arrival-order bot (``examples/harness/arrival_order.js``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

import pytest

from transfer_fsm.testing.runner import requests
from transfer_fsm.testing.vectors import load_cases

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
CASES = load_cases()
DELIVERIES = sum(len(case["deliveries"]) for case in CASES)
HARNESS = [sys.executable, str(ROOT / "tests" / "conform_harness.py")]
REFERENCE = [sys.executable, str(ROOT / "examples" / "harness" / "reference.py")]
WRONG_CASE = "documented-direct-success-accepted-after-audio-inactive"


def cli(
    *args: str, cwd: Path | None = None, entry: Sequence[str] = ("-m", "transfer_fsm")
) -> subprocess.CompletedProcess[str]:
    """Run ``python ENTRY ARGS`` (the command line, by default) to its end."""
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=120,
    )


def conform(*args: str, cwd: Path) -> tuple[int, list[str], str]:
    """Run ``python -m transfer_fsm conform ARGS`` to its end: status, stdout lines, stderr."""
    done = cli("conform", *args, cwd=cwd)
    return done.returncode, done.stdout.splitlines(), done.stderr


def count(tier: str | None = None, glob: str | None = None) -> int:
    return sum(
        len(case["deliveries"])
        for case in CASES
        if tier in (None, case["tier"]) and (glob is None or case["id"].startswith(glob))
    )


def test_the_reference_harness_conforms_in_every_delivery_with_reports(tmp_path: Path) -> None:
    status, out, err = conform(
        "--report", "report.json", "--junit", "junit.xml", "--", *REFERENCE, cwd=tmp_path
    )
    assert (status, err) == (0, "")
    assert out[-2:] == ["milestones: compared in every delivery", f"{DELIVERIES} passed, 0 failed"]
    assert out[-1:] == readme_transcript()[1][1]
    assert out[-3].startswith("view fields compared: audio, call_id, earlier_failures, result")
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert (report["passed"], report["failed"], len(report["deliveries"])) == (
        DELIVERIES,
        0,
        DELIVERIES,
    )
    assert report["deliveries"][0]["milestones"] == "compared"
    suites = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        (tier, str(count(tier)), "0") for tier in ("documented", "retry", "ambiguous")
    ]
    assert not (tmp_path / "conform-failures").exists()


def test_the_cases_are_selected_by_tier_glob_and_exclusion(tmp_path: Path) -> None:
    status, out, _ = conform("--tier", "retry", "--", *REFERENCE, cwd=tmp_path)
    assert (status, out[-1]) == (0, f"{count('retry')} passed, 0 failed")
    status, out, _ = conform(
        "--cases", "documented-direct-*", "--exclude", "*observed", "--", *REFERENCE, cwd=tmp_path
    )
    expected = count("documented", "documented-direct-") // 2
    assert (status, out[-1]) == (0, f"{expected} passed, 0 failed")


def test_a_wrong_answer_exits_1_naming_the_case_delivery_order_fields_and_the_doc(
    tmp_path: Path,
) -> None:
    status, out, err = conform(
        "--cases", WRONG_CASE, "--junit", "junit.xml", "--", *HARNESS, "wrong", cwd=tmp_path
    )
    assert (status, err) == (1, "")
    case = next(case for case in CASES if case["id"] == WRONG_CASE)
    (suite,) = ElementTree.parse(tmp_path / "junit.xml").getroot()
    failed = [(test.get("name"), test[0].get("message")) for test in suite if len(test)]
    assert failed == [("delivery 1", "state, milestones differ")]
    delivery = case["deliveries"][1]
    fixture = Path("conform-failures") / f"{WRONG_CASE}.1.json"
    assert out[:2] == [
        f"FAIL {WRONG_CASE} delivery 1 ({delivery['kind']}): state, milestones differ",
        f"  {case['name']}",
    ]
    assert out[2] == f"  inputs in delivery order (the case's by index): {delivery['order']}"
    assert f"  rests on: {case['source']['says']}" in out
    assert f"  fixture: {fixture} (transfer-fsm replay {fixture})" in out
    shown = {
        line[:12]: line[12:] for line in out if line.startswith(("  expected: ", "  actual:   "))
    }
    answered = {**delivery["final"], "state": "transferAccepted"}
    del answered["version"]
    assert json.loads(shown["  expected: "]) == {**answered, "state": "terminated"}
    assert json.loads(shown["  actual:   "]) == answered
    assert out[-1] == f"{len(case['deliveries']) - 1} passed, 1 failed"
    written = json.loads((tmp_path / fixture).read_text("utf-8"))
    assert written["inputs"] == [case["inputs"][i] for i in delivery["order"]]
    assert written["expected"] == {"final": delivery["final"], "milestones": delivery["milestones"]}


def test_a_fixture_replays_showing_where_the_reference_and_the_bot_part(tmp_path: Path) -> None:
    conform("--cases", WRONG_CASE, "--", *HARNESS, "wrong", cwd=tmp_path)
    fixture = tmp_path / "conform-failures" / f"{WRONG_CASE}.1.json"
    done = cli("replay", str(fixture))
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert (
        done.stderr == "python -m transfer_fsm replay: the bot's view differs from the reference\n"
    )
    assert lines[0].startswith(f"case {WRONG_CASE}, delivery 1 (")
    reference, bot = (json.loads(line[11:]) for line in lines[-5:-3])
    final = {
        key: value
        for key, value in json.loads(fixture.read_text("utf-8"))["expected"]["final"].items()
        if key != "version"
    }
    assert (reference, bot) == (final, {**final, "state": "transferAccepted"})
    assert lines[-3:-1] == [
        "they part at:",
        '  state: reference "terminated", bot "transferAccepted"',
    ]
    assert lines[-1].startswith('  milestones: reference [["audioInactive", 1], ')
    # the same fixture with the bot's answer made the reference's agrees: exit 0
    data = json.loads(fixture.read_text("utf-8"))
    data["actual"] = {"view": {"state": "terminated"}, "milestones": None}
    fixture.write_text(json.dumps(data), "utf-8")
    done = cli("replay", str(fixture))
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        0,
        "the bot agrees with the reference",
    )


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("crash", "the harness exited (status 3) "),
        ("silent", f"no answer to case {CASES[0]['id']} delivery 0 within 0.5 s"),
        ("garbage", "line 3 from the harness is not JSON: 'this is not json'"),
        ("skip", f"line 2 from the harness answers case {CASES[0]['id']} delivery 2, not case"),
        ("unknown-field", "delivery 0: view.colour: not a field of the snapshot form"),
    ],
)
def test_a_harness_that_breaks_the_protocol_exits_2_saying_how(
    mode: str, says: str, tmp_path: Path
) -> None:
    status, out, err = conform("--timeout", "0.5", "--", *HARNESS, mode, cwd=tmp_path)
    assert status == 2
    assert err.startswith("python -m transfer_fsm conform: the harness broke the protocol: ")
    assert says in err
    assert out[-1].endswith(" failed")


def test_a_partial_view_compares_only_its_fields_and_says_milestones_were_not(
    tmp_path: Path,
) -> None:
    status, out, _ = conform("--tier", "retry", "--", *HARNESS, "partial", cwd=tmp_path)
    assert status == 0
    assert out[-3:] == [
        "view fields compared: state, transfer.status",
        f"milestones: compared in 0 deliveries, not compared in {count('retry')} "
        "(the harness sent none)",
        f"{count('retry')} passed, 0 failed",
    ]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert conform(cwd=tmp_path)[0] == 2
    status, _, err = conform("--cases", "no-such-case", "--", *REFERENCE, cwd=tmp_path)
    assert (status, err) == (2, "python -m transfer_fsm conform: no case is selected\n")
    status, _, err = conform("--", str(tmp_path / "no-such-program"), cwd=tmp_path)
    assert status == 2
    assert "cannot start the harness" in err


NODE = shutil.which("node")


def readme_transcript() -> list[tuple[list[str], list[str]]]:
    """Each conform run in the README's transcript: its first output lines, and its last
    ones (after ``[...]``; all of them when nothing is left out)."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("## Testing a bot written in another language", 1)[1]
    lines = block.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    runs: list[list[str]] = []
    mine = False
    for line in lines:
        if line.startswith("$ "):
            mine = line.startswith("$ transfer-fsm conform")
            if mine:
                runs.append([])
        elif mine:
            runs[-1].append(line)
    return [
        (run[: run.index("[...]")], run[run.index("[...]") + 1 :]) if "[...]" in run else ([], run)
        for run in runs
    ]


@pytest.mark.skipif(
    NODE is None and not os.environ.get("CI"),
    reason="node is not installed (CI installs the distribution's nodejs; with CI set this fails)",
)
def test_the_node_arrival_order_bot_fails_naming_a_case_and_the_reference_passes(
    tmp_path: Path,
) -> None:
    assert NODE is not None, "CI is set: node must be installed (.ci/run installs nodejs)"
    script = str(ROOT / "examples" / "harness" / "arrival_order.js")
    status, out, err = conform("--", NODE, script, cwd=tmp_path)
    assert (status, err) == (1, "")
    failures = [line for line in out if line.startswith("FAIL ")]
    passed, failed = (int(word) for word in out[-1].replace(",", "").split()[::2])
    assert (passed + failed, failed, len(failures)) == (DELIVERIES, len(failures), failed)
    assert failures[0].startswith("FAIL documented-")
    assert out[-2] == (
        f"milestones: compared in 0 deliveries, not compared in {DELIVERIES} "
        "(the harness sent none)"
    )
    head, tail = readme_transcript()[0]
    assert (out[: len(head)], out[-len(tail) :]) == (head, tail)
    # it passes the documented order of every documented flow: only races catch it
    assert not [
        line for line in failures if line.startswith("FAIL documented-") and "(documented)" in line
    ]


def test_the_protocol_transcript_in_the_docs_is_what_the_runner_and_the_harness_say() -> None:
    text = (ROOT / "docs" / "conformance.md").read_text("utf-8")
    sent, answered = text.split("```jsonl\n", 1)[1].split("```", 1)[0].splitlines()
    request = json.loads(sent)
    case = next(case for case in CASES if case["id"] == request["case"])
    assert sent == json.dumps(dict(requests(case))[request["delivery"]])
    harness = subprocess.run(
        REFERENCE, input=sent + "\n", capture_output=True, text=True, env=ENV, timeout=60
    )
    assert harness.stdout == answered + "\n"


def test_the_vectors_and_the_runner_work_without_hypothesis(tmp_path: Path) -> None:
    """A harness author in another language installs the package alone."""
    script = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # importing it now fails\n"
        "from transfer_fsm.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print('hypothesis' in sys.modules and sys.modules['hypothesis'] is not None)\n"
        "raise SystemExit(status)\n"
    )
    args = ["conform", "--tier", "retry", "--", *REFERENCE]
    done = cli(*args, cwd=tmp_path, entry=("-c", script))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-2:] == [f"{count('retry')} passed, 0 failed", "False"]
    listed = cli("vectors", cwd=tmp_path, entry=("-c", script))
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[-2:] == [f"total: 78 cases, {DELIVERIES} deliveries", "False"]


def test_vectors_write_gives_the_shipped_files(tmp_path: Path) -> None:
    done = cli("vectors", "--write", "out", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "wrote 78 cases into out\n")
    shipped = ROOT / "transfer_fsm" / "testing" / "vectors"
    written = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert written == {path.name: path.read_bytes() for path in shipped.iterdir()}
