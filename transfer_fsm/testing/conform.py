"""Generated deliveries of the documented flows and histories, and the check that a bot's
handler conforms."""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Union, overload

try:
    from hypothesis import HealthCheck, Phase, example, given, settings
    from hypothesis import strategies as st
except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "transfer_fsm.testing needs hypothesis: pip install 'transfer-fsm[testing]'",
        name="hypothesis",
    ) from error

from ..events import Event
from ..parse import parse_notifications
from ..report import step
from ..values import Call
from .attempts import history_cases
from .cases import Case, reference, start_of
from .describe import describe_body as describe
from .flows import Body, Flow, documented_flows
from .inputs import BOT_KINDS, describe_input, events_of

__all__ = [
    "AnyHandler",
    "Delivered",
    "Handled",
    "Handler",
    "assert_conforms",
    "deliveries",
    "describe",
    "histories",
    "orders",
]

Handler = Callable[[Call, list[Body]], Call]
"""A bot's own notification handling: the call as it holds it, the bodies delivered, its view."""

Delivered = Union[Body, Event]  # noqa: UP007 - an alias help() can name
"""One item a history delivers: a callback body, or an event the bot reduces itself
(``TransferRequested``, ``TransferRejected``, ``TransferAbandoned``, or a ``GET``'s answer
as ``parse_call_resource`` / ``call_gone`` read it)."""


class Handled(NamedTuple):
    """What a handler returns to have its milestones checked too: its view, and the key of
    every milestone it acted on (``Step.milestone_keys``), in any order."""

    call: Call
    milestones: Sequence[str]


Answer = Union[Call, Handled]  # noqa: UP007
AnyHandler = Union[  # noqa: UP007
    Callable[[Call, list[Body]], Union[Answer, Awaitable[Answer]]],  # noqa: UP007
    Callable[[Call, list[Delivered]], Union[Answer, Awaitable[Answer]]],  # noqa: UP007
]
"""What :func:`assert_conforms` accepts: a plain or an ``async def`` handler, returning a
``Call`` or :class:`Handled`."""
Reset = Callable[[str], Union[Awaitable[None], None]]  # noqa: UP007

MAX_COPIES = 6
"""How many extra copies :func:`deliveries` adds at most by default."""


@overload
def deliveries(subject: Flow, *, max_copies: int = MAX_COPIES) -> st.SearchStrategy[list[Body]]: ...
@overload
def deliveries(
    subject: Case, *, max_copies: int = MAX_COPIES
) -> st.SearchStrategy[list[Delivered]]: ...
def deliveries(
    subject: Flow | Case, *, max_copies: int = MAX_COPIES
) -> st.SearchStrategy[list[Body]] | st.SearchStrategy[list[Delivered]]:
    """Delivered body lists of a flow, or delivered histories of a case (:func:`histories`).

    For a flow: every body at least once, in any order. Up to ``max_copies``
    bodies are delivered again anywhere, before the end or after it (late
    copies). Every delivery drawn is one whose reference view is
    ``flow.final`` (see :meth:`Flow.documented`).

    For a case of several attempts: every input once, in an order the history
    allows (each notification after the request that caused it, the bot's own
    inputs in their order), with up to ``max_copies`` notifications delivered
    again anywhere after what they follow (a first attempt's late mail after
    the retry's request, say); the bot's inputs come as the events it reduces
    itself (see :data:`Delivered`).

    Each delivered body is a copy, so a handler may change it. Shrinks towards
    the documented order without copies.
    """
    if max_copies < 0:
        raise ValueError(f"max_copies: zero or more, got {max_copies!r}")
    if isinstance(subject, Case):
        case = subject
        return orders(case, max_copies=max_copies).map(lambda order: _items(case, order))
    flow = subject
    indexes = range(len(flow.bodies))

    @st.composite
    def delivered(draw: st.DrawFn) -> list[Body]:
        copies = draw(st.lists(st.sampled_from(indexes), max_size=max_copies))
        order = draw(st.permutations([*indexes, *copies]))
        return [copy.deepcopy(flow.bodies[index]) for index in order]

    return delivered().filter(flow.documented)


