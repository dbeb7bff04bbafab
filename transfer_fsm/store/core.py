"""The read-reduce-write of a store, written once and sans-IO.

Every store does the same thing for one event: read the call's snapshot, step
it, and write the new snapshot back *only if nothing else wrote in between*,
else read again and retry. What differs between stores is only how they read,
write and detect a conflict. This module is the part that does not differ:

- :func:`advance` decides, from the call as read (or ``None`` for a call never
  seen) and the event, the :class:`Change`: the :class:`~transfer_fsm.Step` to
  report, the call to write (``None``: nothing to write) and the consultation
  call to link to it.
- :func:`encode` / :func:`decode` turn a call into the bytes a store keeps
  (its versioned snapshot as compact JSON) and back; a stored value that is
  not a snapshot raises :class:`~transfer_fsm.SnapshotError` naming the call.
- :func:`link_of` answers, from what is stored, which call a consultative
  transfer links to which, and its fate.

A step is reported by the writer whose write landed, and by no other: a writer
that loses the race recomputes its step from what the winner wrote. So each
milestone is reported once across every writer sharing the store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple, NoReturn

from ..events import Event
from ..parse import parse_notifications
from ..reducer import reduce
from ..report import Step, lazy_step
from ..request import consultation_fate
from ..snapshot import SnapshotError
from ..values import Call, CallState, LegFate, describe_value
from .encoding import fast_encode

Body = bytes | str | Mapping[str, object]

_TERMINATED = CallState.TERMINATED
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class Change(NamedTuple):
    """What one event does to a stored call."""

    step: Step
    """What to report (the writer whose write lands reports it)."""
    write: Call | None
    """The call to store, ``None`` when the store already holds it."""
    link: str | None
    """A consultation call id this step's request names: link it to this call."""
    ended: bool
    """This step ended the call (it is now terminated): keep it as a tombstone."""


_change = tuple.__new__  # a Change without NamedTuple's Python-level __new__ (the hot path)


class Link(NamedTuple):
    """The two calls of a consultative transfer, and what the transfer did to the second."""

    primary_id: str
    """The call the bot transferred (its request named the consultation call)."""
    consultation_id: str
    """The call the transfer replaces (``replacesCallId``)."""
    fate: LegFate
    """What the primary call's transfer did to the consultation call."""


class ConflictError(RuntimeError):
    """A store gave up after too many writers raced it for the same call."""

    def __init__(self, call_id: str, attempts: int) -> None:
        self.call_id = call_id
        self.attempts = attempts
        super().__init__(f"call {call_id!r}: still conflicting after {attempts} attempts")


def advance(call_id: str, stored: Call | None, event: Event) -> Change:
    """The change ``event`` makes to the call stored as ``stored`` (``None``: never seen).

    A call never seen starts as ``Call(call_id)`` and is written even when the
    event changes nothing, so the store remembers it heard of the call.
    Raises what :func:`~transfer_fsm.step` raises (``WrongCallError`` for an
    event about another call).
    """
    current = Call(call_id) if stored is None else stored
    new = reduce(current, event)
    done = lazy_step(current, new, event)  # what step(current, event) returns
    if new is current and stored is not None:
        return _change(Change, (done, None, None, False))
    ended = new[1] is _TERMINATED and current[1] is not _TERMINATED
    # A link is new when the attempt's request is new and names a consultation call.
    attempt, before = new[3], current[3]  # the attempts (``transfer``)
    request = None if attempt is None else attempt[4]
    link = (
        request[0]  # its ``replaces_call_id``
        if request is not None and (before is None or before[4] is not request)
        else None
    )
    return _change(Change, (done, new, link, ended))


def link_of(call_id: str, call: Call | None, primary: Call | None) -> Link | None:
    """The consultative transfer ``call_id`` is part of, if any.

    ``call`` is the stored call ``call_id`` (``None`` if unknown) and
    ``primary`` the stored call linked to it as its primary (``None`` if no
    request named ``call_id``). Works from either call's id.
    """
    attempt = None if call is None else call.transfer
    if attempt is not None and attempt.request is not None:
        leg = attempt.request.replaces_call_id
        if leg is not None and call is not None:
            return Link(call_id, leg, consultation_fate(call, leg))
    if primary is not None:
        return Link(primary.call_id, call_id, consultation_fate(primary, call_id))
    return None


def encode(call: Call) -> bytes:
    """The bytes a store keeps for ``call``: its snapshot as compact UTF-8 JSON."""
    return _dumps(call.to_dict()).encode()


def decode(call_id: str, raw: bytes | str | None) -> Call | None:
    """The call stored as ``raw`` (``None``: none stored).

    Raises :class:`~transfer_fsm.SnapshotError`, with ``call_id`` set, when
    ``raw`` is not a snapshot of that call.
    """
    if raw is None:
        return None
    if not isinstance(raw, (bytes, str)):
        raise SnapshotError("$", "a JSON snapshot (bytes or text)", describe_value(raw), call_id)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SnapshotError("$", "a JSON snapshot", f"invalid JSON ({error})", call_id) from None
    except RecursionError:
        raise SnapshotError("$", "a JSON snapshot", "JSON nested too deeply", call_id) from None
    try:
        call = Call.from_dict(data)
    except SnapshotError as error:
        raise SnapshotError(error.path, error.expected, error.found, call_id) from None
    if call.call_id != call_id:
        raise SnapshotError("$.call_id", repr(call_id), repr(call.call_id), call_id)
    return call


