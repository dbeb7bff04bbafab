"""SQLiteStore's milestone journal (``journal=True``) on real SQLite files.

The journal holds exactly the milestones of the committed steps, in commit
order, each once: a documented flow, redeliveries, applies that roll back,
two processes on one file, and a writer killed with ``kill -9`` mid-stream.
Claims hand each entry to one consumer at a time (two consumer processes
draining while two writers write get each entry once; a consumer killed with
``kill -9`` has its entries handed to another once idle). Entries go only when
acknowledged (never when calls are pruned), and a store without
``journal=True`` writes none.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
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
    """The whole journal of the file, read with plain sqlite3 (claiming nothing)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT seq, call_id, milestone, key FROM milestones ORDER BY seq")
        return [JournalEntry(str(seq), c, Milestone(m), key) for seq, c, m, key in rows]


def holders(path: Path) -> list[tuple[int, str | None]]:
    """Each entry's seq and the consumer holding it (``None``: nobody)."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT seq, consumer FROM milestones ORDER BY seq").fetchall()


def rows(path: Path) -> list[list[Any]]:
    """Every row of the calls and milestones tables, read with plain sqlite3."""
    with closing(sqlite3.connect(path)) as db:
        calls = db.execute("SELECT call_id, snapshot, ended FROM calls ORDER BY call_id").fetchall()
        journal = db.execute("SELECT * FROM milestones ORDER BY seq").fetchall()
    return [calls, journal]


def run(store: SQLiteStore, flow: Flow, call_id: str) -> list[tf.Step]:
    """Apply ``flow`` as ``call_id`` (its request, then each body); every step."""
    _, bodies = flow_as(flow, call_id, request_of(flow))
    steps = [store.apply(call_id, request_of(flow))]
    return steps + [done for body in bodies for done in store.apply_body(body)]


def journaled(steps: list[tf.Step], first: int = 1) -> list[JournalEntry]:
    """The entries ``steps`` journal, numbered from ``first``, with their milestone keys."""
    pairs = [
        (done.call.call_id, milestone, key)
        for done in steps
        for milestone, key in zip(done.milestones, done.milestone_keys, strict=True)
    ]
    return [JournalEntry(str(seq), *pair) for seq, pair in enumerate(pairs, start=first)]


# -- one process ---------------------------------------------------------------------------


def test_the_journal_is_each_committed_milestone_once_in_commit_order(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        steps = run(store, SUCCESS, "call-a") + run(store, FAILURE, "call-b")
        expected = journaled(steps)
        assert [entry[1:3] for entry in expected[:4]] == [
            ("call-a", Milestone.AUDIO_INACTIVE),
            ("call-a", Milestone.TRANSFER_ACCEPTED),
            ("call-a", Milestone.TRANSFER_COMPLETED),
            ("call-a", Milestone.CALL_TERMINATED),
        ]
        assert [entry.key for entry in expected[:4]] == [
            "call-a:1:audioInactive",
            "call-a:1:transferAccepted",
            "call-a:1:transferCompleted",
            "call-a:callTerminated",
        ]
        assert ("call-b", Milestone.TRANSFER_FAILED) in [entry[1:3] for entry in expected]
        assert journal_of(path) == expected
        # Redelivered, every body is a duplicate: no step reports, the journal gains nothing.
        for flow, call_id in ((SUCCESS, "call-a"), (FAILURE, "call-b")):
            again = [
                done
                for body in flow_as(flow, call_id, request_of(flow))[1]
                for done in store.apply_body(body)
            ]
            assert {done.outcome for done in again} <= {tf.Outcome.DUPLICATE, tf.Outcome.STALE}
            assert entries(again) == []
        assert journal_of(path) == expected
        # Claims hand the oldest entries nobody holds, each to one consumer.
        assert store.claim_journal("bot-1", limit=3) == expected[:3]
        assert store.claim_journal("bot-2", limit=2) == expected[3:5]
        # bot-1 is handed what it holds again (a restart under its name), and the rest.
        assert store.claim_journal("bot-1") == expected[:3] + expected[5:]
        assert store.claim_journal("bot-3") == []
        assert [holder for _, holder in holders(path)] == ["bot-1"] * 3 + ["bot-2"] * 2 + [
            "bot-1"
        ] * (len(expected) - 5)
        assert store.get("call-a") == steps[4].call


def test_an_entry_not_acknowledged_within_idle_is_handed_to_another_consumer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        expected = journaled(run(store, SUCCESS, "call-a"))
        held = store.claim_journal("crashed", limit=2, idle=60.0)
        assert held == expected[:2]
        assert store.claim_journal("bot-2", idle=60.0) == expected[2:]  # not held ones only
        assert store.claim_journal("bot-3", idle=60.0) == []
        time.sleep(0.2)
        # Idle for more than 0.1 s: handed again, oldest first, to whoever claims.
        assert store.claim_journal("bot-3", idle=0.1) == expected
        assert store.claim_journal("bot-4", idle=0.1) == []  # just claimed by bot-3
        assert [holder for _, holder in holders(path)] == ["bot-3"] * 4
        assert store.ack_journal(held) == 2  # the crashed one's late ack still removes them
        assert store.ack_journal(expected) == 2  # the two others were still there
        assert store.ack_journal(expected) == 0
        assert journal_of(path) == []


def test_an_apply_that_rolls_back_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    _, bodies = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        steps = [store.apply("call-a", request_of(SUCCESS))]
        steps += [done for body in bodies[:-1] for done in store.apply_body(body)]
        store.apply("call-c", request_of(FAILURE))
        with closing(sqlite3.connect(path)) as db:
            db.execute("UPDATE calls SET snapshot = 'not json' WHERE call_id = 'call-c'")
            # The journal refuses transferCompleted: the step that ends the attempt fails
            # on its first milestone, after its snapshot was written.
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON milestones"
                " WHEN NEW.milestone = 'transferCompleted'"
                " BEGIN SELECT RAISE(ABORT, 'journal full'); END"
            )
            db.commit()
        before = rows(path)
        assert [row[1:3] for row in before[1]] == entries(steps)
        last = tf.parse_notifications(bodies[-1])
        with pytest.raises(sqlite3.IntegrityError, match="journal full"):
            store.apply("call-a", last[0], token="t-1")
        with pytest.raises(tf.WrongCallError):
            store.apply("call-b", last[0], token="t-2")
        with pytest.raises(SnapshotError):
            store.apply("call-c", tf.call_gone("call-c"), token="t-3")
        assert rows(path) == before  # neither the snapshot nor any entry
        assert [store.landed(token) for token in ("t-1", "t-2", "t-3")] == [(), (), ()]
        with closing(sqlite3.connect(path)) as db:
            db.execute("DROP TRIGGER refuse")
            db.commit()
        ended = store.apply("call-a", last[0], token="t-1")
        assert ended.milestones == (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED)
        assert store.landed("t-1") == ended.milestone_keys
        assert journal_of(path) == journaled([*steps, ended])
        assert rows(path)[0][0] == ("call-a", encode(ended.call), 1)


def test_ack_deletes_and_seqs_are_never_handed_out_again(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        first = run(store, SUCCESS, "call-a")
        claimed = store.claim_journal("bot")
        assert [entry.id for entry in claimed] == ["1", "2", "3", "4"]
        assert store.ack_journal([]) == 0
        assert store.ack_journal(claimed[:2]) == 2
        assert journal_of(path) == claimed[2:]
        assert store.ack_journal(claimed[:2]) == 0
        assert store.prune(keep_ended=0) == 1  # pruning calls leaves the journal alone
        assert journal_of(path) == claimed[2:]
        assert store.ack_journal(iter(claimed)) == 2
        assert journal_of(path) == []
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as reopened:
        again = run(reopened, SUCCESS, "call-a")  # pruned: it starts over
        assert entries(again) == entries(first)
        assert reopened.claim_journal("bot") == journaled(again, first=5)


def test_a_store_without_the_journal_writes_no_entries(tmp_path: Path) -> None:
    """Writers of one file should agree: a writer without the journal leaves its
    milestones out of it (only the journaling writer's steps are there)."""
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL") as plain:
        steps = run(plain, SUCCESS, "call-a")
        assert entries(steps) != []
        assert plain.journaled is False
        assert plain.claim_journal("bot") == []
        with SQLiteStore(path, synchronous="NORMAL", journal=True) as journaling:
            assert journaling.journaled is True
            other = run(journaling, FAILURE, "call-b")
            claimed = plain.claim_journal("bot")
            assert claimed == journaled(other)
            assert plain.ack_journal(claimed) == len(entries(other))
            run(plain, SUCCESS, "call-c")
            assert journaling.claim_journal("bot") == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"consumer": ""}, "consumer must be a name of 1 to 200 characters, not ''"),
        (
            {"consumer": "x" * 201},
            f"consumer must be a name of 1 to 200 characters, not {'x' * 201!r}",
        ),
        ({"consumer": 7}, "consumer must be a name of 1 to 200 characters, not 7"),
        ({"limit": 0}, "limit must be an int of 1 to 10000, not 0"),
        ({"limit": 10_001}, "limit must be an int of 1 to 10000, not 10001"),
        ({"limit": 2.0}, "limit must be an int of 1 to 10000, not 2.0"),
        ({"limit": True}, "limit must be an int of 1 to 10000, not True"),
        ({"idle": -1}, "idle must be seconds, 0 or more, not -1"),
        ({"idle": "3"}, "idle must be seconds, 0 or more, not '3'"),
        ({"idle": math.nan}, "idle must be seconds, 0 or more, not nan"),
    ],
)
def test_claim_arguments_are_checked(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL", journal=True) as store:
        run(store, SUCCESS, "call-a")
        before = rows(tmp_path / "calls.db")
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            store.claim_journal(**{"consumer": "bot", **arguments})
        assert rows(tmp_path / "calls.db") == before
        assert len(store.claim_journal("b" * 200, limit=1, idle=0)) == 1  # the bounds are fine


def test_ack_arguments_are_checked(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "calls.db", synchronous="NORMAL", journal=True) as store:
        run(store, SUCCESS, "call-a")
        before = rows(tmp_path / "calls.db")
        with pytest.raises(TypeError, match=r"^ack_journal takes JournalEntry values, not '1'$"):
            store.ack_journal(["1"])  # type: ignore[list-item]
        for bad in ("x", "-1", "1.0", "", "1" * 20):
            entry = JournalEntry(bad, "call-a", Milestone.CALL_TERMINATED, "k")
            with pytest.raises(ValueError, match=f"^not an SQLite journal entry id: {bad!r}$"):
                store.ack_journal([entry])
        assert rows(tmp_path / "calls.db") == before


def test_the_journal_option_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="journal must be True or False, not 'yes'"):
        SQLiteStore(tmp_path / "calls.db", journal="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "calls.db").exists()


def test_the_async_store_claims_and_acks(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    request, ended = request_of(SUCCESS), tf.call_gone("call-a")
    established = tf.parse_call_resource({"id": "call-a", "state": "established"})

    async def main() -> tuple[list[tf.Step], list[JournalEntry], int, list[JournalEntry]]:
        async with AsyncSQLiteStore(path, synchronous="NORMAL", journal=True) as store:
            steps = [await store.apply("call-a", event) for event in (established, request, ended)]
            claimed = await store.claim_journal("bot", limit=10, idle=60.0)
            acked = await store.ack_journal(claimed[:1])
            return steps, claimed, acked, await store.claim_journal("other", idle=0.0)

    steps, claimed, acked, rest = asyncio.run(main())
    assert claimed == journaled(steps)
    assert [entry[1:] for entry in claimed] == [
        ("call-a", Milestone.TRANSFER_FAILED, "call-a:1:transferFailed"),
        ("call-a", Milestone.CALL_TERMINATED, "call-a:callTerminated"),
    ]
    assert (acked, rest) == (1, claimed[1:])


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
    seqs = [int(entry.id) for entry in journal]
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
        if replayed(work, prefix) == ([entry[1:3] for entry in journal], stored)
    ]
    assert len(matches) >= 1
    assert [int(entry.id) for entry in journal] == list(range(1, len(journal) + 1))
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


CONSUMER = Path(__file__).parent / "journal_consumer.py"


def start_consumer(path: Path, name: str, idle: float, *hold: str) -> subprocess.Popen[bytes]:
    """A consumer process draining the journal of ``path`` (see ``journal_consumer.py``)."""
    stop_file = path.parent / "stop"
    return subprocess.Popen(
        [sys.executable, str(CONSUMER), str(path), name, str(idle), str(stop_file), *hold],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def consumed(out: bytes) -> list[tuple[str, str]]:
    """The (id, key) of each entry a consumer printed."""
    return [(line["id"], line["key"]) for line in map(json.loads, out.splitlines())]


def sequence(path: Path) -> int:
    """The last seq the journal handed out (every entry ever written: 1 to it)."""
    with closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'milestones'").fetchone()
    return 0 if row is None else int(row[0])


def test_two_consumer_processes_draining_while_two_writers_write_get_each_entry_once(
    tmp_path: Path,
) -> None:
    work = workload(60, seed=12)
    path = tmp_path / "calls.db"
    spec = f"sqlite:{path}?synchronous=NORMAL&journal=1"
    with open_store(spec) as store:
        requests = [store.apply(call_id, request) for call_id, request in work.requests]
    processes = [start_consumer(path, f"consumer-{n}", 60.0) for n in range(2)]
    try:
        writers = start_workers(tmp_path, spec, work, seeds=[30, 31])
        processes += writers
        for writer in writers:
            _, errors = writer.communicate(timeout=PROCESS_SECONDS)
            assert writer.returncode == 0, errors.decode()
        (tmp_path / "stop").touch()
        outputs = [process.communicate(timeout=PROCESS_SECONDS) for process in processes[:2]]
    finally:
        stop(processes)
    for process, (_, errors) in zip(processes[:2], outputs, strict=True):
        assert process.returncode == 0, errors.decode()
    each = [consumed(out) for out, _ in outputs]
    everything = sorted(each[0] + each[1], key=lambda entry: int(entry[0]))
    assert [int(id_) for id_, _ in everything] == list(range(1, sequence(path) + 1))  # once each
    assert journal_of(path) == []
    keys = Counter(key for _, key in everything)
    assert max(keys.values()) == 1  # each milestone key once: no milestone reported twice
    assert len(keys) >= len(entries(requests))
    print(
        f"\ntwo consumers, two writers: {len(everything)} entries, {len(each[0])} and"
        f" {len(each[1])} drained, none twice"
    )


def test_a_killed_consumers_entries_go_to_another_once_idle(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with SQLiteStore(path, synchronous="NORMAL", journal=True) as store:
        expected = journaled(run(store, SUCCESS, "call-a") + run(store, FAILURE, "call-b"))
    assert len(expected) > 7
    crashed = start_consumer(path, "crashed", 60.0, "--hold")
    try:
        assert crashed.stdout is not None
        held = [json.loads(crashed.stdout.readline()) for _ in range(7)]
        crashed.kill()
        crashed.wait(timeout=PROCESS_SECONDS)
        assert holders(path) == [(n, "crashed") for n in range(1, 8)] + [
            (n, None) for n in range(8, len(expected) + 1)
        ]
        survivor = start_consumer(path, "survivor", 0.5)
        assert survivor.stdout is not None
        # Bounded: the consumer exits within 60 s, ending the stream.
        lines = [survivor.stdout.readline() for _ in expected]
        (tmp_path / "stop").touch()
        out, errors = survivor.communicate(timeout=PROCESS_SECONDS)
        assert survivor.returncode == 0, errors.decode()
    finally:
        stop([crashed, *([survivor] if "survivor" in locals() else [])])
    assert crashed.returncode == -9
    assert [(line["id"], line["key"]) for line in held] == [(e.id, e.key) for e in expected[:7]]
    got = consumed(b"".join(lines) + out)
    # The free entries at once, the crashed one's after 0.5 s idle: each once.
    assert sorted(got, key=lambda entry: int(entry[0])) == [(e.id, e.key) for e in expected]
    assert journal_of(path) == []
