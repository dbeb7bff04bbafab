"""The milestone journal of :class:`~transfer_fsm.store.SQLiteStore` (a transactional outbox).

A store opened with ``journal=True`` inserts each step's milestones into the
``milestones`` table in the same transaction as the call's snapshot: the
step commits with its milestones, or neither does. A reader then delivers
the entries at least once: it reads them (:func:`read`), acts on each (a log
line, a message), and only then forgets them (:func:`forget`). An entry acted
on but not yet forgotten when the reader dies is read again: its ``seq``, which
SQLite never hands out twice (``AUTOINCREMENT``), is the idempotency key.

This module holds the SQL and the checks; the store runs them on its connection.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from ..values import Milestone

TABLE = (
    "CREATE TABLE IF NOT EXISTS milestones ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, milestone TEXT NOT NULL)"
)
"""The journal's table (layout 2): ``AUTOINCREMENT``, so a seq is never used again."""

_INSERT = "INSERT INTO milestones (call_id, milestone) VALUES (?, ?)"
_READ = "SELECT seq, call_id, milestone FROM milestones WHERE seq > ? ORDER BY seq LIMIT ?"
_FORGET = "DELETE FROM milestones WHERE seq <= ?"


class JournalEntry(NamedTuple):
    """One milestone as the journal keeps it."""

    seq: int
    """Its place in the journal: increasing in commit order, never reused (the idempotency key)."""
    call_id: str
    """The call whose step reported it."""
    milestone: Milestone
    """The milestone."""


def record(db: sqlite3.Connection, call_id: str, milestones: tuple[Milestone, ...]) -> None:
    """Insert one step's ``milestones`` (inside the caller's transaction)."""
    db.executemany(_INSERT, [(call_id, milestone.value) for milestone in milestones])


def read(db: sqlite3.Connection, after: int, limit: int) -> list[JournalEntry]:
    """The oldest ``limit`` entries whose seq is greater than ``after``, oldest first."""
    count("after", after, 0)
    count("limit", limit, 1)
    rows = db.execute(_READ, (after, limit)).fetchall()
    return [JournalEntry(seq, call_id, Milestone(value)) for seq, call_id, value in rows]


def forget(db: sqlite3.Connection, up_to: int) -> int:
    """Delete the entries whose seq is ``up_to`` or less (inside the caller's transaction)."""
    gone: int = db.execute(_FORGET, (up_to,)).rowcount
    return gone


def count(name: str, value: object, least: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not a ``bool``) of ``least`` or more."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, not {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{name} must be {least} or more, not {value}")
