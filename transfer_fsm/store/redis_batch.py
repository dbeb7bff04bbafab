"""The applies of :mod:`transfer_fsm.store.redis`, as rounds of commands (no I/O here).

:func:`applying` is a generator, written once for both faces of the store: it
yields the commands of one round trip (a list of ``execute_command``
arguments), is sent their replies (a reply that is an error comes as the
exception), and returns each item's :class:`~transfer_fsm.Step` or error. The
synchronous face sends each round with one pipeline, the asyncio face with
one awaited pipeline holding every apply waiting at that moment.

One apply is a compare-and-set of the call (:data:`~.redis_keys.APPLY`):
the store steps the call as it believes it is stored (what it last read or
wrote, or "absent" for a call it never saw) and asks Redis to write the
result only if the call is still stored so. When it is not, the script
answers what is stored, and the step is worked out again from that: a step is
reported only by the writer whose write landed. A believed state that was
read (not assumed) and proves stale is a lost race, counted in ``conflicts``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Generator, Sequence
from contextlib import suppress
from functools import cache
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..events import Event
from ..report import Step
from ..snapshot import SnapshotError
from ..values import Call, CallState
from .core import ConflictError, SnapshotCache, advance, encode
from .encoding import fast_encode
from .interface import in_flight, journal_rows
from .redis_keys import APPLY, IF_LINKED, Keys

Command = tuple[Any, ...]
"""One Redis command and its arguments, as ``execute_command`` takes them."""

Round = Generator[list[Command], list[Any], list["Step | BaseException"]]
"""Rounds of commands, sent their replies; returns each item's step or error."""

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError)

_TERMINATED = CallState.TERMINATED


class UnknownOutcomeError(RedisConnectionError):
    """The connection failed while the write was on its way: it may or may not have landed.

    ``call_id`` is the call, ``step`` the step the write would report had it
    landed, ``token`` the write's name. The store does not retry. Once the
    server answers, ``store.landed(call_id, token)`` tells whether it did: it
    answers the milestone keys the write committed (act on ``step``'s
    milestones then), or ``()`` (apply the event again: a write that landed
    with no milestones makes that a harmless duplicate). Sound however many
    other writers step the call meanwhile. A
    ``redis.exceptions.ConnectionError``, so handlers of that catch it.
    """

    def __init__(self, call_id: str, step: Step, token: str) -> None:
        self.call_id = call_id
        self.step = step
        self.token = token
        super().__init__(
            f"call {call_id!r}: the connection failed during the write of its step "
            f"({step.outcome.value}, milestones {[m.value for m in step.milestones]}, "
            f"token {token!r}); the write may or may not have landed"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.call_id, self.step, self.token))


class Options:
    """What the applies need of their store: keys, expiry, journal, bounds, its cache."""

    __slots__ = (
        "cache",
        "conflicts",
        "ended_ttl",
        "journaled",
        "keys",
        "max_retries",
        "token_ttl",
    )

    def __init__(
        self,
        keys: Keys,
        ended_ttl: int | None,
        journaled: bool,
        max_retries: int,
        token_ttl: int,
    ) -> None:
        self.keys = keys
        self.ended_ttl = ended_ttl
        self.journaled = journaled
        self.max_retries = max_retries
        self.token_ttl = token_ttl
        self.cache = SnapshotCache()
        self.conflicts = 0


def evalsha(script: str, keys: Sequence[str], args: Sequence[object]) -> Command:
    """The command running ``script`` on ``keys`` with ``args``, by its SHA-1 (a server
    that does not know it is sent the text once, see :func:`by_text`)."""
    return ("EVALSHA", sha1(script), len(keys), *keys, *args)


_TEXTS: dict[str, str] = {}
"""Each script this module runs, by its SHA-1."""


@cache
def sha1(script: str) -> str:
    """The SHA-1 Redis names ``script`` by."""
    digest = hashlib.sha1(script.encode()).hexdigest()
    _TEXTS[digest] = script
    return digest


