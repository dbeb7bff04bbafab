"""Hostile text and times: what a store would keep stays typed.

- a call id holding a lone surrogate (legal JSON, ``"\\ud800"``) or a control
  character is refused by ``parse_notifications``, ``parse_call_resource``,
  ``call_gone`` and the request builders, naming the path or the argument; a
  store never sees it, so a redelivered body is refused the same way again
  (never a ``UnicodeEncodeError`` from SQLite);
- a lone surrogate in a string a ``Call`` keeps (``terminationReason``,
  ``replacesContext``, ``resultInfo.message``) is refused the same way, so any
  snapshot can be written as UTF-8 JSON;
- a request ``at`` no JSON double can carry (``10**5000``) is refused by the
  builders (``ValueError``), by ``Call.to_dict`` / ``Call.from_dict``
  (``SnapshotError``) and by ``transfer_overdue`` (``ValueError``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flows import CALL_ID, Body
from hostile import URL, assert_names_its_path, call_notification, outcome
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import (
    Call,
    NotificationError,
    SnapshotError,
    Transferee,
    TransferRequested,
    User,
)
from transfer_fsm.store import SQLiteStore

ID = "a call id (text UTF-8 can carry, with no control characters, 256 characters at most)"
CARRIED = "text UTF-8 can carry (no lone surrogate)"
CALLS = "/communications/calls/"
# Each C0 and C1 control's ends, DEL, and the ones JSON writers escape by name.
CONTROLS = ["\x00", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]
LONE = ["\ud800", "\udbff", "\udc00", "\udfff"]
FINE = ["\xa0", "\u2028", "\ufeff", "\U0001f4de", "é", "%00", " "]  # not controls, UTF-8 carries


def _poison(call_id: str, key: str = "resourceUrl", rest: str = "") -> Body:
    notification = {"changeType": "updated", key: f"{CALLS}{call_id}{rest}"}
    return {"value": [call_notification({"state": "established"}), notification]}


def _forms(body: Body) -> list[Any]:
    """The body as Graph's bytes (escaped), as text holding the character itself, and decoded."""
    return [json.dumps(body).encode(), json.dumps(body, ensure_ascii=False), body]


def _refusal(body: Any) -> tuple[str, str, str]:
    result = outcome(body)
    assert isinstance(result, NotificationError), result
    assert_names_its_path(result)
    return result.path, result.expected, result.found


# --------------------------------------------------------------------------
# 1. Call ids
# --------------------------------------------------------------------------


def test_the_issue_repro_a_lone_surrogate_call_id_never_reaches_sqlite(tmp_path: Path) -> None:
    """Issue 17: the body was parsed, then SQLite raised UnicodeEncodeError on every redelivery."""
    poison = {"value": [{"changeType": "updated", "resourceUrl": f"{CALLS}\ud800"}]}
    with SQLiteStore(tmp_path / "calls.db") as store:
        store.apply_body(json.dumps({"value": [call_notification({"state": "established"})]}))
        before = store.get(CALL_ID)
        for _ in range(3):  # Graph redelivers a body it got no 2xx for
            with pytest.raises(NotificationError) as caught:
                store.apply_body(json.dumps(poison).encode())
            assert str(caught.value) == (
                "$.value[0].resourceUrl: expected a call id (text UTF-8 can carry, with no"
                " control characters, 256 characters at most), found the string '\\ud800'"
                " (a lone surrogate, U+D800,"
                " at offset 0)"
            )
        assert store.get(CALL_ID) == before
    with sqlite3.connect(tmp_path / "calls.db") as db:
        assert db.execute("SELECT call_id FROM calls").fetchall() == [(CALL_ID,)]


