"""Section 8, continued: the Redis store past one apply at a time, each against its own
baseline measured in the same run.

- The journal: ``RedisStore(journal=True).apply`` vs the same store without it, on the
  same batches (every apply writes; about a third carry milestones). Target <= 1.25.
- Batching: ``AsyncRedisStore`` with 64 applies in flight over 1,000 calls (64 tasks,
  each applying one call's events in order, then the next call's) vs the same store
  awaiting one apply at a time over the same events. Target: >= 3x the applies per
  second; p50 / p99 latency of one apply (the await) reported for both.

Both on a ``redis-server`` the bench starts on a free 127.0.0.1 port and stops.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from backends import (
    STORE_PREFIX,
    Batch,
    _each_round,
    _missing,
    _store_class,
    _time_apply,
    make_batch,
    make_batches,
)
from sections import Row, medians, ns_text, ratio_text
from workload import RNG_SEED, Config, Flow

import transfer_fsm as tf

JOURNAL = 1.25
"""Target: a journaled apply <= this times the same store's apply without the journal."""
BATCHING = 3.0
"""Target: applies per second with 64 in flight >= this times one at a time."""
IN_FLIGHT = 64
CALLS = 1_000


def bench_journal(client: Any, flows: list[Flow], config: Config) -> list[Row]:
    """The same batches through a store with and one without the journal."""
    store_class, rows = _store_class("redis", "RedisStore")
    if store_class is None:
        return rows
    batches = make_batches(flows, config)
    plain = store_class(client, prefix=STORE_PREFIX + "plain:")
    journaled = store_class(client, prefix=STORE_PREFIX + "journal:", journal=True)
    ns = medians(
        {
            "plain": _each_round(batches, lambda batch: _time_apply(plain.apply, batch)),
            "journal": _each_round(batches, lambda batch: _time_apply(journaled.apply, batch)),
        },
        config.rounds,
    )
    entries = 0
    for _ in range(1_000):  # bounded: each claim takes up to 10,000 entries
        claimed = journaled.claim_journal("bench", limit=10_000)
        if not claimed:
            break
        entries += journaled.ack_journal(claimed)
    fired = sum(
        len(step.milestones)
        for step in _replayed(batches)  # what the journal must hold: every milestone once
    )
    count = config.store_applies
    ratio = ns["journal"] / ns["plain"]
    return [
        Row("RedisStore(journal=True).apply", ns_text(ns["journal"] / count) + "/apply"),
        Row("RedisStore.apply, no journal, same batches", ns_text(ns["plain"] / count) + "/apply"),
        Row("RedisStore journal / no journal", ratio_text(ratio), f"<= {JOURNAL}",
            ratio <= JOURNAL),
        Row("RedisStore journal: entries = milestones fired", f"{entries:,} / {fired:,}",
            "all", entries == fired),
    ]  # fmt: skip


def _replayed(batches: list[Batch]) -> list[tf.Step]:
    """Every step of the batches, stepped in memory as the store steps them."""
    calls: dict[str, tf.Call] = {}
    steps = []
    for batch in batches:
        for item in batch:
            done = tf.step(calls.get(item.call_id, tf.Call(item.call_id)), item.event)
            calls[item.call_id] = done.call
            steps.append(done)
    return steps


def _per_call(batch: Batch) -> list[list[tuple[str, tf.Event]]]:
    """The batch's applies grouped by call, each call's in its order."""
    calls: dict[str, list[tuple[str, tf.Event]]] = {}
    for item in batch:
        calls.setdefault(item.call_id, []).append((item.call_id, item.event))
    return list(calls.values())


async def _run(store: Any, calls: list[list[tuple[str, tf.Event]]], width: int) -> list[int]:
    """Apply every call's events, ``width`` calls at a time; each apply's latency (ns)."""
    latencies: list[int] = []
    pending = iter(calls)

    async def worker() -> None:
        for items in pending:
            for call_id, event in items:
                start = time.perf_counter_ns()
                await store.apply(call_id, event)
                latencies.append(time.perf_counter_ns() - start)

    await asyncio.gather(*(worker() for _ in range(width)))
    return latencies


def bench_batching(url: str, flows: list[Flow], config: Config) -> list[Row]:
    """AsyncRedisStore with 64 applies in flight vs one at a time, over 1,000 calls."""
    try:
        import redis.asyncio

        from transfer_fsm.store.redis import AsyncRedisStore
    except ModuleNotFoundError as error:
        return _missing("AsyncRedisStore", f"{error.name} is not installed")
    rng = random.Random(RNG_SEED + 18)
    per_call = [len(flow.events()) + 1 for flow in flows]
    applies = sum(per_call[n % len(flows)] for n in range(CALLS))
    figures: dict[int, tuple[float, list[int]]] = {}

    async def measure(width: int, first: int) -> tuple[float, list[int]]:
        calls = _per_call(make_batch(flows, applies, first, rng))
        client = redis.asyncio.Redis.from_url(url)
        try:
            store = AsyncRedisStore(client, prefix=f"{STORE_PREFIX}batch{width}:")
            start = time.perf_counter()
            latencies = await _run(store, calls, width)
            return len(latencies) / (time.perf_counter() - start), latencies
        finally:
            await client.aclose()

    for index, width in enumerate([1, IN_FLIGHT] * max(1, config.rounds // 2)):
        rate, latencies = asyncio.run(measure(width, 3 * 10**6 + index * applies))
        best = figures.get(width)
        if best is None or rate > best[0]:
            figures[width] = (rate, latencies)
    one, many = figures[1], figures[IN_FLIGHT]
    ratio = many[0] / one[0]
    return [
        *(
            Row(
                f"AsyncRedisStore, {width} apply(ies) in flight over {CALLS:,} calls",
                f"{rate:,.0f} applies/s; p50 {_quantile(lat, 0.5)}, p99 {_quantile(lat, 0.99)}",
            )
            for width, (rate, lat) in ((1, one), (IN_FLIGHT, many))
        ),
        Row(
            f"AsyncRedisStore {IN_FLIGHT} in flight / one at a time",
            ratio_text(ratio),
            f">= {BATCHING}",
            ratio >= BATCHING,
        ),
    ]


def _quantile(latencies: list[int], q: float) -> str:
    ordered = sorted(latencies)
    value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return f"{value / 1000:,.0f} µs"


def bench_redis_scale(url: str, client: Any, flows: list[Flow], config: Config) -> list[Row]:
    """The journal and the batching rows (the caller runs the server)."""
    return bench_journal(client, flows, config) + bench_batching(url, flows, config)
