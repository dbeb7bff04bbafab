"""What a bot's timer asks a store: ``in_flight``, ``unheard`` and ``delete``.

On ``MemoryStore`` (its clock injected) and on ``SQLiteStore`` / ``AsyncSQLiteStore``
(real files, SQLite's own clock): the calls with an attempt in flight, the
live calls not heard from for longer than T (a duplicate counts as heard, an
ended call never is), and a call forgotten with every link its requests made
(the L1/L2 history of a primary that retried its consultative transfer),
including ``MemoryStore``'s eviction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from flows import FAILURE, SUCCESS
from store_workload import flow_as

import transfer_fsm as tf
from transfer_fsm import Call, LegFate
from transfer_fsm.store import Link, MemoryStore, Store
from transfer_fsm.store.sqlite import AsyncSQLiteStore, SQLiteStore

UP = {"state": "established"}


def up(call_id: str) -> tf.Notification:
    """The call established (live, no attempt)."""
    return tf.parse_call_resource({"id": call_id, **UP})


def retried(store: Store, primary: str = "primary") -> list[tf.Step]:
    """``primary`` asks a consultative transfer replacing L1, which fails, then one
    replacing L2 (in flight): every step."""
    steps = [store.apply(primary, up(primary))]
    steps.append(store.apply(primary, tf.TransferRequested("L1")))
    _, bodies = flow_as(FAILURE, primary, tf.TransferRequested("L1"))
    steps += [done for body in bodies for done in store.apply_body(body)]
    assert steps[-1].call.transfer is not None
    assert steps[-1].call.transfer.status is tf.TransferStatus.FAILED
    steps.append(store.apply(primary, tf.TransferRequested("L2")))
    return steps


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- MemoryStore ---------------------------------------------------------------------------


def test_memory_in_flight_is_the_live_calls_whose_attempt_the_bot_waits_on() -> None:
    store = MemoryStore()
    store.apply("idle", up("idle"))
    requested = store.apply("requested", tf.TransferRequested()).call
    _, bodies = flow_as(SUCCESS, "done", tf.TransferRequested())
    store.apply("done", tf.TransferRequested())
    assert store.in_flight() == [requested, store.get("done")]
    for body in bodies:
        store.apply_body(body)
    assert store.get("done") is not None
    assert store.in_flight() == [requested]  # completed and ended: out
    assert store.in_flight(limit=1) == [requested]
    with pytest.raises(ValueError, match=r"^limit must be an int of 1 to 1000000, not 0$"):
        store.in_flight(0)


def test_memory_unheard_counts_a_duplicate_as_heard_and_never_an_ended_call() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    a = store.apply("call-a", up("call-a")).call
    clock.now = 105.0
    b = store.apply("call-b", up("call-b")).call
    store.apply("call-c", up("call-c"))
    store.apply("call-c", tf.call_gone("call-c"))  # ended: never unheard
    clock.now = 110.0
    assert store.unheard(4.0) == [a, b]  # oldest first
    assert store.unheard(5.0) == [a]  # heard 5 s ago: not more than 5
    assert store.unheard(4.0, limit=1) == [a]
    assert store.apply("call-a", up("call-a")).outcome is tf.Outcome.DUPLICATE
    assert store.unheard(4.0) == [b]  # the duplicate was heard
    clock.now = 200.0
    assert store.unheard(60.0) == [b, a]
    assert store.unheard(1000.0) == []
    with pytest.raises(ValueError, match=r"^seconds must be seconds, 0 or more, not -1$"):
        store.unheard(-1)


def test_memory_eviction_forgets_every_link_the_call_made() -> None:
    """A primary that tried L1, failed, and retried L2 leaves neither link behind when
    it ends and is evicted; a link another call's request took over stays."""
    store = MemoryStore(max_ended=0)
    steps = retried(store)
    store.apply("other", tf.TransferRequested("L0"))
    pending = Link("primary", "L2", LegFate.PENDING)
    assert (store.link("L1"), store.link("L2")) == (
        Link("primary", "L1", LegFate.UNRELATED),
        pending,
    )
    store.apply("another", tf.TransferRequested("L1"))  # a later request takes L1 over
    assert store.apply("primary", tf.call_gone("primary")).call.state is tf.CallState.TERMINATED
    assert steps[-1].call.transfer is not None
    assert (store.get("primary"), store.link("L2"), store.link("primary")) == (None, None, None)
    assert store.link("L1") == Link("another", "L1", LegFate.PENDING)
    assert len(store) == 2  # other, another