def orders(case: Case, *, max_copies: int = MAX_COPIES) -> st.SearchStrategy[list[int]]:
    """Delivery orders of ``case`` (indexes into ``case.inputs``), as :func:`deliveries` draws."""
    size = len(case.inputs)
    notifications = [i for i in range(size) if case.inputs[i]["kind"] not in BOT_KINDS]

    @st.composite
    def order(draw: st.DrawFn) -> list[int]:
        placed: list[int] = []
        while len(placed) < size:
            ready = [i for i in range(size) if i not in placed and case.after[i] <= set(placed)]
            placed.append(ready[draw(st.integers(0, len(ready) - 1))])
        for index in draw(st.lists(st.sampled_from(notifications), max_size=max_copies)):
            lowest = max((placed.index(i) + 1 for i in case.after[index]), default=0)
            placed.insert(draw(st.integers(lowest, len(placed))), index)
        return placed

    return order().filter(lambda drawn: case.keep(case, tuple(drawn)))


def _items(case: Case, order: Sequence[int]) -> list[Delivered]:
    """What the bot is handed for ``order``: bodies (copies), and its own events."""
    found: list[Delivered] = []
    for index in order:
        item = case.inputs[index]
        if item["kind"] == "notification":
            found.append(copy.deepcopy(item["body"]))
        else:
            found.extend(events_of(item, case.call_id))
    return found


def histories() -> list[Case]:
    """The histories of several attempts the kit checks with ``histories=True``: a failed
    attempt then a retry, a refused POST, an abandoned attempt with a ``GET``, Graph's late
    word about an abandoned attempt (the vectors' ``retry`` tier, and the ambiguous ones of
    several attempts, each checked against the reference's view of the very delivery)."""
    return history_cases()


class _Subject(NamedTuple):
    """A flow or a case, as a check reads it: its name, the readings of a delivery, the
    start, and the reference's view and milestone keys for a delivery."""

    title: str
    reading: list[str]
    indexes: list[int]


def _failure(subject: _Subject, what: str, found: str, expected: object) -> str:
    kind = "the flow's bodies" if subject.title.startswith("flow") else "the case's inputs"
    lines = [
        f"{subject.title}: the handler's {what} differs from the reference",
        f"delivery ({kind} by index, as delivered): {subject.indexes}",
        *(f"  {at}. {line}" for at, line in enumerate(subject.reading, 1)),
        f"handler:   {found}",
        f"reference: {expected!r}",
    ]
    return "\n".join(lines)


class _Runner:
    """Calls the handler and the reset hook, awaiting them on one event loop when async."""

    def __init__(self, handler: AnyHandler, reset: Reset | None) -> None:
        self.handler: Callable[[Call, list[Any]], Any] = handler
        self.reset = reset
        self.loop: asyncio.AbstractEventLoop | None = None

    def _wait(self, value: Any) -> Any:
        if not inspect.isawaitable(value):
            return value
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(value)

    def run(self, call_id: str, start: Call, delivered: list[Any]) -> Any:
        """Reset the call (when a hook was given), then the handler's answer."""
        if self.reset is not None:
            self._wait(self.reset(call_id))
        return self._wait(self.handler(start, delivered))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


def _keys(start: Call, events: Sequence[Event]) -> list[str]:
    call, keys = start, list[str]()
    for event in events:
        done = step(call, event)
        call = done.call
        keys.extend(done.milestone_keys)
    return keys


def _judge(
    subject: _Subject,
    result: Any,
    view: Callable[[Call], object],
    reference_view: Call,
    keys: list[str],
) -> None:
    """Raise ``AssertionError`` when the handler's answer is not the reference's."""
    expected = view(reference_view)
    fired = None
    if isinstance(result, Handled):
        result, fired = result.call, list(result.milestones)
    if not isinstance(result, Call):
        found = f"returned {result!r}, not a transfer_fsm.Call"
        raise AssertionError(_failure(subject, "view", found, expected))
    if view(result) != expected:
        raise AssertionError(_failure(subject, "view", repr(view(result)), expected))
    if fired is not None and Counter(fired) != Counter(keys):
        raise AssertionError(_failure(subject, "milestones", repr(sorted(fired)), sorted(keys)))


