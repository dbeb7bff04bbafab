"""The store's other requests as rounds of commands: journal, indexes, links, deletes.

Like :func:`~.redis_batch.applying`, each function here is a generator that
yields the commands of one round trip, is sent their replies (an error reply
as the exception) and returns the answer, so the synchronous and the asyncio
faces of :mod:`transfer_fsm.store.redis` share every line of it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from ..values import Call, CallState, Milestone
from .core import Link, link_of
from .interface import JournalEntry, check_token, entry_ids, in_flight
from .redis_batch import Command, Options, corrupt, evalsha, text
from .redis_keys import DELETE, IF_LINKED, OLDEST

_T = TypeVar("_T")
Rounds = Generator[list[Command], list[Any], _T]

_CLAIM_SCANS = 10
"""How many XAUTOCLAIM pages one shard's claim looks through for idle entries."""


def one(command: Command) -> Generator[list[Command], list[Any], Any]:
    """One command's reply (raised when it is an error)."""
    (reply,) = yield [command]
    if isinstance(reply, BaseException):
        raise reply
    return reply


def get(options: Options, call_id: str) -> Rounds[Call | None]:
    """The stored call."""
    try:
        raw = yield from one(("GET", options.keys.call(call_id)))
    except ResponseError as error:
        raise corrupt(call_id, error) from error
    return options.cache.decode(call_id, raw)


def link(options: Options, call_id: str) -> Rounds[Link | None]:
    """The consultative transfer ``call_id`` is part of, from either call's id."""
    keys = options.keys
    raw, linked = yield [("GET", keys.call(call_id)), ("GET", keys.link(call_id))]
    for reply in (raw, linked):
        if isinstance(reply, BaseException):
            raise corrupt(call_id, reply)
    call, primary = options.cache.decode(call_id, raw), None
    if linked is not None:
        primary_id = text(linked)
        primary = yield from get(options, primary_id)
    return link_of(call_id, call, primary)


def landed(options: Options, call_id: str, token: str) -> Rounds[tuple[str, ...]]:
    """The milestone keys the write named ``token`` committed, ``()`` if none."""
    check_token(token)
    recorded = yield from one(("GET", options.keys.written(call_id, token)))
    return () if recorded is None else tuple(text(recorded).split("\n")[1:])


def delete(options: Options, call_id: str) -> Rounds[bool]:
    """Forget a call, its index entries, and the links its requests made."""
    keys = options.keys
    shard = keys.shard(call_id)
    script_keys = (keys.call(call_id), keys.in_flight(shard), keys.heard(shard), keys.legs(call_id))
    existed, legs = yield from one(evalsha(DELETE, script_keys, (call_id,)))
    options.cache.forget(call_id)
    if legs:
        unlink = [evalsha(IF_LINKED, (keys.link(text(leg)),), (call_id, "")) for leg in legs]
        yield unlink
    return bool(existed)


def calls_in_flight(options: Options, limit: int) -> Rounds[list[Call]]:
    """Up to ``limit`` live calls with an attempt in flight, the longest in flight first."""
    found = yield from _oldest(options, options.keys.in_flight, 0.0, limit)
    calls = yield from _read_calls(options, found)
    return [call for call in calls if in_flight(call)]


def unheard(options: Options, seconds: float, limit: int) -> Rounds[list[Call]]:
    """Up to ``limit`` live calls not heard from for ``seconds``, oldest first."""
    found = yield from _oldest(options, options.keys.heard, seconds, limit)
    calls = yield from _read_calls(options, found)
    return [call for call in calls if call.state is not CallState.TERMINATED]


def _oldest(
    options: Options, index: Callable[[int], str], seconds: float, limit: int
) -> Rounds[list[str]]:
    """The ``limit`` oldest call ids of a sorted index over every shard, older than ``seconds``."""
    scripts = [
        evalsha(OLDEST, (index(shard),), (repr(seconds), limit))
        for shard in range(options.keys.shards)
    ]
    replies = yield scripts
    found: list[tuple[float, str]] = []
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
        found += [(float(reply[i + 1]), text(reply[i])) for i in range(0, len(reply), 2)]
    found.sort()
    return [call_id for _, call_id in found[:limit]]


def _read_calls(options: Options, call_ids: list[str]) -> Rounds[list[Call]]:
    """The stored calls of ``call_ids`` (those still stored), in that order: one round."""
    if not call_ids:
        return []
    replies = yield [("GET", options.keys.call(call_id)) for call_id in call_ids]
    calls = []
    for call_id, raw in zip(call_ids, replies, strict=True):
        if isinstance(raw, BaseException):
            raise corrupt(call_id, raw)
        call = options.cache.decode(call_id, raw)
        if call is not None:
            calls.append(call)
    return calls


