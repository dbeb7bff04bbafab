"""Stores: many calls, applied atomically, kept across restarts and shared by processes.

``transfer_fsm.store`` is not imported by ``transfer_fsm``; import it when you
use it. Every store offers the same small interface (:class:`Store`):

- ``apply(call_id, event) -> Step``: an atomic read-step-write of one call;
- ``apply_body(body) -> list[Step]``: parse a callback body, apply each event;
- ``get(call_id) -> Call | None`` and ``link(call_id) -> Link | None``;
- ``in_flight(limit)``, ``unheard(seconds, limit)`` and ``delete(call_id)``: a timer's questions.

A durable store with a journal (:class:`JournaledStore`) adds
``claim_journal`` / ``ack_journal`` (:class:`JournalEntry`) and write tokens
(``apply(..., token=)``, ``landed``).

(:class:`AsyncStore` is the same interface, awaited.)

:class:`MemoryStore` keeps calls in the process. ``SQLiteStore`` (standard
library) and ``RedisStore`` (the ``redis`` extra) keep them outside it, for
restarts and for several processes; their ``Async...`` twins are for asyncio
bots. Each is imported only when first named here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core import (
    BodyError,
    Change,
    ConflictError,
    IncompleteBodyError,
    Link,
    advance,
    decode,
    encode,
)
from .interface import AsyncJournaledStore, AsyncStore, JournaledStore, JournalEntry, Store
from .memory import MemoryStore

if TYPE_CHECKING:
    from .batch import BatchError
    from .redis import AsyncRedisStore, RedisStore, UnknownOutcomeError
    from .sqlite import AsyncSQLiteStore, SQLiteStore

_LAZY = {
    "SQLiteStore": ".sqlite",
    "AsyncSQLiteStore": ".sqlite",
    "BatchError": ".batch",
    "RedisStore": ".redis",
    "AsyncRedisStore": ".redis",
    "UnknownOutcomeError": ".redis",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncJournaledStore",
    "AsyncRedisStore",
    "AsyncStore",
    "AsyncSQLiteStore",
    "BatchError",
    "BodyError",
    "Change",
    "ConflictError",
    "IncompleteBodyError",
    "JournalEntry",
    "JournaledStore",
    "Link",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "UnknownOutcomeError",
    "advance",
    "decode",
    "encode",
]
