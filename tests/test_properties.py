"""The laws the library claims, checked by hypothesis over generated deliveries.

- convergence: any interleaving of a flow, with duplicates and late
  notifications after the end, ends in the flow's documented view;
- idempotence: reducing the same event twice is reducing it once;
- purity: neither the call nor the event (nor the parsed body) is mutated;
- totality: no exception for any parsed event in any reachable state;
- monotone progress: within an attempt the transfer status and the media
  chain only move forward, and ``terminated`` is absorbing;
- milestones: each at most once per attempt, the terminal one exactly once.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

from flows import (
    CALL_ID,
    REQUEST,
    SEED,
    V1_SUCCESS,
    Flow,
    replay,
    step_through,
    with_state,
)
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
import transfer_fsm.testing as kit
from transfer_fsm import Call, CallState, Milestone, ResultInfo, Transfer, TransferStatus
from transfer_fsm.rules import MEDIA_CHAIN, STATUS_RANK


def _body(state: str | None = None, change: str = "updated", **data: object) -> dict[str, object]:
    resource: dict[str, object] = dict(data)
    if state is not None:
        resource["state"] = state
    return {
        "changeType": change,
        "resourceUrl": f"/communications/calls/{CALL_ID}",
        "resourceData": resource,
    }


EXTRA_BODIES: list[object] = [
    _body("incoming", "created"),
    _body("establishing"),
    _body("established"),
    _body("ringing"),
    _body("hold"),
    _body("redirecting"),
    _body("terminating"),
    _body("unknownFutureValue"),
    _body("someStateFromTheFuture", extraField={"kept": True}),
    _body(mediaState={"audio": "inactive"}),
    _body(mediaState={"audio": "active"}),
    _body(mediaState={"audio": "unknownFutureValue"}),
    _body("established", resultInfo={"code": 500, "subcode": 7700, "message": "m"}),
    _body("terminated", "deleted", resultInfo={"code": "200", "subCode": "5001"}),
    _body(None, "deleted"),
    {
        "changeType": "updated",
        "resourceUrl": f"/communications/calls/{CALL_ID}/participants",
        "resourceData": [{"id": "p1"}],
    },
    {
        "changeType": "updated",
        "resource": f"/app/calls/{CALL_ID}/operations/op1",
        "resourceData": {
            "status": "running",
            "resultInfo": {"code": "200", "subCode": "transferring"},
        },
    },
    {
        "changeType": "deleted",
        "resource": f"/app/calls/{CALL_ID}/operations/op1",
        "resourceData": {
            "status": "completed",
            "resultInfo": {"code": "200", "subCode": "transferAccepted"},
        },
    },
]
BODIES: list[object] = [
    *SEED.values(),
    V1_SUCCESS,
    with_state(SEED["direct-audio-inactive"], "transferAccepted"),
    with_state(SEED["direct-audio-active"], "transferAccepted"),
    *EXTRA_BODIES,
]
BOT_EVENTS: list[tf.Event] = [
    REQUEST,
    tf.TransferRequested(replaces_call_id="e5d39592", client_context="ctx"),
    tf.TransferRejected(ResultInfo(403, 8523, "Cannot do transfer for meeting mode")),
    tf.TransferRequested(client_context="retry", target=tf.Phone("+12345678901"), at=12.5),
    tf.TransferAbandoned(),
    tf.TransferAbandoned(attempt=1),
    tf.TransferAbandoned(attempt=2),
    tf.parse_call_resource(
        {"id": CALL_ID, "state": "established", "mediaState": {"audio": "active"}}
    ),
    tf.parse_call_resource(
        {"id": CALL_ID, "state": "established", "resultInfo": {"code": 500, "subcode": 7000}}
    ),
    tf.call_gone(CALL_ID),
]
NOTIFICATIONS: list[tf.Event] = [
    event
    for body in BODIES
    if "transferTarget" not in body  # type: ignore[operator]
    for event in tf.parse_notifications(json.dumps(body))
]
EVENTS = st.sampled_from([*NOTIFICATIONS, *BOT_EVENTS])
STARTS = st.sampled_from(
    [
        Call(CALL_ID),
        Call(CALL_ID, CallState.ESTABLISHED, tf.Audio.ACTIVE),
        tf.reduce(Call(CALL_ID), REQUEST),
    ]
)


ABOUT_ONE_CALL = kit.documented_flows(call_id=CALL_ID)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Flow, Call, list[tf.Event]]:
    """Any documented flow (with the bot's request or observed), delivered as the
    public kit delivers it: in any order, some bodies again anywhere."""
    flow = draw(st.sampled_from(ABOUT_ONE_CALL))
    bodies = draw(kit.deliveries(flow))
    start = flow.requested  # up, audio flowing; with a request, also from nothing known yet
    if flow.request is not None:
        fresh = tf.reduce(Call(flow.final.call_id), flow.request.event)
        start = draw(st.sampled_from([start, fresh]))
    return flow, start, [event for body in bodies for event in tf.parse_notifications(body)]


@given(
    deliveries(),
    st.lists(EVENTS.filter(lambda e: not isinstance(e, tf.TransferRequested)), max_size=4),
)
def test_convergence_with_duplicates_and_late_deliveries(
    delivery: tuple[Flow, Call, list[tf.Event]], late: list[tf.Event]
) -> None:
    flow, start, events = delivery
    steps = step_through(start, *events)
    assert steps[-1].call == flow.final
    if flow.final.state is CallState.TERMINATED:
        after = step_through(flow.final, *late)
        assert all(s.call == flow.final for s in after)
        assert all(
            s.outcome in (tf.Outcome.STALE, tf.Outcome.DUPLICATE, tf.Outcome.IGNORED) for s in after
        )


@given(deliveries())
def test_milestones_fire_at_most_once_and_the_terminal_one_exactly_once(
    delivery: tuple[Flow, Call, list[tf.Event]],
) -> None:
    flow, start, events = delivery
    steps = step_through(start, *events)
    fired = Counter(m for s in steps for m in s.milestones)
    assert max(fired.values()) == 1
    terminal = {Milestone.TRANSFER_COMPLETED, Milestone.TRANSFER_FAILED}
    assert sum(fired[m] for m in terminal) == 1
    assert fired[Milestone.CALL_TERMINATED] == (flow.final.state is CallState.TERMINATED)


@given(STARTS, st.lists(EVENTS, max_size=12), EVENTS)
def test_idempotence(start: Call, history: list[tf.Event], event: tf.Event) -> None:
    call = replay(start, *history)
    once = tf.reduce(call, event)
    assert tf.reduce(once, event) == once
    assert tf.step(once, event).outcome is not tf.Outcome.APPLIED


@given(STARTS, st.lists(EVENTS, max_size=12))
def test_purity_and_totality(start: Call, events: list[tf.Event]) -> None:
    before = copy.deepcopy(events)
    call = start
    for event in events:
        snapshot = copy.deepcopy(call)
        new = tf.step(call, event).call  # totality: never raises
        assert isinstance(new, Call)
        assert call == snapshot  # the input snapshot is unchanged
        call = new
    assert events == before  # events, and the resourceData they hold, are unchanged


IN_FLIGHT = (TransferStatus.REQUESTED, TransferStatus.TRANSFERRING, TransferStatus.ACCEPTED)


def _reopened(old: Transfer, new: Transfer) -> bool:
    """The step opened the next attempt: only after one ended (failed, or abandoned by the
    bot), and numbered one more, never two."""
    if new.attempt == old.attempt:
        return False
    assert new.attempt == old.attempt + 1
    assert old.status in (TransferStatus.FAILED, TransferStatus.ABANDONED)
    return True


@given(STARTS, st.lists(EVENTS, max_size=16))
def test_monotone_progress(start: Call, events: list[tf.Event]) -> None:
    call = start
    for event in events:
        new = tf.reduce(call, event)
        if call.state is CallState.TERMINATED and new != call:
            # absorbing, but Graph's word still settles an attempt the bot abandoned
            assert call.transfer is not None
            assert new.transfer is not None
            assert call.transfer.status is TransferStatus.ABANDONED
            assert new.transfer.status in (TransferStatus.COMPLETED, TransferStatus.FAILED)
            assert (new.state, new.audio) == (call.state, call.audio)
            assert new.transfer.attempt == call.transfer.attempt
        old_attempt, new_attempt = call.transfer, new.transfer
        kept = len(call.earlier_failures)
        assert new.earlier_failures[:kept] == call.earlier_failures  # it only grows
        assert len(set(new.earlier_failures)) == len(new.earlier_failures)  # each once
        if old_attempt is None:
            assert new_attempt is None or new_attempt.attempt == 1
        else:
            assert new_attempt is not None
            if not _reopened(old_attempt, new_attempt):
                assert STATUS_RANK[new_attempt.status] >= STATUS_RANK[old_attempt.status]
                if new_attempt.status in IN_FLIGHT:
                    assert MEDIA_CHAIN[new_attempt.audio] >= MEDIA_CHAIN[old_attempt.audio]
        call = new


def test_parsing_never_mutates_the_body() -> None:
    for body in BODIES:
        kept = copy.deepcopy(body)
        if isinstance(body, dict) and "transferTarget" not in body:
            tf.parse_notifications(body)
        assert body == kept
