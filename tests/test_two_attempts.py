"""Two attempts: a failed attempt, then a retry, with the first attempt's mail arriving late.

For every documented failed flow as the first attempt and every documented
flow as the retry, the retry's notifications are delivered in every order,
with any one of the first attempt's notifications redelivered at any position
after the retry's request. The view, the terminal milestone (exactly once for
the retry) and the consultation fate must be the retry's, except where the
retry fails with exactly the first failure's ``resultInfo``: the protocol
cannot tell that failure from a late copy, and the library keeps the retry in
flight for the bot's timeout (``docs/model.md``, ambiguity 11).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from itertools import permutations
from math import factorial

import pytest
from flows import FLOWS, VARIANT_FLOWS, Flow, events_of, replay, request_of
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, Milestone, TransferRequested, TransferStatus
from transfer_fsm.report import milestones
from transfer_fsm.rules import IN_FLIGHT_STATUSES, LEG_FATE

ALL_FLOWS = [*FLOWS, *VARIANT_FLOWS]
FAILED_FLOWS = [
    f for f in ALL_FLOWS if f.final.transfer and f.final.transfer.status.value == "failed"
]
LEG = "e5d39592-99bd-4db8-bca8-30fb894ec51d"
TERMINAL = {Milestone.TRANSFER_COMPLETED, Milestone.TRANSFER_FAILED}


def echoes_context(flow: Flow) -> bool:
    """Some body of the flow echoes the request's clientContext (the legacy operation)."""
    return any(
        "clientContext" in (item.get("resourceData") or {})
        for body in flow.bodies
        for item in body["value"]
    )


def request(flow: Flow, name: str) -> TransferRequested:
    """The flow's request, naming the consultation call and a context of its own.

    The legacy operation echoes the context: the retry keeps the flow's own, and
    the first attempt's bodies are given the first request's (see ``first_events``).
    """
    if echoes_context(flow):
        return TransferRequested(LEG, request_of(flow).client_context if name == "retry" else name)
    return TransferRequested(LEG, name)


def first_events(first: Flow) -> list[tf.Notification]:
    """The first attempt's notifications, echoing the first request's context."""
    if not echoes_context(first):
        return first.events()
    bodies = copy.deepcopy(first.bodies)
    for body in bodies:
        for item in body["value"]:
            if "clientContext" in (item.get("resourceData") or {}):
                item["resourceData"]["clientContext"] = "first"
    return events_of(*bodies)