def claim(
    options: Options, group: str, consumer: str, limit: int, idle: float, start: int
) -> Rounds[list[JournalEntry]]:
    """Up to ``limit`` entries handed to ``consumer``, shard by shard from ``start``."""
    shards = options.keys.shards
    entries: list[JournalEntry] = []
    for step in range(shards):
        if len(entries) >= limit:
            break
        shard = (start + step) % shards
        entries += yield from _claim_shard(
            options, group, consumer, limit - len(entries), idle, shard
        )
    return entries


def _claim_shard(
    options: Options, group: str, consumer: str, count: int, idle: float, shard: int
) -> Rounds[list[JournalEntry]]:
    """One shard's entries for ``consumer``: those it already holds (a restarted instance
    gets them back at once), then idle ones another consumer held, then new ones."""
    key = options.keys.journal(shard)
    entries = yield from _read_group(key, shard, group, consumer, count, "0")
    cursor: Any = "0-0"
    for _ in range(_CLAIM_SCANS):
        if len(entries) >= count:
            break
        wanted = count - len(entries)
        command: Command = (
            "XAUTOCLAIM",
            key,
            group,
            consumer,
            int(idle * 1000),
            cursor,
            "COUNT",
            wanted,
        )
        reply = yield from _grouped(key, group, command)
        cursor = reply[0]
        held = {entry.id for entry in entries}
        entries += [entry for entry in _entries(shard, reply[1]) if entry.id not in held]
        if text(cursor) == "0-0":
            break
    if len(entries) < count:
        entries += yield from _read_group(key, shard, group, consumer, count - len(entries), ">")
    return entries


def _read_group(
    key: str, shard: int, group: str, consumer: str, count: int, since: str
) -> Rounds[list[JournalEntry]]:
    """``XREADGROUP``: the consumer's own held entries (``since`` ``"0"``) or new ones (``">"``)."""
    command: Command = (
        "XREADGROUP",
        "GROUP",
        group,
        consumer,
        "COUNT",
        count,
        "STREAMS",
        key,
        since,
    )
    reply = yield from _grouped(key, group, command)
    if isinstance(reply, dict):  # RESP3: {stream: [messages]}
        streams = [messages for value in reply.values() for messages in value]
    else:  # RESP2: [[stream, messages]]
        streams = [messages for _, messages in reply or ()]
    return [entry for messages in streams for entry in _entries(shard, messages)]


def _grouped(key: str, group: str, command: Command) -> Generator[list[Command], list[Any], Any]:
    """``command``'s reply, creating the consumer group (and stream) if it is missing."""
    try:
        return (yield from one(command))
    except ResponseError as error:
        if not str(error).startswith("NOGROUP"):
            raise
    try:
        yield from one(("XGROUP", "CREATE", key, group, "0", "MKSTREAM"))
    except ResponseError as error:
        if not str(error).startswith("BUSYGROUP"):  # another consumer made it first
            raise
    return (yield from one(command))


def _entries(shard: int, messages: Iterable[Any]) -> list[JournalEntry]:
    """Stream messages (``[id, [field, value, ...]]``) as journal entries."""
    entries = []
    for message_id, fields in messages:
        if fields is None:
            continue  # deleted meanwhile
        if isinstance(fields, dict):
            values = {text(k): text(v) for k, v in fields.items()}
        else:
            values = {text(fields[i]): text(fields[i + 1]) for i in range(0, len(fields), 2)}
        entries.append(
            JournalEntry(
                f"{shard}:{text(message_id)}",
                values["call_id"],
                Milestone(values["milestone"]),
                values["key"],
            )
        )
    return entries


def ack(options: Options, group: str, entries: Iterable[JournalEntry]) -> Rounds[int]:
    """Remove ``entries`` from the journal; how many were still there."""
    by_shard: dict[int, list[str]] = {}
    for entry_id in entry_ids(entries):
        number, _, stream_id = entry_id.partition(":")
        if not number.isdigit() or int(number) >= options.keys.shards or not stream_id:
            raise ValueError(f"not an entry id of this store: {entry_id!r}")
        by_shard.setdefault(int(number), []).append(stream_id)
    if not by_shard:
        return 0
    commands: list[Command] = []
    for shard, ids in sorted(by_shard.items()):
        key = options.keys.journal(shard)
        commands += [("XACK", key, group, *ids), ("XDEL", key, *ids)]
    replies = yield commands
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return sum(int(reply) for reply in replies[1::2])
