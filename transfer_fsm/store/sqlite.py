"""``SQLiteStore``: calls kept in an SQLite file (standard library ``sqlite3``, WAL).

The file's tables and their layout version are described in
:mod:`transfer_fsm.store.sqlite_layout`; the journal's and the write tokens'
SQL is in :mod:`transfer_fsm.store.journal`.

Every ``apply`` is one ``BEGIN IMMEDIATE`` transaction: it takes the file's
write lock, reads the call, steps it with :func:`~transfer_fsm.store.advance`
and writes it back before ``COMMIT``. Writers, threads or processes, wait for
that lock in turn (up to ``timeout`` seconds), so none ever steps a call that
another is changing: no update is lost and each milestone is reported by the
one writer whose step produced it. ``apply_many`` does the same for many
events in one transaction (one commit, one ``fsync``).

:class:`AsyncSQLiteStore` (:mod:`transfer_fsm.store.sqlite_async`) is the same
store for asyncio programs: one worker thread runs it, off the event loop,
committing the applies waiting at the moment together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from os import PathLike
from types import TracebackType
from typing import Any, TypeVar

from ..events import Event
from ..parse import parse_notifications
from ..report import Step
from ..values import Call, CallState
from . import journal as _journal
from . import sqlite_layout as sql
from .batch import BatchError, body_steps
from .core import Body, Link, SnapshotCache, advance, decode, link_of
from .interface import JournalEntry, check_limit, check_seconds, check_token, in_flight
from .sqlite_layout import LAYOUT, create

_T = TypeVar("_T")
_Read = tuple[Step, Call | None, str | None, bool, Call | None, bytes | None, Any]
"""What the first half of an apply decided: the change, the stored call, the bytes to write
and the row read (``snapshot, heard, now``; ``None`` for a call never seen)."""

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
TOKEN_TTL = 7 * 86_400.0
"""How long :meth:`SQLiteStore.prune` keeps write tokens by default: a week, in seconds."""

_TERMINATED = CallState.TERMINATED


class SQLiteStore:
    """Calls kept in the SQLite file ``path``, shared by threads and processes.

    Durability: when :meth:`apply` (or :meth:`apply_body`, :meth:`apply_many`)
    returns, its transaction has committed. With ``synchronous="FULL"`` (the
    default) the commit has also been synced to disk, so it survives a power
    loss or an operating-system crash; with ``"NORMAL"`` it survives the
    process being killed (``kill -9``) but the last commits may be lost with
    the machine (commits are then much faster: no ``fsync`` each). ``timeout``
    is how many seconds a writer waits for another's lock before
    ``sqlite3.OperationalError`` ("database is locked").

    Several processes may open the same file, each with its own
    ``SQLiteStore``; within a process, threads may share one (its single
    connection is used under a lock). SQLite serializes writers: ``apply``
    takes the write lock *before* it reads the call, so a writer never works
    from a stale read and never has to retry. :attr:`conflicts` therefore
    stays 0; it exists so that every store reports the same figure.

    Ended calls are kept (their terminated snapshot is their tombstone: a late
    notification finds the call ended, not a new call) until :meth:`prune`
    or :meth:`delete`.

    With ``journal=True``, each step's milestones are also inserted into the
    file's journal in the step's own transaction (a transactional outbox):
    consumers take them with :meth:`claim_journal`, act, then
    :meth:`ack_journal`. A store opened without it writes no entries, so every
    writer of a file should agree. Write tokens (``apply(..., token=)``,
    :meth:`landed`) are kept ``token_ttl`` seconds, until :meth:`prune`.
    """

    conflicts: int
    """Writes retried because another writer changed the call first: always 0 here."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: str = "FULL",
        journal: bool = False,
        token_ttl: float = TOKEN_TTL,
    ) -> None:
        level = synchronous.upper()
        if level not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {level!r}")
        if not isinstance(journal, bool):
            raise ValueError(f"journal must be True or False, not {journal!r}")
        self.token_ttl = check_seconds("token_ttl", token_ttl)
        """How long :meth:`prune` keeps a write token, in seconds (SQLite's clock)."""
        self.path = str(path)
        self.conflicts = 0
        self.journaled = journal
        """Whether this store writes each step's milestones to the journal."""
        self._lock = threading.Lock()
        self._cache = SnapshotCache()  # what this store last read or wrote, decoded
        self._db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._cursor = self._db.cursor()
        try:
            self._open(level)
        except BaseException:
            self._db.close()
            raise

    def _open(self, level: str) -> None:
        """Switch to WAL, then check the layout version and create or migrate the tables."""
        db = self._db
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite could not use WAL here (journal mode {mode})")
        db.execute(f"PRAGMA synchronous={level}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != LAYOUT:  # a file of this layout opens without a write
            self._transaction(create, self.path)

    def _transaction(self, work: Callable[[sqlite3.Cursor, _T], object], arg: _T) -> object:
        """``work(connection, arg)`` between ``BEGIN IMMEDIATE`` and ``COMMIT``, under the
        lock; on any exception, ``ROLLBACK`` and raise it."""
        db = self._cursor
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db, arg)
                db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return result

    def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """Step call ``call_id`` with ``event`` in one transaction (a new call starts empty).

        Returns the step once it has committed. With ``token`` (a str of 1 to
        200 characters, unique to this write), a step with milestones also
        records their keys under it, in the same transaction: :meth:`landed`.
        Raises, having changed nothing, :class:`~transfer_fsm.SnapshotError`
        (naming the call) when the call's stored snapshot is corrupt, and what
        :func:`~transfer_fsm.step` raises (``WrongCallError`` for an event
        about another call).
        """
        if token is not None:
            check_token(token)
        db = self._cursor  # one cursor, reused: no cursor made per statement
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                done = self._write(db, call_id, token, self._read(db, call_id, event))
                db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return done

    def _read(self, db: sqlite3.Cursor, call_id: str, event: Event) -> _Read:
        """Read the call and step it (the first half of an apply, before any write):
        the change, the stored call, the bytes to write and the row's clock."""
        row = db.execute(sql.SELECT, (call_id,)).fetchone()
        stored = None if row is None else self._cache.decode(call_id, row[0])
        done, call, link, ended = advance(call_id, stored, event)
        if call is None:
            return done, call, link, ended, stored, None, row
        raw = self._cache.encode(call_id, call)
        return done, call, link, ended, stored, raw, row

    def _write(self, db: sqlite3.Cursor, call_id: str, token: str | None, read: _Read) -> Step:
        """Write what :meth:`_read` decided (the second half of an apply); its step."""
        done, call, link, ended, stored, raw, row = read
        execute = db.execute
        if call is None:  # nothing changed: a live call was still heard
            if stored is not None and stored[1] is not _TERMINATED and row[1] != row[2]:
                execute(sql.HEARD, (row[2], call_id))
            return done
        if ended:
            execute(sql.INSERT_ENDED if stored is None else sql.UPDATE_ENDED, (call_id, raw))
        elif call[1] is _TERMINATED:  # a tombstone that changes (an abandoned attempt settles)
            execute(sql.UPDATE_TOMBSTONE, (call_id, raw))
        elif stored is None:
            execute(sql.INSERT, (call_id, raw, 1 if in_flight(call) else None))
        else:
            flight = in_flight(call)
            now = row[2]
            if flight is not in_flight(stored):
                flag = 1 if flight else None
                if row[1] == now:
                    execute(sql.UPDATE_FLIGHT, (call_id, raw, flag))
                else:
                    execute(sql.UPDATE_BOTH, (call_id, raw, flag, now))
            elif row[1] == now:
                execute(sql.UPDATE, (call_id, raw))
            else:
                execute(sql.UPDATE_HEARD, (call_id, raw, now))
        if link is not None:
            execute(sql.LINK, (link, call_id))
        if (self.journaled or token is not None) and done.milestones:
            keys = done.milestone_keys
            if self.journaled:
                milestones = done.milestones
                if len(keys) == 1:
                    execute(_journal.INSERT, (call_id, milestones[0].value, keys[0]))
                else:
                    rows = [(call_id, m.value, k) for m, k in zip(milestones, keys, strict=True)]
                    db.executemany(_journal.INSERT, rows)
            if token is not None:
                _journal.record_token(db, call_id, token, keys)
        return done

    def apply_many(self, items: Iterable[tuple[str, Event]]) -> list[Step]:
        """Apply each ``(call_id, event)`` in order, all in one transaction (one commit).

        Each item gets its own step, as :meth:`apply` would report it applied
        alone after the items before it. An item refused on its own (a corrupt
        snapshot, an event about another call) writes nothing and does not
        stop the others: after the others commit, :class:`~transfer_fsm.store.BatchError`
        is raised with every item's result. A failure of the file itself (a
        lock held past ``timeout``, a full disk) rolls the whole batch back and
        is raised as it is: nothing of the batch committed.
        """
        results = self._batch([(call_id, event, None) for call_id, event in items])
        steps = [result for result in results if isinstance(result, Step)]
        if len(steps) != len(results):
            raise BatchError(results)
        return steps

    def _batch(self, items: list[tuple[str, Event, str | None]]) -> list[Step | Exception]:
        """Apply ``(call_id, event, token)`` items in one transaction: each one's step or
        the exception that refused it (a failed write rolls back the batch and raises)."""
        if not items:
            return []
        return self._transaction(self._each, items)  # type: ignore[return-value]

    def _each(
        self, db: sqlite3.Cursor, items: list[tuple[str, Event, str | None]]
    ) -> list[Step | Exception]:
        results: list[Step | Exception] = []
        for call_id, event, token in items:
            try:
                if token is not None:
                    check_token(token)
                read = self._read(db, call_id, event)
            except sqlite3.Error:
                raise  # the file, not the item
            except Exception as error:
                results.append(error)
                continue
            results.append(self._write(db, call_id, token, read))
        return results

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call, in one transaction.

        A call whose stored snapshot is corrupt is skipped; after every other
        call's events are applied (and committed), :class:`~transfer_fsm.store.BodyError`
        is raised (its ``steps`` are the applied steps). A failed write rolls
        the whole body back and is raised as it is.
        """
        events = parse_notifications(body)
        results = self._batch([(event.call_id, event, None) for event in events])
        return body_steps([event.call_id for event in events], results)

    def get(self, call_id: str) -> Call | None:
        """The call as stored (committed), ``None`` for a call never seen (or forgotten).

        Raises :class:`~transfer_fsm.SnapshotError` when its snapshot is corrupt.
        """
        with self._lock:
            row = self._db.execute(sql.GET, (call_id,)).fetchone()
        return decode(call_id, None if row is None else row[0])

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id.

        ``None`` until the primary call's request (naming the consultation
        call) has been applied. Read in one statement, so both calls are seen
        as of the same commit.
        """
        with self._lock:
            own, primary_id, primary = self._db.execute(sql.READ_LINK, (call_id,)).fetchone()
        main = None if primary_id is None else decode(primary_id, primary)
        return link_of(call_id, decode(call_id, own), main)

    def in_flight(self, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls with an attempt requested, transferring or accepted.

        Read from the ``in_flight`` column each apply keeps in its own
        transaction (a partial index: no scan of the other calls), in no
        particular order. Raises :class:`~transfer_fsm.SnapshotError` for a
        corrupt snapshot (:meth:`delete` forgets that call).
        """
        check_limit(limit)
        with self._lock:
            rows = self._db.execute(sql.IN_FLIGHT, (limit,)).fetchall()
        return [_decoded(call_id, raw) for call_id, raw in rows]

    def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls no apply has reached for more than ``seconds``, oldest first.

        "Heard" is the last apply of an event to the live call (a duplicate
        that changes nothing included), stamped by the database's clock in
        whole seconds (``strftime('%s', 'now')``), so the library reads no
        clock. A call is listed once it is certain to have been unheard for
        more than ``seconds``: up to two seconds after that. Ended calls are
        never unheard. Raises as :meth:`in_flight` does.
        """
        elapsed = check_seconds("seconds", seconds)
        check_limit(limit)
        with self._lock:
            rows = self._db.execute(sql.UNHEARD, (elapsed, limit)).fetchall()
        return [_decoded(call_id, raw) for call_id, raw in rows]

    def delete(self, call_id: str) -> bool:
        """Forget the call: its snapshot (live or tombstone, with its index entries) and
        every link its requests made. ``False`` when there was nothing to forget.

        A link naming it as the consultation call stays (its primary answers
        for it); its journal entries stay until acknowledged. A later event
        for it starts it over as a new call.
        """
        gone = self._transaction(_delete, call_id)
        return bool(gone)

    def prune(self, keep_ended: int) -> int:
        """Forget all but the ``keep_ended`` most recently ended calls; return how many went.

        A forgotten call's own consultation links go with it (a link to it
        as the consultation call stays: its primary still answers for it).
        Live calls are never pruned. After pruning, a late notification about
        a forgotten call starts it over as a new call: keep enough. Write
        tokens older than ``token_ttl`` seconds go too; the journal stays.
        """
        if keep_ended < 0:
            raise ValueError(f"keep_ended must be 0 or more, not {keep_ended}")
        pruned = self._transaction(self._prune, keep_ended)
        return pruned  # type: ignore[return-value]

    def _prune(self, db: sqlite3.Cursor, keep_ended: int) -> int:
        db.execute(sql.PRUNE_LINKS, (keep_ended,))
        pruned: int = db.execute(sql.PRUNE_CALLS, (keep_ended,)).rowcount
        _journal.prune_tokens(db, self.token_ttl)
        return pruned

    def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """Hand up to ``limit`` journal entries to ``consumer``, oldest first, in one transaction.

        The entries nobody holds, those ``consumer`` holds itself (name each
        instance: one restarted under its name takes back what it held), and
        those whose consumer has not acknowledged them within ``idle`` seconds
        (a crashed instance), by SQLite's clock. Each :class:`~transfer_fsm.store.JournalEntry` has
        ``id`` (its ``seq``, as text), ``call_id``, ``milestone`` and ``key``
        (the step's milestone key: dedupe the reaction on it). Raises
        ``ValueError`` unless ``consumer`` is 1 to 200 characters, ``limit``
        1 to 10,000 and ``idle`` 0 or more.
        """
        claim = _journal.claim
        return self._transaction(  # type: ignore[return-value]
            lambda db, args: claim(db, *args), (consumer, limit, idle)
        )

    def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """Delete ``entries`` (acted on) from the journal; return how many were still there."""
        seqs = _journal.ack_ids(entries)
        if not seqs:
            return 0
        gone = self._transaction(_journal.ack, seqs)
        return gone  # type: ignore[return-value]

    def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """The milestone keys the write to ``call_id`` named ``token`` committed.

        ``()`` when that write did not land, or landed with no milestones
        (or its token was pruned): applying its event again is then safe (a
        write that landed makes it a duplicate).
        """
        with self._lock:
            return _journal.landed(self._cursor, call_id, token)

    def close(self) -> None:
        """Close the connection (everything applied has already committed)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _decoded(call_id: str, raw: bytes) -> Call:
    call = decode(call_id, raw)
    assert call is not None
    return call


def _delete(db: sqlite3.Cursor, call_id: str) -> int:
    links: int = db.execute(sql.DELETE_LINKS, (call_id,)).rowcount
    calls: int = db.execute(sql.DELETE_CALL, (call_id,)).rowcount
    return links + calls


from .sqlite_async import AsyncSQLiteStore  # noqa: E402  (it runs the store above)

__all__ = ["LAYOUT", "AsyncSQLiteStore", "BatchError", "SQLiteStore"]