def test_memory_delete_forgets_a_live_call_its_links_and_its_place_in_each_query() -> None:
    clock = Clock()
    store = MemoryStore(max_ended=1, clock=clock)
    retried(store)
    store.apply("ended", tf.call_gone("ended"))
    clock.now = 200.0
    assert [call.call_id for call in store.unheard(1.0)] == ["primary"]
    assert [call.call_id for call in store.in_flight()] == ["primary"]
    assert store.delete("primary") is True
    assert (store.get("primary"), store.link("L1"), store.link("L2")) == (None, None, None)
    assert (store.in_flight(), store.unheard(0.0), store.delete("primary")) == ([], [], False)
    assert store.delete("ended") is True  # a tombstone too
    assert (store.get("ended"), len(store), store.delete("never seen")) == (None, 0, False)
    # The next ended call is kept: the deleted tombstone no longer counts against max_ended.
    store.apply("next", tf.call_gone("next"))
    store.apply("last", tf.call_gone("last"))
    assert (store.get("next"), store.get("last") is not None) == (None, True)
    again = store.apply("primary", up("primary"))  # a later event starts it over
    assert again.call == tf.reduce(Call("primary"), up("primary"))


# -- SQLiteStore -----------------------------------------------------------------------------


def plan(path: Path, query: str) -> str:
    """SQLite's plan for ``query`` on the file (its detail column, joined)."""
    with closing(sqlite3.connect(path)) as db:
        return " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))


def test_sqlite_in_flight_reads_its_index_kept_with_each_apply(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.apply("idle", up("idle"))
        requested = store.apply("requested", tf.TransferRequested()).call
        store.apply("done", tf.TransferRequested())
        assert sorted(store.in_flight(), key=lambda call: call.call_id) == [
            store.get("done"),
            requested,
        ]
        _, bodies = flow_as(SUCCESS, "done", tf.TransferRequested())
        for body in bodies:
            store.apply_body(body)
        assert store.in_flight() == [requested]
        assert len(store.in_flight(limit=1)) == 1
        with closing(sqlite3.connect(path)) as db:
            flags = db.execute("SELECT call_id, in_flight FROM calls ORDER BY call_id").fetchall()
        assert flags == [("done", None), ("idle", None), ("requested", 1)]
    assert "USING INDEX calls_in_flight" in plan(
        path, "SELECT call_id, snapshot FROM calls WHERE in_flight = 1 LIMIT 5"
    )
    assert "USING INDEX calls_heard" in plan(
        path,
        "SELECT call_id, snapshot FROM calls WHERE heard < julianday('now') - 1"
        " ORDER BY heard LIMIT 5",
    )


def test_sqlite_unheard_by_the_databases_clock_counts_a_duplicate_as_heard(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
        a = store.apply("call-a", up("call-a")).call
        time.sleep(0.3)
        b = store.apply("call-b", up("call-b")).call
        store.apply("call-c", up("call-c"))
        store.apply("call-c", tf.call_gone("call-c"))
        assert store.unheard(0.2) == [a]
        time.sleep(0.3)
        assert store.unheard(0.2) == [a, b]  # oldest first
        assert store.unheard(0.2, limit=1) == [a]
        assert store.apply("call-a", up("call-a")).outcome is tf.Outcome.DUPLICATE
        assert store.unheard(0.2) == [b]
        assert store.unheard(3600.0) == []
        with pytest.raises(ValueError, match=r"^seconds must be seconds, 0 or more, not nan$"):
            store.unheard(float("nan"))


def test_sqlite_delete_forgets_the_call_every_link_it_made_and_its_tombstone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        retried(store)
        store.apply("other", tf.TransferRequested("L9"))
        store.apply("ended", tf.call_gone("ended"))
        assert store.link("L1") == Link("primary", "L1", LegFate.UNRELATED)
        assert store.delete("primary") is True
        assert (store.get("primary"), store.link("L1"), store.link("L2")) == (None, None, None)
        assert [call.call_id for call in store.in_flight()] == ["other"]
        time.sleep(0.01)  # SQLite's clock counts milliseconds
        assert [call.call_id for call in store.unheard(0.0)] == ["other"]
        assert (store.delete("primary"), store.delete("never seen")) == (False, False)
        assert store.delete("ended") is True
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT call_id, ended, in_flight FROM calls").fetchall()
            links = db.execute("SELECT * FROM links").fetchall()
        assert (rows, links) == ([("other", None, 1)], [("L9", "other")])
        again = store.apply("primary", up("primary"))
        assert again.call == tf.reduce(Call("primary"), up("primary"))


def test_the_async_store_answers_the_timer(tmp_path: Path) -> None:
    async def main() -> tuple[list[Call], list[Call], bool, list[Call]]:
        async with AsyncSQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
            await store.apply("idle", up("idle"))
            await store.apply("requested", tf.TransferRequested())
            flying = await store.in_flight()
            await asyncio.sleep(0.2)
            quiet = await store.unheard(0.1)
            return flying, quiet, await store.delete("idle"), await store.unheard(0.0)

    flying, quiet, deleted, left = asyncio.run(main())
    requested = tf.reduce(Call("requested"), tf.TransferRequested())
    assert flying == [requested]
    assert quiet == [tf.reduce(Call("idle"), up("idle")), requested]
    assert (deleted, left) == (True, [requested])
