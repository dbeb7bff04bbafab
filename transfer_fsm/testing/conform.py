"""Generated deliveries of the documented flows, and the check that a bot's handler conforms."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Sequence

try:
    from hypothesis import HealthCheck, Phase, example, given, settings
    from hypothesis import strategies as st
except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "transfer_fsm.testing needs hypothesis: pip install 'transfer-fsm[testing]'",
        name="hypothesis",
    ) from error

from ..values import Call
from .describe import describe_body as describe
from .flows import Body, Flow, documented_flows

Handler = Callable[[Call, list[Body]], Call]
"""A bot's own notification handling: the call as it holds it, the bodies delivered, its view."""

MAX_COPIES = 6
"""How many extra copies :func:`deliveries` adds at most by default."""


def deliveries(flow: Flow, *, max_copies: int = MAX_COPIES) -> st.SearchStrategy[list[Body]]:
    """Delivered body lists of ``flow``: every body at least once, in any order.

    Up to ``max_copies`` bodies are delivered again anywhere, before the end
    or after it (late copies). Each delivered body is a copy of the flow's,
    so a handler may change it. Every delivery drawn is one whose reference
    view is ``flow.final`` (see :meth:`Flow.documented`). Shrinks towards
    the flow's documented order without copies.
    """
    if max_copies < 0:
        raise ValueError(f"max_copies: zero or more, got {max_copies!r}")
    indexes = range(len(flow.bodies))

    @st.composite
    def delivered(draw: st.DrawFn) -> list[Body]:
        copies = draw(st.lists(st.sampled_from(indexes), max_size=max_copies))
        order = draw(st.permutations([*indexes, *copies]))
        return [copy.deepcopy(flow.bodies[index]) for index in order]

    return delivered().filter(flow.documented)


def _failure(flow: Flow, delivery: Sequence[Body], found: str, expected: object) -> str:
    indexes = [flow.bodies.index(body) for body in delivery]
    lines = [
        f"flow {flow.name!r}: the handler's view differs from the reference",
        f"delivery (the flow's bodies by index, as delivered): {indexes}",
        *(f"  {at}. #{i} {describe(flow.bodies[i])}" for at, i in enumerate(indexes, 1)),
        f"handler:   {found}",
        f"reference: {expected!r}",
    ]
    return "\n".join(lines)


def _check_flow(
    handler: Handler, flow: Flow, view: Callable[[Call], object], limits: settings
) -> None:
    expected = view(flow.final)

    @limits
    @given(deliveries(flow))
    @example(list(copy.deepcopy(flow.bodies)))
    def conforms(delivery: list[Body]) -> None:
        shown = copy.deepcopy(delivery)
        try:
            result = handler(flow.requested, delivery)
        except (Exception, asyncio.CancelledError) as error:
            raise AssertionError(_failure(flow, shown, f"raised {error!r}", expected)) from error
        if not isinstance(result, Call):
            found = f"returned {result!r}, not a transfer_fsm.Call"
            raise AssertionError(_failure(flow, shown, found, expected))
        if view(result) != expected:
            raise AssertionError(_failure(flow, shown, repr(view(result)), expected))

    conforms()


def assert_conforms(
    handler: Handler,
    *,
    flows: Sequence[Flow] | None = None,
    view: Callable[[Call], object] | None = None,
    max_examples: int = 100,
) -> None:
    """Check ``handler`` against the reference over generated deliveries of every flow.

    ``handler(start, bodies)`` is the bot's own handling: ``start`` is the
    call as the bot holds it when the callbacks begin (with its transfer
    request reduced, unless the flow is observed), ``bodies`` the delivered
    callback bodies; it returns the bot's view as a :class:`~transfer_fsm.Call`.
    For each flow (``flows``, by default :func:`documented_flows`), the
    flow's documented order and ``max_examples`` generated deliveries
    (:func:`deliveries`) are run; ``view`` compares only part of the call
    (``lambda call: (call.state, call.audio)``, say), by default all of it.
    Raises ``AssertionError`` naming the first flow that fails and a minimal
    failing delivery (hypothesis shrinks it); an exception from the handler
    fails the same way, and so does a result that is not a ``Call``. Runs
    under hypothesis' current settings profile (derandomize it in CI),
    without its example database. It runs hypothesis itself, so call it from
    a plain test, not from inside a ``@given`` test (hypothesis refuses
    nested ``@given``).
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
    for flow in documented_flows() if flows is None else flows:
        _check_flow(handler, flow, view or _whole, limits)


def _whole(call: Call) -> Call:
    return call
