"""Section 8, continued: ``SQLiteStore.apply`` and ``RedisStore.apply`` against bare I/O.

Each apply is one event that changes its call, so every apply writes: calls
with fresh ids go through the documented flows in production order (the
bot's ``TransferRequested``, then each notification), the calls interleaved.
Every round (and the warm-up) gets calls never seen before. The floor does,
per event, the least a store could do with the same storage: read the call's
snapshot and write the bytes the store writes for that step (``encode`` of
that step's call, computed before timing), in one transaction:

- SQLite: ``BEGIN IMMEDIATE``; ``SELECT snapshot``; an upsert; ``COMMIT``, on
  its own connection to its own file (same directory, same pragmas);
- Redis: ``WATCH``; ``GET``; ``MULTI``; ``SET``; ``EXEC`` in one pipeline, on
  the same server as the store (its own key prefix).

A check row confirms each store wrote, for every call, the same bytes as its
floor. A backend whose module is not in the library yet (``ImportError`` of
``transfer_fsm.store.sqlite`` / ``.redis``) gets a "not available" row and no
ratio; a missing ``redis-server``, redis-py or pytest (``tests/servers.py``
starts the server) is a missed target.
"""

from __future__ import annotations

import importlib
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from sections import Row, medians, ns_text, ratio_text
from workload import RNG_SEED, Config, Flow, call_id_of, interleave, request_of

import transfer_fsm as tf
from transfer_fsm.store import advance, encode

BACKEND = 1.5
"""Target: a store's ``apply`` <= this times its floor's bare transaction."""
NORMAL_BACKEND = 2.0
"""Target: ``SQLiteStore(synchronous="NORMAL").apply`` <= this times its floor."""
JOURNAL = 1.25
"""Target: a store's ``apply`` with its journal <= this times the same store's without it."""
SYNCHRONOUS = "FULL"
"""``SQLiteStore``'s default ``synchronous`` pragma, which both sides use."""
SELECT = "SELECT snapshot FROM calls WHERE call_id = ?"
UPSERT = (
    "INSERT INTO calls (call_id, snapshot, ended) VALUES (?, ?, ?) "
    "ON CONFLICT(call_id) DO UPDATE SET snapshot = excluded.snapshot, ended = excluded.ended"
)
FLOOR_PREFIX = "bench-floor:"
STORE_PREFIX = "bench-store:"


class Apply(NamedTuple):
    """One apply: the event for the store, the bytes and ended flag for its floor."""

    call_id: str
    event: tf.Event
    snapshot: bytes
    ended: int | None


Batch = list[Apply]


def make_batch(flows: list[Flow], applies: int, first: int, rng: random.Random) -> Batch:
    """``applies`` applies of calls numbered from ``first``, each of which writes."""
    per_call: list[Batch] = []
    total, number = 0, first
    while total < applies:
        call_id = call_id_of(number)
        flow = flows[number % len(flows)]
        events: list[tf.Event] = [request_of(flow)]
        events += [event._replace(call_id=call_id) for event in flow.events()]
        stored: tf.Call | None = None
        items: Batch = []
        for event in events:
            change = advance(call_id, stored, event)
            assert change.write is not None, f"{flow.name}: an event that writes nothing"
            stored = change.write
            ended = 1 if stored.state is tf.CallState.TERMINATED else None
            items.append(Apply(call_id, event, encode(stored), ended))
        per_call.append(items[: applies - total])
        total += len(per_call[-1])
        number += 1
    return interleave(per_call, rng)


def make_batches(flows: list[Flow], config: Config) -> list[Batch]:
    """One batch per round and one for the warm-up, on calls no batch shares."""
    rng = random.Random(RNG_SEED + 9)
    stride = config.store_applies  # at least one apply per call: ids never overlap
    return [
        make_batch(flows, config.store_applies, 10**6 + index * stride, rng)
        for index in range(config.rounds + 1)
    ]


def _each_round(batches: list[Batch], run: Callable[[Batch], int]) -> Callable[[], int]:
    """A measure that runs the next batch each time it is called (warm-up, then rounds)."""
    pending: Iterator[Batch] = iter(batches)
    return lambda: run(next(pending))


