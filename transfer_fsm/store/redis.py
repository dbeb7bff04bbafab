"""``RedisStore`` and ``AsyncRedisStore``: calls kept in Redis, shared by many processes.

Needs redis-py (``pip install 'transfer-fsm[redis]'``). The store is given a
client (``redis.Redis`` or ``redis.asyncio.Redis``) and never closes it.

Keys, under the store's ``prefix`` (default ``transfer_fsm:``):

- ``{prefix}call:{call_id}``: the call's snapshot (:func:`~transfer_fsm.store.encode`);
- ``{prefix}link:{consultation_id}``: the id of the primary call whose
  consultative transfer request named that consultation call.

``apply`` is optimistic: WATCH the call's key, GET it, step it, and write it
back in one MULTI/EXEC round trip, which Redis refuses if another writer
changed the key since the WATCH; then it reads again and retries (counted in
``conflicts``), at most ``max_retries`` times before raising
:class:`~transfer_fsm.store.ConflictError`. An event that changes nothing
writes nothing. A step whose write Redis refused is never reported: it is
recomputed from what the winner wrote, so each milestone is reported once
across every process sharing the server.

Expiry: with ``ended_ttl`` (seconds), every write of a terminated call sets
that expiry on its key, and on the link its current request made (so the two
go together); a live call and its link never expire. Until it expires the
terminated snapshot is the call's tombstone: a late notification finds the
call ended. After it expired, a late notification starts the call over as a
new one; choose ``ended_ttl`` longer than Graph's redelivery window, or leave
it ``None`` (the default) to keep ended calls until you delete them. A link an
earlier attempt of the same call made (to another consultation call) is not
given the expiry, nor is a link another primary has since taken over (the
expiry is set only while the link still names this call).

Failures: a connection error or timeout before EXEC (on the WATCH, the GET)
raises the client's own ``redis.exceptions.ConnectionError`` (or
``TimeoutError``): nothing was written. One during EXEC raises
:class:`UnknownOutcomeError`: the write may or may not have landed, and the
store does not retry it (a retry would read its own write and report a
duplicate, losing the milestone). A key that is not a Redis string under a
call's name raises :class:`~transfer_fsm.SnapshotError` for that call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, NamedTuple, TypeVar

try:
    import redis
    import redis.asyncio
    from redis.exceptions import ResponseError, WatchError
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "transfer_fsm.store.redis needs redis-py: pip install 'transfer-fsm[redis]'"
    ) from error

from ..events import Event
from ..report import Step
from ..snapshot import SnapshotError
from ..values import Call, CallState
from .core import (
    Body,
    ConflictError,
    Link,
    SnapshotCache,
    advance,
    apply_each,
    apply_each_async,
    decode,
    link_of,
)

__all__ = ["AsyncRedisStore", "RedisStore", "UnknownOutcomeError"]

_TERMINATED = CallState.TERMINATED

_CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
"""What redis-py turns into a ``WatchError`` when it happens while a key is watched."""

_EXPIRE_IF_LINKED = (
    "if redis.pcall('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
)
"""EXPIRE the link ``KEYS[1]`` only while it names primary ``ARGV[1]`` (``ARGV[2]``: seconds)."""


class UnknownOutcomeError(redis.exceptions.ConnectionError):
    """The connection failed during the write (EXEC): it may or may not have landed.

    ``call_id`` is the call; ``step`` the step the write would have reported
    had it landed (``step.call`` the call it wrote). The store does not retry:
    compare ``store.get(call_id)`` with ``step.call`` once the server answers,
    or let Graph redeliver (a landed write makes the redelivery a duplicate).
    A ``redis.exceptions.ConnectionError``, so handlers of that catch it.
    """

    def __init__(self, call_id: str, step: Step) -> None:
        self.call_id = call_id
        self.step = step
        super().__init__(
            f"call {call_id!r}: the connection failed during the write of its step "
            f"({step.outcome.value}, milestones {[m.value for m in step.milestones]}); "
            "the write may or may not have landed"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.call_id, self.step))


Command = tuple[Any, ...]
"""One Redis command and its arguments, as ``execute_command`` takes them."""

ClientT = TypeVar("ClientT", "redis.Redis", "redis.asyncio.Redis")


class _Plan(NamedTuple):
    """What one attempt at applying an event decided, from the call as read."""

    step: Step
    writes: list[Command] | None
    """The commands to run between MULTI and EXEC; ``None``: nothing to write."""


class _Base(Generic[ClientT]):
    """What both faces share: options, key names, the writes of a change, the retry bound."""

    __slots__ = (
        "_cache",
        "_client",
        "_conflicts_lock",
        "conflicts",
        "ended_ttl",
        "max_retries",
        "prefix",
    )

    def __init__(
        self,
        client: ClientT,
        *,
        prefix: str = "transfer_fsm:",
        ended_ttl: int | None = None,
        max_retries: int = 100,
    ) -> None:
        if ended_ttl is not None and (type(ended_ttl) is not int or ended_ttl < 1):
            raise ValueError(f"ended_ttl must be None or whole seconds, 1 or more: {ended_ttl!r}")
        if type(max_retries) is not int or max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries!r}")
        self._client: ClientT = client
        self.prefix = prefix
        """Prepended to every key the store reads and writes."""
        self.ended_ttl = ended_ttl
        """Seconds an ended call (and its link) is kept; ``None``: kept until deleted."""
        self.max_retries = max_retries
        """How many times one ``apply`` retries after losing a race, before it gives up."""
        self.conflicts = 0
        """How many times a write lost a race to another writer and was retried."""
        self._conflicts_lock = threading.Lock()  # threads sharing the store count every loss
        self._cache = SnapshotCache()  # what this store last read or wrote, decoded

    def call_key(self, call_id: str) -> str:
        """The key that holds call ``call_id``'s snapshot."""
        return f"{self.prefix}call:{call_id}"

    def link_key(self, consultation_id: str) -> str:
        """The key that holds the id of the primary call linked to ``consultation_id``."""
        return f"{self.prefix}link:{consultation_id}"

    def _plan(self, call_id: str, key: str, raw: bytes | str | None, event: Event) -> _Plan:
        """Step the call read as ``raw``; the commands that write the result, if any.

        Raises :class:`~transfer_fsm.SnapshotError` (naming the call) when
        ``raw`` is not its snapshot: nothing is written then.
        """
        change = advance(call_id, self._cache.decode(call_id, raw), event)
        call = change.write
        if call is None:
            return _Plan(change.step, None)
        ttl = self.ended_ttl if call.state is _TERMINATED else None
        expiry: Command = () if ttl is None else ("EX", ttl)
        writes: list[Command] = [("SET", key, self._cache.encode(call_id, call), *expiry)]
        if change.link is not None:
            writes.append(("SET", self.link_key(change.link), call_id, *expiry))
        elif ttl is not None:
            leg = _requested_leg(call)
            if leg is not None:
                writes.append(("EVAL", _EXPIRE_IF_LINKED, 1, self.link_key(leg), call_id, ttl))
        return _Plan(change.step, writes)

    def _lost(self, call_id: str, plan: _Plan, retries: int, error: WatchError) -> int:
        """Count a lost race and return the retries made so far; give up past the bound.

        A ``WatchError`` redis-py made of a connection failure during EXEC is
        no lost race: :class:`UnknownOutcomeError` then.
        """
        failure = _connection_failure(error)
        if failure is not None:
            raise UnknownOutcomeError(call_id, plan.step) from failure
        if retries >= self.max_retries:
            raise ConflictError(call_id, retries + 1)
        with self._conflicts_lock:
            self.conflicts += 1
        return retries + 1


