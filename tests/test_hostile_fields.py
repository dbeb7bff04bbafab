"""Hostile fields: every documented field wrong or removed, and refusal is all or nothing.

- every field of every documented payload, given each wrong JSON type or removed;
- one-field edits of documented payloads with arbitrary JSON values (hypothesis);
- refusal is all or nothing: no event of a refused POST reaches the reducer, and
  the body passed in is never modified.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flows import CALL_ID, SEED, V1_SUCCESS, Body, replay
from hostile import (
    URL,
    WIRE_KEYS,
    Edit,
    Path,
    assert_blames_the_edit,
    at,
    edited,
    outcome,
    paths_in,
    render,
    summary,
)
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    CallNotification,
    CallState,
    ChangeType,
    NotificationError,
    ResultInfo,
)

# --------------------------------------------------------------------------
# 1. Every path of every documented payload, each wrong type, or removed
# --------------------------------------------------------------------------


def _documented() -> dict[str, Body]:
    """The seed page's notification bodies (each distinct body once) and the v1.0 one."""
    bodies: dict[str, Body] = {}
    seen: set[str] = set()
    for name, body in {**SEED, "v1.0-success": V1_SUCCESS}.items():
        key = json.dumps(body, sort_keys=True)
        if not name.startswith("request-") and key not in seen:
            seen.add(key)
            bodies[name] = body
    return bodies


DOCUMENTED = _documented()
PATHS = {name: list(paths_in(body)) for name, body in DOCUMENTED.items()}
EVERY_PATH = [(name, path) for name, paths in PATHS.items() for path in paths]

WRONG_TYPES: list[object] = [
    None,
    True,
    3,
    -1.5,
    "x",
    [],
    {},
    10**300,
    "long " * 20_000,
    Edit.REMOVE,
]


# What each field the library interprets may hold besides null (never a boolean).
ACCEPTS: dict[Path, tuple[type, ...]] = {
    ("state",): (str,),
    ("mediaState",): (dict,),
    ("mediaState", "audio"): (str,),
    ("terminationReason",): (str,),
    ("replacesContext",): (str,),
    ("resultInfo",): (dict,),
    ("resultInfo", "code"): (int, str),
    ("resultInfo", "subCode"): (int, str),
    ("resultInfo", "subcode"): (int, str),
    ("resultInfo", "message"): (str,),
}


def expected_after(event: CallNotification, field: Path, value: object) -> CallNotification:
    """The call event once ``resourceData`` at ``field`` holds ``value`` (and was accepted).

    Absent and null mean the same; unknown strings are kept as they are; an
    empty ``resultInfo`` is code 0, subcode 0. Fields the library does not
    interpret (``@odata.type``) change only ``data``.
    """
    absent = value is None or value is Edit.REMOVE
    if not absent and field in ACCEPTS:
        assert isinstance(value, ACCEPTS[field]), "a wrong type was accepted"
        assert not isinstance(value, bool), "a boolean was accepted"
    text: Any = None if absent else value
    result = event.result or ResultInfo(0, 0, None)
    if field == ("state",):
        return event._replace(state=text)
    if field in {("mediaState",), ("mediaState", "audio")}:
        return event._replace(audio=None if field == ("mediaState",) else text)
    if field == ("terminationReason",):
        return event._replace(termination_reason=text)
    if field == ("replacesContext",):
        return event._replace(replaces_context=text)
    if field == ("resultInfo",):
        return event._replace(result=None if absent else ResultInfo(0, 0, None))
    if field == ("resultInfo", "code"):
        return event._replace(result=result._replace(code=0 if absent else text))
    if field in {("resultInfo", "subCode"), ("resultInfo", "subcode")}:
        return event._replace(result=result._replace(subcode=0 if absent else text))
    if field == ("resultInfo", "message"):
        return event._replace(result=result._replace(message=text))
    return event


