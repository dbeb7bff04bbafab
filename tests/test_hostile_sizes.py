"""Hostile sizes: 10 MB bodies, 100,000 notifications in one POST, nesting 100,000 deep.

Each is kept whole or refused with a NotificationError naming its path; never a
RecursionError, never a truncated or reordered list of events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flows import CALL_ID, Body
from hostile import (
    NOTE,
    URL,
    assert_names_its_path,
    call_notification,
    outcome,
    summary,
)

import transfer_fsm as tf
from transfer_fsm import Audio, CallNotification, CallState, ChangeType, NotificationError

# --------------------------------------------------------------------------
# 1. 10 MB bodies
# --------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def test_a_10_mb_unknown_field_is_kept_whole() -> None:
    """One notification whose resourceData carries a 10 MB field the library does not know."""
    transcript = (NOTE * (TEN_MB // len(NOTE) + 1))[:TEN_MB]
    data = {"state": "transferring", "transcript": transcript}
    raw = json.dumps({"value": [call_notification(data)]}, ensure_ascii=False).encode()
    assert len(raw) > TEN_MB
    (event,) = tf.parse_notifications(raw)
    assert event == CallNotification(CALL_ID, ChangeType.UPDATED, CallState.TRANSFERRING, data=data)


MANY = 1_000
STATES = ["establishing", "established", "transferring", "transferAccepted", "terminated"]


@pytest.fixture(scope="module")
def ten_mb_of_notifications() -> list[Body]:
    """1,000 notifications of about 10.5 kB each, each with its own 10 kB note."""
    return [
        call_notification({"state": STATES[n % 5], "note": f"{n:05d} " + NOTE * 300})
        for n in range(MANY)
    ]


def test_a_10_mb_body_of_many_notifications_keeps_them_all(
    ten_mb_of_notifications: list[Body],
) -> None:
    raw = json.dumps({"value": ten_mb_of_notifications}).encode()
    assert len(raw) > TEN_MB
    events = tf.parse_notifications(raw)
    assert events == [
        CallNotification(
            CALL_ID,
            ChangeType.UPDATED,
            CallState(n["resourceData"]["state"]),
            data=n["resourceData"],
        )
        for n in ten_mb_of_notifications
    ]


def test_a_10_mb_body_with_one_bad_value_at_the_very_end_names_it(
    ten_mb_of_notifications: list[Body],
) -> None:
    bad = call_notification({"state": "established", "replacesContext": 7})
    raw = json.dumps({"value": [*ten_mb_of_notifications, bad]}).encode()
    assert len(raw) > TEN_MB
    assert raw.endswith(b'"replacesContext": 7}}]}')  # the last value in the body
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(raw)
    assert summary(caught.value) == (
        "refused",
        f"$.value[{MANY}].resourceData.replacesContext",
        "a string",
        "7",
    )


# --------------------------------------------------------------------------
# 2. 100,000 notifications in one POST
# --------------------------------------------------------------------------

HUNDRED_THOUSAND = 100_000


def numbered(sequence: int) -> str:
    """Notification number ``sequence`` as Graph would write it."""
    state = STATES[sequence % 5]
    return (
        f'{{"changeType": "updated", "resourceUrl": "{URL}", '
        f'"resourceData": {{"state": "{state}", "sequence": {sequence}}}}}'
    )


def numbered_event(sequence: int) -> CallNotification:
    state = STATES[sequence % 5]
    data = {"state": state, "sequence": sequence}
    return CallNotification(CALL_ID, ChangeType.UPDATED, CallState(state), data=data)


@pytest.fixture(scope="module")
def hundred_thousand() -> list[str]:
    return [numbered(n) for n in range(HUNDRED_THOUSAND)]


def post(notifications: list[str]) -> bytes:
    return ('{"value": [' + ", ".join(notifications) + "]}").encode()


def test_100_000_notifications_in_one_post_give_100_000_events_in_order(
    hundred_thousand: list[str],
) -> None:
    events = tf.parse_notifications(post(hundred_thousand))
    assert len(events) == HUNDRED_THOUSAND
    assert events[0] == numbered_event(0)
    assert events[-1] == numbered_event(HUNDRED_THOUSAND - 1)
    assert [events[n] for n in (1, 4, 12_345, 54_321, 99_998)] == [
        numbered_event(n) for n in (1, 4, 12_345, 54_321, 99_998)
    ]
    assert events == [numbered_event(n) for n in range(HUNDRED_THOUSAND)]


def test_the_100_000th_notification_invalid_refuses_the_post_and_names_it(
    hundred_thousand: list[str],
) -> None:
    bad = numbered(HUNDRED_THOUSAND - 1).replace('"terminated"', "3")
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(post([*hundred_thousand[:-1], bad]))
    assert summary(caught.value) == (
        "refused",
        "$.value[99999].resourceData.state",
        "a callState string",
        "3",
    )


# --------------------------------------------------------------------------
# 3. Nesting 100,000 deep
# --------------------------------------------------------------------------

DEEP = 100_000


def nested_arrays(depth: int) -> list[Any]:
    """``[[[...]]]``, ``depth`` arrays deep, built without recursion."""
    outer: list[Any] = []
    inner = outer
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return outer


def nested_objects(depth: int, key: str = "a") -> dict[str, Any]:
    """``{"a": {"a": ...}}``, ``depth`` objects deep, built without recursion."""
    outer: dict[str, Any] = {}
    inner = outer
    for _ in range(depth - 1):
        inner[key] = {}
        inner = inner[key]
    return outer


def depth_of(node: object) -> int:
    """How deep the first branch of ``node`` goes, measured without recursion."""
    depth = 0
    while isinstance(node, (list, dict)):
        depth += 1
        node = (
            (node[0] if node else None)
            if isinstance(node, list)
            else next(iter(node.values()), None)
        )
    return depth


NESTED_TEXT = {
    "arrays": "[" * DEEP + "]" * DEEP,
    "objects": '{"a": ' * (DEEP - 1) + "{}" + "}" * (DEEP - 1),
    "arrays of objects": '[{"a": ' * (DEEP // 2) + "1" + "}]" * (DEEP // 2),
}


@pytest.mark.parametrize("field", ["transcript", "resultInfo", "state"])
@pytest.mark.parametrize("nesting", list(NESTED_TEXT))
def test_text_nested_100_000_deep_in_resource_data_is_kept_or_refused(
    nesting: str, field: str
) -> None:
    """Never a RecursionError: the body is refused (today at ``$``, as too deep) or kept."""
    text = json.dumps({"value": [call_notification({field: "@NESTED@"})]})
    result = outcome(text.replace('"@NESTED@"', NESTED_TEXT[nesting]))
    if isinstance(result, NotificationError) and result.path == "$":
        assert summary(result) == ("refused", "$", "JSON nested less deeply", "nesting too deep")
    elif isinstance(result, NotificationError):  # a decoder that reads it, then a type check
        assert result.path == f"$.value[0].resourceData.{field}"
        assert field != "transcript"
    else:
        (event,) = result
        assert depth_of(event.data[field]) >= DEEP // 2  # type: ignore[index]


def test_shallow_nesting_in_an_unknown_field_is_kept() -> None:
    """The refusal above is about depth, not about nesting as such."""
    text = json.dumps({"value": [call_notification({"n": 0})]}).replace(
        "0}", "[" * 50 + "]" * 50 + "}"
    )
    (event,) = tf.parse_notifications(text)
    assert event == CallNotification(CALL_ID, data={"n": nested_arrays(50)})


def test_a_decoded_mapping_nested_100_000_deep_in_an_unknown_field_is_kept() -> None:
    """Passed as a mapping, deep nesting is the caller's to keep; parse and reduce never recurse."""
    arrays, objects = nested_arrays(DEEP), nested_objects(DEEP)
    data = {"state": "transferring", "arrays": arrays, "objects": objects}
    (event,) = tf.parse_notifications({"value": [call_notification(data)]})
    assert isinstance(event, CallNotification)
    assert event.data is data
    assert event.data["arrays"] is arrays
    assert event.data["objects"] is objects
    assert event.state is CallState.TRANSFERRING
    before = tf.Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    assert tf.reduce(before, event).state is CallState.TRANSFERRING


