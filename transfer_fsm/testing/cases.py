"""Conformance cases: the kit's flows, and histories of several attempts, as language-free data.

A :class:`Case` is a history (the bot's own inputs and Graph's notifications,
:mod:`.inputs`) with a partial order: each input names the inputs it must
follow (a notification follows the request that caused it; the bot's inputs
keep their own order). Its deliveries are orders that respect it: the
documented order, each order with two neighbouring notifications swapped (the
races), seeded shuffles with redelivered copies (late ones too) and, for
retries, copies of the first attempt's notifications after the retry's
request. Each delivery's expected view and milestones are the reference's,
``reduce`` run over it (:func:`reference`).

The cases are built from :func:`~transfer_fsm.testing.documented_flows` (the
``documented`` tier, and the ``ambiguous`` deliveries their
:meth:`~transfer_fsm.testing.Flow.documented` refuses) and from the same
flows' bodies composed into several attempts (the ``retry`` tier, and the
histories ``docs/model.md`` lists as ambiguous). Nothing here needs hypothesis.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

from ..report import step
from ..values import Call
from .flows import Flow, _is_restore, documented_flows
from .inputs import BOT_KINDS, Input, events_of, notification, requested

TIERS = ("documented", "retry", "ambiguous")
"""The tiers of cases: documented flows, histories of several attempts, ambiguous interleavings."""

Order = tuple[int, ...]


@dataclass(frozen=True)
class Source:
    """Where a case comes from: the page, the example on it, and the sentence it rests on."""

    page: str
    example: str
    says: str

    def to_json(self) -> dict[str, str]:
        """The ``source`` object of a case file."""
        return {"page": self.page, "example": self.example, "says": self.says}


@dataclass(frozen=True)
class Case:
    """One conformance case: a history about one call and the orders it is delivered in.

    ``inputs`` are in one documented order; ``after[i]`` holds the indexes
    input ``i`` must follow. ``orders`` are the explicit deliveries (a kind
    and an order); :func:`delivery_orders` adds ``shuffles`` seeded ones that
    ``keep`` accepts. ``expected`` is the view every delivery must end in, as
    the documentation gives it (``None`` when it depends on the order).
    """

    id: str
    name: str
    tier: str
    source: Source
    call_id: str
    start: Call | None
    inputs: tuple[Input, ...]
    after: tuple[frozenset[int], ...]
    orders: tuple[tuple[str, Order], ...]
    shuffles: int
    expected: Call | None = None
    keep: Callable[[Case, Order], bool] = field(default=lambda case, order: True, repr=False)


class History:
    """Builds a case's inputs and partial order, input by input."""

    def __init__(self) -> None:
        self.inputs: list[Input] = []
        self.after: list[frozenset[int]] = []
        self._last_bot: int | None = None

    def bot(self, item: Input, *, follows: Sequence[int] = ()) -> int:
        """The bot's own input: after its previous one and ``follows``; its index."""
        before = {*follows, *([] if self._last_bot is None else [self._last_bot])}
        self._last_bot = self._add(item, before)
        return self._last_bot

    def graph(self, item: Input, *, follows: Sequence[int] | None = None) -> int:
        """A notification: after ``follows`` (by default the bot's last input); its index."""
        if follows is None:
            follows = [] if self._last_bot is None else [self._last_bot]
        return self._add(item, set(follows))

    def flow(self, flow: Flow) -> list[int]:
        """A flow's request (if any) and its bodies, each after the request."""
        if flow.request is not None:
            self.bot(requested(flow.request.body))
        return [self.graph(notification(body)) for body in flow.bodies]

    def _add(self, item: Input, before: set[int]) -> int:
        self.inputs.append(item)
        self.after.append(frozenset(before))
        return len(self.inputs) - 1


