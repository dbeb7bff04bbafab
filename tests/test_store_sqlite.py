"""SQLiteStore and AsyncSQLiteStore: the store workload on a real SQLite file.

Many calls delivered shuffled and duplicated end as a single-process replay;
threads and two connections report each milestone once; a corrupt snapshot
stops only its own call; the asyncio store keeps the event loop free. The
tests with several processes are in ``test_store_sqlite_processes.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import tempfile
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from flows import CONSULTATIVE, FAILURE, SUCCESS, request_of
from hypothesis import given, settings
from hypothesis import strategies as st
from store_workload import (
    apply_all,
    async_store_problems,
    count_milestones,
    delivery_order,
    ended_attempts,
    flow_as,
    milestone_problems,
    open_async_store,
    open_store,
    run_flow,
    store_problems,
    workload,
)

import transfer_fsm as tf
from transfer_fsm import Call, LegFate, Milestone, SnapshotError
from transfer_fsm.store import BodyError, JournalEntry, Link, encode
from transfer_fsm.store.sqlite import LAYOUT, AsyncSQLiteStore, SQLiteStore

THREAD_SECONDS = 60


def fast(path: Path) -> str:
    """The spec of an SQLite store on ``path`` that does not sync each commit (tests only)."""
    return f"sqlite:{path}?synchronous=NORMAL"


def dump(path: Path) -> list[list[Any]]:
    """Every row of the store's tables, read with plain sqlite3."""
    with sqlite3.connect(path) as db:
        calls = db.execute("SELECT call_id, snapshot, ended FROM calls ORDER BY call_id").fetchall()
        links = db.execute("SELECT * FROM links ORDER BY consultation_id").fetchall()
    return [calls, links]


# -- one process ---------------------------------------------------------------------------


def test_many_calls_shuffled_and_duplicated_end_as_the_single_process_replay(
    tmp_path: Path,
) -> None:
    work = workload(200, seed=1)
    order = delivery_order(len(work.bodies), seed=2, duplicates=0.3)
    with open_store(fast(tmp_path / "calls.db")) as store:
        counts = count_milestones(apply_all(store, work, order))
        assert store_problems(store, work) == []
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended
    with open_store(fast(tmp_path / "calls.db")) as reopened:
        assert store_problems(reopened, work) == []


@settings(max_examples=40)
@given(
    calls=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
    duplicates=st.floats(0.0, 1.0),
)
def test_any_delivery_of_a_few_calls_ends_as_the_single_process_replay(
    calls: int, seed: int, duplicates: float
) -> None:
    work = workload(calls, seed)
    with tempfile.TemporaryDirectory() as folder, open_store(fast(Path(folder) / "db")) as store:
        counts = count_milestones(
            apply_all(store, work, delivery_order(len(work.bodies), seed, duplicates))
        )
        assert store_problems(store, work) == []
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended


def test_a_step_is_what_step_reports_and_a_new_call_starts_empty(tmp_path: Path) -> None:
    nothing = tf.CallNotification("call-a", tf.ChangeType.UPDATED, None, None)
    with SQLiteStore(tmp_path / "calls.db") as store:
        assert store.get("call-a") is None
        assert store.apply("call-a", nothing) == tf.step(Call("call-a"), nothing)
        assert store.get("call-a") == Call("call-a")
    assert dump(tmp_path / "calls.db") == [[("call-a", encode(Call("call-a")), None)], []]


