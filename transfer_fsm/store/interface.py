"""What every store offers (:class:`Store` and its kin), and the checks of its arguments.

The protocols are the one interface of ``transfer_fsm.store``: every store has
:class:`Store`'s methods; the durable ones, :class:`JournaledStore`'s too (a
milestone journal, write tokens); the asyncio faces, the same awaited. The
functions below check the arguments the stores share, so that each store
refuses the same values with the same words.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from ..events import Event
from ..report import Step
from ..rules import IN_FLIGHT_STATUSES
from ..values import Call, Milestone
from .core import Body, Link


class JournalEntry(NamedTuple):
    """One milestone as a store's journal keeps it, until a consumer acknowledges it."""

    id: str
    """The entry's id in its store (SQLite: its ``seq``; Redis: its shard and stream id).

    Unique in the store and never handed out again; what :meth:`ack_journal` removes by."""
    call_id: str
    """The call whose step reported it."""
    milestone: Milestone
    """The milestone."""
    key: str
    """The milestone key of the step (:attr:`~transfer_fsm.Step.milestone_keys`): the
    idempotency key to dedupe the reaction on, the same on every writer and store."""


def journal_rows(step: Step) -> list[tuple[str, str]]:
    """``(milestone, key)`` for each milestone of ``step``, as a journal records them."""
    milestones = step.milestones
    if not milestones:
        return []
    return [(m.value, k) for m, k in zip(milestones, step.milestone_keys, strict=True)]


def in_flight(call: Call) -> bool:
    """Whether ``call`` has an attempt the bot waits on (requested, transferring,
    accepted): what a store's in-flight index holds. Such a call is live: the reducer
    settles an attempt when its call ends."""
    attempt = call[3]
    return attempt is not None and attempt[0] in IN_FLIGHT_STATUSES


MAX_CLAIM = 10_000
"""The most entries one :meth:`claim_journal` may ask for."""


def check_claim(consumer: object, limit: object, idle: object) -> None:
    """Raise ``ValueError`` unless these are a claim's arguments: a consumer name (1 to
    200 characters), ``limit`` an int of 1 to :data:`MAX_CLAIM`, ``idle`` seconds >= 0."""
    if not isinstance(consumer, str) or not 0 < len(consumer) <= 200:
        raise ValueError(f"consumer must be a name of 1 to 200 characters, not {consumer!r}")
    check_limit(limit, MAX_CLAIM)
    if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 <= idle < 1e9:
        raise ValueError(f"idle must be seconds, 0 or more, not {idle!r}")


def check_limit(limit: object, most: int = 1_000_000) -> None:
    """Raise ``ValueError`` unless ``limit`` is an int of 1 to ``most``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValueError(f"limit must be an int of 1 to {most}, not {limit!r}")


def check_token(token: object) -> None:
    """Raise ``ValueError`` unless ``token`` can name a write: a str of 1 to 200
    characters, on one line."""
    if not isinstance(token, str) or not 0 < len(token) <= 200 or "\n" in token:
        raise ValueError(f"token must be a str of 1 to 200 characters, not {token!r}")


def check_seconds(name: str, value: object) -> float:
    """``value`` as seconds; ``ValueError`` unless it is a finite number of 0 or more."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e12:
        raise ValueError(f"{name} must be seconds, 0 or more, not {value!r}")
    return float(value)


def entry_ids(entries: Iterable[JournalEntry]) -> list[str]:
    """The ids of ``entries`` (``TypeError`` for anything that is not a :class:`JournalEntry`)."""
    ids = []
    for entry in entries:
        if not isinstance(entry, JournalEntry):
            raise TypeError(f"ack_journal takes JournalEntry values, not {entry!r}")
        ids.append(entry.id)
    return ids


class Store(Protocol):
    """What every synchronous store offers."""

    def apply(self, call_id: str, event: Event) -> Step:
        """Atomically read, step and write back one call."""
        ...

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call."""
        ...

    def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen."""
        ...

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        ...

    def in_flight(self, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls with an attempt in flight (requested, transferring,
        accepted), read from an index the store keeps with each write (no scan)."""
        ...

    def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls no event has reached for more than ``seconds``,
        oldest first, by the store's own clock (see ``docs/stores.md``)."""
        ...

    def delete(self, call_id: str) -> bool:
        """Forget the call: its snapshot (live or tombstone), the links its requests made,
        its index entries. ``False`` when there was nothing to forget."""
        ...


class JournaledStore(Store, Protocol):
    """A durable store with a milestone journal (``journal=True``) and write tokens."""

    def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """:meth:`Store.apply`; ``token`` names this write for :meth:`landed`."""
        ...

    def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """Hand up to ``limit`` entries to ``consumer``: those it holds itself (an instance
        restarted under its name takes them back), those nobody holds, and those another
        consumer has held for ``idle`` seconds without acknowledging them."""
        ...

    def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """Remove ``entries`` (acted on) from the journal; return how many were still there."""
        ...

    def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """The milestone keys the write to ``call_id`` named ``token`` committed; ``()``
        when it did not land or committed none (applying its event again is then safe)."""
        ...


class AsyncStore(Protocol):
    """What every asyncio store offers: :class:`Store`'s methods, awaited."""

    async def apply(self, call_id: str, event: Event) -> Step:
        """Atomically read, step and write back one call."""
        ...

    async def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call."""
        ...

    async def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen."""
        ...

    async def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        ...

    async def in_flight(self, limit: int = 1000) -> list[Call]:
        """See :meth:`Store.in_flight`."""
        ...

    async def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """See :meth:`Store.unheard`."""
        ...

    async def delete(self, call_id: str) -> bool:
        """See :meth:`Store.delete`."""
        ...


class AsyncJournaledStore(AsyncStore, Protocol):
    """:class:`JournaledStore`, awaited."""

    async def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """See :meth:`JournaledStore.apply`."""
        ...

    async def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """See :meth:`JournaledStore.claim_journal`."""
        ...

    async def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """See :meth:`JournaledStore.ack_journal`."""
        ...

    async def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """See :meth:`JournaledStore.landed`."""
        ...
