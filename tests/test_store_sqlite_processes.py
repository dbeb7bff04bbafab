"""SQLiteStore shared by processes: four writers on one file, and a writer killed mid-stream.

Four processes (a start barrier; every process gets every body, in its own
order) end in the same views as one process, with each milestone reported once
across them; a writer killed with ``kill -9`` loses nothing it acknowledged,
and the file reopens intact.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from store_workload import (
    Workload,
    count_milestones,
    delivery_order,
    ended_attempts,
    milestone_problems,
    open_store,
    replay,
    store_problems,
    workload,
)

import transfer_fsm as tf

WORKER = Path(__file__).parent / "store_worker.py"
PROCESS_SECONDS = 60


def fast(path: Path) -> str:
    """The spec of an SQLite store on ``path`` that does not sync each commit (tests only)."""
    return f"sqlite:{path}?synchronous=NORMAL"


def start_workers(
    tmp_path: Path, spec: str, work: Workload, seeds: list[int], ack: bool = False
) -> list[subprocess.Popen[bytes]]:
    """One worker process per seed, each to apply every body of ``work`` in its own order."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    (barrier / "count").write_text(str(len(seeds)), encoding="utf-8")
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_bytes(b"".join(body + b"\n" for body in work.bodies))
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), spec, str(barrier), str(index), str(seed), str(bodies)]
            + (["--ack"] if ack else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index, seed in enumerate(seeds)
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Kill whatever is still running and reap it."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PROCESS_SECONDS)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_four_processes_on_one_file_report_each_milestone_once(tmp_path: Path) -> None:
    work = workload(100, seed=4)
    spec = fast(tmp_path / "calls.db")
    with open_store(spec) as store:
        requests = [store.apply(call_id, request) for call_id, request in work.requests]
    start = time.perf_counter()
    workers = start_workers(tmp_path, spec, work, seeds=[10, 11, 12, 13])
    try:
        outputs = [worker.communicate(timeout=PROCESS_SECONDS) for worker in workers]
    finally:
        stop(workers)
    elapsed = time.perf_counter() - start
    for worker, (_, errors) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, errors.decode()
    reports = [json.loads(out) for out, _ in outputs]
    counts = count_milestones(requests)
    for report in reports:
        for call_id, kinds in report["per_call"].items():
            counts.setdefault(call_id, Counter()).update(
                {tf.Milestone(kind): n for kind, n in kinds.items()}
            )
    with open_store(spec) as store:
        assert store_problems(store, work) == []
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended
    print(
        f"\nfour SQLite writers: {len(work.expected)} calls, {len(work.bodies)} bodies each"
        f" ({sum(r['bodies'] for r in reports)} applied), {work.attempts_ended} attempts ended,"
        f" conflicts retried {sum(r['conflicts'] for r in reports)},"
        f" slowest writer {max(r['elapsed'] for r in reports):.2f} s, wall {elapsed:.2f} s"
    )


def kill_midway(
    tmp_path: Path, spec: str, work: Workload, seed: int
) -> tuple[list[int], list[int]]:
    """Apply the requests, start one writer on the bodies in a seeded order, and kill it
    (SIGKILL) once a third are acknowledged: the order and the body indexes acknowledged."""
    with open_store(spec) as store:
        for call_id, request in work.requests:
            store.apply(call_id, request)
    order = delivery_order(len(work.bodies), seed=seed)
    [worker] = start_workers(tmp_path, spec, work, seeds=[seed], ack=True)
    acked: list[int] = []
    try:
        assert worker.stdout is not None
        while len(acked) < len(order) // 3:
            line = worker.stdout.readline()
            assert line.startswith(b"ack "), worker.stderr.read() if worker.stderr else line
            acked.append(int(line.split()[1]))
        worker.kill()
        worker.wait(timeout=PROCESS_SECONDS)
        acked += [int(line.split()[1]) for line in worker.stdout.read().splitlines()]
    finally:
        stop([worker])
    assert worker.returncode == -9
    return order, acked


def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    work = workload(60, seed=5)
    path = tmp_path / "calls.db"
    spec = f"sqlite:{path}"  # synchronous FULL: slow enough to be killed mid-stream
    order, acked = kill_midway(tmp_path, spec, work, seed=6)
    assert acked == order[: len(acked)]
    assert len(acked) < len(order)
    done = replay(work, [work.bodies[index] for index in order[: len(acked)]])
    maybe = replay(work, [work.bodies[index] for index in order[: len(acked) + 1]])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with open_store(spec) as store:
        stored = {call_id: store.get(call_id) for call_id in work.expected}
        assert [c for c, view in stored.items() if view not in (done[c], maybe[c])] == []
        for index in order[len(acked) :]:
            store.apply_body(work.bodies[index])
        assert store_problems(store, work) == []
    print(f"\nkill -9 after {len(acked)} of {len(order)} bodies acknowledged: nothing lost")