class SnapshotCache:
    """The bytes each recently seen call was last read or written as, with its call.

    Decoding is a pure function of the bytes, so a stored value equal to the
    bytes kept for its call needs no decoding: a store that reads back what it
    wrote (one process, or the writer that won) skips the JSON and the checks.
    Bounded: past ``size`` calls, the oldest entry goes. Threads may share it.
    """

    __slots__ = ("_entries", "_lock", "size")

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[str, tuple[bytes | str, Call]] = {}
        self._lock = threading.Lock()

    def decode(self, call_id: str, raw: bytes | str | None) -> Call | None:
        """:func:`decode`, answered from the cache when ``raw`` is the bytes kept."""
        if raw is None:
            if call_id in self._entries:
                self.forget(call_id)  # deleted, or expired
            return None
        entry = self._entries.get(call_id)
        if entry is not None and entry[0] == raw:
            return entry[1]
        call = decode(call_id, raw)
        if call is not None:
            self.keep(call_id, raw, call)
        return call

    def encode(self, call_id: str, call: Call) -> bytes:
        """:func:`encode` (by its fast path when it serves), keeping the bytes for the next read."""
        raw = fast_encode(call) or encode(call)
        self.keep(call_id, raw, call)
        return raw

    def last(self, call_id: str) -> tuple[bytes | str, Call] | None:
        """The bytes ``call_id`` was last read or written as, with its call (if kept)."""
        return self._entries.get(call_id)

    def forget(self, call_id: str) -> None:
        """Keep nothing for ``call_id`` (it was deleted)."""
        with self._lock:
            self._entries.pop(call_id, None)

    def keep(self, call_id: str, raw: bytes | str, call: Call) -> None:
        """Remember that ``call_id`` is stored as ``raw``, which decodes to ``call``."""
        entries = self._entries
        with self._lock:
            entries.pop(call_id, None)  # to the end: the newest
            entries[call_id] = (raw, call)
            if len(entries) > self.size:
                del entries[next(iter(entries))]


class BodyError(SnapshotError):
    """A body some of whose calls could not be applied: their stored snapshots are corrupt.

    Every other call's events were applied: ``steps`` are their steps, in
    order. ``errors`` holds one :class:`SnapshotError` per corrupt call; this
    error's own path and message are the first one's.
    """

    def __init__(self, errors: list[SnapshotError], steps: list[Step]) -> None:
        first = errors[0]
        super().__init__(first.path, first.expected, first.found, first.call_id)
        self.errors = errors
        self.steps = steps


def apply_each(body: Body, apply: Callable[[str, Event], Step]) -> list[Step]:
    """Parse ``body`` and apply each event to its own call (see :class:`BodyError`).

    The hot path of every store (one notification per body, mostly): no
    bookkeeping until a call's snapshot proves corrupt.
    """
    steps: list[Step] = []
    failed: dict[str, SnapshotError] | None = None
    for event in parse_notifications(body):
        call_id = event.call_id
        if failed is not None and call_id in failed:
            continue  # the rest of a corrupt call's events
        try:
            steps.append(apply(call_id, event))
        except SnapshotError as error:
            failed = _failed(failed, call_id, error)
        except Exception as error:
            _interrupted(steps, failed, error)
    return steps if failed is None else _raise(failed, steps)


async def apply_each_async(
    body: Body, apply: Callable[[str, Event], Awaitable[Step]]
) -> list[Step]:
    """:func:`apply_each` for an asynchronous ``apply`` (the same loop, awaited)."""
    steps: list[Step] = []
    failed: dict[str, SnapshotError] | None = None
    for event in parse_notifications(body):
        call_id = event.call_id
        if failed is not None and call_id in failed:
            continue
        try:
            steps.append(await apply(call_id, event))
        except SnapshotError as error:
            failed = _failed(failed, call_id, error)
        except Exception as error:
            _interrupted(steps, failed, error)
    return steps if failed is None else _raise(failed, steps)


def _failed(
    failed: dict[str, SnapshotError] | None, call_id: str, error: SnapshotError
) -> dict[str, SnapshotError]:
    """The corrupt calls so far, with ``call_id``'s error (the first failure makes the dict)."""
    failed = {} if failed is None else failed
    failed[call_id] = error
    return failed


def _raise(failed: dict[str, SnapshotError], steps: list[Step]) -> NoReturn:
    raise BodyError(list(failed.values()), steps)


def _interrupted(
    steps: list[Step], failed: dict[str, SnapshotError] | None, error: Exception
) -> NoReturn:
    """An event failed for another reason than its snapshot: nothing more is applied.

    With nothing applied yet the error goes up as it is; otherwise the steps
    already applied (and committed) go up with it, so their milestones are not lost.
    """
    if not steps and failed is None:
        raise error
    errors = [] if failed is None else list(failed.values())
    raise IncompleteBodyError(steps, errors, error) from error


class IncompleteBodyError(RuntimeError):
    """Applying a body stopped at an event whose store failed (its I/O, not its snapshot).

    The events before it were applied, each committed: ``steps`` are their
    steps. A redelivery of the body finds them already applied (duplicates,
    with no milestones), so act on these steps' milestones before answering
    Graph with an error. ``errors`` are the corrupt snapshots met before
    (see :class:`BodyError`); ``__cause__`` is the failure that stopped it.
    """

    def __init__(self, steps: list[Step], errors: list[SnapshotError], error: Exception) -> None:
        self.steps = steps
        self.errors = errors
        super().__init__(f"applied {len(steps)} event(s) of the body, then stopped: {error!r}")
