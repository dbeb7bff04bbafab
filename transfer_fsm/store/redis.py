"""``RedisStore`` and ``AsyncRedisStore``: calls kept in Redis or a Redis Cluster.

Needs redis-py (``pip install 'transfer-fsm[redis]'``). The store is given a
client (``redis.Redis``, ``redis.cluster.RedisCluster``, or their
``redis.asyncio`` twins) and never closes it. The keys, their shards and the
scripts are described in :mod:`transfer_fsm.store.redis_keys`: every key one
apply writes shares a hash slot, so one Lua script writes the call, its
indexes, its journal entries and its write token atomically, on a single
server and on a Cluster alike.

``apply`` is a compare-and-set: the store steps the call as it believes it is
stored (what it last read or wrote; a call it never saw, as absent) and the
script writes the result only if the call is still stored so; otherwise it
answers what is stored, and the step is worked out again from that (a lost
race, counted in ``conflicts`` when the belief had been read; at most
``max_retries`` times before :class:`~transfer_fsm.store.ConflictError`).
One round trip when the belief is right. A step whose write did not land is
never reported, so each milestone is reported by one writer. The asyncio
store sends every apply waiting at that moment in one pipeline.

Expiry: with ``ended_ttl`` (seconds), every write of a terminated call sets
that expiry on its key and its legs, and on each link its requests made
while the link still names it. A live call never expires. Until it expires
the terminated snapshot is the call's tombstone; choose ``ended_ttl`` longer
than Graph's redelivery window, or leave it ``None`` (kept until deleted).

Failures: a connection error before the script was sent raises the client's
own ``redis.exceptions.ConnectionError`` (or ``TimeoutError``). One while it
was on its way raises :class:`UnknownOutcomeError`, with the write's
``token``: :meth:`RedisStore.landed` tells whether it landed. A key of
another type than a string under a call's name raises
:class:`~transfer_fsm.SnapshotError` for that call.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Generator, Iterable
from typing import Any, Generic, TypeVar

try:
    import redis
    import redis.asyncio
    import redis.cluster  # noqa: F401 (a Cluster's clients)
    from redis.exceptions import ResponseError
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "transfer_fsm.store.redis needs redis-py: pip install 'transfer-fsm[redis]'"
    ) from error

from ..events import Event
from ..report import Step
from ..values import Call
from . import redis_reads as reads
from .core import Body, Link, apply_each, apply_each_async
from .interface import JournalEntry, check_claim, check_limit, check_seconds, check_token
from .redis_batch import (
    CONNECTION_ERRORS,
    Command,
    Item,
    Options,
    UnknownOutcomeError,
    applying,
    by_text,
    unknown_scripts,
)
from .redis_keys import SHARDS, Keys, check_prefix, check_shards

__all__ = ["AsyncRedisStore", "RedisStore", "UnknownOutcomeError"]

ClientT = TypeVar("ClientT")
_T = TypeVar("_T")


class _Base(Generic[ClientT]):
    """What both faces share: the options, the key names, the checks of arguments."""

    def __init__(
        self,
        client: ClientT,
        *,
        prefix: str = "transfer_fsm:",
        shards: int = SHARDS,
        ended_ttl: int | None = None,
        max_retries: int = 100,
        journal: bool = False,
        group: str = "transfer_fsm",
        token_ttl: int = 3600,
    ) -> None:
        if ended_ttl is not None and (type(ended_ttl) is not int or ended_ttl < 1):
            raise ValueError(f"ended_ttl must be None or whole seconds, 1 or more: {ended_ttl!r}")
        if type(max_retries) is not int or max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries!r}")
        if type(token_ttl) is not int or token_ttl < 1:
            raise ValueError(f"token_ttl must be whole seconds, 1 or more: {token_ttl!r}")
        if not isinstance(journal, bool):
            raise ValueError(f"journal must be True or False, not {journal!r}")
        if not isinstance(group, str) or not group:
            raise ValueError(f"group must be a non-empty name, not {group!r}")
        keys = Keys(check_prefix(prefix), check_shards(shards))
        self._client = client
        self._options = Options(keys, ended_ttl, journal, max_retries, token_ttl)
        self._shard = itertools.count()  # where the next claim starts looking
        self.group = group
        """The Redis consumer group the journal's consumers share."""

    @property
    def prefix(self) -> str:
        """The text every key's hash tag starts with."""
        return self._options.keys.prefix

    @property
    def shards(self) -> int:
        """How many shards (hash tags) the calls are spread over."""
        return self._options.keys.shards

    @property
    def ended_ttl(self) -> int | None:
        """Seconds an ended call (and its links) is kept; ``None``: kept until deleted."""
        return self._options.ended_ttl

    @property
    def max_retries(self) -> int:
        """How many times one ``apply`` retries after losing a race, before it gives up."""
        return self._options.max_retries

    @property
    def journaled(self) -> bool:
        """Whether each step's milestones are written to the journal."""
        return self._options.journaled

    @property
    def conflicts(self) -> int:
        """How many times a write lost a race to another writer and was retried."""
        return self._options.conflicts

    def call_key(self, call_id: str) -> str:
        """The key that holds call ``call_id``'s snapshot."""
        return self._options.keys.call(call_id)

    def link_key(self, consultation_id: str) -> str:
        """The key that holds the id of the primary call linked to ``consultation_id``."""
        return self._options.keys.link(consultation_id)

    def _item(self, call_id: str, event: Event, token: str | None) -> Item:
        if token is not None:
            check_token(token)
        return Item(call_id, event, token)

    def _claim(self, consumer: str, limit: int, idle: float) -> reads.Rounds[list[JournalEntry]]:
        check_claim(consumer, limit, idle)
        start = next(self._shard) % self.shards
        return reads.claim(self._options, self.group, consumer, limit, float(idle), start)

    def _unheard(self, seconds: float, limit: int) -> reads.Rounds[list[Call]]:
        check_limit(limit)
        return reads.unheard(self._options, check_seconds("seconds", seconds), limit)

    def _in_flight(self, limit: int) -> reads.Rounds[list[Call]]:
        check_limit(limit)
        return reads.calls_in_flight(self._options, limit)


