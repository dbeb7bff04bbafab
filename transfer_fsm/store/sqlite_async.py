"""``AsyncSQLiteStore``: :class:`~transfer_fsm.store.SQLiteStore` for asyncio, with group commit.

One worker thread runs the synchronous store, off the event loop. Every
``apply`` waiting when the worker gets to it is committed with the others in
one transaction (one ``BEGIN IMMEDIATE``, one ``COMMIT``: one ``fsync`` for
them all), each still getting its own step, as if applied alone in the order
the applies were made; an apply refused on its own (a corrupt snapshot, an
event about another call) gets its own exception and does not stop the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from os import PathLike
from types import TracebackType
from typing import ParamSpec, TypeVar

from ..events import Event
from ..report import Step
from ..values import Call
from .core import Body, Link
from .interface import JournalEntry, check_token
from .sqlite import TOKEN_TTL, SQLiteStore

_P = ParamSpec("_P")
_T = TypeVar("_T")

_Waiting = tuple[str, Event, "str | None", "asyncio.Future[Step]", asyncio.AbstractEventLoop]


class AsyncSQLiteStore:
    """:class:`~transfer_fsm.store.SQLiteStore` for asyncio: its methods, awaited, on one
    worker thread.

    What they guarantee is the same (an awaited ``apply`` has committed).
    Concurrent ``apply`` calls are committed together (group commit): with
    many notifications arriving at once, a durable store pays one ``fsync``
    per group, not one per notification. Other calls run one at a time, in the
    order they were made, each after the applies made before it. The
    constructor opens the file (a quick, blocking step: do it at startup); use
    ``async with`` or :meth:`aclose`.

    A cancelled ``await store.apply(...)`` may still commit (the worker
    finishes its transaction): pass a ``token`` and ask :meth:`landed` (see
    ``docs/stores.md``).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: str = "FULL",
        journal: bool = False,
        token_ttl: float = TOKEN_TTL,
    ) -> None:
        self.store = SQLiteStore(
            path, timeout=timeout, synchronous=synchronous, journal=journal, token_ttl=token_ttl
        )
        """The synchronous store the worker thread runs."""
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="AsyncSQLiteStore")
        self._waiting: deque[_Waiting] = deque()
        self.groups = 0
        """How many transactions the applies were committed in (for measuring)."""

    @property
    def conflicts(self) -> int:
        """Writes retried because another writer changed the call first: always 0 here."""
        return self.store.conflicts

    def _run(
        self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.Future[_T]:
        """``function(*args)`` on the worker thread."""
        call = partial(function, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._worker, call)

    async def apply(self, call_id: str, event: Event, *, token: str | None = None) -> Step:
        """See :meth:`SQLiteStore.apply`; committed with the other applies waiting then."""
        if token is not None:
            check_token(token)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Step] = loop.create_future()
        self._waiting.append((call_id, event, token, future, loop))
        self._worker.submit(self._commit)
        return await future

    def _commit(self) -> None:
        """On the worker: apply every waiting apply in one transaction and hand out results.

        When the file fails (nothing of the group committed), each apply is
        run alone, so that each gets its own outcome.
        """
        group: list[_Waiting] = []
        while self._waiting:
            group.append(self._waiting.popleft())
        if not group:
            return  # an earlier commit took them
        items = [(call_id, event, token) for call_id, event, token, _, _ in group]
        results: list[Step | BaseException]
        try:
            results = list(self.store._batch(items))
            self.groups += 1
        except Exception as error:
            results = [error] if len(group) == 1 else [self._alone(*item) for item in items]
        for (*_, future, loop), result in zip(group, results, strict=True):
            with suppress(RuntimeError):  # its loop is closed: nobody waits for it
                loop.call_soon_threadsafe(_settle, future, result)

    def _alone(self, call_id: str, event: Event, token: str | None) -> Step | Exception:
        try:
            step = self.store.apply(call_id, event, token=token)
        except Exception as error:
            return error
        self.groups += 1
        return step

    async def apply_many(self, items: Iterable[tuple[str, Event]]) -> list[Step]:
        """See :meth:`SQLiteStore.apply_many`."""
        return await self._run(self.store.apply_many, list(items))

    async def apply_body(self, body: Body) -> list[Step]:
        """See :meth:`SQLiteStore.apply_body`."""
        return await self._run(self.store.apply_body, body)

    async def get(self, call_id: str) -> Call | None:
        """See :meth:`SQLiteStore.get`."""
        return await self._run(self.store.get, call_id)

    async def link(self, call_id: str) -> Link | None:
        """See :meth:`SQLiteStore.link`."""
        return await self._run(self.store.link, call_id)

    async def in_flight(self, limit: int = 1000) -> list[Call]:
        """See :meth:`SQLiteStore.in_flight`."""
        return await self._run(self.store.in_flight, limit)

    async def unheard(self, seconds: float, limit: int = 1000) -> list[Call]:
        """See :meth:`SQLiteStore.unheard`."""
        return await self._run(self.store.unheard, seconds, limit)

    async def delete(self, call_id: str) -> bool:
        """See :meth:`SQLiteStore.delete`."""
        return await self._run(self.store.delete, call_id)

    async def prune(self, keep_ended: int) -> int:
        """See :meth:`SQLiteStore.prune`."""
        return await self._run(self.store.prune, keep_ended)

    async def claim_journal(
        self, consumer: str, limit: int = 100, idle: float = 30.0
    ) -> list[JournalEntry]:
        """See :meth:`SQLiteStore.claim_journal`."""
        return await self._run(self.store.claim_journal, consumer, limit, idle)

    async def ack_journal(self, entries: Iterable[JournalEntry]) -> int:
        """See :meth:`SQLiteStore.ack_journal`."""
        return await self._run(self.store.ack_journal, list(entries))

    async def landed(self, call_id: str, token: str) -> tuple[str, ...]:
        """See :meth:`SQLiteStore.landed`."""
        return await self._run(self.store.landed, call_id, token)

    async def aclose(self) -> None:
        """Close the store and stop the worker thread."""
        await self._run(self.store.close)
        self._worker.shutdown(wait=True)

    async def __aenter__(self) -> AsyncSQLiteStore:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()


def _settle(future: asyncio.Future[Step], result: Step | BaseException) -> None:
    """Hand ``result`` to the apply awaiting ``future`` (unless it was cancelled)."""
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
