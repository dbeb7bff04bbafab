"""The kill soak (``bench/soak.py``) at a small size, on every journaled store.

Each run starts 4 writers and 2 journal consumers over one store (and, for Redis
and the Cluster, the servers, with AOF ``appendfsync always``), ``kill -9``s one of
them (or the Redis server one time in three, or a cluster node one time in six: a
node takes ~2 s to heal) every ~0.3 s, at least 6 times, and starts it again, and
redelivers every body not acknowledged. It must end with no terminal milestone
lost, none reported twice, and every view its flow's ``final`` (or ambiguity 1's
for observed flows). The soak runs in its own process group, killed whole if it
overruns, so no process outlives the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cluster import require_redis_cli
from servers import require_redis_server

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"
TIMEOUT = 120.0  # seconds for one soak, far above its usual few


def run_soak(*args: str) -> dict[str, Any]:
    """Run the soak; its figures (the JSON it prints), whatever its exit code."""
    command = [sys.executable, str(SOAK), "--json", "--progress", "0", "--kill-every", "0.3"]
    command += ["--min-kills", "6", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the soak and every process it started
            process.wait()
    lines = out.decode().strip().splitlines()
    assert lines, f"the soak printed nothing (exit {process.returncode}): {err.decode()[-3000:]}"
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["exit"] = process.returncode
    return figures


def _journaled(kind: str) -> None:
    """Skip when the store has no journal to claim yet; fail under CI, where it must run."""
    if kind == "sqlite":
        from transfer_fsm.store.sqlite import SQLiteStore

        store: Any = SQLiteStore
    else:
        from transfer_fsm.store.redis import RedisStore

        store = RedisStore
    if not hasattr(store, "claim_journal"):
        if os.environ.get("CI"):
            pytest.fail(f"the {kind} store has no claim_journal: the soak must run under CI")
        pytest.skip(f"the {kind} store has no claim_journal yet")


@pytest.mark.soak
@pytest.mark.parametrize(
    ("kind", "calls", "extra"),
    [
        ("sqlite", "150", ()),
        ("redis", "200", ("--kill-server", "--server-share", "3")),
        ("cluster", "120", ("--kill-server", "--server-share", "6")),
    ],
)
def test_no_milestone_is_lost_or_doubled_and_every_view_is_final(
    kind: str, calls: str, extra: tuple[str, ...]
) -> None:
    if kind != "sqlite":
        require_redis_cli(require_redis_server())
    _journaled(kind)
    figures = run_soak("--store", kind, "--calls", calls, *extra)
    assert figures["store"] == kind
    assert figures["journal"] is True
    assert sum(figures["kills"].values()) >= 6
    if "--kill-server" in extra:
        assert figures["kills"]["server"] >= 1
    assert figures["applies"] >= figures["bodies"] > int(calls)
    assert figures["entries"] >= figures["distinct_keys"] > 0
    assert (figures["lost"], figures["doubled"], figures["wrong_views"]) == (0, 0, 0), figures
    assert figures["exit"] == 0


@pytest.mark.soak
def test_without_a_journal_the_views_hold_and_nothing_is_doubled() -> None:
    """The baseline: writers act on their own steps, so a kill may lose a milestone (not
    asserted: it depends on where the kills land); the views and the dedup hold."""
    figures = run_soak("--store", "sqlite", "--calls", "120", "--no-journal")
    assert figures["journal"] is False
    assert figures["kills"]["writer"] > 0
    assert figures["redeliveries"] > 0
    assert (figures["doubled"], figures["wrong_views"]) == (0, 0), figures
    assert figures["exit"] == (1 if figures["lost"] else 0)
