"""SQLiteStore's milestone journal (``journal=True``) on real SQLite files.

The journal holds exactly the milestones of the committed steps, in commit
order, each once: a documented flow, redeliveries, applies that roll back,
two processes on one file, and a writer killed with ``kill -9`` mid-stream.
Entries go only when forgotten (never when calls are pruned), and a store
without ``journal=True`` writes none.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flows import FAILURE, SUCCESS, Flow, request_of
from store_workload import (
    Workload,
    count_milestones,
    ended_attempts,
    flow_as,
    milestone_problems,
    open_store,
    store_problems,
    workload,
)
from test_store_sqlite_processes import PROCESS_SECONDS, kill_midway, start_workers, stop

import transfer_fsm as tf
from transfer_fsm import Call, Milestone, SnapshotError
from transfer_fsm.store import JournalEntry, MemoryStore, encode
from transfer_fsm.store.sqlite import AsyncSQLiteStore, SQLiteStore

Entry = tuple[str, Milestone]


def entries(steps: list[tf.Step]) -> list[Entry]:
    """The (call, milestone) of every milestone ``steps`` reported, in order."""
    return [(done.call.call_id, milestone) for done in steps for milestone in done.milestones]


def journal_of(path: Path) -> list[JournalEntry]:
    """The whole journal of the file, read with a store that writes nothing."""
    with SQLiteStore(path) as store:
        return store.journal(limit=1_000_000)


def rows(path: Path) -> list[list[Any]]:
    """Every row of the calls and milestones tables, read with plain sqlite3."""
    with sqlite3.connect(path) as db:
        calls = db.execute("SELECT * FROM calls ORDER BY call_id").fetchall()
        journal = db.execute("SELECT * FROM milestones ORDER BY seq").fetchall()
    return [calls, journal]


def run(store: SQLiteStore, flow: Flow, call_id: str) -> list[tf.Step]:
    """Apply ``flow`` as ``call_id`` (its request, then each body); every step."""
    _, bodies = flow_as(flow, call_id, request_of(flow))
    steps = [store.apply(call_id, request_of(flow))]
    return steps + [done for body in bodies for done in store.apply_body(body)]


# -- one process ---------------------------------------------------------------------------


def test_the_journal_is_each_committed_milestone_once_in_commit_order(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        steps = run(store, SUCCESS, "call-a") + run(store, FAILURE, "call-b")
        expected = [
            ("call-a", Milestone.AUDIO_INACTIVE),
            ("call-a", Milestone.TRANSFER_ACCEPTED),
            ("call-a", Milestone.TRANSFER_COMPLETED),
            ("call-a", Milestone.CALL_TERMINATED),
            *[("call-b", milestone) for done in steps[5:] for milestone in done.milestones],
        ]
        assert entries(steps) == expected
        assert ("call-b", Milestone.TRANSFER_FAILED) in expected
        journal = store.journal()
        assert journal == [
            JournalEntry(seq, call_id, milestone)
            for seq, (call_id, milestone) in enumerate(expected, start=1)
        ]
        # Redelivered, every body is a duplicate: no step reports, the journal gains nothing.
        for flow, call_id in ((SUCCESS, "call-a"), (FAILURE, "call-b")):
            again = [
                done
                for body in flow_as(flow, call_id, request_of(flow))[1]
                for done in store.apply_body(body)
            ]
            assert {done.outcome for done in again} <= {tf.Outcome.DUPLICATE, tf.Outcome.STALE}
            assert entries(again) == []
        assert store.journal() == journal
        # Paging: after a seq, at most limit entries, oldest first.
        assert store.journal(after=2, limit=3) == journal[2:5]
        assert store.journal(after=len(journal)) == []
        assert store.journal(limit=1) == journal[:1]
        assert store.get("call-a") == steps[4].call


def test_an_apply_that_rolls_back_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    _, bodies = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        steps = [store.apply("call-a", request_of(SUCCESS))]
        steps += [done for body in bodies[:-1] for done in store.apply_body(body)]
        store.apply("call-c", request_of(FAILURE))
        with sqlite3.connect(path) as db:
            db.execute("UPDATE calls SET snapshot = 'not json' WHERE call_id = 'call-c'")
            # The journal refuses transferCompleted: the step that ends the attempt fails
            # on its first milestone, after its snapshot was written.
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON milestones"
                " WHEN NEW.milestone = 'transferCompleted'"
                " BEGIN SELECT RAISE(ABORT, 'journal full'); END"
            )
        before = rows(path)
        assert [row[1:] for row in before[1]] == entries(steps)
        last = tf.parse_notifications(bodies[-1])
        with pytest.raises(sqlite3.IntegrityError, match="journal full"):
            store.apply("call-a", last[0])
        with pytest.raises(tf.WrongCallError):
            store.apply("call-b", last[0])
        with pytest.raises(SnapshotError):
            store.apply("call-c", tf.call_gone("call-c"))
        assert rows(path) == before  # neither the snapshot nor any entry
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        ended = store.apply("call-a", last[0])
        assert ended.milestones == (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED)
        assert [entry[1:] for entry in store.journal()] == entries([*steps, ended])
        assert rows(path)[0][0] == ("call-a", encode(ended.call), 1)


def test_forget_journal_deletes_up_to_a_seq_and_seqs_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        first = run(store, SUCCESS, "call-a")
        journal = store.journal()
        assert [entry.seq for entry in journal] == [1, 2, 3, 4]
        assert store.forget_journal(0) == 0
        assert store.forget_journal(2) == 2
        assert store.journal() == journal[2:]
        assert store.forget_journal(2) == 0
        assert store.prune(keep_ended=0) == 1  # pruning calls leaves the journal alone
        assert store.journal() == journal[2:]
        assert store.forget_journal(99) == 2
        assert store.journal() == []
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as reopened:
        again = run(reopened, SUCCESS, "call-a")  # pruned: it starts over
        assert entries(again) == entries(first)
        assert reopened.journal() == [
            JournalEntry(seq, "call-a", milestone)
            for seq, (_, milestone) in enumerate(entries(again), start=5)
        ]


def test_a_store_without_the_journal_writes_no_entries(tmp_path: Path) -> None:
    """Writers of one file should agree: a writer without the journal leaves its
    milestones out of it (only the journaling writer's steps are there)."""
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as plain:
        steps = run(plain, SUCCESS, "call-a")
        assert entries(steps) != []
        assert plain.journaled is False
        assert plain.journal() == []
        with SQLiteStore(path, synchronous="NORMAL", journal=True) as journaling:
            assert journaling.journaled is True
            other = run(journaling, FAILURE, "call-b")
            assert [entry[1:] for entry in plain.journal()] == entries(other)
            assert plain.forget_journal(10) == len(entries(other))
            run(plain, SUCCESS, "call-c")
            assert journaling.journal() == []


@pytest.mark.parametrize(
    ("method", "arguments", "message"),
    [
        ("journal", {"limit": 0}, "limit must be 1 or more, not 0"),
        ("journal", {"limit": -5}, "limit must be 1 or more, not -5"),
        ("journal", {"limit": 2.0}, "limit must be an int, not float 2.0"),
        ("journal", {"limit": True}, "limit must be an int, not bool True"),
        ("journal", {"after": -1}, "after must be 0 or more, not -1"),
        ("journal", {"after": "3"}, "after must be an int, not str '3'"),
        ("forget_journal", {"up_to": -1}, "up_to must be 0 or more, not -1"),
        ("forget_journal", {"up_to": None}, "up_to must be an int, not NoneType None"),
    ],
)
def test_journal_arguments_are_checked(
    tmp_path: Path, method: str, arguments: dict[str, Any], message: str
) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL", journal=True) as store:
        run(store, SUCCESS, "call-a")
        before = rows(tmp_path / "calls.db")
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            getattr(store, method)(**arguments)
        assert rows(tmp_path / "calls.db") == before
        assert len(store.journal(limit=1)) == 1  # limit 1 and after 0 are fine


def test_the_journal_option_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="journal must be True or False, not 'yes'"):
        SQLiteStore(tmp_path / "calls.db", journal="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "calls.db").exists()


def test_the_async_store_journals_and_forgets(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    request, ended = request_of(SUCCESS), tf.call_gone("call-a")
    established = tf.parse_call_resource({"id": "call-a", "state": "established"})

    async def main() -> tuple[list[JournalEntry], int, list[JournalEntry]]:
        async with AsyncSQLiteStore(path, synchronous="NORMAL", journal=True) as store:
            for event in (established, request, ended):
                await store.apply("call-a", event)
            journal = await store.journal(after=0, limit=10)
            return journal, await store.forget_journal(1), await store.journal()

    journal, forgotten, rest = asyncio.run(main())
    assert journal == [
        JournalEntry(1, "call-a", Milestone.TRANSFER_FAILED),
        JournalEntry(2, "call-a", Milestone.CALL_TERMINATED),
    ]
    assert (forgotten, rest) == (1, journal[1:])


# -- processes -----------------------------------------------------------------------------


def journal_counts(journal: list[JournalEntry]) -> dict[str, Counter[Milestone]]:
    """How many times the journal holds each milestone, per call."""
    counts: dict[str, Counter[Milestone]] = {}
    for entry in journal:
        counts.setdefault(entry.call_id, Counter())[entry.milestone] += 1
    return counts


def test_two_processes_on_one_file_journal_each_milestone_once(tmp_path: Path) -> None:
    work = workload(60, seed=8)
    path = tmp_path / "calls.db"
    spec = f"sqlite:{path}?synchronous=NORMAL&journal=1"
    with open_store(spec) as store:
        requests = [store.apply(call_id, request) for call_id, request in work.requests]
    workers = start_workers(tmp_path, spec, work, seeds=[20, 21])
    try:
        outputs = [worker.communicate(timeout=PROCESS_SECONDS) for worker in workers]
    finally:
        stop(workers)
    for worker, (_, errors) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, errors.decode()
    reported = count_milestones(requests)
    for out, _ in outputs:
        for call_id, kinds in json.loads(out)["per_call"].items():
            reported.setdefault(call_id, Counter()).update(
                {Milestone(kind): n for kind, n in kinds.items()}
            )
    journal = journal_of(path)
    seqs = [entry.seq for entry in journal]
    assert seqs == list(range(1, len(journal) + 1))  # strictly increasing, none missing
    assert journal_counts(journal) == reported  # what the writers' steps reported, once each
    assert milestone_problems(work, journal_counts(journal)) == []
    assert ended_attempts(journal_counts(journal)) == work.attempts_ended
    with open_store(spec) as store:
        assert store_problems(store, work) == []


def committed_prefixes(work: Workload, order: list[int], acked: int) -> list[list[tf.Notification]]:
    """Every event prefix the killed writer may have committed: the acknowledged bodies'
    events, then any number of the next body's (each event is its own transaction)."""
    events = [
        event for index in order[:acked] for event in tf.parse_notifications(work.bodies[index])
    ]
    following = [] if acked == len(order) else tf.parse_notifications(work.bodies[order[acked]])
    return [events + list(following[:cut]) for cut in range(len(following) + 1)]


def replayed(work: Workload, events: list[tf.Notification]) -> tuple[list[Entry], dict[str, Call]]:
    """The milestones and the views of the requests, then ``events``, in one process."""
    store = MemoryStore()
    steps = [store.apply(call_id, request) for call_id, request in work.requests]
    steps += [store.apply(event.call_id, event) for event in events]
    views = {call_id: store.get(call_id) for call_id in work.expected}
    return entries(steps), {call_id: view for call_id, view in views.items() if view is not None}


def test_kill_9_mid_stream_the_journal_has_every_committed_milestone(tmp_path: Path) -> None:
    work = workload(40, seed=9)
    path = tmp_path / "calls.db"
    spec = f"sqlite:{path}?journal=1"  # synchronous FULL: slow enough to be killed mid-stream
    order, acknowledged = kill_midway(tmp_path, spec, work, seed=10)
    acked = len(acknowledged)
    assert acked < len(order)
    journal = journal_of(path)
    with SQLiteStore(path) as store:
        stored = {call_id: store.get(call_id) for call_id in work.expected}
    # The journal is exactly the milestones of what committed, whichever prefix that was.
    matches = [
        prefix
        for prefix in committed_prefixes(work, order, acked)
        if replayed(work, prefix) == ([entry[1:] for entry in journal], stored)
    ]
    assert len(matches) >= 1
    assert [entry.seq for entry in journal] == list(range(1, len(journal) + 1))
    # From the calls' own views: one terminal milestone per ended attempt, none for the others.
    counts = journal_counts(journal)
    for call_id, view in stored.items():
        assert view is not None
        assert view.transfer is not None
        status = view.transfer.status
        ends = Counter(
            {
                kind: counts.get(call_id, Counter())[kind]
                for kind in (Milestone.TRANSFER_COMPLETED, Milestone.TRANSFER_FAILED)
            }
        )
        assert ends == Counter(
            {
                Milestone.TRANSFER_COMPLETED: status is tf.TransferStatus.COMPLETED,
                Milestone.TRANSFER_FAILED: status is tf.TransferStatus.FAILED,
            }
        ), (call_id, status, counts.get(call_id))
    print(
        f"\njournal, kill -9 after {acked} of {len(order)} bodies:"
        f" {len(journal)} entries, none lost"
    )