def _check_flow(
    runner: _Runner, flow: Flow, view: Callable[[Call], object], limits: settings
) -> None:
    @limits
    @given(deliveries(flow))
    @example(list(copy.deepcopy(flow.bodies)))
    def conforms(delivery: list[Body]) -> None:
        indexes = [flow.bodies.index(body) for body in delivery]
        subject = _Subject(
            f"flow {flow.name!r}", [f"#{i} {describe(flow.bodies[i])}" for i in indexes], indexes
        )
        keys = _keys(flow.requested, [e for body in delivery for e in parse_notifications(body)])
        try:
            result = runner.run(flow.final.call_id, flow.requested, delivery)
        except (Exception, asyncio.CancelledError) as error:
            found = f"raised {error!r}"
            raise AssertionError(_failure(subject, "view", found, view(flow.final))) from error
        _judge(subject, result, view, flow.final, keys)

    conforms()


def _check_case(
    runner: _Runner, case: Case, view: Callable[[Call], object], limits: settings
) -> None:
    @limits
    @given(orders(case))
    @example(list(range(len(case.inputs))))
    def conforms(order: list[int]) -> None:
        reading = [f"#{i} {describe_input(case.inputs[i])}" for i in order]
        subject = _Subject(f"case {case.id!r}", reading, order)
        final, fired = reference(case, order)
        keys = [item["key"] for item in fired]
        try:
            result = runner.run(case.call_id, start_of(case), _items(case, order))
        except (Exception, asyncio.CancelledError) as error:
            found = f"raised {error!r}"
            raise AssertionError(_failure(subject, "view", found, view(final))) from error
        _judge(subject, result, view, final, keys)

    conforms()


def assert_conforms(
    handler: AnyHandler,
    *,
    flows: Sequence[Flow] | None = None,
    view: Callable[[Call], object] | None = None,
    max_examples: int = 100,
    reset: Reset | None = None,
    histories: bool | Sequence[Case] = False,
) -> None:
    """Check ``handler`` against the reference over generated deliveries of every flow.

    ``handler(start, bodies)`` is the bot's own handling: ``start`` is the
    call as the bot holds it when the callbacks begin (with its transfer
    request reduced, unless the flow is observed), ``bodies`` the delivered
    callback bodies; it returns the bot's view as a :class:`~transfer_fsm.Call`,
    or a :class:`Handled` (the view and the key of every milestone it acted
    on) to have its milestones checked too: the same keys as the reference's
    for that very delivery, each as many times (the terminal ones once per
    attempt). It may be an ``async def``: it is awaited, as ``reset`` is, on
    one event loop kept for the whole check. ``reset(call_id)``, when given,
    is called before every delivery, so a store-backed handler starts each
    from a clean call.

    For each flow (``flows``, by default :func:`documented_flows`), the
    flow's documented order and ``max_examples`` generated deliveries
    (:func:`deliveries`) are run; ``view`` compares only part of the call
    (``lambda call: (call.state, call.audio)``, say), by default all of it.
    With ``histories=True`` (or a list of cases), the histories of several
    attempts (:func:`histories`) are run too: then ``bodies`` also holds the
    bot's own events (:data:`Delivered`), and the reference is the view of
    that very delivery. Raises ``AssertionError`` naming the first flow or
    case that fails and a minimal failing delivery (hypothesis shrinks it);
    an exception from the handler fails the same way, and so does a result
    that is not a ``Call``. Runs under hypothesis' current settings profile
    (derandomize it in CI), without its example database. It runs hypothesis
    itself, so call it from a plain test, not from inside a ``@given`` test
    (hypothesis refuses nested ``@given``).
    """
    limits = settings(
        settings.default,
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,  # one AssertionError, for the first flow that fails
    )
    runner = _Runner(handler, reset)
    cases = history_cases() if histories is True else list(histories or ())
    try:
        for flow in documented_flows() if flows is None else flows:
            _check_flow(runner, flow, view or _whole, limits)
        for case in cases:
            _check_case(runner, case, view or _whole, limits)
    finally:
        runner.close()


def _whole(call: Call) -> Call:
    return call