@pytest.mark.parametrize("bad", [*LONE, *CONTROLS], ids=ascii)
@pytest.mark.parametrize(
    ("key", "rest"),
    [("resourceUrl", ""), ("resource", ""), ("resourceUrl", "/operations/op-1"),
     ("resourceUrl", "/participants/p-1"), ("resourceUrl", "?x=1")],
)  # fmt: skip
def test_a_call_id_with_a_lone_surrogate_or_a_control_is_refused_at_its_field(
    bad: str, key: str, rest: str
) -> None:
    """Wherever the id comes from (the usual URL, a sub-resource), the field it came in is named."""
    call_id = f"c-{bad}-1"
    shown = repr(call_id)
    kind = "a lone surrogate" if bad in LONE else "a control character"
    expected = (
        f"$.value[1].{key}",
        ID,
        f"the string {shown} ({kind}, U+{ord(bad):04X}, at offset 2)",
    )
    for form in _forms(_poison(call_id, key, rest)):
        assert _refusal(form) == expected


@pytest.mark.parametrize("fine", FINE, ids=ascii)
def test_other_characters_in_a_call_id_are_kept(fine: str) -> None:
    call_id = f"c{fine}1"
    for form in _forms(_poison(call_id)):
        events = tf.parse_notifications(form)
        assert [event.call_id for event in events] == [CALL_ID, call_id]


@pytest.mark.parametrize("bad", [LONE[0], "\x00", "\x9f"], ids=ascii)
def test_parse_call_resource_and_call_gone_refuse_such_an_id(bad: str) -> None:
    kind = "a lone surrogate" if bad in LONE else "a control character"
    found = f"the string {'c' + bad!r} ({kind}, U+{ord(bad):04X}, at offset 1)"
    for form in _forms({"id": f"c{bad}", "state": "established"}):
        with pytest.raises(NotificationError) as caught:
            tf.parse_call_resource(form)
        assert_names_its_path(caught.value)
        assert (caught.value.path, caught.value.expected, caught.value.found) == ("$.id", ID, found)
    with pytest.raises(ValueError, match=f"^{re.escape(f'call_id: {ID}, got {found}')}$"):
        tf.call_gone(f"c{bad}")  # the character escaped: loggable as UTF-8


ANY_TEXT = st.text(st.characters(exclude_categories=()), min_size=1)  # lone surrogates included


def _clean(text: str) -> bool:
    if len(text) > 256:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


@given(call_id=ANY_TEXT)
def test_any_text_id_is_accepted_clean_or_refused_typed(call_id: str) -> None:
    """Accepted ids encode to UTF-8 and hold no control character; the rest is NotificationError."""
    body = {"value": [{"changeType": "deleted", "resourceUrl": CALLS + call_id}]}
    for form in _forms(body):
        result = outcome(form)  # anything but a NotificationError escapes and fails the test
        plain = not any(c in call_id for c in "/?#")
        if isinstance(result, NotificationError):
            assert_names_its_path(result)
            assert result.path == "$.value[0].resourceUrl"
            assert not plain or not _clean(call_id)
        else:
            assert all(_clean(event.call_id) for event in result)
            assert not plain or [event.call_id for event in result] == [call_id]


@given(call_id=ANY_TEXT)
def test_any_text_id_of_a_get_is_accepted_clean_or_refused_typed(call_id: str) -> None:
    if call_id.strip() and _clean(call_id):
        assert tf.parse_call_resource({"id": call_id}).call_id == call_id
    else:
        with pytest.raises(NotificationError) as caught:
            tf.parse_call_resource({"id": call_id})
        assert caught.value.path == "$.id"


# --------------------------------------------------------------------------
# 2. Strings a Call keeps
# --------------------------------------------------------------------------

KEPT: list[tuple[str, dict[str, Any], str]] = [
    ("terminationReason", {"state": "terminated", "terminationReason": "x\udc00"}, ""),
    ("replacesContext", {"state": "transferring", "replacesContext": "x\udc00"}, ""),
    ("resultInfo.message", {"resultInfo": {"code": 500, "message": "x\udc00"}}, ""),
    ("resultInfo.message", {"status": "failed", "resultInfo": {"message": "x\udc00"}},
     "/operations/op-1"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "data", "rest"), KEPT, ids=[k[0] + k[2] for k in KEPT])
