"""One writer process of the shared-store tests: apply every body, in its own order.

    python tests/store_worker.py SPEC BARRIER_DIR WORKER_INDEX SEED BODIES_FILE [--ack]

Opens the store ``SPEC`` (see ``store_workload.open_store``), waits at the
start barrier in ``BARRIER_DIR`` (it writes ``ready-WORKER_INDEX`` there, then
waits, at most 30 s, until the number of ready files ``BARRIER_DIR/count``
names exists), then applies every body of ``BODIES_FILE`` (one JSON body a
line) in the order ``store_workload.delivery_order(count, SEED)`` gives, and
prints one JSON line: bodies, steps, milestones by kind and by call, conflicts
retried and seconds elapsed from the barrier's release.

With ``--ack``, it also prints ``ack INDEX`` (flushed) as soon as the body at
that index of the file has been applied, that is, committed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from store_workload import conflicts_of, count_milestones, delivery_order, open_store

BARRIER_SECONDS = 30.0


def wait_at_barrier(barrier: Path, index: int) -> None:
    """Say this worker is ready, then wait until every worker is."""
    count = int((barrier / "count").read_text(encoding="utf-8"))
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + BARRIER_SECONDS
    while len(list(barrier.glob("ready-*"))) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {index}: the other workers were not ready within 30 s")
        time.sleep(0.005)


def main(argv: list[str]) -> None:
    ack = "--ack" in argv
    spec, barrier, index, seed, bodies_file = [arg for arg in argv if arg != "--ack"]
    bodies = Path(bodies_file).read_bytes().splitlines()
    order = delivery_order(len(bodies), int(seed))
    with open_store(spec) as store:
        wait_at_barrier(Path(barrier), int(index))
        start = time.perf_counter()
        steps = []
        for position in order:
            steps += store.apply_body(bodies[position])
            if ack:
                print(f"ack {position}", flush=True)
        elapsed = time.perf_counter() - start
        per_call = count_milestones(steps)
        report = {
            "worker": int(index),
            "bodies": len(order),
            "steps": len(steps),
            "milestones": {
                kind.value: sum(counts[kind] for counts in per_call.values())
                for kind in {kind for counts in per_call.values() for kind in counts}
            },
            "per_call": {
                call_id: {kind.value: n for kind, n in counts.items()}
                for call_id, counts in per_call.items()
            },
            "conflicts": conflicts_of(store),
            "elapsed": elapsed,
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
