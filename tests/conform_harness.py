"""Harnesses for the runner's tests: ``python tests/conform_harness.py MODE``.

Each answers as ``examples/harness/reference.py`` does, but for MODE:
``conforming`` (as it is), ``wrong`` (one delivery's state and milestones are
wrong), ``crash`` (exits 3 after its first answer), ``silent`` (reads, never
answers), ``garbage`` (answers a line that is not JSON), ``skip`` (answers the
next delivery), ``unknown-field`` (a view field the snapshot has not),
``partial`` (only state and transfer status, no milestones).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "harness"))
import reference

WRONG_CASE = "documented-direct-success-accepted-after-audio-inactive"


def answer(mode: str, delivery: dict[str, Any], count: int) -> str:
    """The line this mode answers ``delivery`` with (the ``count``-th it answers)."""
    found = reference.apply(delivery)
    if mode == "wrong" and (delivery["case"], delivery["delivery"]) == (WRONG_CASE, 1):
        found["view"]["state"] = "transferAccepted"
        found["milestones"] = found["milestones"][:1]
    elif mode == "garbage" and count == 3:
        return "this is not json"
    elif mode == "skip" and count == 2:
        found["delivery"] += 1
    elif mode == "unknown-field":
        found["view"]["colour"] = "blue"
    elif mode == "partial":
        view = found["view"]
        transfer = view["transfer"] and {"status": view["transfer"]["status"]}
        found = {**found, "view": {"state": view["state"], "transfer": transfer}}
        del found["milestones"]
    return json.dumps(found)


def main(mode: str) -> None:
    """Answer each delivery on standard input as ``mode`` does."""
    for count, line in enumerate(sys.stdin, 1):
        if mode == "silent":
            continue
        sys.stdout.write(answer(mode, json.loads(line), count) + "\n")
        sys.stdout.flush()
        if mode == "crash":
            raise SystemExit(3)


if __name__ == "__main__":
    main(sys.argv[1])
