"""Batches on real SQLite files: ``apply_many``, one transaction per body, write tokens
(``landed``), and ``AsyncSQLiteStore``'s group commit, with a cancelled ``await``.

A batch is one transaction whose items each get the step they would get
applied alone in order; an item refused on its own (a corrupt snapshot, an
event about another call) does not roll back the others, while a failure of
the file rolls back the whole batch. A token records the milestone keys of
the write it names, in that write's transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from flows import FAILURE, SUCCESS, request_of
from store_workload import flow_as

import transfer_fsm as tf
from transfer_fsm import Call, Milestone, SnapshotError
from transfer_fsm.store import BatchError, BodyError, MemoryStore
from transfer_fsm.store.sqlite import AsyncSQLiteStore, SQLiteStore


def events(flow_name: str, call_id: str) -> list[tuple[str, tf.Event]]:
    """The request and every notification of SUCCESS or FAILURE as ``call_id``."""
    flow = SUCCESS if flow_name == "success" else FAILURE
    _, bodies = flow_as(flow, call_id, request_of(flow))
    notes = [event for body in bodies for event in tf.parse_notifications(body)]
    return [(call_id, request_of(flow)), *((call_id, event) for event in notes)]


def interleaved() -> list[tuple[str, tf.Event]]:
    """Two calls' flows, their events alternating (one call's items see its earlier ones)."""
    a, b = events("success", "call-a"), events("failure", "call-b")
    mixed = [item for pair in zip(a, b, strict=False) for item in pair]
    return mixed + a[len(b) :] + b[len(a) :]


def alone(items: list[tuple[str, tf.Event]]) -> list[tf.Step]:
    """The steps of ``items`` applied one at a time, in order."""
    store = MemoryStore()
    return [store.apply(call_id, event) for call_id, event in items]


@contextmanager
def traced(store: SQLiteStore) -> Iterator[list[str]]:
    """The statements the store's connection runs meanwhile."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        store._db.set_trace_callback(None)


def corrupt(path: Path, call_id: str) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE calls SET snapshot = 'not json' WHERE call_id = ?", (call_id,))
        db.commit()


def test_apply_many_is_one_transaction_of_the_steps_applied_alone(tmp_path: Path) -> None:
    items = interleaved()
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL", journal=True) as store:
        with traced(store) as statements:
            steps = store.apply_many(iter(items))
        assert steps == alone(items)
        assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
            "BEGIN IMMEDIATE",
            "COMMIT",
        ]
        last = {done.call.call_id: done.call for done in steps}
        assert {call_id: store.get(call_id) for call_id in last} == last
        keys = [key for done in steps for key in done.milestone_keys]
        assert [entry.key for entry in store.claim_journal("bot", limit=1000)] == keys
        assert store.apply_many([]) == []