@contextmanager
def _reading(call_id: str) -> Iterator[None]:
    """Around the reads of call ``call_id`` (before any write): what fails, as it is.

    A connection failure redis-py turned into a ``WatchError`` (the key was
    watched) is raised as that connection error, not as a conflict: nothing
    was written. A key of another type than a string is a corrupt snapshot.
    """
    try:
        yield
    except WatchError as error:
        failure = _connection_failure(error)
        if failure is None:
            raise
        raise failure from None
    except ResponseError as error:
        if not str(error).startswith("WRONGTYPE"):
            raise
        found = "a Redis value of another type"
        raise SnapshotError("$", "a snapshot (a Redis string)", found, call_id) from error


def _connection_failure(error: WatchError) -> BaseException | None:
    """The connection error or timeout redis-py turned into ``error``, if it did."""
    for cause in (error.__cause__, error.__context__):
        if isinstance(cause, _CONNECTION_ERRORS):
            return cause
    return None


def _text(value: bytes | str | None) -> str | None:
    """A value read from Redis as text (clients may or may not decode responses)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _requested_leg(call: Call) -> str | None:
    """The consultation call the current attempt's request names, if any."""
    attempt = call.transfer
    if attempt is None or attempt.request is None:
        return None
    return attempt.request.replaces_call_id