def assert_accepted_as_sent(
    body: Body,
    path: Path,
    value: object,
    events: list[tf.Notification],
    original: list[tf.Notification],
) -> None:
    """An accepted edit shows in the events exactly as sent, and changes nothing else."""
    if path[:1] == ("value",) and len(path) <= 2:
        assert events == []  # no notifications left: `value` is [], or its only one removed
    elif path[:3] != ("value", 0, "resourceData"):
        assert events == original  # an uninterpreted envelope field such as @odata.type
    elif len(path) == 3:  # resourceData itself: null, absent, {} or a list of calls
        change = body["value"][0]["changeType"]
        if isinstance(value, list):
            assert events == []  # an empty list of calls gives no event
        elif isinstance(value, dict):
            assert events == [CallNotification(CALL_ID, ChangeType(change), data=value)]
            assert events[0].data is value
        else:
            assert events == [CallNotification(CALL_ID, ChangeType(change))]
    else:
        (before,) = original
        assert isinstance(before, CallNotification)
        data = body["value"][0]["resourceData"]
        field = path[3:]
        assert events == [expected_after(before, field, value)._replace(data=data)]
        assert events[0].data is data  # the very resourceData sent, not a copy
        if value is not Edit.REMOVE:
            assert at(events[0].data, field) is value  # the raw value, unchanged
        else:
            assert field[-1] not in at(events[0].data, field[:-1])


ORIGINAL_EVENTS = {name: tf.parse_notifications(body) for name, body in DOCUMENTED.items()}


@pytest.mark.parametrize(
    ("name", "path"), EVERY_PATH, ids=[f"{name} {render(path)}" for name, path in EVERY_PATH]
)
def test_every_field_given_a_wrong_type_or_removed_is_kept_or_refused_there(
    name: str, path: Path
) -> None:
    """Each documented field, given each JSON type or removed, as a mapping and as bytes."""
    body, original = DOCUMENTED[name], ORIGINAL_EVENTS[name]
    for template in WRONG_TYPES:
        value = copy.deepcopy(template)
        changed = edited(body, path, value)
        decoded = outcome(changed)
        wire = outcome(json.dumps(changed).encode())
        try:
            assert summary(wire) == summary(decoded), "bytes and mapping disagree"
            if isinstance(decoded, NotificationError):
                assert_blames_the_edit(decoded, render(path), value)
            else:
                assert_accepted_as_sent(changed, path, value, decoded, original)
        except AssertionError as failure:
            raise AssertionError(f"{render(path)} = {repr(value)[:24]}: {failure}") from None


def test_the_exhaustive_table_reaches_every_documented_field() -> None:
    """The table above is not vacuous: it covers the interpreted fields of both spellings."""
    rendered = {render(path) for _, path in EVERY_PATH}
    assert {
        "$.@odata.type",
        "$.value",
        "$.value[0]",
        "$.value[0].changeType",
        "$.value[0].resourceUrl",
        "$.value[0].resourceData",
        "$.value[0].resourceData.state",
        "$.value[0].resourceData.mediaState.audio",
        "$.value[0].resourceData.terminationReason",
        "$.value[0].resourceData.replacesContext",
        "$.value[0].resourceData.resultInfo.code",
        "$.value[0].resourceData.resultInfo.subCode",
        "$.value[0].resourceData.resultInfo.subcode",
        "$.value[0].resourceData.resultInfo.message",
    } <= rendered


# --------------------------------------------------------------------------
# 2. One-field edits with arbitrary JSON values (hypothesis)
# --------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
WIRE_WORDS = [
    "created",
    "updated",
    "deleted",
    "transferring",
    "transferAccepted",
    "terminated",
    "inactive",
    "active",
    "500",
    " 7000 ",
    "2147483648",
    "\ud800",
    "",
    URL,
    f"{URL}/operations/op-1",
    f"{URL}/participants",
    "/communications/calls/",
]
EDGE_NUMBERS: list[object] = [
    10**400,
    -(10**400),
    2**31,
    -(2**31) - 1,
    2**31 - 1,
    float("inf"),
    float("-inf"),
    float("nan"),
    -0.0,
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | TEXT
    | st.sampled_from(WIRE_WORDS)
    | st.sampled_from(EDGE_NUMBERS)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(TEXT | st.sampled_from(WIRE_KEYS), inner, max_size=4)
    ),
    max_leaves=16,
)


@st.composite
def one_field_edits(draw: st.DrawFn) -> tuple[Body, str, object]:
    """A documented body with one value replaced, removed or added, where, and the value."""
    name = draw(st.sampled_from(sorted(DOCUMENTED)))
    body = DOCUMENTED[name]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "add":
        objects = [()] + [p for p in PATHS[name] if isinstance(at(body, p), dict)]
        path: Path = (*draw(st.sampled_from(objects)), draw(TEXT | st.sampled_from(WIRE_KEYS)))
    else:
        path = draw(st.sampled_from(PATHS[name]))
    value = Edit.REMOVE if how == "remove" else draw(ANY_JSON)
    return edited(body, path, value), render(path), value


