"""The milestone journal and the write tokens of :class:`~transfer_fsm.store.SQLiteStore`.

A store opened with ``journal=True`` inserts each step's milestones into the
``milestones`` table in the same transaction as the call's snapshot (a
transactional outbox): the step commits with its milestones, or neither does.
Consumers drain it at least once, several at a time: :func:`claim` hands each
entry to one consumer (``consumer``, ``claimed``: SQLite's ``julianday('now')``
when it was handed), again to the same consumer (an instance restarted under
its name takes back what it held), and to any consumer once its holder has not
acknowledged it within ``idle`` seconds; :func:`ack` deletes entries acted on.
An entry's ``seq`` is never handed out again (see :data:`MILESTONES`): its id.

A write given a token records ``token -> the step's milestone keys`` in the
``written`` table, in the same transaction (:func:`record_token`); :func:`landed`
reads it back, and :func:`prune_tokens` drops tokens older than a bound.

This module holds the SQL; the store runs it on its connection, inside its
transactions. The clock is SQLite's own, so the library reads none.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ..values import Milestone
from .interface import JournalEntry, check_claim, check_token, entry_ids

DAY = 86_400.0
"""Seconds in a day: ``julianday`` counts days."""

MILESTONES = (
    "CREATE TABLE IF NOT EXISTS milestones ("
    "seq INTEGER PRIMARY KEY, call_id TEXT NOT NULL, milestone TEXT NOT NULL,"
    " key TEXT NOT NULL DEFAULT '', consumer TEXT, claimed REAL)"
)
"""The journal's table (layout 3). SQLite numbers a new row one past the highest ``seq``,
and :func:`ack` never deletes the row with the highest (it marks it acknowledged:
``consumer`` ``''``, never a consumer's name, until a newer row exists): so a seq is
never handed out again, without ``AUTOINCREMENT``'s extra write per insert (a layout-2
table, made with it, keeps it)."""

WRITTEN = (
    "CREATE TABLE IF NOT EXISTS written ("
    "token TEXT PRIMARY KEY, keys TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID"
)
"""The write tokens (layout 3): each token's milestone keys (a JSON list), and when."""

WRITTEN_AT = "CREATE INDEX IF NOT EXISTS written_at ON written (at)"

LEGACY_KEY = "call_id || ':journal-' || seq || ':' || milestone"
"""The key a layout-2 entry gets when its file is opened (``{call_id}:journal-{seq}:{milestone}``):
its step's key is not known, and ``seq`` makes it unique."""

INSERT = "INSERT INTO milestones (call_id, milestone, key) VALUES (?, ?, ?)"
_CLAIM = (
    "UPDATE milestones SET consumer = ?1, claimed = julianday('now') WHERE seq IN ("
    "SELECT seq FROM milestones WHERE consumer IS NULL OR consumer = ?1"
    " OR claimed <= julianday('now') - ?2 ORDER BY seq LIMIT ?3)"
    " RETURNING seq, call_id, milestone, key"
)
_ACK = (
    "DELETE FROM milestones WHERE seq = ? AND consumer IS NOT ''"
    " AND seq < (SELECT MAX(seq) FROM milestones)"
)
_ACK_LAST = (
    "UPDATE milestones SET consumer = '', claimed = NULL WHERE seq = ? AND consumer IS NOT ''"
)
_LAST = "SELECT MAX(seq) FROM milestones"
_SWEEP = "DELETE FROM milestones WHERE consumer = '' AND seq < (SELECT MAX(seq) FROM milestones)"
_TOKEN = "INSERT OR REPLACE INTO written (token, keys, at) VALUES (?, ?, julianday('now'))"
_LANDED = "SELECT keys FROM written WHERE token = ?"
_PRUNE_TOKENS = "DELETE FROM written WHERE at < julianday('now') - ?"


def claim(db: sqlite3.Cursor, consumer: str, limit: int, idle: float) -> list[JournalEntry]:
    """Hand ``consumer`` up to ``limit`` entries, oldest first (inside the caller's
    ``BEGIN IMMEDIATE``): those nobody holds, those it holds itself, and those held
    longer than ``idle`` seconds."""
    check_claim(consumer, limit, idle)
    rows = db.execute(_CLAIM, (consumer, idle / DAY, limit)).fetchall()
    rows.sort()
    return [
        JournalEntry(str(seq), call_id, Milestone(value), key) for seq, call_id, value, key in rows
    ]


def ack_ids(entries: Iterable[JournalEntry]) -> list[tuple[int]]:
    """The seqs of ``entries``, checked (``ValueError`` for an id no SQLite journal hands out)."""
    seqs = []
    for id_ in entry_ids(entries):
        if not (isinstance(id_, str) and id_.isascii() and id_.isdigit() and len(id_) < 20):
            raise ValueError(f"not an SQLite journal entry id: {id_!r}")
        seqs.append((int(id_),))
    return seqs


def ack(db: sqlite3.Cursor, seqs: list[tuple[int]]) -> int:
    """Delete the entries ``seqs`` (inside the caller's transaction); how many were there.

    The newest entry, if acknowledged, is kept marked as such (see :data:`MILESTONES`);
    entries so marked that are no longer the newest go now."""
    gone: int = db.executemany(_ACK, seqs).rowcount
    (last,) = db.execute(_LAST).fetchone()
    if last is not None and (last,) in seqs:
        gone += db.execute(_ACK_LAST, (last,)).rowcount
    db.execute(_SWEEP)
    return gone


def _named(call_id: str, token: str) -> str:
    """The ``written`` row's name of the write to ``call_id`` named ``token`` (a token
    names a write to one call: two calls' writes may share one)."""
    return json.dumps([call_id, token])


def record_token(db: sqlite3.Cursor, call_id: str, token: str, keys: tuple[str, ...]) -> None:
    """Record that the write ``token`` committed the milestone ``keys`` (in its transaction)."""
    db.execute(_TOKEN, (_named(call_id, token), json.dumps(keys)))


def landed(db: sqlite3.Cursor, call_id: str, token: str) -> tuple[str, ...]:
    """The keys recorded for the write to ``call_id`` named ``token``, ``()`` for none."""
    check_token(token)
    row = db.execute(_LANDED, (_named(call_id, token),)).fetchone()
    return () if row is None else tuple(json.loads(row[0]))


def prune_tokens(db: sqlite3.Cursor, older_than: float) -> int:
    """Drop the tokens recorded more than ``older_than`` seconds ago; how many went."""
    gone: int = db.execute(_PRUNE_TOKENS, (older_than / DAY,)).rowcount
    return gone
