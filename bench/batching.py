"""Section 8, continued: an async store's group commit, 64 applies in flight vs one at a time.

``AsyncSQLiteStore`` (``synchronous=FULL``: each transaction waits for its
fsync) over 1,000 calls (quick 200) never seen before, each through its
documented flow in production order: once with every call's events applied in
turn by its own task, at most 64 applies in flight at a time (a semaphore),
and once awaiting one apply at a time (the calls interleaved). Throughput is
applies per second of wall time; each apply's latency is from its call to its
step. Target: in flight >= 3x one at a time. p50 / p99 latencies are shown.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sections import Row, ratio_text
from workload import RNG_SEED, Config, Flow, call_id_of, interleave, request_of

import transfer_fsm as tf

IN_FLIGHT = 64
BATCHING = 3.0
"""Target: applies/s with 64 in flight >= this times awaiting one at a time."""


def calls_of(flows: list[Flow], count: int, first: int) -> list[list[tuple[str, tf.Event]]]:
    """``count`` calls numbered from ``first``: each one's events, in production order."""
    calls = []
    for number in range(first, first + count):
        call_id = call_id_of(number)
        flow = flows[number % len(flows)]
        events: list[tf.Event] = [request_of(flow)]
        events += [event._replace(call_id=call_id) for event in flow.events()]
        calls.append([(call_id, event) for event in events])
    return calls


async def _in_flight(store: Any, calls: list[list[tuple[str, tf.Event]]]) -> list[int]:
    """Each call's events in turn on its own task, at most 64 applies at once: latencies."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    latencies: list[int] = []

    async def run(items: list[tuple[str, tf.Event]]) -> None:
        for call_id, event in items:
            async with gate:
                start = time.perf_counter_ns()
                await store.apply(call_id, event)
                latencies.append(time.perf_counter_ns() - start)

    await asyncio.gather(*(run(items) for items in calls))
    return latencies


async def _one_at_a_time(store: Any, items: list[tuple[str, tf.Event]]) -> list[int]:
    latencies = []
    for call_id, event in items:
        start = time.perf_counter_ns()
        await store.apply(call_id, event)
        latencies.append(time.perf_counter_ns() - start)
    return latencies


def _measure(
    store_class: Any, path: Path, calls: list[list[tuple[str, tf.Event]]], concurrent: bool
) -> tuple[float, list[int]]:
    """Applies per second and each apply's latency (ns), on a new file."""

    async def main() -> tuple[int, list[int]]:
        async with store_class(path, synchronous="FULL") as store:
            start = time.perf_counter_ns()
            if concurrent:
                latencies = await _in_flight(store, calls)
            else:
                rng = random.Random(RNG_SEED + 11)
                latencies = await _one_at_a_time(store, interleave(calls, rng))
            return time.perf_counter_ns() - start, latencies

    elapsed, latencies = asyncio.run(main())
    return len(latencies) / (elapsed / 1e9), latencies


def _percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6


def bench_batching(flows: list[Flow], config: Config) -> list[Row]:
    """``AsyncSQLiteStore`` (FULL): 64 applies in flight over 1,000 calls vs one at a time."""
    name = "AsyncSQLiteStore (synchronous=FULL)"
    try:
        store_class = importlib.import_module("transfer_fsm.store.sqlite").AsyncSQLiteStore
    except (ImportError, AttributeError):
        return [Row(f"{name}: in flight / one at a time", "not available")]
    count = 1_000 if config.store_applies >= 2_000 else 200
    rounds = max(1, min(config.rounds, 3))
    results: dict[bool, list[tuple[float, list[int]]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="transfer-fsm-bench-") as directory:
        for index in range(rounds):
            for concurrent in (True, False):
                calls = calls_of(flows, count, 3 * 10**6 + (2 * index + concurrent) * count)
                path = Path(directory) / f"{index}-{concurrent}.db"
                results[concurrent].append(_measure(store_class, path, calls, concurrent))
    rows = []
    rates = {}
    for concurrent, label in ((True, f"{IN_FLIGHT} applies in flight"), (False, "one at a time")):
        rate = statistics.median(rate for rate, _ in results[concurrent])
        latencies = [ns for _, each in results[concurrent] for ns in each]
        rates[concurrent] = rate
        rows.append(
            Row(
                f"{name}, {count:,} calls, {label}: applies/s (p50 / p99 latency per apply)",
                f"{rate:,.0f}/s ({_percentile(latencies, 0.5):.2f} /"
                f" {_percentile(latencies, 0.99):.2f} ms)",
            )
        )
    ratio = rates[True] / rates[False]
    rows.append(
        Row(
            f"{name}: {IN_FLIGHT} in flight / one at a time, applies/s",
            ratio_text(ratio),
            f">= {BATCHING}",
            ratio >= BATCHING,
        )
    )
    return rows