def test_an_item_refused_on_its_own_leaves_the_others_applied(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.apply("broken", tf.TransferRequested())
        corrupt(path, "broken")
        up = tf.parse_call_resource({"id": "call-a", "state": "established"})
        items: list[tuple[str, tf.Event]] = [
            ("call-a", tf.TransferRequested()),
            ("broken", tf.call_gone("broken")),
            ("call-b", up),  # an event about call-a
            ("call-a", up),
        ]
        with pytest.raises(BatchError) as raised:
            store.apply_many(items)
        error = raised.value
        first = tf.step(Call("call-a"), tf.TransferRequested())
        second = tf.step(first.call, up)
        assert [type(result).__name__ for result in error.results] == [
            "Step",
            "SnapshotError",
            "WrongCallError",
            "Step",
        ]
        assert (error.steps, error.results[0], error.results[3]) == ([first, second], first, second)
        assert error.errors == error.results[1:3]
        assert isinstance(error.results[1], SnapshotError)
        assert error.results[1].call_id == "broken"
        assert str(error).startswith("2 of 4 item(s) refused, the others applied; first: ")
        assert (store.get("call-a"), store.get("call-b")) == (second.call, None)


def test_a_failed_write_rolls_the_whole_batch_back(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        with closing(sqlite3.connect(path)) as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON milestones"
                " WHEN NEW.milestone = 'transferFailed'"
                " BEGIN SELECT RAISE(ABORT, 'journal full'); END"
            )
            db.commit()
        with pytest.raises(sqlite3.IntegrityError, match="journal full"):
            store.apply_many(interleaved())
        with closing(sqlite3.connect(path)) as db:
            counts = [
                db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("calls", "milestones")
            ]
        assert counts == [0, 0]
        # A body is one transaction too: all its events or none.
        body = {
            "value": [
                {
                    "changeType": "updated",
                    "resourceUrl": f"/communications/calls/{call_id}",
                    "resourceData": {"state": "established"},
                }
                for call_id in ("call-x", "call-y")
            ]
        }
        with traced(store) as statements:
            assert [done.call.call_id for done in store.apply_body(body)] == ["call-x", "call-y"]
        assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1


def test_a_body_with_a_corrupt_call_applies_the_others_then_raises(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as store:
        store.apply("broken", tf.TransferRequested())
        corrupt(path, "broken")
        body = {
            "value": [
                {
                    "changeType": "updated",
                    "resourceUrl": f"/communications/calls/{call_id}",
                    "resourceData": {"state": state},
                }
                for call_id, state in (
                    ("broken", "established"),
                    ("call-a", "established"),
                    ("broken", "transferring"),
                )
            ]
        }
        with pytest.raises(BodyError) as raised:
            store.apply_body(body)
        assert [error.call_id for error in raised.value.errors] == ["broken"]
        assert [done.call.call_id for done in raised.value.steps] == ["call-a"]
        assert store.get("call-a") == raised.value.steps[0].call


def test_a_token_records_the_keys_its_write_committed(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    items = events("success", "call-a")
    with SQLiteStore(path, synchronous="NORMAL", token_ttl=3600.0) as store:
        steps = [store.apply(c, e, token=f"write-{n}") for n, (c, e) in enumerate(items)]
        assert [store.landed(f"write-{n}") for n in range(len(items))] == [
            done.milestone_keys for done in steps
        ]
        assert store.landed(f"write-{len(items) - 1}") == (
            "call-a:1:transferCompleted",
            "call-a:callTerminated",
        )
        again = store.apply(*items[-1], token="again")  # a redelivery: a duplicate
        assert (again.milestones, store.landed("again"), store.landed("never")) == ((), (), ())
        assert store.prune(keep_ended=5) == 0  # tokens younger than token_ttl stay
        assert store.landed(f"write-{len(items) - 1}") != ()
        for bad in ("", "x" * 201, 5):
            with pytest.raises(ValueError, match=r"^token must be a str of 1 to 200 characters"):
                store.apply("call-b", tf.TransferRequested(), token=bad)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"^token must be a str of 1 to 200"):
                store.landed(bad)  # type: ignore[arg-type]
        assert store.get("call-b") is None
        assert store.landed("t" * 200) == ()
    with SQLiteStore(path, synchronous="NORMAL", token_ttl=0.0) as pruning:
        time.sleep(0.01)
        assert pruning.prune(keep_ended=5) == 0
        assert [pruning.landed(f"write-{n}") for n in range(len(items))] == [()] * len(items)
    with pytest.raises(ValueError, match=r"^token_ttl must be seconds, 0 or more, not -1$"):
        SQLiteStore(path, token_ttl=-1)


# -- AsyncSQLiteStore: group commit ----------------------------------------------------------


def test_concurrent_applies_commit_together_each_with_its_own_step(tmp_path: Path) -> None:
    """64 applies in flight at once, several on one call: fewer transactions than
    applies, each step the one applying alone in call order gives, each milestone
    journaled once; a corrupt call's apply gets its own error."""
    path = tmp_path / "calls.db"
    per_call = [events("success" if n % 2 else "failure", f"call-{n}") for n in range(16)]
    with SQLiteStore(path, synchronous="NORMAL") as setup:
        setup.apply("broken", tf.TransferRequested())
    corrupt(path, "broken")

    async def main() -> tuple[list[list[tf.Step]], BaseException | tf.Step, int]:
        async with AsyncSQLiteStore(path, synchronous="FULL", journal=True) as store:

            async def run_call(items: list[tuple[str, tf.Event]]) -> list[tf.Step]:
                return [await store.apply(call_id, event) for call_id, event in items]

            broken = asyncio.ensure_future(store.apply("broken", tf.call_gone("broken")))
            steps = await asyncio.gather(*(run_call(items) for items in per_call))
            outcome: BaseException | tf.Step
            try:
                outcome = await broken
            except SnapshotError as error:
                outcome = error
            return list(steps), outcome, store.groups

    steps, broken, groups = asyncio.run(main())
    applies = sum(len(items) for items in per_call)
    assert steps == [alone(items) for items in per_call]
    assert isinstance(broken, SnapshotError)
    assert broken.call_id == "broken"
    assert groups < applies // 2, (groups, applies)
    with SQLiteStore(path) as store:
        claimed = store.claim_journal("bot", limit=10_000)
        assert sorted(entry.key for entry in claimed) == sorted(
            key for each in steps for done in each for key in done.milestone_keys
        )
        assert [store.get(items[0][0]) for items in per_call] == [each[-1].call for each in steps]
    print(f"\ngroup commit: {applies + 1} applies in {groups} transactions")


def test_a_failed_write_in_a_group_fails_only_its_own_apply(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True):
        pass
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON milestones WHEN NEW.call_id = 'refused'"
            " BEGIN SELECT RAISE(ABORT, 'journal full'); END"
        )
        db.commit()
    ended = {call_id: tf.call_gone(call_id) for call_id in ("call-a", "refused", "call-b")}

    async def main() -> list[tf.Step | BaseException]:
        async with AsyncSQLiteStore(path, synchronous="NORMAL", journal=True) as store:
            return await asyncio.gather(
                *(store.apply(call_id, event) for call_id, event in ended.items()),
                return_exceptions=True,
            )

    results = asyncio.run(main())
    assert [type(result).__name__ for result in results] == ["Step", "IntegrityError", "Step"]
    with SQLiteStore(path) as store:
        assert [store.get(call_id) is not None for call_id in ended] == [True, False, True]


def test_a_cancelled_apply_may_land_and_its_token_says_so(tmp_path: Path) -> None:
    """The await is cancelled while the worker waits for the write lock; the worker
    then commits. ``landed(token)`` gives the keys: act on them, do not apply again."""
    path = tmp_path / "calls.db"
    ended = tf.call_gone("call-a")

    async def main() -> tuple[bool, tuple[str, ...], tuple[str, ...], tf.Step]:
        async with AsyncSQLiteStore(path, synchronous="NORMAL", journal=True) as store:
            await store.apply("call-a", tf.TransferRequested())
            with closing(sqlite3.connect(path, isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")
                task = asyncio.ensure_future(store.apply("call-a", ended, token="w-1"))
                await asyncio.sleep(0.05)
                task.cancel()
                other.execute("ROLLBACK")
            cancelled = False
            try:
                await task
            except asyncio.CancelledError:
                cancelled = True
            keys = await store.landed("w-1")  # runs after the cancelled apply on the worker
            unlanded = await store.landed("w-2")
            return cancelled, keys, unlanded, await store.apply("call-a", ended, token="w-2")

    cancelled, keys, unlanded, again = asyncio.run(main())
    assert cancelled
    assert keys == ("call-a:1:transferFailed", "call-a:callTerminated")
    assert (unlanded, again.outcome, again.milestones) == ((), tf.Outcome.DUPLICATE, ())
    with SQLiteStore(path) as store:
        assert [entry.milestone for entry in store.claim_journal("bot")] == [
            Milestone.TRANSFER_FAILED,
            Milestone.CALL_TERMINATED,
        ]