# Built when the test runs, not when the suite is collected.
DEEP_IN_KNOWN_FIELDS: list[tuple[str, Callable[[], Body], str, str]] = [
    (
        "value[0]",
        lambda: {"value": [nested_arrays(DEEP)]},
        "$.value[0]",
        "an array",
    ),
    (
        "resourceData",
        lambda: {"value": [call_notification(nested_arrays(DEEP))]},
        "$.value[0].resourceData[0]",
        "an array",
    ),
    (
        "state",
        lambda: {"value": [call_notification({"state": nested_objects(DEEP)})]},
        "$.value[0].resourceData.state",
        "an object",
    ),
    (
        "mediaState",
        lambda: {"value": [call_notification({"mediaState": nested_objects(DEEP, "audio")})]},
        "$.value[0].resourceData.mediaState.audio",
        "an object",
    ),
    (
        "resultInfo",
        lambda: {"value": [call_notification({"resultInfo": nested_arrays(DEEP)})]},
        "$.value[0].resourceData.resultInfo",
        "an array",
    ),
    (
        "resultInfo.code",
        lambda: {"value": [call_notification({"resultInfo": nested_objects(DEEP, "code")})]},
        "$.value[0].resourceData.resultInfo.code",
        "an object",
    ),
]


@pytest.mark.parametrize(
    ("build", "path", "found"),
    [case[1:] for case in DEEP_IN_KNOWN_FIELDS],
    ids=[case[0] for case in DEEP_IN_KNOWN_FIELDS],
)
def test_a_decoded_mapping_nested_100_000_deep_in_a_known_field_is_refused_there(
    build: Callable[[], Body], path: str, found: str
) -> None:
    """The type check looks at the outermost value only, so depth does not matter."""
    body = build()
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(body)
    assert (caught.value.path, caught.value.found) == (path, found)
    assert_names_its_path(caught.value)
