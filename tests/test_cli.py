"""The command line replays a log and prints the tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flows import FLOWS

from transfer_fsm.cli import main


def test_replay_of_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "replaying the bundled example failed-consultative-transfer.jsonl"
    events = [line.split() for line in lines[2:10]]
    assert [e[-2:] for e in events] == [
        ["applied", "audioActive"],
        ["applied", "-"],
        ["applied", "transferAccepted"],
        ["applied", "audioInactive"],
        ["stale", "-"],
        ["applied", "audioActive"],
        ["applied", "transferFailed"],
        ["stale", "-"],
    ]
    assert lines[10:] == [
        "final:",
        "call 341a0500-d4bf-4224-8b19-1581168d328b: state established, audio active, "
        "transfer failed",
        "  transfer result: 500/7000 <message>",
        "  replacesContext: <replacesContext>",
    ]


def test_replay_of_a_json_array_log_with_a_bad_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = FLOWS[0]
    log = tmp_path / "log.json"
    log.write_text(json.dumps([*flow.bodies, {"value": 3}]), encoding="utf-8")
    assert main(["replay", str(log), "--requested"]) == 0
    out = capsys.readouterr().out
    assert "body 5: rejected: $.value: expected an array of commsNotification objects" in out
    assert out.endswith(
        "state terminated, audio inactive, transfer completed\n"
        "  terminationReason: AppTransferred\n"
    )


def test_the_module_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "transfer_fsm", "table"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("### Call-state axis and transfer status")
