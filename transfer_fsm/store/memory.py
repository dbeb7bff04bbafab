"""``MemoryStore``: the embedded default, one process, bounded in ended calls."""

from __future__ import annotations

import threading
from collections import deque

from ..events import Event
from ..report import Step
from ..values import Call
from .core import Body, Link, advance, apply_each, link_of


class MemoryStore:
    """Calls kept in this process's memory, for a bot that runs as one process.

    ``apply`` is atomic under a lock, so threads may share the store. Live
    calls are kept until they end; of the calls that have ended, the newest
    ``max_ended`` are kept (their terminated snapshot is their tombstone: a
    late notification finds the call ended, not a new call). An ended call
    older than that is forgotten, together with its consultation link.
    """

    __slots__ = ("_calls", "_ended", "_links", "_lock", "max_ended")

    def __init__(self, max_ended: int = 10_000) -> None:
        if max_ended < 0:
            raise ValueError(f"max_ended must be 0 or more, not {max_ended}")
        self.max_ended = max_ended
        self._calls: dict[str, Call] = {}
        self._ended: deque[str] = deque()
        self._links: dict[str, str] = {}
        self._lock = threading.Lock()

    def apply(self, call_id: str, event: Event) -> Step:
        """Step call ``call_id`` with ``event``, atomically (a new call starts empty)."""
        with self._lock:
            done, write, link, ended = advance(call_id, self._calls.get(call_id), event)
            if write is not None:
                self._calls[call_id] = write
                if link is not None:
                    self._links[link] = call_id
                if ended:
                    self._ended.append(call_id)
                    if len(self._ended) > self.max_ended:
                        self._forget(self._ended.popleft())
            return done

    def _forget(self, call_id: str) -> None:
        """Drop an ended call and the link its own request made (links to it as the
        consultation call stay: the primary's view still answers for them)."""
        call = self._calls.pop(call_id, None)
        attempt = None if call is None else call.transfer
        if attempt is not None and attempt.request is not None:
            leg = attempt.request.replaces_call_id
            if leg is not None and self._links.get(leg) == call_id:
                del self._links[leg]

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

    def __len__(self) -> int:
        """How many calls are kept (live and ended)."""
        return len(self._calls)
