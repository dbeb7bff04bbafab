"""``MemoryStore``: the embedded default, one process, bounded in ended calls."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ..events import Event
from ..report import Step
from ..values import Call, CallState
from .core import Body, Link, advance, apply_each, link_of
from .interface import check_limit, check_seconds, in_flight

_TERMINATED = CallState.TERMINATED
_TICK = 0.001
"""Heard times are kept to this many seconds (calls heard within one tick share one float)."""


class MemoryStore:
    """Calls kept in this process's memory, for a bot that runs as one process.

    ``apply`` is atomic under a lock, so threads may share the store. Live
    calls are kept until they end (or :meth:`delete`); of the calls that have
    ended, the newest ``max_ended`` are kept (their terminated snapshot is
    their tombstone: a late notification finds the call ended, not a new
    call). An ended call older than that is forgotten, together with every
    consultation link its requests made.

    ``clock`` (seconds, never going back; ``time.monotonic`` unless given)
    times when each live call was last heard, for :meth:`unheard`, to the
    millisecond. It is read by this store, the process's own I/O, never by
    the reducer.
    """

    __slots__ = (
        "_calls",
        "_clock",
        "_ended",
        "_heard",
        "_legs",
        "_links",
        "_lock",
        "_now",
        "max_ended",
    )

    def __init__(
        self, max_ended: int = 10_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_ended < 0:
            raise ValueError(f"max_ended must be 0 or more, not {max_ended}")
        self.max_ended = max_ended
        self._calls: dict[str, Call] = {}
        self._ended: deque[str] = deque()
        self._links: dict[str, str] = {}  # consultation call -> the primary whose request named it
        self._legs: dict[str, set[str]] = {}  # primary -> every consultation call it named
        self._heard: dict[str, float] = {}  # live call -> when last heard, least recent first
        self._clock = clock
        self._now = float("-inf")
        self._lock = threading.Lock()

    def apply(self, call_id: str, event: Event) -> Step:
        """Step call ``call_id`` with ``event``, atomically (a new call starts empty)."""
        with self._lock:
            stored = self._calls.get(call_id)
            done, write, link, ended = advance(call_id, stored, event)
            call = stored if write is None else write
            assert call is not None
            heard = self._heard
            heard.pop(call_id, None)
            if call[1] is not _TERMINATED:
                now = self._clock()
                if now - self._now >= _TICK:  # one float per tick, shared
                    self._now = now
                heard[call_id] = self._now
            if write is not None:
                self._calls[call_id] = write
                if link is not None:
                    self._links[link] = call_id
                    self._legs.setdefault(call_id, set()).add(link)
                if ended:
                    self._ended.append(call_id)
                    if len(self._ended) > self.max_ended:
                        self._forget(self._ended.popleft())
            return done

    def _forget(self, call_id: str) -> Call | None:
        """Drop a call and every link its own requests made (a link a later request of
        another call took over stays, and so do links to it as the consultation call:
        the primary's view still answers for them)."""
        call = self._calls.pop(call_id, None)
        self._heard.pop(call_id, None)
        links = self._links
        for leg in self._legs.pop(call_id, ()):
            if links.get(leg) == call_id:
                del links[leg]
        return call

    def apply_body(self, body: Body) -> list[Step]:
        """Parse a callback body and apply each event to its own call."""
        return apply_each(body, self.apply)

    def get(self, call_id: str) -> Call | None:
        """The call as stored, ``None`` for a call never seen (or forgotten)."""
        return self._calls.get(call_id)

    def link(self, call_id: str) -> Link | None:
        """The consultative transfer ``call_id`` is part of, from either call's id."""
        with self._lock:
            primary_id = self._links.get(call_id)
            primary = None if primary_id is None else self._calls.get(primary_id)
            return link_of(call_id, self._calls.get(call_id), primary)

    def in_flight(self, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls with an attempt requested, transferring or accepted,
        least recently heard first (read from the live calls only: tombstones are not looked at)."""
        check_limit(limit)
        found: list[Call] = []
        with self._lock:
            calls = self._calls
            for call_id in self._heard:
                call = calls[call_id]
                if in_flight(call):
                    found.append(call)
                    if len(found) == limit:
                        break
        return found

    def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """Up to ``limit`` live calls no apply has reached for more than ``seconds``
        (by ``clock``, to the millisecond), least recently heard first.

        "Heard" is the last apply of an event to the live call, a duplicate that
        changes nothing included. Ended calls are never unheard.
        """
        before = self._clock() - check_seconds("seconds", seconds)
        check_limit(limit)
        found: list[Call] = []
        with self._lock:
            calls = self._calls
            for call_id, heard in self._heard.items():
                if heard >= before or len(found) == limit:
                    break
                found.append(calls[call_id])
        return found

    def delete(self, call_id: str) -> bool:
        """Forget the call (live or tombstone) and every link its requests made.

        ``False`` when there was nothing to forget. A link naming it as the
        consultation call stays (its primary answers for it). A later event
        for it starts it over as a new call.
        """
        with self._lock:
            had_legs = call_id in self._legs
            call = self._forget(call_id)
            if call is not None and call[1] is _TERMINATED and call_id in self._ended:
                self._ended.remove(call_id)
            return call is not None or had_legs

    def __len__(self) -> int:
        """How many calls are kept (live and ended)."""
        return len(self._calls)
