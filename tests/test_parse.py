"""parse_notifications: every accepted shape, and one clear error for everything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flows import CALL_ID, SEED
from hostile import WIRE_KEYS
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    CallNotification,
    CallState,
    ChangeType,
    NotificationError,
    OperationNotification,
    ResourceNotification,
    ResultInfo,
)

URL = f"/communications/calls/{CALL_ID}"


def _one(**notification: Any) -> dict[str, Any]:
    return {"value": [{"changeType": "updated", "resourceUrl": URL, **notification}]}


def test_bytes_text_and_decoded_bodies_parse_alike() -> None:
    body = SEED["direct-audio-inactive"]
    raw = json.dumps(body)
    parsed = [
        tf.parse_notifications(form)
        for form in (raw, raw.encode(), bytearray(raw.encode()), memoryview(raw.encode()), body)
    ]
    assert all(events == parsed[0] for events in parsed)
    assert parsed[0] == [
        CallNotification(
            CALL_ID,
            ChangeType.UPDATED,
            CallState.TRANSFERRING,
            Audio.INACTIVE,
            data=body["value"][0]["resourceData"],
        )
    ]


def test_a_single_notification_without_the_envelope() -> None:
    body = SEED["direct-transferring"]["value"][0]
    assert tf.parse_notifications(body) == tf.parse_notifications(SEED["direct-transferring"])


def test_several_notifications_and_resource_data_lists_keep_their_order() -> None:
    body = {
        "value": [
            {
                "changeType": "updated",
                "resource": f"/app/calls/{CALL_ID}",
                "resourceData": [
                    {"state": "establishing"},
                    {"state": "established"},
                ],
            },
            {"changeType": "deleted", "resourceUrl": f"/communications/calls/{CALL_ID}"},
        ]
    }
    states = [(e.change_type, e.state) for e in tf.parse_notifications(body)]  # type: ignore[union-attr]
    assert states == [
        (ChangeType.UPDATED, CallState.ESTABLISHING),
        (ChangeType.UPDATED, CallState.ESTABLISHED),
        (ChangeType.DELETED, None),
    ]


@pytest.mark.parametrize(
    "info",
    [
        {"code": 500, "subCode": 7000, "message": "m"},
        {"code": "500", "subcode": "7000", "message": "m"},
        {"code": 500, "subcode": 7000, "subCode": 1, "message": "m"},
    ],
)
def test_result_codes_as_numbers_or_strings_and_either_key(info: dict[str, Any]) -> None:
    (event,) = tf.parse_notifications(
        _one(resourceData={"state": "established", "resultInfo": info})
    )
    assert event.result == ResultInfo(500, 7000, "m")  # type: ignore[union-attr]


def test_unknown_values_and_fields_are_kept() -> None:
    data = {"state": "parked", "mediaState": {"audio": "muffled"}, "newField": [1, 2]}
    (event,) = tf.parse_notifications(_one(resourceData=data))
    assert event == CallNotification(CALL_ID, ChangeType.UPDATED, "parked", "muffled", data=data)


def test_sub_resources_are_not_call_updates() -> None:
    participants = {
        "changeType": "updated",
        "resourceUrl": f"{URL}/participants",
        "resourceData": [{"id": "p"}],
    }
    operation: dict[str, Any] = {
        "changeType": "deleted",
        "resource": f"/app/calls/{CALL_ID}/operations/op-1",
        "resourceData": {
            "status": "completed",
            "clientContext": "ctx",
            "resultInfo": {"code": "200", "subCode": "transferAccepted"},
        },
    }
    events = tf.parse_notifications({"value": [participants, operation]})
    assert events == [
        ResourceNotification(CALL_ID, "participants", ChangeType.UPDATED, [{"id": "p"}]),
        OperationNotification(
            CALL_ID,
            "op-1",
            ChangeType.DELETED,
            "completed",
            ResultInfo(200, 0, None),
            "transferAccepted",
            "ctx",
            operation["resourceData"],
        ),
    ]
    call = tf.Call(CALL_ID, CallState.ESTABLISHED)
    assert tf.step(call, events[0]) == tf.Step(
        call, tf.Outcome.IGNORED, (), "a sub-resource notification is not a call update"
    )


BAD = [
    (b"\xff\xfe", "$", "UTF-8 text"),
    ("{", "$", "valid JSON"),
    ("[]", "$", "a JSON object"),
    ("{}", "$", "a commsNotifications object"),
    ('{"value": {}}', "$.value", "an array"),
    ('{"value": [1]}', "$.value[0]", "a commsNotification object"),
    ('{"value": [{"changeType": "moved"}]}', "$.value[0].changeType", "'created'"),
    ('{"value": [{"changeType": ["updated"]}]}', "$.value[0].changeType", "'created'"),
    ('{"value": [{"changeType": "updated"}]}', "$.value[0].resource", "a call resource path"),
    (
        '{"value": [{"changeType": "updated", "resourceUrl": 7}]}',
        "$.value[0].resourceUrl",
        "a call resource path",
    ),
    (
        '{"value": [{"changeType": "updated", "resourceUrl": "/me/events/1"}]}',
        "$.value[0].resourceUrl",
        "a call resource path",
    ),
    (json.dumps(_one(resourceData=5)), "$.value[0].resourceData", "a call object"),
    (json.dumps(_one(resourceData={"state": 3})), "$.value[0].resourceData.state", "a callState"),
    (
        json.dumps(_one(resourceData={"mediaState": "on"})),
        "$.value[0].resourceData.mediaState",
        "a callMediaState object",
    ),
    (
        json.dumps(_one(resourceData={"resultInfo": {"code": "five"}})),
        "$.value[0].resourceData.resultInfo.code",
        "an Int32",
    ),
    (
        json.dumps(_one(resourceData={"resultInfo": {"code": True}})),
        "$.value[0].resourceData.resultInfo.code",
        "an Int32",
    ),
    (
        json.dumps(_one(resourceData={"resultInfo": {"code": 1, "subCode": 2**40}})),
        "$.value[0].resourceData.resultInfo.subCode",
        "an Int32",
    ),
    (
        json.dumps(_one(resourceData={"terminationReason": 1})),
        "$.value[0].resourceData.terminationReason",
        "a string",
    ),
    ('{"value": [], "x": NaN}', "$", "standard JSON"),
    ('{"value": [], "x": -Infinity}', "$", "standard JSON"),
    (
        json.dumps(_one(resourceData={"resultInfo": {"code": "+-5"}})),
        "$.value[0].resourceData.resultInfo.code",
        "an Int32",
    ),
    (
        json.dumps(_one(resourceData={"resultInfo": {"code": "\u00b2"}})),
        "$.value[0].resourceData.resultInfo.code",
        "an Int32",
    ),
    (
        json.dumps(
            {
                "changeType": "updated",
                "resource": f"/app/calls/{CALL_ID}/operations/op",
                "resourceData": {"resultInfo": {"code": "--1"}},
            }
        ),
        "$.resourceData.resultInfo.code",
        "an Int32",
    ),
    ("[" * 100_000 + "]" * 100_000, "$", "JSON nested less deeply"),
    (42, "$", "bytes, text or a decoded JSON object"),
]


@pytest.mark.parametrize(("body", "path", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_names_the_path_and_what_was_expected(
    body: Any, path: str, expected: str
) -> None:
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(body)
    assert caught.value.path == path
    assert caught.value.expected.startswith(expected)
    assert str(caught.value).startswith(f"{path}: expected {expected}")
    assert isinstance(caught.value, ValueError)


def test_a_huge_integer_is_refused_or_kept_never_an_other_error() -> None:
    # CPython 3.10.7+ refuses integers of over 4,300 digits; older ones parse them.
    body = '{"value": [], "unknownField": ' + "9" * 5000 + "}"
    try:
        assert tf.parse_notifications(body) == []
    except NotificationError as error:
        assert (error.path, error.expected) == ("$", "valid JSON")  # noqa: PT017


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> object:
    """A seed payload with one value somewhere replaced by an arbitrary JSON value."""
    body: Any = json.loads(json.dumps(draw(st.sampled_from(list(SEED.values())))))
    node = body
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
            node[key] = draw(JSON | st.sampled_from(WIRE_KEYS))
            break
        node = node[key]
    return body


@given(JSON | mutated_payloads())
def test_the_only_error_is_notification_error(body: Any) -> None:
    for form in (body, json.dumps(body), json.dumps(body).encode()):
        try:
            events = tf.parse_notifications(form)
        except NotificationError as error:
            assert error.path.startswith("$")  # noqa: PT017 (a property over both outcomes)
        else:
            call = tf.Call(CALL_ID)
            for event in events:
                if event.call_id == CALL_ID:
                    call = tf.reduce(call, event)