def _result(result: Step | BaseException) -> Step:
    if isinstance(result, BaseException):
        raise result
    return result


class RedisStore(_Base["redis.Redis | redis.cluster.RedisCluster"]):
    """Calls kept in Redis, for bots whose processes (or machines) share one server or Cluster.

    ``client`` is a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (not
    closed by the store). ``prefix`` starts every key's hash tag (no braces);
    ``shards`` (default 16) spreads the calls over that many hash tags: keep
    it for the life of the data. ``ended_ttl`` (whole seconds, or ``None``) is
    how long an ended call is kept; ``max_retries`` bounds the retries of one
    ``apply`` that keeps losing races. ``journal=True`` records each step's
    milestones in the same script, in a stream per shard that the consumer
    ``group`` drains (:meth:`claim_journal`). ``token_ttl`` is how long a
    write with milestones stays answerable by :meth:`landed`.
    """

    def _drive(self, rounds: Generator[list[Command], list[Any], _T]) -> _T:
        """Run ``rounds``, each round one pipeline (one round trip)."""
        try:
            commands = next(rounds)
            while True:
                try:
                    replies = self._send(commands)
                except CONNECTION_ERRORS as error:
                    commands = rounds.throw(error)
                else:
                    commands = rounds.send(replies)
        except StopIteration as stop:
            value: _T = stop.value
            return value

    def _send(self, commands: list[Command]) -> list[Any]:
        """One round trip (and one more, rarely, for scripts a server did not know)."""
        replies = self._pipeline(commands)
        unknown = unknown_scripts(replies)
        if unknown:
            again = [by_text(commands[i]) for i in unknown]
            try:
                resent = self._pipeline(again)
            except CONNECTION_ERRORS as error:  # the first round's replies stand
                resent = [error] * len(again)
            for i, reply in zip(unknown, resent, strict=True):
                replies[i] = reply
        return replies

    def _pipeline(self, commands: list[Command]) -> list[Any]:
        client = self._client
        if len(commands) == 1:
            try:
                return [client.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
            except ResponseError as error:
                return [error]
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies

    def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """Step call ``call_id`` with ``event``, atomically (a new call starts empty).

        ``token`` names the write for :meth:`landed` (one is made when it has
        milestones and none is given). Raises :class:`~transfer_fsm.SnapshotError`
        naming the call, changing nothing, when its stored snapshot is corrupt;
        :class:`~transfer_fsm.store.ConflictError` past ``max_retries``;
        :class:`UnknownOutcomeError` when the connection failed on the write's way.
        """
        (result,) = self._drive(applying(self._options, [self._item(call_id, event, token)]))
        return _result(result)

    def apply_many(self, items: Iterable[tuple[str, Event]]) -> list[Step | BaseException]:
        """Apply each ``(call_id, event)`` in order, pipelined: one round trip for them all
        when nothing races. Each gets its own step, or the error :meth:`apply` would raise."""
        batch = [self._item(call_id, event, None) for call_id, event in items]
        return self._drive(applying(self._options, batch))

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call.

        Raises :class:`~transfer_fsm.store.BodyError` after applying every
        other call's events when some calls' snapshots are corrupt.
        """
        return apply_each(body, self.apply)

    def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen (or expired, or deleted)."""
        return self._drive(reads.get(self._options, call_id))

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        return self._drive(reads.link(self._options, call_id))

    def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """The milestone keys the write named ``token`` committed to ``call_id``; ``()``
        when it did not land or committed none (applying its event again is then safe)."""
        return self._drive(reads.landed(self._options, call_id, token))

    def in_flight(self, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls with an attempt requested, transferring or accepted."""
        return self._drive(self._in_flight(limit))

    def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls no event reached for more than ``seconds`` (by the
        server's clock), oldest first."""
        return self._drive(self._unheard(seconds, limit))

    def delete(self, call_id: str) -> bool:
        """Forget the call, its indexes and the links its requests made; ``False`` if unknown."""
        return self._drive(reads.delete(self._options, call_id))

    def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """Hand up to ``limit`` journal entries to ``consumer``: those it holds itself (an
        instance restarted under its name takes them back), those no consumer holds, and
        those another consumer has held for ``idle`` seconds without acknowledging them."""
        return self._drive(self._claim(consumer, limit, idle))

    def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """Remove acted-on ``entries`` from the journal; return how many were still there."""
        return self._drive(reads.ack(self._options, self.group, entries))


class AsyncRedisStore(_Base["redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"]):
    """:class:`RedisStore` for asyncio bots: the same keys, options and behaviour.

    ``client`` is a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``
    (not closed by the store). Applies awaited at the same time are sent
    together: every apply waiting while a round trip is out goes in the next
    pipeline, each still getting its own step.
    """

    def __init__(self, client: Any, **options: Any) -> None:
        super().__init__(client, **options)
        self._waiting: list[tuple[Item, asyncio.Future[Step]]] = []
        self._pending: dict[tuple[str, str], asyncio.Future[Step]] = {}
        self._flusher: asyncio.Future[None] | None = None

    async def _drive(self, rounds: Generator[list[Command], list[Any], _T]) -> _T:
        try:
            commands = next(rounds)
            while True:
                try:
                    replies = await self._send(commands)
                except CONNECTION_ERRORS as error:
                    commands = rounds.throw(error)
                else:
                    commands = rounds.send(replies)
        except StopIteration as stop:
            value: _T = stop.value
            return value

    async def _send(self, commands: list[Command]) -> list[Any]:
        """One round trip (and one more, rarely, for scripts a server did not know)."""
        replies = await self._pipeline(commands)
        unknown = unknown_scripts(replies)
        if unknown:
            again = [by_text(commands[i]) for i in unknown]
            try:
                resent = await self._pipeline(again)
            except CONNECTION_ERRORS as error:  # the first round's replies stand
                resent = [error] * len(again)
            for i, reply in zip(unknown, resent, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, commands: list[Command]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """Step call ``call_id`` with ``event``, atomically (see :meth:`RedisStore.apply`).

        A cancelled await does not withdraw the write, which may still land:
        pass a ``token`` and ask :meth:`landed` after, which first waits for
        this store's own pending write of that token.
        """
        item = self._item(call_id, event, token)
        settled: asyncio.Future[Step] = asyncio.get_running_loop().create_future()
        settled.add_done_callback(_retrieved)  # a cancelled caller never reads it
        self._waiting.append((item, settled))
        if token is not None:
            self._pending[(call_id, token)] = settled
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await asyncio.shield(settled)

    async def _flush(self) -> None:
        """Send the waiting applies, a pipeline at a time, until none waits."""
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._drive(applying(self._options, [item for item, _ in batch]))
            except BaseException as error:
                self._settle(batch, [error] * len(batch))
                raise
            self._settle(batch, results)

    def _settle(
        self, batch: list[tuple[Item, asyncio.Future[Step]]], results: list[Step | BaseException]
    ) -> None:
        """Hand each apply its result; forget the pending tokens."""
        for (item, settled), result in zip(batch, results, strict=True):
            if item.token is not None:
                self._pending.pop((item.call_id, item.token), None)
            if isinstance(result, BaseException):
                settled.set_exception(result)
            else:
                settled.set_result(result)

    async def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call (see
        :meth:`RedisStore.apply_body`)."""
        return await apply_each_async(body, self.apply)

    async def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen (or expired, or deleted)."""
        return await self._drive(reads.get(self._options, call_id))

    async def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        return await self._drive(reads.link(self._options, call_id))

    async def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """See :meth:`RedisStore.landed`; first waits for this store's own pending write
        named ``token`` (an apply whose caller was cancelled), so the answer is final."""
        pending = self._pending.get((call_id, token))
        if pending is not None:
            await asyncio.wait([pending])
        return await self._drive(reads.landed(self._options, call_id, token))

    async def in_flight(self, limit: int = 1000) -> list[Call]:
        """See :meth:`RedisStore.in_flight`."""
        return await self._drive(self._in_flight(limit))

    async def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """See :meth:`RedisStore.unheard`."""
        return await self._drive(self._unheard(seconds, limit))

    async def delete(self, call_id: str) -> bool:
        """See :meth:`RedisStore.delete`."""
        return await self._drive(reads.delete(self._options, call_id))

    async def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """See :meth:`RedisStore.claim_journal`."""
        return await self._drive(self._claim(consumer, limit, idle))

    async def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """See :meth:`RedisStore.ack_journal`."""
        return await self._drive(reads.ack(self._options, self.group, entries))


def _retrieved(settled: asyncio.Future[Step]) -> None:
    """Mark an apply's error as read, so that a cancelled caller leaves no warning."""
    if not settled.cancelled():
        settled.exception()
