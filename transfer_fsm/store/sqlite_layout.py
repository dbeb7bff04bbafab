"""The tables of an :class:`~transfer_fsm.store.SQLiteStore` file, and their migration.

``PRAGMA user_version`` is the layout version. Layout 3 (this one):

- ``calls (call_id, snapshot, ended, in_flight, heard)``: each call's snapshot;
  ``ended`` its place in the order calls ended (``NULL`` while live);
  ``in_flight`` 1 while the call is live with an attempt requested,
  transferring or accepted (``NULL`` otherwise, a partial index over the 1s);
  ``heard`` the ``julianday`` of the last apply that reached the live call
  (``NULL`` once ended, a partial index over the rest);
- ``links (consultation_id, primary_id)``: the consultation call each request named;
- ``milestones (seq, call_id, milestone, key, consumer, claimed)``: the journal;
- ``written (token, keys, at)``: the write tokens.

A file of layout 1 or 2 is migrated when a store opens it, in one transaction:
its calls, links and journal entries are kept; each live call gets its
``in_flight`` from its snapshot and ``heard`` = the time of the migration; each
journal entry a key ``{call_id}:journal-{seq}:{milestone}``.
"""

from __future__ import annotations

import sqlite3

from ..snapshot import SnapshotError
from . import journal as _journal
from .core import decode, in_flight

LAYOUT = 3
"""The version of the tables this module reads and writes (``PRAGMA user_version``)."""

CALLS = (
    "CREATE TABLE IF NOT EXISTS calls (call_id TEXT PRIMARY KEY, snapshot BLOB NOT NULL,"
    " ended INTEGER, in_flight INTEGER, heard REAL)"
)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended) WHERE ended IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS calls_in_flight ON calls (in_flight) WHERE in_flight IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS calls_heard ON calls (heard) WHERE heard IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS links_primary ON links (primary_id)",
    _journal.WRITTEN_AT,
)
LINKS = (
    "CREATE TABLE IF NOT EXISTS links (consultation_id TEXT PRIMARY KEY, primary_id TEXT NOT NULL)"
)


def create(db: sqlite3.Connection, path: str) -> None:
    """Create the tables, or migrate an older layout (inside the caller's transaction)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > LAYOUT:
        raise RuntimeError(
            f"{path}: store layout version {version} is newer than this"
            f" transfer_fsm reads (up to {LAYOUT}); upgrade transfer_fsm"
        )
    if version == LAYOUT:
        return
    old_calls = _columns(db, "calls")
    old_journal = _columns(db, "milestones")
    for statement in (CALLS, LINKS, _journal.MILESTONES, _journal.WRITTEN):
        db.execute(statement)
    if old_calls and "heard" not in old_calls:
        db.execute("ALTER TABLE calls ADD COLUMN in_flight INTEGER")
        db.execute("ALTER TABLE calls ADD COLUMN heard REAL")
        _index_live_calls(db)
    if old_journal and "key" not in old_journal:
        db.execute("ALTER TABLE milestones ADD COLUMN key TEXT NOT NULL DEFAULT ''")
        db.execute("ALTER TABLE milestones ADD COLUMN consumer TEXT")
        db.execute("ALTER TABLE milestones ADD COLUMN claimed REAL")
        db.execute(f"UPDATE milestones SET key = {_journal.LEGACY_KEY}")
    for statement in INDEXES:
        db.execute(statement)
    db.execute(f"PRAGMA user_version={LAYOUT}")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty: no such table)."""
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _index_live_calls(db: sqlite3.Connection) -> None:
    """Fill ``in_flight`` and ``heard`` for the live calls of a migrated file (a call
    whose snapshot is corrupt is heard, and not in flight: its own apply says why)."""
    rows = db.execute("SELECT call_id, snapshot FROM calls WHERE ended IS NULL").fetchall()
    for call_id, raw in rows:
        try:
            call = decode(call_id, raw)
        except SnapshotError:
            call = None
        flight = 1 if call is not None and in_flight(call) else None
        db.execute(
            "UPDATE calls SET in_flight = ?, heard = julianday('now') WHERE call_id = ?",
            (flight, call_id),
        )
