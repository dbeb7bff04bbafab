"""Many calls for the store tests: the documented flows, each under its own call id.

Each :class:`CallCase` is one flow of ``flows.FLOWS`` / ``flows.VARIANT_FLOWS``
with the flow's call id replaced in its bodies; a consultative flow's request
names a consultation call (so stores link the two). Its reference is a
single-process replay with :func:`transfer_fsm.reduce`: the request, then the
bodies in production order.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flows import FLOWS, VARIANT_FLOWS, Flow, request_of

import transfer_fsm as tf
from transfer_fsm.store import Link

Body = dict[str, Any]

ALL_FLOWS: list[Flow] = [*FLOWS, *VARIANT_FLOWS]


@dataclass(frozen=True)
class CallCase:
    """One flow played on its own call."""

    call_id: str
    flow: Flow
    request: tf.TransferRequested
    bodies: tuple[Body, ...]

    @property
    def consultation_id(self) -> str | None:
        """The consultation call the request names (``None``: not consultative)."""
        return self.request.replaces_call_id

    def replay(self) -> tuple[tf.Call, Counter[tf.Milestone]]:
        """The view after the request and the bodies in production order, and the
        milestones the bodies fired (the request's are left out: none)."""
        call = tf.reduce(tf.Call(self.call_id), self.request)
        fired: Counter[tf.Milestone] = Counter()
        for body in self.bodies:
            for event in tf.parse_notifications(body):
                done = tf.step(call, event)
                call = done.call
                fired.update(done.milestones)
        return call, fired


def call_cases(count: int, tag: str = "s") -> list[CallCase]:
    """``count`` calls cycling through every flow; ids ``{tag}{n}-...``, unique per tag."""
    cases = []
    for number in range(count):
        flow = ALL_FLOWS[number % len(ALL_FLOWS)]
        call_id = f"{tag}{number:05d}-d4bf-4224-8b19-1581168d328b"
        request = request_of(flow)
        if request.replaces_call_id is not None:
            request = request._replace(replaces_call_id=f"consult-{call_id}")
        cases.append(CallCase(call_id, flow, request, flow.about(call_id).bodies))
    return cases


def case_named(words: str, tag: str = "c") -> CallCase:
    """The first call case whose flow's name starts with ``words``."""
    return next(
        case for case in call_cases(len(ALL_FLOWS), tag) if case.flow.name.startswith(words)
    )


def expected_link(case: CallCase) -> Link | None:
    """The link a store must answer for the case's consultation call, after its replay."""
    leg = case.consultation_id
    if leg is None:
        return None
    final, _ = case.replay()
    return Link(case.call_id, leg, tf.consultation_fate(final, leg))


def delivery_windows(
    cases: list[CallCase], seed: int, window: int = 2, extra: float = 0.3
) -> list[list[Body]]:
    """Every body of every call once, plus about ``extra`` of them again, in a seeded order,
    cut in windows.

    The calls keep their order; the bodies of each ``window`` consecutive calls
    (duplicates among them) are shuffled together, and make one window. Writers
    that start each window together work on the same calls at the same time, as
    bot instances behind a load balancer do, so their writes race.
    """
    rng = random.Random(seed)
    windows = []
    for start in range(0, len(cases), window):
        group = [body for case in cases[start : start + window] for body in case.bodies]
        group += [rng.choice(group) for _ in range(round(len(group) * extra))]
        rng.shuffle(group)
        windows.append(group)
    return windows


def delivery(cases: list[CallCase], seed: int, window: int = 2, extra: float = 0.3) -> list[Body]:
    """The bodies of :func:`delivery_windows`, one after the other."""
    return [body for part in delivery_windows(cases, seed, window, extra) for body in part]


def milestone_counts(steps: list[tuple[str, list[str]]]) -> dict[str, Counter[str]]:
    """Per call id, how many times each milestone (by its wire name) fired."""
    counts: dict[str, Counter[str]] = {}
    for call_id, milestones in steps:
        counts.setdefault(call_id, Counter()).update(milestones)
    return counts


ORDER_FREE = frozenset(
    {tf.Milestone.TRANSFER_COMPLETED, tf.Milestone.TRANSFER_FAILED, tf.Milestone.CALL_TERMINATED}
)
"""Milestones that end an attempt or the call: every delivery order of a flow fires
them as often as its production order does. The others (``transferAccepted``,
``audioInactive``, ``audioActive``) may be skipped by an order in which a later
notification comes first, so a test can only ask that they fire at most once."""