def _time_apply(apply: Callable[[str, tf.Event], object], batch: Batch) -> int:
    start = time.perf_counter_ns()
    for item in batch:
        apply(item.call_id, item.event)
    return time.perf_counter_ns() - start


def _ratio_rows(name: str, floor: str, ns: dict[str, float], count: int) -> list[Row]:
    ratio = ns["store"] / ns["floor"]
    return [
        Row(
            f"{name}.apply ({count:,} applies per round, each writes)",
            ns_text(ns["store"] / count) + "/apply",
        ),
        Row(f"{name} floor: {floor}, same bytes", ns_text(ns["floor"] / count) + "/apply"),
        Row(f"{name}.apply / floor", ratio_text(ratio), f"<= {BACKEND}", ratio <= BACKEND),
    ]


def _same_rows(name: str, same: int, total: int) -> Row:
    return Row(
        f"{name}: calls whose stored bytes = the floor's",
        f"{same:,} / {total:,}",
        "all",
        same == total,
    )


def _final_bytes(batches: list[Batch]) -> dict[str, bytes]:
    return {item.call_id: item.snapshot for batch in batches for item in batch}


def _missing(name: str, why: str) -> list[Row]:
    return [Row(f"{name}.apply / floor", f"not measured: {why}", f"<= {BACKEND}", False)]


def _store_class(module: str, name: str) -> tuple[Any, list[Row]]:
    """The store class, or the row saying why there is none (``None``, rows)."""
    try:
        return getattr(importlib.import_module(f"transfer_fsm.store.{module}"), name), []
    except ModuleNotFoundError as error:
        if error.name == f"transfer_fsm.store.{module}":
            return None, [Row(f"{name}.apply / floor", "not available (not in the library yet)")]
        return None, _missing(name, f"{error.name} is not installed")


# -- SQLite ---------------------------------------------------------------------------


