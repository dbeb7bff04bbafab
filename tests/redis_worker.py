"""Writers for the multi-process Redis store test: each a process, started together.

``run_writers(url, prefix, orders, workdir)`` starts one process per order
(``python tests/redis_worker.py JOB``), waits until every one is ready (a file
each), lets them all go at once (one more file, holding the start time), waits
for them, and returns what each reported. Every process is stopped before it
returns, whatever happened. An order is a list of windows of bodies; window
``k`` starts ``k * SLOT`` seconds after the start (or at once, for a writer
running late), so the writers stay abreast and race on the same calls. A worker
applies its bodies, in its order, to a ``RedisStore`` with ``apply_body`` and
reports its steps' milestones, its conflicts and its time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_TIMEOUT = 30.0  # seconds for every worker to start and say it is ready
RUN_TIMEOUT = 60.0  # seconds for every worker to finish once it may go
SLOT = 0.01  # seconds between the starts of two windows


@dataclass(frozen=True)
class WriterReport:
    """What one writer did."""

    bodies: int
    conflicts: int
    seconds: float
    fired: list[tuple[str, list[str]]]
    """Each step it reported: the call id and its milestones' wire names."""


def run_writers(
    url: str, prefix: str, orders: list[list[list[dict[str, Any]]]], workdir: Path
) -> tuple[list[WriterReport], float]:
    """Run one writer per order at once; their reports and the wall time from the go."""
    go = workdir / "go"
    jobs = []
    for index, windows in enumerate(orders):
        job: dict[str, Any] = {
            "url": url,
            "prefix": prefix,
            "windows": windows,
            "ready": str(workdir / f"ready-{index}"),
            "go": str(go),
            "report": str(workdir / f"report-{index}.json"),
        }
        path = workdir / f"job-{index}.json"
        path.write_text(json.dumps(job), encoding="utf-8")
        jobs.append(job)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(len(orders)):
            command = [sys.executable, __file__, str(workdir / f"job-{index}.json")]
            processes.append(subprocess.Popen(command))
        _await_ready(processes, [Path(job["ready"]) for job in jobs])
        starting = workdir / "go.tmp"
        starting.write_text(repr(time.time() + 0.02), encoding="utf-8")
        starting.rename(go)  # whole, or not there
        started = time.perf_counter()
        deadline = time.monotonic() + RUN_TIMEOUT
        for process in processes:
            code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
            if code != 0:
                raise RuntimeError(f"a writer exited with {code}")
        wall = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    reports = []
    for job in jobs:
        data = json.loads(Path(job["report"]).read_text(encoding="utf-8"))
        fired = [(call_id, milestones) for call_id, milestones in data["fired"]]
        reports.append(WriterReport(data["bodies"], data["conflicts"], data["seconds"], fired))
    return reports, wall


def _await_ready(processes: list[subprocess.Popen[bytes]], ready: list[Path]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not all(path.exists() for path in ready):
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a writer exited before the start")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the writers were not ready within {READY_TIMEOUT} s")
        time.sleep(0.01)


def work(job: dict[str, Any]) -> None:
    """Be one writer: say ready, wait for the go, apply every body, write the report."""
    import redis

    from transfer_fsm.store.redis import RedisStore

    client = redis.Redis.from_url(job["url"])
    try:
        store = RedisStore(client, prefix=job["prefix"])
        client.ping()  # connected before the start, not after
        Path(job["ready"]).touch()
        go, deadline = Path(job["go"]), time.monotonic() + READY_TIMEOUT
        while not go.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go")
            time.sleep(0.001)
        start = float(go.read_text(encoding="utf-8"))
        started = time.perf_counter()
        fired = []
        for number, window in enumerate(job["windows"]):
            time.sleep(max(0.0, start + number * SLOT - time.time()))
            for body in window:
                for step in store.apply_body(body):
                    fired.append((step.call.call_id, [str(m.value) for m in step.milestones]))
        seconds = time.perf_counter() - started
    finally:
        client.close()
    report = {
        "bodies": sum(len(window) for window in job["windows"]),
        "conflicts": store.conflicts,
        "seconds": seconds,
        "fired": fired,
    }
    Path(job["report"]).write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    work(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