def make_case(
    id: str,
    name: str,
    tier: str,
    source: Source,
    history: History,
    start: Call | None,
    call_id: str,
    *,
    shuffles: int,
    extra: Sequence[tuple[str, Order]] = (),
    expected: Call | None = None,
    keep: Callable[[Case, Order], bool] | None = None,
    first: Sequence[tuple[str, Order]] | None = None,
) -> Case:
    """A case from a history: its documented order (or ``first``), the swaps, then ``extra``."""
    inputs, after = tuple(history.inputs), tuple(history.after)
    documented = tuple(range(len(inputs)))
    orders = [*(first or [("documented", documented)])]
    for at in range(len(inputs) - 1):
        left, right = documented[at], documented[at + 1]
        if not _both_graph(inputs, left, right) or left in after[right]:
            continue
        orders.append(("swap", (*documented[:at], right, left, *documented[at + 2 :])))
    orders.extend(extra)
    case = Case(id, name, tier, source, call_id, start, inputs, after, (), shuffles, expected)
    if keep is not None:
        case = Case(**{**case.__dict__, "keep": keep})
    unique: list[tuple[str, Order]] = []
    for kind, order in orders:
        if order not in {seen for _, seen in unique} and case.keep(case, order):
            unique.append((kind, order))
    return Case(**{**case.__dict__, "orders": tuple(unique)})


def _both_graph(inputs: Sequence[Input], *indexes: int) -> bool:
    return all(inputs[index]["kind"] not in BOT_KINDS for index in indexes)


def slug(name: str) -> str:
    """A case id from a name: lower-case words joined by ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# -- deliveries ----------------------------------------------------------------------


def delivery_orders(case: Case) -> list[tuple[str, Order]]:
    """Every delivery of ``case``: its explicit orders, then its seeded shuffles.

    The shuffles are drawn from ``random.Random`` seeded with the CRC-32 of the
    case id, using only ``random()``, so they are the same on every Python.
    """
    orders = list(case.orders)
    seen = {order for _, order in orders}
    rng = Random(zlib.crc32(case.id.encode("utf-8")))
    for _ in range(case.shuffles * 50):
        if len(orders) - len(case.orders) >= case.shuffles:
            break
        order = _with_copies(case, _linear(case, rng), rng)
        if order not in seen and case.keep(case, order):
            seen.add(order)
            orders.append(("shuffle", order))
    return orders


def _below(rng: Random, n: int) -> int:
    return int(rng.random() * n)


def _linear(case: Case, rng: Random) -> list[int]:
    """A random order of every input that respects ``case.after``."""
    placed: list[int] = []
    left = list(range(len(case.inputs)))
    while left:
        ready = [i for i in left if case.after[i] <= set(placed)]
        pick = ready[_below(rng, len(ready))]
        placed.append(pick)
        left.remove(pick)
    return placed


def _with_copies(case: Case, order: list[int], rng: Random) -> Order:
    """``order`` with up to three notifications delivered again, after what they follow."""
    graph = [i for i in range(len(case.inputs)) if _both_graph(case.inputs, i)]
    copies = _below(rng, 4)
    for number in range(copies):
        index = graph[_below(rng, len(graph))]
        lowest = max((order.index(i) + 1 for i in case.after[index]), default=0)
        late = number == copies - 1 and rng.random() < 0.5
        at = len(order) if late else lowest + _below(rng, len(order) + 1 - lowest)
        order.insert(at, index)
    return tuple(order)


def late_copies(case_inputs: Sequence[int], after: int, order: Order) -> list[tuple[str, Order]]:
    """Deliveries of ``order`` with one of ``case_inputs`` again just after input ``after``,
    and at the end."""
    at = order.index(after) + 1
    found: list[tuple[str, Order]] = []
    for index in case_inputs:
        found.append(("late-copy", (*order[:at], index, *order[at:])))
        found.append(("late-copy", (*order, index)))
    return found


# -- the reference -------------------------------------------------------------------


def start_of(case: Case) -> Call:
    """The call before the case's first input: its ``start``, or a bare call."""
    return Call(case.call_id) if case.start is None else case.start


def reference(case: Case, order: Sequence[int]) -> tuple[Call, list[dict[str, Any]]]:
    """The reference's view after ``order`` and every milestone it fired, in order.

    Each milestone is ``{"milestone", "attempt", "key"}``: ``attempt`` is the
    number of the call's attempt after the step (0 before the first),
    ``key`` the step's :attr:`~transfer_fsm.Step.milestone_keys` entry.
    """
    call = start_of(case)
    fired: list[dict[str, Any]] = []
    for index in order:
        for event in events_of(case.inputs[index], case.call_id):
            done = step(call, event)
            call = done.call
            number = 0 if call.transfer is None else call.transfer.attempt
            fired.extend(
                {"milestone": milestone.value, "attempt": number, "key": key}
                for milestone, key in zip(done.milestones, done.milestone_keys, strict=False)
            )
    return call, fired


