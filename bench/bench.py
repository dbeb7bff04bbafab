"""Benchmark transfer_fsm against a hand-written floor and the libraries users would pick.

Everything runs in one process (but section 8's ``redis-server``); each figure
is the median over ``--rounds`` rounds (after a warm-up round) of
``time.perf_counter_ns`` around the timed loop only, with the garbage collector
enabled as normal unless a row says it was paused. What is measured:

1. **reduce**: ``tf.reduce`` per event over a long stream (>= 100,000 events in
   the full run) built from the 14 documented flows of ``tests/flows.py`` (the
   ones the tests check) for 2,000 calls. Each call makes several transfer
   attempts; each attempt starts with ``TransferRequested`` and its
   notifications come shuffled, some twice; the calls are interleaved. One
   ``dict`` call id -> ``Call``, as a bot keeps it. All events are parsed
   before timing. The final views are checked against the same attempts
   reduced in production order.
2. **floor**: the same stream through the simplest reducer there is, written
   here: two nested dict tables over ``__slots__`` objects, a new object per
   event, arrival order wins. Target: reduce / floor <= 2.
3. **libraries**: the same two axes (call state; transfer status) as
   ``transitions`` and ``python-statemachine`` machines, two per call, created
   before timing, fed the flows in production order (they cannot reconcile).
   Their ratios are taken against ``tf.reduce`` on that same in-order stream.
   Target: each >= 10 times slower than reduce (the same target for both;
   python-statemachine passes it by far). The floor runs on that stream too:
   transitions / floor is the most any reducer at least as costly as the floor
   could reach on this machine (no target).
4. **parse**: ``tf.parse_notifications`` vs ``json.loads`` on the bytes of
   the documented bodies. Target: <= 2.
5. **memory**: bytes per live mid-transfer ``Call`` (tracemalloc; 100,000
   calls; the call id strings exist beforehand and are not counted), and the
   time to create 100,000 ``Call``. Targets: <= 208 bytes (200, and the one
   slot of ``Transfer.attempt``), < 1 s.
6. **scale**: cost per notification of ``json.loads``, parse, and parse +
   reduce, for one body of 1, 100, 10,000 and 100,000 notifications (quick: 1,
   100, 1,000, 10,000), each size timed over the same number of notifications
   per round. Target: flat, judged on parse's own work (parse - json.loads):
   per notification, the largest body vs 100 <= 1.5. Target: linear time at
   scale, for parse and for parse + reduce: the largest body vs the one ten
   times smaller, per notification, <= 1.5. The flatness of parse and of parse
   + reduce including ``json.loads`` is shown without a target. All with the
   collector enabled; the same figures with ``gc.disable()`` around the timed
   loop (no target) separate the library's own linearity from the
   interpreter's garbage collector.
7. **a 10 MB body**: parse vs ``json.loads`` on one body whose call carries a
   10 MB field the library keeps but does not read. Target: <= 2.
8. **stores**, each against its own floor measured in the same run, the two
   taking turns round by round (``stores.py``, ``backends.py``):

   - ``MemoryStore.apply_body`` per notification on the documented bodies of
     2,000 calls (re-addressed to each call; each call's request applied
     before timing; each call's bodies shuffled, some twice, the calls
     interleaved; one notification per body) vs ``json.loads`` of the same
     bytes. Target: <= 2.5. Every call must end in its documented view.
   - ``Call.from_dict(call.to_dict())`` vs ``json.loads(json.dumps(snapshot))``
     over 6,000 calls reduced from documented flows: no attempt, mid-transfer,
     completed, failed after an earlier failure, a blind transfer to a user, a
     consultative transfer to a phone. Target: <= 3.
   - bytes per call a ``MemoryStore`` holds (tracemalloc; 100,000 calls, quick
     10,000, applied through ``store.apply``), mid-transfer and ended (kept as
     a tombstone). Counted: everything the store keeps per call, the ``Call``,
     its ``Transfer``, the dict entry, the ended-call bookkeeping and the call
     id string (made in the traced loop: the store keeps it alive).
     Target: <= 300 bytes, both.
   - ``SQLiteStore.apply`` vs a bare ``BEGIN IMMEDIATE`` / ``SELECT`` / upsert /
     ``COMMIT`` of the same snapshot bytes on a file of its own (WAL, the
     store's ``synchronous``); ``RedisStore.apply`` vs one pipeline of ``WATCH``
     / ``GET`` / ``MULTI`` / ``SET`` / ``EXEC`` of the same bytes, on a
     ``redis-server`` the bench starts on a free 127.0.0.1 port and stops.
     2,000 applies per round (quick 300), each an event that changes a call
     (calls never seen before go through the documented flows in production
     order). Targets: <= 1.5. A missing ``redis-server`` is a missed target.
   - ``RedisStore.apply`` on a 3-primary Redis Cluster (``tests/cluster.py``
     starts it on free 127.0.0.1 ports and stops it) vs ``WATCH`` / ``GET`` /
     ``MULTI`` / ``SET`` / ``EXEC`` in one transactional cluster pipeline on the
     call's slot (its keys under one hash tag), same applies, same bytes
     (``cluster_floor.py``). Target: <= 1.5. A missing ``redis-cli`` is a missed
     target.
   - ``RedisStore(journal=True).apply`` vs the same store without the journal,
     same batches (``redis_scale.py``). Target: <= 1.25.
   - ``AsyncRedisStore`` with 64 applies in flight over 1,000 calls vs awaiting
     one at a time: applies per second, p50 / p99 latency per apply. Target:
     >= 3x.

It prints a markdown table (metric | measured | target | ok) and the machine,
and exits 1 if a target is missed: it exits 0 only when every target is met.
Run it from anywhere, with the package and the benchmark extras installed, and
the test extra for the Redis row (redis-py; ``tests/servers.py`` starts the
server) (``pip install -e '.[bench,test]'``)::

    python bench/bench.py              # the full run (a few minutes)
    python bench/bench.py --quick      # a smaller smoke run
    python bench/bench.py --only stores  # section 8 alone
    python bench/bench.py --rounds 9   # more rounds for a steadier median

The modules: ``workload.py`` (the flows, the plan of calls, the event streams
and bodies), ``rivals.py`` (the floor and the two libraries), ``sections.py``
(sections 1-5 and the timing helpers), ``scale.py`` (sections 6 and 7), ``stores.py``,
``backends.py``, ``redis_scale.py`` and ``cluster_floor.py`` (section 8).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import replace

# Sibling modules: the script's own directory is on sys.path when run as a script.
from rivals import statemachine_factory, transitions_factory
from scale import bench_big_body, bench_scale
from sections import Row, bench_libraries, bench_memory, bench_parse, bench_reduce
from stores import bench_stores
from workload import FLOWS, RNG_SEED, Config, Flow, make_plan, templates_of

FULL = Config(
    rounds=7,
    calls=2_000,
    attempts=8,
    duplicates=0.3,
    library_calls=100,
    parse_bodies=20_000,
    live_calls=100_000,
    sizes=(1, 100, 10_000, 100_000),
    scale_items=100_000,
    store_calls=2_000,
    snapshot_calls=6_000,
    tracked_calls=100_000,
    store_applies=2_000,
)
QUICK = replace(
    FULL,
    rounds=3,
    calls=200,
    attempts=4,
    library_calls=20,
    parse_bodies=2_000,
    sizes=(1, 100, 1_000, 10_000),
    scale_items=10_000,
    store_calls=200,
    snapshot_calls=600,
    tracked_calls=10_000,
    store_applies=300,
)


def machine() -> str:
    return (
        f"machine: {platform.platform()}; {platform.python_implementation()} "
        f"{platform.python_version()}; {os.cpu_count()} processors"
    )


def table(rows: Iterable[Row]) -> str:
    lines = ["| metric | measured | target | ok |", "| --- | ---: | --- | :-: |"]
    for row in rows:
        ok = "" if row.ok is None else ("yes" if row.ok else "**NO**")
        lines.append(f"| {row.metric} | {row.measured} | {row.target} | {ok} |")
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller smoke run")
    parser.add_argument("--rounds", type=_positive, help="rounds per median (default 7, quick 3)")
    parser.add_argument(
        "--only", choices=["stores"], help="run one section only (stores: section 8)"
    )
    return parser.parse_args(argv)


def other_sections(flows: list[Flow], config: Config) -> list[Row]:
    """Sections 1 to 7."""
    transitions_factory()  # fail early, with the install hint, if a library is missing
    statemachine_factory()
    templates = templates_of(flows)
    plan = make_plan(flows, config.calls, config.attempts, random.Random(RNG_SEED))
    rows = bench_reduce(plan, templates, config)
    rows += bench_libraries(plan, templates, config)
    rows += bench_parse(flows, config)
    rows += bench_memory(templates, config)
    rows += bench_scale(flows, config)
    rows += bench_big_body(config)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.rounds:
        config = replace(config, rounds=args.rounds)
    started = time.perf_counter()
    flows = list(FLOWS)
    rows = [] if args.only == "stores" else other_sections(flows, config)
    rows += bench_stores(flows, config)
    print(table(rows))
    print()
    print(machine())
    print(f"{config.rounds} rounds per median; run time {time.perf_counter() - started:.1f} s")
    return 1 if any(row.ok is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