def unknown_scripts(replies: list[Any]) -> list[int]:
    """Where a server answered that it does not know the script (it restarted, say)."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def by_text(command: Command) -> Command:
    """``EVALSHA`` as ``EVAL`` with the script's text (which the server then keeps)."""
    return ("EVAL", _TEXTS[command[1]], *command[2:])


class Item:
    """One apply in a batch, across the rounds it takes."""

    __slots__ = ("call_id", "event", "new", "raw", "read", "result", "retries", "step", "token")

    def __init__(self, call_id: str, event: Event, token: str | None) -> None:
        self.call_id = call_id
        self.event = event
        self.token = token
        self.raw: bytes | str = b""  # the call as believed stored when planned
        self.read = False  # whether the belief was read (a stale reply), not assumed
        self.retries = 0
        self.result: Step | BaseException | None = None
        self.step: Step | None = None
        self.new: tuple[bytes, Call] | None = None


def applying(options: Options, items: list[Item]) -> Round:
    """Apply ``items`` in rounds (see the module docstring); returns their results, in order.

    A connection failure settles only the items whose commands were on their way
    (an unknown outcome for a write, the error itself for a check); the items
    settled in earlier rounds keep their steps, and the items of later calls are
    not sent.
    """
    waiting = list(items)
    while waiting:
        ready: list[Item] = []
        later: list[Item] = []
        seen: set[str] = set()
        for item in waiting:  # one apply per call per round, in the order they came
            (later if item.call_id in seen else ready).append(item)
            seen.add(item.call_id)
        commands, links = _plans(options, ready)
        planned = [item for item in ready if item.result is None]
        if not planned:
            waiting = later
            continue
        try:
            if links:
                yield links  # before the scripts: a link never lags its request
        except CONNECTION_ERRORS as error:
            _fail_all(planned + later, error)  # no script was sent
            break
        try:
            replies = yield commands
        except CONNECTION_ERRORS as error:
            for item in planned:
                item.result = _unknown(item, error)
            _fail_all(later, error)
            break
        expiries = [cmd for item, reply in zip(planned, replies, strict=True)
                    for cmd in _settle(options, item, reply)]  # fmt: skip
        if expiries:
            with suppress(*CONNECTION_ERRORS):  # best effort: a link missing it is kept
                yield expiries
        waiting = [item for item in ready if item.result is None] + later
    return [item.result for item in items]  # type: ignore[misc]


def _fail_all(items: list[Item], error: BaseException) -> None:
    """Items not sent when the connection failed: the client's error, nothing written."""
    for item in items:
        if item.result is None:
            item.result = error


def _unknown(item: Item, error: BaseException) -> BaseException:
    """What a connection failure means for an item whose command was on its way."""
    if item.new is None or item.step is None or item.token is None:
        return error  # a check writes nothing that matters: nothing was written
    unknown = UnknownOutcomeError(item.call_id, item.step, item.token)
    unknown.__cause__ = error
    return unknown


def _plans(options: Options, ready: list[Item]) -> tuple[list[Command], list[Command]]:
    """The script of each ready item (and the links to write first); failures settle it."""
    commands: list[Command] = []
    links: list[Command] = []
    keys = options.keys
    for item in ready:
        try:
            command, link = _plan(options, item)
        except Exception as error:  # a corrupt snapshot, an event about another call
            item.result = error
            continue
        commands.append(command)
        if link is not None:  # the link, and the primary's record of it (for delete, expiry)
            links.append(("SET", keys.link(link), item.call_id))
            links.append(("SADD", keys.legs(item.call_id), link))
    return commands, links


def _belief(options: Options, item: Item) -> Call | None:
    """The call as the item believes it stored: what the store last read or wrote of it
    (a reply to this item included), or absent for a call it never saw."""
    if not item.read:
        last = options.cache.last(item.call_id)
        item.raw = b"" if last is None else last[0]
        if last is not None:
            return last[1]
    return options.cache.decode(item.call_id, item.raw) if item.raw else None