class RedisStore(_Base["redis.Redis"]):
    """Calls kept in Redis, for bots whose processes (or machines) share one server.

    ``client`` is a ``redis.Redis`` (the caller's: the store does not close
    it); ``prefix`` is prepended to every key; ``ended_ttl`` (whole seconds,
    or ``None``) is how long an ended call is kept; ``max_retries`` bounds the
    retries of one ``apply`` that keeps losing races. See the module docstring
    for the keys and the expiry rule.
    """

    __slots__ = ()

    def apply(self, call_id: str, event: Event) -> Step:
        """Step call ``call_id`` with ``event``, atomically (a new call starts empty).

        One WATCH, one GET, and (when the call changed) one MULTI/SET/EXEC
        round trip; retried on a conflict. Raises
        :class:`~transfer_fsm.SnapshotError` naming the call, changing
        nothing, when its stored snapshot is corrupt, and
        :class:`~transfer_fsm.store.ConflictError` past ``max_retries``.
        """
        key = self.call_key(call_id)
        retries = 0
        while True:
            with self._client.pipeline() as pipe:
                with _reading(call_id):
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    plan = self._plan(call_id, key, pipe.get(key), event)
                    if plan.writes is None:
                        pipe.unwatch()
                        return plan.step
                pipe.multi()
                for command in plan.writes:
                    pipe.execute_command(*command)  # type: ignore[no-untyped-call]
                try:
                    pipe.execute()
                except WatchError as error:
                    retries = self._lost(call_id, plan, retries, error)
                    continue
                return plan.step

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call.

        Raises :class:`~transfer_fsm.store.BodyError` after applying every
        other call's events when some calls' snapshots are corrupt.
        """
        return apply_each(body, self.apply)

    def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen (or expired)."""
        with _reading(call_id):
            raw: bytes | str | None = self._client.get(self.call_key(call_id))
        return decode(call_id, raw)

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        raw, linked = self._client.mget(self.call_key(call_id), self.link_key(call_id))
        call, primary_id, primary = decode(call_id, raw), _text(linked), None
        if primary_id is not None:
            with _reading(primary_id):
                raw = self._client.get(self.call_key(primary_id))
            primary = decode(primary_id, raw)
        return link_of(call_id, call, primary)


class AsyncRedisStore(_Base["redis.asyncio.Redis"]):
    """:class:`RedisStore` for asyncio bots: the same keys, options and behaviour.

    ``client`` is a ``redis.asyncio.Redis`` (not closed by the store). Many
    tasks may share one store: each ``apply`` takes its own connection.
    """

    __slots__ = ()

    async def apply(self, call_id: str, event: Event) -> Step:
        """Step call ``call_id`` with ``event``, atomically (see :meth:`RedisStore.apply`)."""
        key = self.call_key(call_id)
        retries = 0
        while True:
            async with self._client.pipeline() as pipe:
                with _reading(call_id):
                    await pipe.watch(key)
                    plan = self._plan(call_id, key, await pipe.get(key), event)
                    if plan.writes is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return plan.step
                pipe.multi()  # type: ignore[no-untyped-call]
                for command in plan.writes:
                    pipe.execute_command(*command)
                try:
                    await pipe.execute()
                except WatchError as error:
                    retries = self._lost(call_id, plan, retries, error)
                    continue
                return plan.step

    async def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call (see
        :meth:`RedisStore.apply_body`)."""
        return await apply_each_async(body, self.apply)

    async def get(self, call_id: str) -> Call | None:
        """The stored call, ``None`` for a call never seen (or expired)."""
        with _reading(call_id):
            raw: bytes | str | None = await self._client.get(self.call_key(call_id))
        return decode(call_id, raw)

    async def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        raw, linked = await self._client.mget(self.call_key(call_id), self.link_key(call_id))
        call, primary_id, primary = decode(call_id, raw), _text(linked), None
        if primary_id is not None:
            with _reading(primary_id):
                raw = await self._client.get(self.call_key(primary_id))
            primary = decode(primary_id, raw)
        return link_of(call_id, call, primary)
