"""The tables of an :class:`~transfer_fsm.store.SQLiteStore` file, and their migration.

``PRAGMA user_version`` is the layout version. Layout 3 (this one):

- ``calls (call_id, snapshot, ended, in_flight, heard)``: each call's snapshot;
  ``ended`` its place in the order calls ended (``NULL`` while live);
  ``in_flight`` 1 while the call is live with an attempt requested,
  transferring or accepted (``NULL`` otherwise, a partial index over the 1s);
  ``heard`` when the last apply reached the live call, in whole seconds since
  the epoch by SQLite's clock (``NULL`` once ended, a partial index over the rest);
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
from .core import decode
from .interface import in_flight

LAYOUT = 3
"""The version of the tables this module reads and writes (``PRAGMA user_version``)."""

CALLS = (
    "CREATE TABLE IF NOT EXISTS calls (call_id TEXT PRIMARY KEY, snapshot BLOB NOT NULL,"
    " ended INTEGER, in_flight INTEGER, heard INTEGER)"
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


def create(db: sqlite3.Cursor, path: str) -> None:
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
        db.execute("ALTER TABLE calls ADD COLUMN heard INTEGER")
        _index_live_calls(db)
    if old_journal and "key" not in old_journal:
        db.execute("ALTER TABLE milestones ADD COLUMN key TEXT NOT NULL DEFAULT ''")
        db.execute("ALTER TABLE milestones ADD COLUMN consumer TEXT")
        db.execute("ALTER TABLE milestones ADD COLUMN claimed REAL")
        db.execute(f"UPDATE milestones SET key = {_journal.LEGACY_KEY}")
    for statement in INDEXES:
        db.execute(statement)
    db.execute(f"PRAGMA user_version={LAYOUT}")


def _columns(db: sqlite3.Cursor, table: str) -> set[str]:
    """The column names of ``table`` (empty: no such table)."""
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _index_live_calls(db: sqlite3.Cursor) -> None:
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
            "UPDATE calls SET in_flight = ?,"
            " heard = CAST(strftime('%s', 'now') AS INTEGER) WHERE call_id = ?",
            (flight, call_id),
        )


# -- the statements the store runs on these tables -----------------------------------

NOW = "CAST(strftime('%s', 'now') AS INTEGER)"
"""SQLite's clock in whole seconds since the epoch: when a live call was last heard."""
GET = "SELECT snapshot FROM calls WHERE call_id = ?"
SELECT = f"SELECT snapshot, heard, {NOW} FROM calls WHERE call_id = ?"
INSERT = f"INSERT INTO calls (call_id, snapshot, in_flight, heard) VALUES (?1, ?2, ?3, {NOW})"
# A live call's update sets ``in_flight`` only when it changes and ``heard`` only when the
# second has (setting a column, even to the value it holds, costs its index's upkeep).
UPDATE = "UPDATE calls SET snapshot = ?2 WHERE call_id = ?1"
UPDATE_HEARD = "UPDATE calls SET snapshot = ?2, heard = ?3 WHERE call_id = ?1"
UPDATE_FLIGHT = "UPDATE calls SET snapshot = ?2, in_flight = ?3 WHERE call_id = ?1"
UPDATE_BOTH = "UPDATE calls SET snapshot = ?2, in_flight = ?3, heard = ?4 WHERE call_id = ?1"
# The newest ended call's place + 1, read off the end of the partial index (MAX(ended)
# without ``ended IS NOT NULL`` cannot use it: it scanned every call).
NEXT_ENDED = (
    "(COALESCE((SELECT ended FROM calls WHERE ended IS NOT NULL"
    " ORDER BY ended DESC LIMIT 1), 0) + 1)"
)
INSERT_ENDED = f"INSERT INTO calls (call_id, snapshot, ended) VALUES (?1, ?2, {NEXT_ENDED})"
UPDATE_ENDED = (
    f"UPDATE calls SET snapshot = ?2, ended = {NEXT_ENDED}, in_flight = NULL, heard = NULL"
    " WHERE call_id = ?1"
)
UPDATE_TOMBSTONE = "UPDATE calls SET snapshot = ?2 WHERE call_id = ?1"
HEARD = "UPDATE calls SET heard = ? WHERE call_id = ?"
LINK = "INSERT OR REPLACE INTO links (consultation_id, primary_id) VALUES (?, ?)"
READ_LINK = (
    "SELECT own.snapshot, link.primary_id, main.snapshot FROM (SELECT ? AS id) AS asked"
    " LEFT JOIN calls AS own ON own.call_id = asked.id"
    " LEFT JOIN links AS link ON link.consultation_id = asked.id"
    " LEFT JOIN calls AS main ON main.call_id = link.primary_id"
)
IN_FLIGHT = "SELECT call_id, snapshot FROM calls WHERE in_flight = 1 LIMIT ?"
# Heard in second h (in [h, h + 1)), now in second n: certainly more than ``seconds`` ago
# once n - (h + 1) >= seconds.
UNHEARD = f"SELECT call_id, snapshot FROM calls WHERE heard <= {NOW} - 1 - ? ORDER BY heard LIMIT ?"
DELETE_LINKS = "DELETE FROM links WHERE primary_id = ?"
DELETE_CALL = "DELETE FROM calls WHERE call_id = ?"
OLDEST_ENDED = (
    "SELECT call_id FROM calls WHERE ended IS NOT NULL ORDER BY ended DESC LIMIT -1 OFFSET ?"
)
PRUNE_LINKS = f"DELETE FROM links WHERE primary_id IN ({OLDEST_ENDED})"
PRUNE_CALLS = f"DELETE FROM calls WHERE call_id IN ({OLDEST_ENDED})"