def _plan(options: Options, item: Item) -> tuple[Command, str | None]:
    """Step the call as believed stored; the compare-and-set writing the result."""
    call_id, keys = item.call_id, options.keys
    stored = _belief(options, item)
    change = advance(call_id, stored, item.event)
    step, write = change.step, change.write
    item.step = step
    shard = keys.shard(call_id)
    if write is None:
        item.new = None
        live = stored is not None and stored[1] is not _TERMINATED
        args: list[object] = [call_id, item.raw, "", "", "", "1" if live else "0"]
        args += ["", "", "", "", ""]
        script_keys = _script_keys(keys, call_id, shard, "-")
        return evalsha(APPLY, script_keys, args), None
    if item.token is None:
        item.token = uuid.uuid4().hex  # every write is named: an unknown outcome can be asked
    rows = journal_rows(step)
    raw = fast_encode(write) or encode(write)
    item.new = (raw, write)
    ended = write[1] is _TERMINATED
    ttl = options.ended_ttl if ended else None
    args = [
        call_id,
        item.raw,
        raw,
        "" if ttl is None else ttl,
        "1" if in_flight(write) else "0",
        "0" if ended else "1",
        change.link or "",
        options.token_ttl,
        "1" if options.journaled else "0",
        "\n".join(key for _, key in rows),
        uuid.uuid4().hex,  # this write's nonce: its resend, and no other write, finds it landed
    ]
    if options.journaled:
        args += [value for row in rows for value in row]
    script_keys = _script_keys(keys, call_id, shard, item.token)
    return evalsha(APPLY, script_keys, args), change.link


def _script_keys(keys: Keys, call_id: str, shard: int, token: str) -> tuple[str, ...]:
    return (
        keys.call(call_id),
        keys.journal(shard),
        keys.in_flight(shard),
        keys.heard(shard),
        keys.legs(call_id),
        keys.written(call_id, token),
    )


def _settle(options: Options, item: Item, reply: Any) -> list[Command]:
    """Take one script's reply: done, stale (step again), or failed. The link expiries due."""
    if isinstance(reply, CONNECTION_ERRORS):  # a Cluster pipeline's, after its own retries
        item.result = _unknown(item, reply)
        return []
    if isinstance(reply, BaseException):
        item.result = corrupt(item.call_id, reply)
        return []
    if reply[0] == 0:
        _stale(options, item, reply[1])
        return []
    if item.new is not None:
        options.cache.keep(item.call_id, *item.new)
    item.result = item.step
    legs = reply[1] if len(reply) > 1 else ()
    ttl = options.ended_ttl
    return [
        evalsha(IF_LINKED, (options.keys.link(text(leg)),), (item.call_id, ttl)) for leg in legs
    ]


def corrupt(call_id: str, error: BaseException) -> BaseException:
    """A command about a call that failed: a key of another type under the call's name is
    a corrupt snapshot of that call; any other error is Redis's own."""
    if isinstance(error, ResponseError) and str(error).startswith("WRONGTYPE"):
        found = "a Redis value of another type"
        return SnapshotError("$", "a snapshot (a Redis string)", found, call_id)
    return error


def _stale(options: Options, item: Item, current: bytes | str) -> None:
    """The call is not stored as believed: believe what is (a belief that had been read
    and proved stale is a lost race, counted; past ``max_retries``, a ConflictError)."""
    if item.read or item.raw:
        if item.retries >= options.max_retries:
            item.result = ConflictError(item.call_id, item.retries + 1)
            return
        item.retries += 1
        options.conflicts += 1
    item.raw = current
    item.read = True


def text(value: bytes | str) -> str:
    """A value read from Redis as text (clients may or may not decode responses)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