@given(one_field_edits())
def test_one_field_edits_are_kept_or_refused_at_that_field(edit: tuple[Body, str, object]) -> None:
    """Only NotificationError escapes, and it names the edited field or a container of it."""
    body, where, value = edit
    decoded = outcome(body)
    wire = outcome(json.dumps(body).encode())  # NaN and Infinity become the bare constants
    for result in (decoded, wire):
        if isinstance(result, NotificationError):
            assert_blames_the_edit(result, where, value)
    try:
        json.dumps(body, allow_nan=False)
    except ValueError:
        return  # NaN or Infinity: refused as text, possibly kept as a decoded mapping
    assert summary(wire) == summary(decoded)


# --------------------------------------------------------------------------
# 3. A refused POST changes no state
# --------------------------------------------------------------------------

TRANSFERRING = SEED["direct-transferring"]["value"][0]
AUDIO_INACTIVE = SEED["direct-audio-inactive"]["value"][0]
HEAD = [TRANSFERRING, AUDIO_INACTIVE]
HEAD_TEXT = json.dumps({"value": HEAD})[: -len("]}")]
BAD_STATE = edited(SEED["direct-transfer-accepted"], ("value", 0, "resourceData", "state"), 3)

REFUSED_POSTS: list[tuple[str, object, str]] = [
    (
        "a mapping, state 3",
        {"value": [*HEAD, BAD_STATE["value"][0]]},
        "$.value[2].resourceData.state",
    ),
    ("a mapping, not a notification", {"value": [*HEAD, "oops"]}, "$.value[2]"),
    (
        "bytes, code 'five'",
        (
            HEAD_TEXT + ', {"changeType": "updated", "resourceUrl": "' + URL + '", '
            '"resourceData": {"resultInfo": {"code": "five"}}}]}'
        ).encode(),
        "$.value[2].resourceData.resultInfo.code",
    ),
    ("text, truncated", HEAD_TEXT + ", {", "$"),
    ("text, NaN last", HEAD_TEXT + ', {"changeType": "updated", "x": NaN}]}', "$"),
    ("bytes, last byte not UTF-8", (HEAD_TEXT + "]}").encode()[:-1] + b"\xff", "$"),
]


def bot_loop(call: tf.Call, body: Any) -> tf.Call:
    """What a bot does with each POST: ``call = reduce(call, e)`` for each event parsed."""
    for event in tf.parse_notifications(body):
        call = tf.reduce(call, event)
    return call


@pytest.mark.parametrize(
    ("body", "path"), [p[1:] for p in REFUSED_POSTS], ids=[p[0] for p in REFUSED_POSTS]
)
def test_a_post_refused_after_valid_notifications_changes_no_call(body: Any, path: str) -> None:
    """Parsing is all or nothing: the bot's loop reduces none of a refused POST's events."""
    before = tf.Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    # The valid head of the POST would move the call, so "unchanged" means something:
    assert replay(before, *tf.parse_notifications({"value": HEAD})) != before
    call = before
    with pytest.raises(NotificationError) as caught:
        call = bot_loop(call, body)
    assert caught.value.path == path
    assert call is before
    assert call == tf.Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)


@pytest.mark.parametrize(
    "body",
    [
        SEED["direct-established-failed"],
        V1_SUCCESS,
        TRANSFERRING,
        {"value": [*HEAD, BAD_STATE["value"][0]]},
        edited(V1_SUCCESS, ("value", 0, "resourceData", "resultInfo", "subcode"), "x"),
        edited(V1_SUCCESS, ("value", 0, "resourceData", "mediaState"), {"audio": [1, 2]}),
        {"value": [TRANSFERRING, {"changeType": "updated", "resourceData": {"n": [1, {}]}}]},
    ],
    ids=["good", "good v1.0", "good, no envelope", "bad 3rd", "bad subcode", "bad audio", "no url"],
)
def test_the_mapping_passed_in_is_never_modified(body: Body) -> None:
    """Parsing, accepted or refused, leaves the caller's mapping exactly as it was."""
    snapshot = copy.deepcopy(body)
    first = summary(outcome(body))
    assert body == snapshot
    assert summary(outcome(body)) == first  # and no state is kept from one call to the next


def test_a_bytearray_body_is_never_modified() -> None:
    """The same for a mutable buffer, accepted or refused."""
    for raw in (json.dumps(V1_SUCCESS).encode(), b'{"value": [7]}', b"\xff"):
        buffer = bytearray(raw)
        outcome(buffer)
        outcome(memoryview(buffer))
        assert buffer == raw