def test_a_lone_surrogate_in_a_string_a_call_keeps_is_refused(
    tmp_path: Path, field: str, data: dict[str, Any], rest: str
) -> None:
    body = {"value": [{"changeType": "updated", "resourceUrl": URL + rest, "resourceData": data}]}
    found = "the string 'x\\udc00' (a lone surrogate, U+DC00, at offset 1)"
    for form in _forms(body):
        assert _refusal(form) == (f"$.value[0].resourceData.{field}", CARRIED, found)
    with SQLiteStore(tmp_path / "calls.db") as store:
        with pytest.raises(NotificationError):
            store.apply_body(json.dumps(body).encode())
        assert store.get(CALL_ID) is None


def test_controls_in_a_string_a_call_keeps_are_kept_and_stored(tmp_path: Path) -> None:
    """JSON escapes a control character: a message holding one is kept, stored and read back."""
    note = "line 1\nline 2\x00\x85"
    data = {"state": "terminated", "terminationReason": note, "resultInfo": {"message": note}}
    body = {"value": [{"changeType": "deleted", "resourceUrl": URL, "resourceData": data}]}
    with SQLiteStore(tmp_path / "calls.db") as store:
        (done,) = store.apply_body(json.dumps(body).encode())
        stored = store.get(CALL_ID)
    assert stored == done.call
    assert stored.termination_reason == note
    text = json.dumps(stored.to_dict(), ensure_ascii=False).encode()  # UTF-8 JSON, as-is
    assert Call.from_dict(json.loads(text)) == stored


# --------------------------------------------------------------------------
# 3. Request builders
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\n", "\x7f", "\x85"], ids=ascii)
def test_ids_with_a_control_are_refused_by_the_builders_naming_the_argument(bad: str) -> None:
    got = f"got the string {'c' + bad!r} "
    cases: dict[str, Callable[[], object]] = {
        "replaces_call_id": lambda: tf.consultative_transfer(User("u"), f"c{bad}"),
        "target.id": lambda: tf.blind_transfer(User(f"c{bad}")),
        "target.tenant_id": lambda: tf.blind_transfer(User("u", tenant_id=f"c{bad}")),
        "transferee.participant_id": lambda: tf.blind_transfer(
            User("u"), transferee=Transferee(f"c{bad}", User("v"))
        ),
    }
    for name, build in cases.items():
        with pytest.raises(ValueError, match=f"^{re.escape(name)}: expected an id ") as caught:
            build()
        message = str(caught.value)
        assert message.startswith(
            f"{name}: expected an id with no control characters, 256 characters at most, "
        )
        assert message.endswith(f"{got}(a control character, U+{ord(bad):04X}, at offset 1)")


def test_a_lone_surrogate_id_is_still_refused_by_the_builders() -> None:
    with pytest.raises(ValueError, match=r"^replaces_call_id: expected text UTF-8 can carry"):
        tf.consultative_transfer(User("u"), "c\ud800")