def after_first(first: Flow) -> Call:
    start = Call(first.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    return replay(start, request(first, "first"), *first_events(first))


def retry_view(first: Flow, retry: Flow) -> Call:
    """The retry's documented view: its flow's final, with its own request, after the first."""
    final = retry.final
    assert final.transfer is not None
    failed = after_first(first).transfer
    assert failed is not None
    assert failed.result is not None
    return final._replace(
        transfer=final.transfer._replace(request=request(retry, "retry"), attempt=2),
        earlier_failures=(failed.result,),
    )


def cannot_tell(first: Flow, retry: Flow) -> bool:
    """The retry fails with exactly the resultInfo the first attempt failed with: a
    remembered resultInfo is a late copy, whatever clientContext the legacy operation
    echoes (a retry rebuilt from the view reuses its first request's)."""
    assert first.final.transfer is not None
    assert retry.final.transfer is not None
    return (
        retry.final.transfer.status is TransferStatus.FAILED
        and retry.final.transfer.result == first.final.transfer.result
    )


def walk(call: Call, events: Sequence[tf.Event]) -> tuple[Call, list[Milestone]]:
    fired: list[Milestone] = []
    for event in events:
        new = tf.reduce(call, event)
        if new is not call:
            fired.extend(milestones(call, new))
        call = new
    return call, fired


def late_deliveries(first: Flow, retry: Flow) -> list[list[tf.Event]]:
    """Every order of the retry's notifications with one of the first's at any position."""
    return [
        [*order[:at], late, *order[at:]]
        for order in permutations(retry.events())
        for late in first_events(first)
        for at in range(len(order) + 1)
    ]


@pytest.mark.parametrize("first", FAILED_FLOWS, ids=lambda flow: flow.name)
def test_a_late_notification_of_the_failed_attempt_never_decides_the_retry(first: Flow) -> None:
    failed = after_first(first)
    assert failed == first.final._replace(
        transfer=first.final.transfer._replace(request=request(first, "first"))  # type: ignore[union-attr]
    )
    checked = pinned = 0
    for retry in ALL_FLOWS:
        if retry.final.call_id != first.final.call_id:
            continue
        expected = retry_view(first, retry)
        status = expected.transfer.status  # type: ignore[union-attr]
        start = tf.reduce(failed, request(retry, "retry"))
        waiting = replay(start, *without_failure(retry))
        for delivered in late_deliveries(first, retry):
            final, fired = walk(start, delivered)
            if cannot_tell(first, retry):
                pinned += 1
                assert waiting.transfer is not None
                assert waiting.transfer.status in IN_FLIGHT_STATUSES
                assert final == waiting, (retry.name, delivered)
                assert [m for m in fired if m in TERMINAL] == []
                continue
            checked += 1
            assert final == expected, (retry.name, delivered)
            assert [m for m in fired if m in TERMINAL] == [
                Milestone.TRANSFER_COMPLETED
                if status is TransferStatus.COMPLETED
                else Milestone.TRANSFER_FAILED
            ]
            assert tf.consultation_fate(final, LEG) is LEG_FATE[status]
    assert checked + pinned == _count(first)


def without_failure(retry: Flow) -> list[tf.Notification]:
    """The retry's notifications but its failure: what a retry that cannot be told
    from a late copy of the first failure ends up with, the failure being stale."""
    ending = retry.final.transfer.result if retry.final.transfer else None
    return [event for event in retry.events() if getattr(event, "result", None) != ending]


def _pair_count(first: Flow, retry: Flow) -> int:
    n = len(retry.events())
    return factorial(n) * len(first.events()) * (n + 1)


def _count(first: Flow) -> int:
    return sum(
        _pair_count(first, retry)
        for retry in ALL_FLOWS
        if retry.final.call_id == first.final.call_id
    )


def test_the_two_attempt_orders_are_counted() -> None:
    """How many orders the test above runs (each run checks its own share)."""
    total = sum(_count(first) for first in FAILED_FLOWS)
    pinned = sum(
        _pair_count(first, retry)
        for first in FAILED_FLOWS
        for retry in ALL_FLOWS
        if retry.final.call_id == first.final.call_id and cannot_tell(first, retry)
    )
    assert (len(FAILED_FLOWS), total, pinned) == (21, 1_536_576, 518_880)


# Random histories: the first attempt in any order, with duplicates; the retry in any
# order; any number of the first attempt's notifications redelivered anywhere after.

SEED_PAIRS = [
    (first, retry)
    for first in FAILED_FLOWS
    for retry in ALL_FLOWS
    if first in FLOWS and retry in FLOWS and not cannot_tell(first, retry)
]


@st.composite
def two_attempts(draw: st.DrawFn) -> tuple[Flow, Flow, list[tf.Event], list[tf.Event]]:
    first, retry = draw(st.sampled_from(SEED_PAIRS))
    own: list[tf.Event] = list(draw(st.permutations(first_events(first))))
    again = draw(st.lists(st.sampled_from(first_events(first)), max_size=3))
    first_delivery: list[tf.Event] = [*own]
    for event in again:
        first_delivery.insert(draw(st.integers(0, len(first_delivery))), event)
    retry_delivery: list[tf.Event] = list(draw(st.permutations(retry.events())))
    late = draw(st.lists(st.sampled_from([*first_events(first), *retry.events()]), max_size=4))
    for event in late:
        retry_delivery.insert(draw(st.integers(0, len(retry_delivery))), event)
    return first, retry, first_delivery, retry_delivery


@given(two_attempts())
def test_any_delivery_of_two_attempts_ends_in_the_retrys_view(
    history: tuple[Flow, Flow, list[tf.Event], list[tf.Event]],
) -> None:
    first, retry, first_delivery, retry_delivery = history
    start = Call(first.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    failed, fired_first = walk(tf.reduce(start, request(first, "first")), first_delivery)
    assert failed == after_first(first)
    final, fired = walk(tf.reduce(failed, request(retry, "retry")), retry_delivery)
    assert final == retry_view(first, retry)
    assert [m for m in fired_first if m in TERMINAL] == [Milestone.TRANSFER_FAILED]
    assert len([m for m in fired if m in TERMINAL]) == 1


def test_the_retry_keeps_the_first_failure_so_its_late_copies_are_recognised() -> None:
    for first in FAILED_FLOWS:
        failed = after_first(first)
        retry = tf.reduce(failed, request(first, "retry"))
        result = failed.result
        assert result is not None
        assert failed.transfer is not None
        assert retry.earlier_failures == (failed.transfer.result,)
        (ending,) = [e for e in first_events(first) if getattr(e, "result", None) == result]
        if not echoes_context(first):
            reason = f"a late copy of an earlier attempt's failure ({result.code}/{result.subcode})"
            assert tf.step(retry, ending) == tf.Step(retry, tf.Outcome.STALE, (), reason)
        else:  # the legacy operation echoes the first request's context: not the retry's
            assert tf.step(retry, ending) == tf.Step(
                retry, tf.Outcome.IGNORED, (), "the operation carries no transfer progress"
            )


# The first attempt ended otherwise: abandoned by the bot (then a GET that still shows
# its failure), refused, or failed twice with disagreeing results. Its notifications,
# all of them, may arrive during the retry.

GET_FAILED = "established, then a GET"


@st.composite
def other_endings(draw: st.DrawFn) -> tuple[str, Flow, Flow, list[tf.Event], list[tf.Event]]:
    first, retry = draw(st.sampled_from(SEED_PAIRS))
    ending = draw(st.sampled_from(["abandoned", "refused", "failed twice"]))
    events: list[tf.Event] = list(first.events())
    seen = list(draw(st.permutations(events)))[: draw(st.integers(0, len(events)))]
    failure = first.final.result
    assert failure is not None
    if ending == "abandoned":
        resource = {
            "id": first.final.call_id,
            "state": "established",
            "resultInfo": {
                "code": failure.code,
                "subcode": failure.subcode,
                "message": failure.message,
            },
        }
        seen = [*seen, tf.TransferAbandoned(), tf.parse_call_resource(resource)]
    elif ending == "refused":
        seen = [*seen, tf.TransferRejected(tf.ResultInfo(403, 8523))]
    else:
        other = tf.CallNotification(
            first.final.call_id, state=CallState.ESTABLISHED, result=tf.ResultInfo(500, 1234)
        )
        seen = [*events, other]
    retry_delivery: list[tf.Event] = list(draw(st.permutations(retry.events())))
    graphs = [*events, *(e for e in seen if isinstance(e, tf.CallNotification))]  # not the bot's
    late = draw(st.lists(st.sampled_from(graphs), max_size=4))
    for event in late:
        retry_delivery.insert(draw(st.integers(0, len(retry_delivery))), event)
    return ending, first, retry, seen, retry_delivery


@given(other_endings())
def test_however_the_first_attempt_ended_its_late_mail_never_decides_the_retry(
    history: tuple[str, Flow, Flow, list[tf.Event], list[tf.Event]],
) -> None:
    ending, first, retry, seen, retry_delivery = history
    start = Call(first.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    ended, _ = walk(tf.reduce(start, request(first, "first")), seen)
    assert ended.transfer is not None
    assert ended.transfer.status is TransferStatus.FAILED
    if ending == "refused":  # nothing of the first failure was seen: its copies are news
        retry_delivery = [e for e in retry_delivery if e in retry.events()]
    final, fired = walk(tf.reduce(ended, request(retry, "retry")), retry_delivery)
    view = retry.final
    assert view.transfer is not None
    assert final == view._replace(
        transfer=view.transfer._replace(request=request(retry, "retry"), attempt=2),
        earlier_failures=final.earlier_failures,
    )
    assert set(final.earlier_failures) >= {
        r for r in (ended.transfer.result, ended.result) if r is not None and r.code >= 300
    }
    assert len([m for m in fired if m in TERMINAL]) == 1
