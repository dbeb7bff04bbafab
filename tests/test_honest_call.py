"""An honest ``Call``: its public shape is its seven documented fields, and every value travels.

``len``, iteration, indexing, unpacking, ``json.dumps`` and ``match`` see the
fields ``Call`` documents and nothing else; ``call.transfer`` is stored, not
built on each read. Every value and every event pickles and deep-copies to an
equal value (with the envelope an event keeps beside its compared fields).
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from flows import CALL_ID, FLOWS, SEED

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, Phone, ResultInfo, Transfer, TransferStatus, User

FIELDS = (
    "call_id",
    "state",
    "audio",
    "transfer",
    "result",
    "termination_reason",
    "earlier_failures",
)
REQUESTED = tf.TransferRequested("e5d39592", "ctx", User("u1", "Ada", "t1"), 1090.5)
ATTEMPT = Transfer(
    TransferStatus.FAILED, ResultInfo(500, 7000, "<message>"), "<rc>", Audio.ACTIVE, REQUESTED
)
FAILURES = (ResultInfo(403, 8523, "meeting mode"), ResultInfo(500, 1000))
CALL = Call(
    CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, ATTEMPT, ResultInfo(500, 7000), None, FAILURES
)


def test_a_call_is_its_seven_fields() -> None:
    assert Call._fields == FIELDS
    assert len(CALL) == 7
    assert list(CALL) == [
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        ATTEMPT,
        ResultInfo(500, 7000),
        None,
        FAILURES,
    ]
    assert CALL[3] is CALL.transfer
    assert CALL[-1] is CALL.earlier_failures
    assert CALL[:3] == (CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    call_id, state, audio, transfer, result, reason, earlier = CALL
    assert (call_id, state, audio, transfer, result, reason, earlier) == tuple(CALL)
    assert transfer is CALL.transfer


def test_the_transfer_is_stored_not_built_on_each_read() -> None:
    assert CALL.transfer is CALL.transfer
    assert CALL.transfer is ATTEMPT
    reduced = tf.reduce(Call(CALL_ID), REQUESTED)
    assert reduced.transfer is reduced.transfer
    assert reduced.transfer is reduced[3]


def test_match_sees_the_public_fields() -> None:
    assert Call.__match_args__ == Call._fields == FIELDS
    match CALL:
        case Call(call_id, state, audio, transfer):
            seen = (call_id, state, audio, transfer)
    assert seen == (CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, ATTEMPT)
    match CALL:
        case Call(state=CallState.TERMINATED):
            pytest.fail("not terminated")
        case Call(
            state=CallState.ESTABLISHED,
            transfer=Transfer(status=TransferStatus.FAILED, request=tf.TransferRequested(target=t)),
            earlier_failures=(first, *_),
        ):
            assert (t, first) == (User("u1", "Ada", "t1"), FAILURES[0])
        case _:
            pytest.fail("the keyword pattern did not match")


def test_json_of_a_call_is_the_list_of_its_public_values() -> None:
    assert json.loads(json.dumps(CALL)) == [
        CALL_ID,
        "established",
        "active",
        [
            "failed",
            [500, 7000, "<message>"],
            "<rc>",
            "active",
            ["e5d39592", "ctx", ["u1", "Ada", "t1"], 1090.5],
            1,
        ],
        [500, 7000, None],
        None,
        [[403, 8523, "meeting mode"], [500, 1000, None]],
    ]  # fmt: skip
    assert json.loads(json.dumps(Call("x"))) == ["x", None, None, None, None, None, []]


def _legacy_operation() -> dict[str, object]:
    return {
        "value": [
            {
                "changeType": "deleted",
                "resource": f"/app/calls/{CALL_ID}/operations/op1",
                "resourceData": {
                    "status": "completed",
                    "resultInfo": {"code": "200", "subCode": "transferAccepted"},
                },
            }
        ]
    }


def _events() -> list[tuple[str, object]]:
    (with_data,) = tf.parse_notifications(SEED["direct-transferring"])
    (without_data,) = tf.parse_notifications(
        {"value": [{"changeType": "deleted", "resourceUrl": f"/communications/calls/{CALL_ID}"}]}
    )
    (operation,) = tf.parse_notifications(_legacy_operation())
    (participants,) = tf.parse_notifications(
        {
            "value": [
                {
                    "changeType": "updated",
                    "resourceUrl": f"/communications/calls/{CALL_ID}/participants",
                    "resourceData": [{"id": "p1"}],
                }
            ]
        }
    )
    values: list[tuple[str, object]] = [
        ("CallNotification with resourceData", with_data),
        ("CallNotification without resourceData", without_data),
        ("OperationNotification", operation),
        ("ResourceNotification", participants),
        ("GET answer", tf.parse_call_resource({"id": CALL_ID, "state": "established"})),
        ("404 answer", tf.call_gone(CALL_ID)),
        ("TransferRequested, user target", REQUESTED),
        ("TransferRequested, phone target", tf.TransferRequested(target=Phone("+1234567"), at=3)),
        ("TransferRequested, empty", tf.TransferRequested()),
        ("TransferRejected", tf.TransferRejected(ResultInfo(403, 8523, "meeting mode"))),
        ("TransferAbandoned", tf.TransferAbandoned()),
        ("Step", tf.step(CALL, tf.TransferRequested())),
        ("ResultInfo", ResultInfo(500, 7000, "<message>")),
        ("Transfer", ATTEMPT),
        ("Call", CALL),
        ("empty Call", Call("x")),
        *((f"final of {flow.name}", flow.final) for flow in FLOWS[:2]),
    ]
    assert [name for name, event in values if isinstance(event, tf.CallNotification)] == [
        "CallNotification with resourceData",
        "CallNotification without resourceData",
        "GET answer",
        "404 answer",
    ]
    assert with_data.data
    assert not without_data.data
    return values


VALUES = _events()
NOTIFICATION_TYPES = (tf.CallNotification, tf.OperationNotification, tf.ResourceNotification)


@pytest.mark.parametrize("value", [v for _, v in VALUES], ids=[name for name, _ in VALUES])
def test_every_value_and_event_pickles_and_deep_copies(value: object) -> None:
    for again in (pickle.loads(pickle.dumps(value)), copy.deepcopy(value), copy.copy(value)):
        assert type(again) is type(value)
        assert again == value
        assert hash(again) == hash(value)
        for kept in ("data", "notification"):  # left out of ==, so compared here
            assert getattr(again, kept, None) == getattr(value, kept, None)


NOTIFICATIONS = [v for _, v in VALUES if isinstance(v, NOTIFICATION_TYPES)]


@pytest.mark.parametrize("event", NOTIFICATIONS)
def test_a_notification_hashes_without_its_envelope(event: tf.Notification) -> None:
    again = pickle.loads(pickle.dumps(event))
    assert hash(again) == hash(event)
    rewrapped = event._replace(notification={"@odata.etag": "another envelope"})
    assert rewrapped == event
    assert hash(rewrapped) == hash(event)
    assert len({event, rewrapped, again}) == 1


@pytest.mark.parametrize(
    ("event", "outcome", "reason"),
    [
        (tf.TransferRequested(), tf.Outcome.IGNORED, "a transfer attempt is already open"),
        (tf.TransferAbandoned(), tf.Outcome.APPLIED, "abandoned the attempt (the bot's timeout"),
    ],
)
def test_a_steps_outcome_is_worked_out_when_read_and_the_same_as_made_eagerly(
    event: tf.Event, outcome: tf.Outcome, reason: str
) -> None:
    call = tf.reduce(tf.Call("x", tf.CallState.ESTABLISHED), tf.TransferRequested())
    done = tf.step(call, event)
    assert done.outcome is outcome  # read first: the outcome, then the reason
    assert done.reason.startswith(reason)
    again = tf.step(call, event)
    assert again.reason == done.reason  # read first: the reason, then the outcome
    assert again.outcome is outcome
    assert again == done == tf.Step(done.call, outcome, done.milestones, done.reason)


def test_a_step_is_a_record_of_its_four_fields() -> None:
    call = tf.Call("x", tf.CallState.ESTABLISHED, tf.Audio.ACTIVE)
    done = tf.step(call, tf.TransferRequested())
    reason = "opened an attempt (the bot's request)"
    expected = tf.Step(done.call, tf.Outcome.APPLIED, (), reason)
    assert done == expected
    assert hash(done) == hash(expected)
    assert done != tf.Step(done.call, tf.Outcome.APPLIED, (), "another reason")
    assert done != (done.call, tf.Outcome.APPLIED, (), reason)  # not a tuple
    assert list(done) == [done.call, tf.Outcome.APPLIED, (), reason]
    new, outcome, milestones, why = done
    assert (new, outcome, milestones, why) == (done.call, tf.Outcome.APPLIED, (), reason)
    match done:
        case tf.Step(_, tf.Outcome.APPLIED, (), worded):
            assert worded == reason
        case _:
            pytest.fail("a Step matches by its four fields")
    assert repr(done) == (
        f"Step(call={done.call!r}, outcome=Outcome.APPLIED, milestones=(), reason={reason!r})"
    )
    for again in (pickle.loads(pickle.dumps(done)), copy.deepcopy(done), copy.copy(done)):
        assert again == done
        assert again.reason == reason
    with pytest.raises(AttributeError, match="immutable"):
        done.reason = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del done.call
    assert done.reason == reason


def test_a_steps_words_do_not_change_when_the_caller_edits_the_body_afterwards() -> None:
    """An operation's kind is read from its data (the caller's dict): its step is worded
    at once, so editing the body later changes neither the outcome nor the reason."""
    body: dict[str, Any] = {
        "changeType": "updated",
        "resourceUrl": "/communications/calls/x/operations/op-1",
        "resourceData": {
            "@odata.type": "#microsoft.graph.commsOperation",
            "status": "running",
            "resultInfo": {"code": 200, "subCode": "transferring"},
        },
    }
    (event,) = tf.parse_notifications(body)
    call = tf.reduce(tf.Call("x", tf.CallState.ESTABLISHED), event)  # in progress, by observation
    again = tf.step(call, event)  # the same progress once more
    body["resourceData"]["@odata.type"] = "#microsoft.graph.playPromptOperation"
    assert (again.outcome, again.reason) == (
        tf.Outcome.DUPLICATE,
        "everything it says is already in the view",
    )