def test_an_event_about_another_call_raises_and_changes_nothing(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
        run_flow(store, FAILURE, "call-a")
        before = dump(tmp_path / "calls.db")
        _, bodies = flow_as(SUCCESS, "call-b", request_of(SUCCESS))
        for call_id in ("call-a", "call-c"):
            with pytest.raises(tf.WrongCallError):
                store.apply(call_id, tf.parse_notifications(bodies[0])[0])
        assert dump(tmp_path / "calls.db") == before
        assert store.apply("call-b", request_of(SUCCESS)).call.transfer is not None


def test_threads_and_two_connections_in_one_process_report_each_milestone_once(
    tmp_path: Path,
) -> None:
    work = workload(40, seed=3)
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as one, SQLiteStore(path) as two:
        requests = [one.apply(call_id, request) for call_id, request in work.requests]
        steps: list[list[tf.Step]] = [[] for _ in range(4)]

        def deliver(worker: int) -> None:
            store = (one, two)[worker % 2]
            for index in delivery_order(len(work.bodies), seed=worker):
                steps[worker] += store.apply_body(work.bodies[index])

        threads = [threading.Thread(target=deliver, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=THREAD_SECONDS)
        assert not any(thread.is_alive() for thread in threads)
        assert store_problems(two, work) == []
        assert (one.conflicts, two.conflicts) == (0, 0)
    counts = count_milestones([*requests, *(done for each in steps for done in each)])
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended


# -- ended calls, pruning and links ----------------------------------------------------------


def test_prune_forgets_the_oldest_ended_calls_and_their_links_never_a_live_one(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
        live = run_flow(store, FAILURE, "live")
        run_flow(store, CONSULTATIVE, "ended-1", tf.TransferRequested("consult-1"))
        second = run_flow(store, CONSULTATIVE, "ended-2", tf.TransferRequested("ended-1"))
        third = run_flow(store, SUCCESS, "ended-3")
        late = flow_as(SUCCESS, "ended-3", request_of(SUCCESS))[1][0]
        assert [done.call for done in store.apply_body(late)] == [third]
        assert store.prune(2) == 1
        assert store.prune(2) == 0
        assert [store.get(call_id) for call_id in ("live", "ended-1", "ended-2", "ended-3")] == [
            live,
            None,
            second,
            third,
        ]
        assert store.link("consult-1") is None
        assert store.link("ended-1") == Link("ended-2", "ended-1", LegFate.REPLACED)
        assert store.prune(0) == 2
        assert [store.get(call_id) for call_id in ("live", "ended-2", "ended-3")] == [
            live,
            None,
            None,
        ]
        assert store.link("ended-1") is None
        assert dump(tmp_path / "calls.db") == [[("live", encode(live), None)], []]
        with pytest.raises(ValueError, match="keep_ended"):
            store.prune(-1)


@pytest.mark.parametrize("asked_first", ["consult", "primary"])
def test_a_link_is_found_from_either_call_whichever_is_asked_first(
    tmp_path: Path, asked_first: str
) -> None:
    first, then = ("consult", "primary") if asked_first == "consult" else ("primary", "consult")
    request = tf.TransferRequested(replaces_call_id="consult")
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
        assert (store.link(first), store.link(then)) == (None, None)
        store.apply("primary", request)
        pending = Link("primary", "consult", LegFate.PENDING)
        assert (store.link(first), store.link(then)) == (pending, pending)
        run_flow(store, CONSULTATIVE, "primary", request)
        replaced = Link("primary", "consult", LegFate.REPLACED)
        assert (store.link(first), store.link(then)) == (replaced, replaced)


# -- the file: layout version and options ---------------------------------------------------


def test_a_newer_layout_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute(f"PRAGMA user_version={LAYOUT + 1}")
    with pytest.raises(RuntimeError, match=f"layout version {LAYOUT + 1} is newer"):
        SQLiteStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (LAYOUT + 1,)


LAYOUT_1 = (
    "CREATE TABLE calls (call_id TEXT PRIMARY KEY, snapshot BLOB NOT NULL, ended INTEGER)",
    "CREATE INDEX calls_ended ON calls (ended) WHERE ended IS NOT NULL",
    "CREATE TABLE links (consultation_id TEXT PRIMARY KEY, primary_id TEXT NOT NULL)",
    "CREATE INDEX links_primary ON links (primary_id)",
    "PRAGMA journal_mode=WAL",
    "PRAGMA user_version=1",
)
"""A file of layout 1, the first layout, written without the store."""
LAYOUT_2 = (
    *LAYOUT_1[:-1],
    "CREATE TABLE milestones ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, milestone TEXT NOT NULL)",
    "PRAGMA user_version=2",
)
"""A file of layout 2 (layout 1 and the milestone journal), written without the store."""


def old_file(path: Path, layout: tuple[str, ...], call: Call) -> None:
    """A file made with plain sqlite3 by ``layout``'s statements, holding ``call``."""
    with closing(sqlite3.connect(path)) as db:
        for statement in layout:
            db.execute(statement)
        db.execute("INSERT INTO calls VALUES (?, ?, NULL)", (call.call_id, encode(call)))
        db.commit()


def tables(path: Path) -> list[tuple[str, str]]:
    """The file's tables and indexes (sqlite_sequence aside), by name."""
    query = "SELECT type, name FROM sqlite_master WHERE name != 'sqlite_sequence' ORDER BY name"
    with closing(sqlite3.connect(path)) as db:
        return db.execute(query).fetchall()


LAYOUT_3_TABLES = [
    ("table", "calls"),
    ("index", "calls_ended"),
    ("index", "calls_heard"),
    ("index", "calls_in_flight"),
    ("table", "links"),
    ("index", "links_primary"),
    ("table", "milestones"),
    ("index", "sqlite_autoindex_calls_1"),
    ("index", "sqlite_autoindex_links_1"),
    ("table", "written"),
    ("index", "written_at"),
]


def columns(path: Path) -> dict[str, list[str]]:
    """Each table's column names, in order."""
    with closing(sqlite3.connect(path)) as db:
        return {
            table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            for table in ("calls", "links", "milestones", "written")
        }


LAYOUT_3_COLUMNS = {
    "calls": ["call_id", "snapshot", "ended", "in_flight", "heard"],
    "links": ["consultation_id", "primary_id"],
    "milestones": ["seq", "call_id", "milestone", "key", "consumer", "claimed"],
    "written": ["token", "keys", "at"],
}


def test_a_new_file_gets_layout_3_and_a_layout_3_file_opens_without_a_write(
    tmp_path: Path,
) -> None:
    assert LAYOUT == 3
    path = tmp_path / "new.db"
    with SQLiteStore(path, journal=True) as store:
        store.apply("call-a", request_of(SUCCESS))
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
    assert (tables(path), columns(path)) == (LAYOUT_3_TABLES, LAYOUT_3_COLUMNS)
    with closing(sqlite3.connect(path)) as watcher:
        seen = watcher.execute("PRAGMA data_version").fetchone()
        with SQLiteStore(path, journal=True) as store:
            # data_version changes when another connection commits a change to the file
            assert watcher.execute("PRAGMA data_version").fetchone() == seen
            assert store.get("call-a") == tf.reduce(Call("call-a"), request_of(SUCCESS))


def test_a_layout_2_file_keeps_its_calls_links_and_entries_and_gains_layout_3(
    tmp_path: Path,
) -> None:
    """Its live calls are indexed (in flight from their snapshot, heard at the migration);
    its journal entries get the documented key ``{call_id}:journal-{seq}:{milestone}``."""
    path = tmp_path / "old.db"
    call = tf.reduce(Call("call-a"), request_of(SUCCESS))
    old_file(path, LAYOUT_2, call)
    ended = tf.reduce(tf.reduce(Call("call-b"), request_of(FAILURE)), tf.call_gone("call-b"))
    with closing(sqlite3.connect(path)) as db:
        db.execute("INSERT INTO calls VALUES (?, ?, 1)", ("call-b", encode(ended)))
        db.execute("INSERT INTO calls VALUES (?, ?, NULL)", ("call-c", encode(Call("call-c"))))
        db.execute("INSERT INTO links VALUES ('leg-1', 'call-b')")
        db.execute(
            "INSERT INTO milestones (call_id, milestone) VALUES ('call-b', 'transferFailed')"
        )
        db.execute(
            "INSERT INTO milestones (call_id, milestone) VALUES ('call-b', 'callTerminated')"
        )
        db.commit()
    with SQLiteStore(path, journal=True) as store:
        assert (store.get("call-a"), store.get("call-b"), store.get("call-c")) == (
            call,
            ended,
            Call("call-c"),
        )
        assert store.in_flight() == [call]
        assert store.unheard(3600.0) == []  # heard at the migration, just now
        heard = sorted(store.unheard(0.0), key=lambda live: live.call_id)
        assert heard == [call, Call("call-c")]  # the live calls, not the ended one
        assert store.claim_journal("bot-1") == [
            JournalEntry(
                "1", "call-b", Milestone.TRANSFER_FAILED, "call-b:journal-1:transferFailed"
            ),
            JournalEntry(
                "2", "call-b", Milestone.CALL_TERMINATED, "call-b:journal-2:callTerminated"
            ),
        ]
        again = store.apply("call-b", tf.call_gone("call-b"))
        assert (again.outcome, again.milestones) == (tf.Outcome.DUPLICATE, ())
    assert (tables(path), columns(path)) == (LAYOUT_3_TABLES, LAYOUT_3_COLUMNS)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        rows = db.execute(
            "SELECT call_id, snapshot, ended, in_flight, heard IS NOT NULL FROM calls"
            " ORDER BY call_id"
        ).fetchall()
    assert rows == [
        ("call-a", encode(call), None, 1, 1),
        ("call-b", encode(ended), 1, None, 0),
        ("call-c", encode(Call("call-c")), None, None, 1),
    ]
    assert dump(path)[1] == [("leg-1", "call-b")]


def test_a_layout_1_file_keeps_its_calls_and_gains_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    call = tf.reduce(Call("call-a"), request_of(SUCCESS))
    old_file(path, LAYOUT_1, call)
    with closing(sqlite3.connect(path)) as watcher:
        seen = watcher.execute("PRAGMA data_version").fetchone()
        with SQLiteStore(path, journal=True) as store:
            assert watcher.execute("PRAGMA data_version").fetchone() != seen  # it wrote
            assert (store.get("call-a"), store.link("call-a")) == (call, None)
            assert store.claim_journal("bot") == []
            _, bodies = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
            steps = [done for body in bodies for done in store.apply_body(body)]
            assert [entry[1:3] for entry in store.claim_journal("bot")] == [
                ("call-a", tf.Milestone.AUDIO_INACTIVE),
                ("call-a", tf.Milestone.TRANSFER_ACCEPTED),
                ("call-a", tf.Milestone.TRANSFER_COMPLETED),
                ("call-a", tf.Milestone.CALL_TERMINATED),
            ]
        assert watcher.execute("PRAGMA user_version").fetchone() == (3,)
    assert (tables(path), columns(path)) == (LAYOUT_3_TABLES, LAYOUT_3_COLUMNS)
    assert dump(path)[0] == [("call-a", encode(steps[-1].call), 1)]


def test_a_database_that_cannot_use_wal_is_refused() -> None:
    with pytest.raises(
        RuntimeError, match=r":memory:: SQLite could not use WAL here \(journal mode memory\)"
    ):
        SQLiteStore(":memory:")


def test_a_refused_file_is_let_go_at_once(tmp_path: Path) -> None:
    """The store closes the connection it opened, even while the error (whose traceback
    holds the store) is still around: SQLite removes the -wal and -shm files when the
    last connection to a file closes."""
    path = tmp_path / "calls.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version={LAYOUT + 1}")
        db.commit()
    assert sorted(tmp_path.iterdir()) == [path]
    with pytest.raises(RuntimeError) as refused:
        SQLiteStore(path)
    assert sorted(tmp_path.iterdir()) == [path]
    assert str(refused.value) == (
        f"{path}: store layout version {LAYOUT + 1} is newer than this transfer_fsm reads"
        f" (up to {LAYOUT}); upgrade transfer_fsm"
    )


def test_a_closed_store_refuses_work_and_its_file_reopens(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    store = SQLiteStore(path)
    done = store.apply("call-a", request_of(SUCCESS))
    assert sorted(tmp_path.iterdir()) == [
        path,
        path.with_name("calls.db-shm"),
        path.with_name("calls.db-wal"),
    ]
    store.close()
    assert sorted(tmp_path.iterdir()) == [path]
    for use in (lambda: store.get("call-a"), lambda: store.apply("call-a", request_of(SUCCESS))):
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            use()
    with SQLiteStore(path) as reopened:
        assert reopened.get("call-a") == done.call


def test_an_unknown_synchronous_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "calls.db", synchronous="SOMETIMES")
    assert not (tmp_path / "calls.db").exists()


# -- corrupt snapshots -------------------------------------------------------------------------

CORRUPT: list[tuple[str, bytes | str, str]] = [
    ("not JSON", b"\x00garbage", "$"),
    ("JSON of another shape", json.dumps({**Call("bad").to_dict(), "call_id": 7}), "$.call_id"),
    (
        "a newer snapshot version",
        json.dumps({**Call("bad").to_dict(), "version": 99}).encode(),
        "$.version",
    ),
    ("a snapshot of another call", encode(Call("good")), "$.call_id"),
]


@pytest.mark.parametrize(("raw", "path"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_a_corrupt_snapshot_stops_only_its_own_call(
    tmp_path: Path, raw: bytes | str, path: str
) -> None:
    db_path = tmp_path / "calls.db"
    _, good = flow_as(SUCCESS, "good", request_of(SUCCESS))
    _, bad = flow_as(SUCCESS, "bad", request_of(SUCCESS))
    with SQLiteStore(db_path, synchronous="NORMAL") as store:
        store.apply("good", request_of(SUCCESS))
        store.apply("bad", request_of(SUCCESS))
        with sqlite3.connect(db_path) as db:
            db.execute("UPDATE calls SET snapshot = ? WHERE call_id = 'bad'", (raw,))
        before = dump(db_path)
        for attempt in (
            lambda: store.apply("bad", tf.parse_notifications(bad[0])[0]),
            lambda: store.get("bad"),
        ):
            with pytest.raises(SnapshotError) as raised:
                attempt()
            assert (raised.value.call_id, raised.value.path) == ("bad", path)
            assert f"'bad': {path}:" in str(raised.value)
        assert dump(db_path) == before
        together = {"value": [*bad[0]["value"], *good[0]["value"], *bad[1]["value"]]}
        with pytest.raises(BodyError) as failed:
            store.apply_body(together)
        expected = tf.step(Call("good"), request_of(SUCCESS))
        expected = tf.step(expected.call, tf.parse_notifications(good[0])[0])
        assert failed.value.steps == [expected]
        assert [(error.call_id, error.path) for error in failed.value.errors] == [("bad", path)]
        assert store.get("good") == expected.call
        assert dump(db_path)[0][0][1] == raw


def test_a_call_whose_snapshot_would_not_be_json_is_refused_and_not_written(
    tmp_path: Path,
) -> None:
    """A result code that is not a number JSON can hold (built by hand: a parsed body
    never has one) would be stored as a snapshot no store could read back."""
    path = tmp_path / "calls.db"
    nan: Any = math.nan
    ended = tf.CallNotification(
        "call-a", tf.ChangeType.DELETED, tf.CallState.TERMINATED, None, tf.ResultInfo(nan, 0)
    )
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.apply("call-b", request_of(SUCCESS))
        before = dump(path)
        refused = r"\$\.result\.code: expected an integer, found NaN"
        with pytest.raises(SnapshotError, match=refused):
            store.apply("call-a", ended)
        assert (store.get("call-a"), dump(path)) == (None, before)


# -- asyncio ------------------------------------------------------------------------------------


def test_the_async_store_applies_concurrent_tasks_as_one_process(tmp_path: Path) -> None:
    work = workload(100, seed=7)
    order = delivery_order(len(work.bodies), seed=8, duplicates=0.3)

    async def main() -> tuple[list[tf.Step], list[str]]:
        async with open_async_store(fast(tmp_path / "calls.db")) as store:
            requests = await asyncio.gather(*(store.apply(c, r) for c, r in work.requests))
            bodies = await asyncio.gather(*(store.apply_body(work.bodies[i]) for i in order))
            steps = [*requests, *(done for each in bodies for done in each)]
            return steps, await async_store_problems(store, work)

    steps, problems = asyncio.run(main())
    assert problems == []
    counts = count_milestones(steps)
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended


def test_the_async_store_leaves_the_event_loop_free(tmp_path: Path) -> None:
    work = workload(60, seed=9)
    everything = {"value": [item for body in work.bodies for item in json.loads(body)["value"]]}

    async def main() -> tuple[int, int]:
        async with AsyncSQLiteStore(tmp_path / "calls.db", synchronous="NORMAL") as store:
            for call_id, request in work.requests:
                await store.apply(call_id, request)
            batch = asyncio.ensure_future(store.apply_body(everything))
            ticks = 0
            while not batch.done():
                ticks += 1
                await asyncio.sleep(0)
            return ticks, len(await batch)

    ticks, steps = asyncio.run(main())
    assert steps == len(everything["value"])
    assert ticks >= 10  # a blocked loop would tick once


def store_threads() -> list[str]:
    return [
        thread.name for thread in threading.enumerate() if thread.name.startswith("AsyncSQLite")
    ]


def test_the_async_store_works_on_one_thread_and_stops_it_when_closed(tmp_path: Path) -> None:
    """While another connection holds the write lock the first apply waits in the worker
    thread; the calls made meanwhile queue behind it instead of starting a second thread."""
    path = tmp_path / "calls.db"
    _, bodies = flow_as(SUCCESS, "ended", request_of(SUCCESS))

    async def main() -> tuple[list[str], list[tf.Step], int, int, list[str]]:
        store = AsyncSQLiteStore(path, synchronous="NORMAL")
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            waiting = [
                asyncio.ensure_future(store.apply(f"call-{n}", request_of(SUCCESS)))
                for n in range(4)
            ]
            await asyncio.sleep(0.05)
            busy = store_threads()
            other.execute("ROLLBACK")
            steps = await asyncio.gather(*waiting)
        await store.apply("ended", request_of(SUCCESS))
        for body in bodies:
            await store.apply_body(body)
        pruned = await store.prune(0)
        await store.aclose()
        return busy, steps, pruned, store.conflicts, store_threads()

    assert store_threads() == []
    busy, steps, pruned, conflicts, after = asyncio.run(main())
    assert busy == ["AsyncSQLiteStore_0"]
    assert steps == [tf.step(Call(f"call-{n}"), request_of(SUCCESS)) for n in range(4)]
    assert (pruned, conflicts, after) == (1, 0, [])
    with SQLiteStore(path) as reopened:
        assert [reopened.get(f"call-{n}") for n in range(4)] == [step.call for step in steps]
        assert reopened.get("ended") is None