def test_the_issue_repro_an_at_no_json_number_carries_is_refused_at_build_time() -> None:
    """Issue 17: ``at=10**5000`` passed to_dict, then ``json.dumps`` raised a bare ValueError."""
    message = (
        "at: a finite number of seconds (the caller's clock) a JSON double can carry,"
        " got a number out of range"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as caught:
        tf.blind_transfer(User("u"), at=10**5000)
    assert type(caught.value) is ValueError


@pytest.mark.parametrize("at", [10**400, -(10**400), 2**1024, True, float("inf")], ids=str)
def test_every_at_a_double_cannot_carry_is_refused(at: Any) -> None:
    builds: list[Callable[[], object]] = [
        lambda: tf.blind_transfer(User("u"), at=at),
        lambda: tf.consultative_transfer(User("u"), "leg", at=at),
    ]
    for build in builds:
        with pytest.raises(ValueError, match=r"^at: a finite number of seconds"):
            build()


@pytest.mark.parametrize("at", [10**15, -(10**15), 10**308, 2**1023, 1.7e308, 0])
def test_an_at_a_double_carries_is_kept_and_travels(at: float) -> None:
    request = tf.blind_transfer(User("u"), at=at)
    call = tf.reduce(Call(CALL_ID), request.event)
    assert request.event.at == at
    assert Call.from_dict(json.loads(json.dumps(call.to_dict()))) == call


# --------------------------------------------------------------------------
# 4. An at that bypassed the builder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("at", [10**5000, 10**400, -(10**400)], ids=["10**5000", "1e400", "-1e400"])
def test_a_snapshot_refuses_an_at_no_double_carries(at: int, tmp_path: Path) -> None:
    """``to_dict`` refuses it (``test_snapshot``); so do ``from_dict``, a timer and a store."""
    call = tf.reduce(Call(CALL_ID), TransferRequested(at=at))
    data = tf.reduce(Call(CALL_ID), TransferRequested(at=1)).to_dict()
    data["transfer"]["request"]["at"] = at
    with pytest.raises(SnapshotError) as read:
        Call.from_dict(data)
    assert str(read.value) == (
        "$.transfer.request.at: expected a finite number, found a number out of range"
    )
    with pytest.raises(ValueError, match=r"^the request's at: a finite number of seconds, got a"):
        tf.transfer_overdue(call, now=1, timeout=1)
    with SQLiteStore(tmp_path / "calls.db") as store:  # the store writes nothing
        with pytest.raises(SnapshotError):
            store.apply(CALL_ID, TransferRequested(at=at))
        assert store.get(CALL_ID) is None


@pytest.mark.parametrize(
    ("now", "timeout", "name"),
    [(10**400, 1, "now"), (1, 10**400, "timeout"), (10**5000, 1, "now"),
     (1, -(10**400), "timeout")],
    ids=["now", "timeout", "now-5000", "timeout-negative"],
)  # fmt: skip
def test_transfer_overdue_refuses_a_time_no_double_carries(
    now: float, timeout: float, name: str
) -> None:
    call = tf.reduce(Call(CALL_ID), tf.blind_transfer(User("u"), at=1.0).event)
    message = f"{name}: a finite number of seconds, got a number out of range"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as caught:
        tf.transfer_overdue(call, now=now, timeout=timeout)
    assert type(caught.value) is ValueError


# --------------------------------------------------------------------------
# 4. Ids too long to be Graph's (junk that would otherwise fill a store)
# --------------------------------------------------------------------------

LONGEST = "c" * 256
TOO_LONG = "c" * 257
TOO_LONG_SHOWN = f"{tf.values.describe_value(TOO_LONG)} (257 characters)"


def test_a_call_id_of_256_characters_is_kept_everywhere() -> None:
    body = {"value": [{"changeType": "deleted", "resourceUrl": CALLS + LONGEST}]}
    assert [event.call_id for event in tf.parse_notifications(body)] == [LONGEST]
    assert tf.parse_call_resource({"id": LONGEST}).call_id == LONGEST
    assert tf.call_gone(LONGEST).call_id == LONGEST
    request = tf.consultative_transfer(User("u"), LONGEST)
    assert request.event.replaces_call_id == LONGEST


def test_a_call_id_of_257_characters_is_refused_at_its_field() -> None:
    """A 100 kB junk id is refused the same way: nothing of it reaches a store."""
    for bad in (TOO_LONG, "c" * 100_000):
        shown = f"{tf.values.describe_value(bad)} ({len(bad)} characters)"
        for key in ("resourceUrl", "resource"):
            body = {"value": [{"changeType": "deleted", key: CALLS + bad}]}
            with pytest.raises(NotificationError) as caught:
                tf.parse_notifications(body)
            assert (caught.value.path, caught.value.expected, caught.value.found) == (
                f"$.value[0].{key}",
                ID,
                shown,
            )
    with pytest.raises(NotificationError) as caught:
        tf.parse_call_resource({"id": TOO_LONG})
    assert (caught.value.path, caught.value.found) == ("$.id", TOO_LONG_SHOWN)
    with pytest.raises(ValueError, match=re.escape(f"call_id: {ID}, got {TOO_LONG_SHOWN}")):
        tf.call_gone(TOO_LONG)
    with pytest.raises(ValueError, match=r"^replaces_call_id: expected an id .* 256 characters"):
        tf.consultative_transfer(User("u"), TOO_LONG)
