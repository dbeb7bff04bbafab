"""``SQLiteStore``: calls kept in an SQLite file (standard library ``sqlite3``, WAL).

The file holds three tables: ``calls`` (each call's snapshot, as
:func:`~transfer_fsm.store.encode` writes it, and for an ended call its place
in the order calls ended), ``links`` (each consultation call id, with the
primary call whose request named it) and ``milestones`` (the journal of a
store opened with ``journal=True``, see :mod:`transfer_fsm.store.journal`).
``PRAGMA user_version`` is the layout version of these tables: 2 since the
journal (a file of layout 1 gains the empty ``milestones`` table when opened).

Every ``apply`` is one ``BEGIN IMMEDIATE`` transaction: it takes the file's
write lock, reads the call, steps it with :func:`~transfer_fsm.store.advance`
and writes it back before ``COMMIT``. Writers, threads or processes, wait for
that lock in turn (up to ``timeout`` seconds), so none ever steps a call that
another is changing: no update is lost and each milestone is reported by the
one writer whose step produced it.

:class:`AsyncSQLiteStore` is the same store for asyncio programs: one worker
thread runs the synchronous store, off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from os import PathLike
from types import TracebackType
from typing import ParamSpec, TypeVar

from ..events import Event
from ..report import Step
from ..values import Call
from . import journal as _journal
from .core import Body, Link, SnapshotCache, advance, apply_each, decode, link_of
from .journal import JournalEntry

_P = ParamSpec("_P")
_T = TypeVar("_T")

LAYOUT = 2
"""The version of the tables this module reads and writes (``PRAGMA user_version``)."""

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS calls ("
    "call_id TEXT PRIMARY KEY, snapshot BLOB NOT NULL, ended INTEGER)",
    "CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended) WHERE ended IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS links (consultation_id TEXT PRIMARY KEY, primary_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS links_primary ON links (primary_id)",
    _journal.TABLE,
)
_SELECT = "SELECT snapshot FROM calls WHERE call_id = ?"
_INSERT = "INSERT INTO calls (call_id, snapshot, ended) VALUES (?, ?, NULL)"
_UPDATE = "UPDATE calls SET snapshot = ? WHERE call_id = ?"
_NEXT_ENDED = "(SELECT COALESCE(MAX(ended), 0) + 1 FROM calls)"
_INSERT_ENDED = f"INSERT INTO calls (call_id, snapshot, ended) VALUES (?, ?, {_NEXT_ENDED})"
_UPDATE_ENDED = f"UPDATE calls SET snapshot = ?, ended = {_NEXT_ENDED} WHERE call_id = ?"
_LINK = "INSERT OR REPLACE INTO links (consultation_id, primary_id) VALUES (?, ?)"
_READ_LINK = (
    "SELECT own.snapshot, link.primary_id, main.snapshot FROM (SELECT ? AS id) AS asked"
    " LEFT JOIN calls AS own ON own.call_id = asked.id"
    " LEFT JOIN links AS link ON link.consultation_id = asked.id"
    " LEFT JOIN calls AS main ON main.call_id = link.primary_id"
)
_OLDEST_ENDED = (
    "SELECT call_id FROM calls WHERE ended IS NOT NULL ORDER BY ended DESC LIMIT -1 OFFSET ?"
)
_PRUNE_LINKS = f"DELETE FROM links WHERE primary_id IN ({_OLDEST_ENDED})"
_PRUNE_CALLS = f"DELETE FROM calls WHERE call_id IN ({_OLDEST_ENDED})"


class SQLiteStore:
    """Calls kept in the SQLite file ``path``, shared by threads and processes.

    Durability: when :meth:`apply` (or :meth:`apply_body`) returns, its
    transaction has committed. With ``synchronous="FULL"`` (the default) the
    commit has also been synced to disk, so it survives a power loss or an
    operating-system crash; with ``"NORMAL"`` it survives the process being
    killed (``kill -9``) but the last commits may be lost with the machine
    (commits are then much faster: no ``fsync`` each). ``timeout`` is how many
    seconds a writer waits for another's lock before ``sqlite3.OperationalError``
    ("database is locked").

    Several processes may open the same file, each with its own
    ``SQLiteStore``; within a process, threads may share one (its single
    connection is used under a lock). SQLite serializes writers: ``apply``
    takes the write lock *before* it reads the call, so a writer never works
    from a stale read and never has to retry. :attr:`conflicts` therefore
    stays 0; it exists so that every store reports the same figure (a store
    with optimistic concurrency counts its retries there).

    Ended calls are kept (their terminated snapshot is their tombstone: a late
    notification finds the call ended, not a new call) until :meth:`prune`.

    With ``journal=True``, each step's milestones are also inserted into the
    file's journal in the step's own transaction (a transactional outbox):
    read them with :meth:`journal`, act, then :meth:`forget_journal`. A store
    opened without it writes no entries, so every writer of a file should
    agree: the steps of a writer without the journal are missing from it.
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
    ) -> None:
        level = synchronous.upper()
        if level not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {level!r}")
        if not isinstance(journal, bool):
            raise ValueError(f"journal must be True or False, not {journal!r}")
        self.path = str(path)
        self.conflicts = 0
        self.journaled = journal
        """Whether this store writes each step's milestones to the journal."""
        self._lock = threading.Lock()
        self._cache = SnapshotCache()  # what this store last read or wrote, decoded
        self._db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._open(level)
        except BaseException:
            self._db.close()
            raise

    def _open(self, level: str) -> None:
        """Switch to WAL, then check the layout version and create the tables if missing."""
        db = self._db
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite could not use WAL here (journal mode {mode})")
        db.execute(f"PRAGMA synchronous={level}")
        with self._transaction():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > LAYOUT:
                raise RuntimeError(
                    f"{self.path}: store layout version {version} is newer than this"
                    f" transfer_fsm reads (up to {LAYOUT}); upgrade transfer_fsm"
                )
            for statement in _SCHEMA:
                db.execute(statement)
            if version < LAYOUT:
                db.execute(f"PRAGMA user_version={LAYOUT}")

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (the write lock) ... ``COMMIT``; on any exception, ``ROLLBACK``."""
        db = self._db
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def apply(self, call_id: str, event: Event) -> Step:
        """Step call ``call_id`` with ``event`` in one transaction (a new call starts empty).

        Returns the step once it has committed. Raises, having changed
        nothing, :class:`~transfer_fsm.SnapshotError` (naming the call) when
        the call's stored snapshot is corrupt, and what
        :func:`~transfer_fsm.step` raises (``WrongCallError`` for an event
        about another call).
        """
        with self._transaction() as db:
            row = db.execute(_SELECT, (call_id,)).fetchone()
            stored = self._cache.decode(call_id, None if row is None else row[0])
            change = advance(call_id, stored, event)
            call = change.write
            if call is not None:
                if row is None:
                    raw = self._cache.encode(call_id, call)
                    db.execute(_INSERT_ENDED if change.ended else _INSERT, (call_id, raw))
                else:
                    raw = self._cache.encode(call_id, call)
                    db.execute(_UPDATE_ENDED if change.ended else _UPDATE, (raw, call_id))
                if change.link is not None:
                    db.execute(_LINK, (change.link, call_id))
                if self.journaled:
                    _journal.record(db, call_id, change.step.milestones)
        return change.step

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call, one transaction each.

        A call whose stored snapshot is corrupt is skipped; after every other
        call's events are applied, :class:`~transfer_fsm.store.BodyError`
        is raised (its ``steps`` are the applied steps).
        """
        return apply_each(body, self.apply)

    def get(self, call_id: str) -> Call | None:
        """The call as stored (committed), ``None`` for a call never seen (or pruned).

        Raises :class:`~transfer_fsm.SnapshotError` when its snapshot is corrupt.
        """
        with self._lock:
            row = self._db.execute(_SELECT, (call_id,)).fetchone()
        return decode(call_id, None if row is None else row[0])

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id.

        ``None`` until the primary call's request (naming the consultation
        call) has been applied. Read in one statement, so both calls are seen
        as of the same commit.
        """
        with self._lock:
            own, primary_id, primary = self._db.execute(_READ_LINK, (call_id,)).fetchone()
        main = None if primary_id is None else decode(primary_id, primary)
        return link_of(call_id, decode(call_id, own), main)

    def prune(self, keep_ended: int) -> int:
        """Forget all but the ``keep_ended`` most recently ended calls; return how many went.

        A forgotten call's own consultation link goes with it (a link to it
        as the consultation call stays: its primary still answers for it).
        Live calls are never pruned. After pruning, a late notification about
        a forgotten call starts it over as a new call: keep enough.
        """
        if keep_ended < 0:
            raise ValueError(f"keep_ended must be 0 or more, not {keep_ended}")
        with self._transaction() as db:
            db.execute(_PRUNE_LINKS, (keep_ended,))
            pruned: int = db.execute(_PRUNE_CALLS, (keep_ended,)).rowcount
        return pruned

    def journal(self, after: int = 0, limit: int = 1000) -> list[JournalEntry]:
        """The journal's oldest ``limit`` entries whose seq is greater than ``after``, oldest first.

        Each is a :class:`~transfer_fsm.store.JournalEntry` (``seq``,
        ``call_id``, ``milestone``); seqs increase in commit order. Entries
        stay until :meth:`forget_journal`. Raises ``ValueError`` unless
        ``after`` is an int of 0 or more and ``limit`` one of 1 or more.
        """
        with self._lock:
            return _journal.read(self._db, after, limit)

    def forget_journal(self, up_to: int) -> int:
        """Delete the journal's entries whose seq is ``up_to`` or less; return how many went.

        Call it once those entries have been acted on: until then a reader
        that restarts reads them again (at least once). Raises ``ValueError``
        unless ``up_to`` is an int of 0 or more.
        """
        _journal.count("up_to", up_to, 0)
        with self._transaction() as db:
            return _journal.forget(db, up_to)

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


class AsyncSQLiteStore:
    """:class:`SQLiteStore` for asyncio: every call runs on one worker thread, off the loop.

    The methods are :class:`SQLiteStore`'s, awaited; what they guarantee is
    the same (an awaited ``apply`` has committed). Calls run one at a time, in
    the order they were made. The constructor opens the file (a quick,
    blocking step: do it at startup); use ``async with`` or :meth:`aclose`.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: str = "FULL",
        journal: bool = False,
    ) -> None:
        self.store = SQLiteStore(path, timeout=timeout, synchronous=synchronous, journal=journal)
        """The synchronous store the worker thread runs."""
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="AsyncSQLiteStore")

    @property
    def conflicts(self) -> int:
        """Writes retried because another writer changed the call first: always 0 here."""
        return self.store.conflicts

    def _run(
        self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.Future[_T]:
        """``function(*args)`` on the worker thread."""
        call = partial(function, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._worker, call)

    async def apply(self, call_id: str, event: Event) -> Step:
        """See :meth:`SQLiteStore.apply`."""
        return await self._run(self.store.apply, call_id, event)

    async def apply_body(self, body: Body) -> list[Step]:
        """See :meth:`SQLiteStore.apply_body`."""
        return await self._run(self.store.apply_body, body)

    async def get(self, call_id: str) -> Call | None:
        """See :meth:`SQLiteStore.get`."""
        return await self._run(self.store.get, call_id)

    async def link(self, call_id: str) -> Link | None:
        """See :meth:`SQLiteStore.link`."""
        return await self._run(self.store.link, call_id)

    async def prune(self, keep_ended: int) -> int:
        """See :meth:`SQLiteStore.prune`."""
        return await self._run(self.store.prune, keep_ended)

    async def journal(self, after: int = 0, limit: int = 1000) -> list[JournalEntry]:
        """See :meth:`SQLiteStore.journal`."""
        return await self._run(self.store.journal, after, limit)

    async def forget_journal(self, up_to: int) -> int:
        """See :meth:`SQLiteStore.forget_journal`."""
        return await self._run(self.store.forget_journal, up_to)

    async def aclose(self) -> None:
        """Close the store and stop the worker thread."""
        await self._run(self.store.close)
        self._worker.shutdown(wait=True)

    async def __aenter__(self) -> AsyncSQLiteStore:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()