# -- the documented flows ------------------------------------------------------------

FLOW_PAGES = {
    "legacy": (
        "Microsoft Graph beta, call: transfer (api-reference/beta/api/call-transfer.md, "
        "commsOperation form)",
        "the legacy transfer operation",
    ),
    "v1.0": (
        "Microsoft Graph v1.0, call: transfer (api-reference/v1.0/api/call-transfer.md)",
        "the v1.0 page's examples",
    ),
    "seed": (
        "Microsoft Graph v1.0, call: transfer: the notifications of a blind and a "
        "consultative transfer",
        "the seed page's notification examples",
    ),
}
CONVERGE = (
    "Call state and media are two independent axes, so racing notifications end in one "
    "correct view: every delivery order of every documented flow is tested, with "
    "duplicates, against one final view. (README.md)"
)
RESTORE_FIRST = (
    "If it is delivered before anything that shows the transfer began, it is "
    "indistinguishable from the call's media before the transfer, so it is taken as that. "
    "(docs/model.md, ambiguity 1)"
)


def _page(flow: Flow) -> tuple[str, str]:
    if flow.name.startswith("legacy"):
        return FLOW_PAGES["legacy"]
    if flow.name.startswith(("v1.0", "success code")):
        return FLOW_PAGES["v1.0"]
    return FLOW_PAGES["seed"]


def _notifications(case: Case, order: Order) -> list[Any]:
    return [case.inputs[i]["body"] for i in order if case.inputs[i]["kind"] == "notification"]


def flow_case(flow: Flow, shuffles: int = 10) -> Case:
    """A documented flow as a case of the ``documented`` tier: ``flow.final`` in every delivery.

    An observed flow keeps only the deliveries :meth:`Flow.documented` accepts.
    """
    history = History()
    history.flow(flow)
    page, example = _page(flow)
    return make_case(
        f"documented-{slug(flow.name)}",
        flow.name,
        "documented",
        Source(page, f"{example}: {flow.name}", CONVERGE),
        history,
        flow.start,
        flow.final.call_id,
        shuffles=shuffles,
        expected=flow.final,
        keep=lambda case, order: flow.documented(_notifications(case, order)),
    )


def restore_first_case(flow: Flow, shuffles: int = 6) -> Case | None:
    """An observed flow delivered with its audio-active restore first (ambiguity 1), if it
    has such a restore: the deliveries :meth:`Flow.documented` refuses."""
    restores = [i for i, body in enumerate(flow.bodies) if _is_restore(body)]
    if flow.request is not None or not restores:
        return None
    history = History()
    history.flow(flow)
    rest = tuple(i for i in range(len(flow.bodies)) if i not in restores)
    return make_case(
        f"ambiguous-restore-first-{slug(flow.name)}",
        f"{flow.name}, the audio-active restore delivered first",
        "ambiguous",
        Source(
            "docs/model.md", "ambiguity 1: observing only, the restore arrives first", RESTORE_FIRST
        ),
        history,
        flow.start,
        flow.final.call_id,
        shuffles=shuffles,
        first=[("restore-first", (*restores, *rest))],
        keep=lambda case, order: not flow.documented(_notifications(case, order)),
    )


def documented_cases() -> list[Case]:
    """One ``documented`` case per documented flow, then the ``ambiguous`` restore-first ones."""
    flows = documented_flows()
    found = [flow_case(flow) for flow in flows]
    found.extend(case for case in map(restore_first_case, flows) if case is not None)
    return found


def all_cases() -> list[Case]:
    """Every case, in the order the vectors list them: documented, retry, ambiguous."""
    from .attempts import history_cases

    cases = [*documented_cases(), *history_cases()]
    return sorted(cases, key=lambda case: TIERS.index(case.tier))