class SQLiteFloor:
    """The bare transaction on its own connection and file."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS calls "
            "(call_id TEXT PRIMARY KEY, snapshot BLOB NOT NULL, ended INTEGER)"
        )

    def run(self, batch: Batch) -> int:
        execute = self.db.execute
        start = time.perf_counter_ns()
        for item in batch:
            execute("BEGIN IMMEDIATE")
            execute(SELECT, (item.call_id,)).fetchone()
            execute(UPSERT, (item.call_id, item.snapshot, item.ended))
            execute("COMMIT")
        return time.perf_counter_ns() - start


def _stored_sqlite(path: Path) -> dict[str, bytes]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT call_id, snapshot FROM calls")
        return {call_id: bytes(raw) for call_id, raw in rows}


def _sqlite_rows(
    store_class: Any, batches: list[Batch], synchronous: str, config: Config
) -> list[Row]:
    """One store and its floor, in files of a new directory, both with ``synchronous``."""
    with tempfile.TemporaryDirectory(prefix="transfer-fsm-bench-") as directory:
        store_path, floor_path = Path(directory) / "store.db", Path(directory) / "floor.db"
        store = store_class(store_path, synchronous=synchronous)
        floor = SQLiteFloor(floor_path, synchronous)
        journaled = store_class(
            Path(directory) / "journal.db", synchronous=synchronous, journal=True
        )
        try:
            ns = medians(
                {
                    "store": _each_round(batches, lambda batch: _time_apply(store.apply, batch)),
                    "floor": _each_round(batches, floor.run),
                    "journal": _each_round(
                        batches, lambda batch: _time_apply(journaled.apply, batch)
                    ),
                },
                config.rounds,
            )
        finally:
            store.close()
            floor.db.close()
            journaled.close()
        expected = _final_bytes(batches)
        stored, floored = _stored_sqlite(store_path), _stored_sqlite(floor_path)
    same = sum(stored.get(key) == raw == floored.get(key) for key, raw in expected.items())
    name = f"SQLiteStore (synchronous={synchronous})"
    floor_text = "BEGIN IMMEDIATE / SELECT / upsert / COMMIT, WAL"
    rows = _ratio_rows(name, floor_text, ns, config.store_applies)
    if synchronous != SYNCHRONOUS:  # the figures without an fsync per commit
        rows[-1] = rows[-1]._replace(
            target=f"<= {NORMAL_BACKEND}", ok=ns["store"] / ns["floor"] <= NORMAL_BACKEND
        )
    journal = ns["journal"] / ns["store"]
    rows.append(
        Row(
            f"{name}: journal=True / without it",
            ratio_text(journal),
            f"<= {JOURNAL}",
            journal <= JOURNAL,
        )
    )
    return [*rows, _same_rows(name, same, len(expected))]


def bench_sqlite(flows: list[Flow], config: Config) -> list[Row]:
    """``SQLiteStore.apply`` against BEGIN IMMEDIATE / SELECT / upsert / COMMIT.

    With the store's default ``synchronous=FULL`` (both sides wait for an
    fsync per commit: target 1.5), then with ``NORMAL`` (target 2.0), where no
    commit waits for the disk and the store's own work shows; each with the
    same store journaling (``journal=True``) against it without (target 1.25).
    """
    store_class, rows = _store_class("sqlite", "SQLiteStore")
    if store_class is None:
        return rows
    batches = make_batches(flows, config)
    return [
        row
        for synchronous in (SYNCHRONOUS, "NORMAL")
        for row in _sqlite_rows(store_class, batches, synchronous, config)
    ]


# -- Redis ----------------------------------------------------------------------------


def watch_floor(client: Any, key_of: Callable[[str], str]) -> Callable[[Batch], int]:
    """The Redis floor of a batch, in ns: per apply, ``WATCH`` the call's key (``key_of``
    its id), ``GET`` it, and ``MULTI`` / ``SET`` / ``EXEC`` the floor's bytes. A Cluster's
    client runs it too, the key in one slot."""

    def run(batch: Batch) -> int:
        pipeline = client.pipeline
        start = time.perf_counter_ns()
        for item in batch:
            key = key_of(item.call_id)
            with pipeline(transaction=True) as pipe:
                pipe.watch(key)
                pipe.get(key)
                pipe.multi()
                pipe.set(key, item.snapshot)
                pipe.execute()
        return time.perf_counter_ns() - start

    return run


def _redis_floor(client: Any) -> Callable[[Batch], int]:
    return watch_floor(client, lambda call_id: f"{FLOOR_PREFIX}call:{call_id}")


def bench_redis(flows: list[Flow], config: Config) -> list[Row]:
    """``RedisStore.apply`` against WATCH / GET / MULTI / SET / EXEC on the same server."""
    store_class, rows = _store_class("redis", "RedisStore")
    if store_class is None:
        return rows
    try:
        import redis
        from redis_scale import bench_redis_scale
        from servers import find_redis_server, running_redis
    except ModuleNotFoundError as error:
        return _missing("RedisStore", f"{error.name} is not installed (pip install -e '.[test]')")
    binary = find_redis_server()
    if binary is None:
        return _missing("RedisStore", "redis-server not found (apt-get install -y redis-server)")
    batches = make_batches(flows, config)
    with running_redis(binary) as server:
        client = redis.Redis.from_url(server.url)
        try:
            store = store_class(client, prefix=STORE_PREFIX)
            ns = medians(
                {
                    "store": _each_round(batches, lambda batch: _time_apply(store.apply, batch)),
                    "floor": _each_round(batches, _redis_floor(client)),
                },
                config.rounds,
            )
            expected = _final_bytes(batches)
            keys = list(expected)
            stored = [client.get(store.call_key(key)) for key in keys]
            floored = client.mget([f"{FLOOR_PREFIX}call:{key}" for key in keys])
            scale = bench_redis_scale(server.url, client, flows, config)
        finally:
            client.close()
    same = sum(a == b == expected[key] for key, a, b in zip(keys, stored, floored, strict=True))
    return [
        *_ratio_rows(
            "RedisStore", "one pipeline WATCH / GET / MULTI / SET / EXEC", ns, config.store_applies
        ),
        _same_rows("RedisStore", same, len(expected)),
        *scale,
    ]


def bench_backends(flows: list[Flow], config: Config) -> list[Row]:
    """The SQLite and Redis rows, then the async stores' batching."""
    from batching import bench_batching

    return bench_sqlite(flows, config) + bench_redis(flows, config) + bench_batching(flows, config)
