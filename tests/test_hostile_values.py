"""Hostile values: NaN and Infinity anywhere, integers too large for an Int32 or a float,
bytes that are not UTF-8, a byte order mark, lone surrogates, a released memoryview, and
codes sent as numeric strings padded with each whitespace character.
"""

from __future__ import annotations

import json
import math

import pytest
from flows import CALL_ID, SEED, V1_SUCCESS, Body
from hostile import (
    INT32,
    NOTE,
    RESULT,
    URL,
    Path,
    assert_names_its_path,
    at,
    call_notification,
    edited,
    outcome,
    summary,
)
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import (
    CallNotification,
    CallState,
    ChangeType,
    NotificationError,
    OperationNotification,
    ResultInfo,
)

# --------------------------------------------------------------------------
# 1. NaN and Infinity, huge integers, bytes, BOM, surrogates
# --------------------------------------------------------------------------

RICH: Body = {
    "value": [
        call_notification(
            {
                "state": "established",
                "mediaState": {"audio": "active"},
                "resultInfo": {"code": 500, "subCode": 7000, "message": "m"},
                "scores": [{"score": 1.5}],
            }
        )
    ],
    "extra": 0,
}
DATA: Path = ("value", 0, "resourceData")
# Where a non-finite number goes, and where a decoded mapping holding one is refused
# (None: the field is not interpreted and the number is kept).
CONSTANT_POSITIONS: list[tuple[str, Path, str | None]] = [
    ("top-level unknown field", ("extra",), None),
    ("value[0]", ("value", 0), "$.value[0]"),
    ("changeType", ("value", 0, "changeType"), "$.value[0].changeType"),
    ("audio", (*DATA, "mediaState", "audio"), "$.value[0].resourceData.mediaState.audio"),
    ("code", (*DATA, "resultInfo", "code"), f"{RESULT}.code"),
    ("subCode", (*DATA, "resultInfo", "subCode"), f"{RESULT}.subCode"),
    ("deep unknown field", (*DATA, "scores", 0, "score"), None),
]
CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


@pytest.mark.parametrize("constant", list(CONSTANTS))
@pytest.mark.parametrize(
    ("path", "refused_at"),
    [case[1:] for case in CONSTANT_POSITIONS],
    ids=[case[0] for case in CONSTANT_POSITIONS],
)
def test_nan_and_infinity_anywhere(constant: str, path: Path, refused_at: str | None) -> None:
    """As text, refused wherever they are; as a decoded float, kept where not interpreted."""
    text = json.dumps(edited(RICH, path, "@CONSTANT@")).replace('"@CONSTANT@"', constant)
    for form in (text, text.encode()):
        with pytest.raises(NotificationError) as caught:
            tf.parse_notifications(form)
        assert summary(caught.value) == (
            "refused",
            "$",
            "standard JSON (no NaN or Infinity)",
            constant,
        )

    number = CONSTANTS[constant]
    decoded = edited(RICH, path, number)
    result = outcome(decoded)
    if refused_at is None:
        assert not isinstance(result, NotificationError), str(result)
        if path[:3] == DATA:
            (event,) = result
            assert at(event.data, path[3:]) is number
    else:
        assert isinstance(result, NotificationError)
        assert (result.path, result.found) == (refused_at, constant)  # named as JSON spells it


def test_a_number_too_large_for_a_float_is_kept_or_refused() -> None:
    """``1e400`` is standard JSON (RFC 8259 leaves the range to the parser).

    Python reads it as ``inf``. In an unknown field the library keeps that inf
    (it does not refuse it the way it refuses the literal ``Infinity``); as a
    code it is refused at the code's path.
    """
    text = json.dumps({"value": [call_notification({"x": 0, "resultInfo": {"code": 1}})]})
    unknown = outcome(text.replace('"x": 0', '"x": 1e400'))
    if isinstance(unknown, NotificationError):
        assert unknown.path == "$"
    else:
        (event,) = unknown
        assert event.data == {"x": math.inf, "resultInfo": {"code": 1}}
    code = outcome(text.replace('"code": 1', '"code": -1e400'))
    assert isinstance(code, NotificationError)
    assert code.path in {"$", f"{RESULT}.code"}


HUGE = 10**400
OUT_OF_INT32: list[object] = [
    HUGE,
    -HUGE,
    str(HUGE),
    f"-{HUGE}",
    2**31,
    -(2**31) - 1,
    "2147483648",
    "-2147483649",
    "12345678901",
    1e300,
]


@pytest.mark.parametrize("key", ["code", "subCode", "subcode"])
@pytest.mark.parametrize("value", OUT_OF_INT32, ids=lambda v: repr(v)[:16])
def test_huge_integers_as_codes_are_refused_at_the_code(key: str, value: object) -> None:
    body = {"value": [call_notification({"resultInfo": {"code": 1, key: value}})]}
    for form in (body, json.dumps(body), json.dumps(body).encode()):
        with pytest.raises(NotificationError) as caught:
            tf.parse_notifications(form)
        assert (caught.value.path, caught.value.expected) == (f"{RESULT}.{key}", INT32)
        assert_names_its_path(caught.value)  # and the message does not echo 400 digits


@pytest.mark.parametrize(
    "value", [2**31 - 1, -(2**31), "2147483647", " -2147483648 ", "+0", 0], ids=repr
)
def test_the_int32_bounds_are_read_as_numbers(value: int | str) -> None:
    body = {"value": [call_notification({"resultInfo": {"code": value, "subCode": value}})]}
    number = int(value)
    (event,) = tf.parse_notifications(json.dumps(body))
    assert event.result == ResultInfo(number, number, None)  # type: ignore[union-attr]


def test_an_integer_past_pythons_digit_limit_is_refused() -> None:
    """5,000 digits: the text is refused at ``$`` (CPython's limit), the number at the code."""
    number = 10**5000
    text = json.dumps({"value": [call_notification({"resultInfo": {"code": 7}})]})
    result = outcome(text.replace('"code": 7', f'"code": {"9" * 5000}'))
    assert isinstance(result, NotificationError)
    assert result.path in {"$", f"{RESULT}.code"}
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications({"value": [call_notification({"resultInfo": {"code": number}})]})
    assert summary(caught.value) == ("refused", f"{RESULT}.code", INT32, "a number out of range")


def test_a_huge_subcode_string_on_an_operation_is_a_word_or_refused() -> None:
    """On a commsOperation a non-numeric subCode is a progress word; a 401-digit one?

    It is not an Int32, so it is either kept as the word it looks like or
    refused at its path; the code beside it is still checked.
    """
    url = f"{URL}/operations/op-1"
    body = {"changeType": "updated", "resourceUrl": url, "resourceData": {}}
    word = edited(body, ("resourceData", "resultInfo"), {"code": 1, "subCode": str(HUGE)})
    result = outcome(word)
    if isinstance(result, NotificationError):
        assert result.path == "$.resourceData.resultInfo.subCode"
    else:
        assert result == [
            OperationNotification(
                CALL_ID,
                "op-1",
                ChangeType.UPDATED,
                None,
                ResultInfo(1, 0, None),
                str(HUGE),
                None,
                word["resourceData"],
            )
        ]
    code = edited(body, ("resourceData", "resultInfo"), {"code": HUGE, "subCode": "transferring"})
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(code)
    assert caught.value.path == "$.resourceData.resultInfo.code"


# Bytes that are not UTF-8, put at character boundaries of a valid body.
VALID_BYTES = json.dumps(
    edited(SEED["direct-established-failed"], (*DATA, "resultInfo", "message"), NOTE),
    ensure_ascii=False,
).encode()
NOT_UTF8 = {
    "0xFF": b"\xff",
    "lone continuation byte": b"\x80",
    "truncated 2-byte": b"\xc3",
    "truncated 4-byte": b"\xf0\x9f\x98",
    "encoded surrogate": b"\xed\xa0\x80",
    "overlong slash": b"\xc0\xaf",
    "above U+10FFFF": b"\xf4\x90\x80\x80",
}
OFFSETS = {
    "first byte": 0,
    "between tokens": VALID_BYTES.index(b'"value"'),
    "inside a key": VALID_BYTES.index(b"changeType"),
    "before a multibyte character": VALID_BYTES.index("Ü".encode()),
    "after a non-BMP character": VALID_BYTES.index("\U0001f4de".encode()) + 4,
    "end": len(VALID_BYTES),
}


@pytest.mark.parametrize("offset", list(OFFSETS.values()), ids=list(OFFSETS))
@pytest.mark.parametrize("sequence", list(NOT_UTF8.values()), ids=list(NOT_UTF8))
def test_bytes_that_are_not_utf8_are_refused_with_their_offset(
    sequence: bytes, offset: int
) -> None:
    raw = VALID_BYTES[:offset] + sequence + VALID_BYTES[offset:]
    expected = ("refused", "$", "UTF-8 text", f"a byte that is not UTF-8 at offset {offset}")
    for form in (raw, bytearray(raw), memoryview(raw)):
        assert summary(outcome(form)) == expected


def test_a_released_memoryview_is_refused_with_notification_error() -> None:
    view = memoryview(json.dumps(V1_SUCCESS).encode())
    view.release()
    with pytest.raises(NotificationError) as caught:
        tf.parse_notifications(view)
    assert summary(caught.value) == ("refused", "$", "readable bytes", "a released buffer")
    assert_names_its_path(caught.value)


def test_the_valid_body_behind_the_byte_tests_parses() -> None:
    (event,) = tf.parse_notifications(VALID_BYTES)
    assert event.result == ResultInfo(500, 1000, NOTE)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [b"\xef\xbb\xbf" + VALID_BYTES, "\ufeff" + VALID_BYTES.decode()],
    ids=["bytes", "text"],
)
def test_a_byte_order_mark_is_ignored_or_refused_as_json(body: bytes | str) -> None:
    """RFC 8259 lets a parser ignore a BOM or treat it as an error; either, never a crash."""
    result = outcome(body)
    if isinstance(result, NotificationError):
        assert (result.path, result.expected) == ("$", "valid JSON")
    else:
        assert result == tf.parse_notifications(VALID_BYTES)


SURROGATE = "\ud800"
SURROGATE_CASES: list[tuple[str, Body, object]] = [
    (
        "unknown state",
        {"value": [call_notification({"state": SURROGATE})]},
        [CallNotification(CALL_ID, state=SURROGATE, data={"state": SURROGATE})],
    ),
    (
        "unknown key and value",
        {"value": [call_notification({"\udfff": "\ude00\ud83d", "state": "established"})]},
        [
            CallNotification(
                CALL_ID,
                state=CallState.ESTABLISHED,
                data={"\udfff": "\ude00\ud83d", "state": "established"},
            )
        ],
    ),
    (
        "call id",
        {"value": [{"changeType": "deleted", "resourceUrl": f"/communications/calls/{SURROGATE}"}]},
        (
            "refused",
            "$.value[0].resourceUrl",
            "a call id (text UTF-8 can carry, with no control characters, 256 characters at most)",
            "the string '\\ud800' (a lone surrogate, U+D800, at offset 0)",
        ),
    ),
    (
        "changeType",
        {"value": [{"changeType": SURROGATE, "resourceUrl": URL}]},
        (
            "refused",
            "$.value[0].changeType",
            "'created', 'updated' or 'deleted'",
            "the string '\\ud800'",
        ),
    ),
    (
        "code",
        {"value": [call_notification({"resultInfo": {"code": SURROGATE}})]},
        ("refused", f"{RESULT}.code", INT32, "the string '\\ud800'"),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [case[1:] for case in SURROGATE_CASES],
    ids=[case[0] for case in SURROGATE_CASES],
)
def test_lone_surrogates_are_kept_as_text_or_refused_loggably(body: Body, expected: object) -> None:
    """``"\\ud800"`` is valid JSON text for a string no UTF-8 can hold; it must not crash."""
    escaped = json.dumps(body)  # "\ud800" written as the six characters \ud800
    assert "\\ud800" in escaped or "\\udfff" in escaped
    raw_text = json.dumps(body, ensure_ascii=False)  # the lone surrogate itself, in a str
    for form in (body, escaped, escaped.encode(), raw_text):
        result = outcome(form)
        if isinstance(result, NotificationError):
            assert_names_its_path(result)  # the message escapes the surrogate
            assert summary(result) == expected
        else:
            assert result == expected


# --------------------------------------------------------------------------
# 2. Codes as numeric strings
# --------------------------------------------------------------------------

# str.isspace() and re's \s accept these 29 characters; int() strips all but the
# four ASCII information separators U+001C..U+001F, so those make a code not numeric.
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
SEPARATORS = "\x1c\x1d\x1e\x1f"


@pytest.mark.parametrize("space", [pytest.param(c, id=f"U+{ord(c):04X}") for c in SPACES])
def test_a_code_padded_with_whitespace_is_read_or_refused(space: str) -> None:
    """Graph sends codes as numeric strings; padding is read as a number or refused cleanly.

    Padding with an information separator is refused, at the code or subCode it pads.
    """
    assert space.isspace()
    operation = {"changeType": "updated", "resourceUrl": f"{URL}/operations/op-1"}
    for padded in (f"{space}500", f"500{space}"):
        info = {"code": padded, "subCode": f"{space}7000"}
        for body in (
            {"value": [call_notification({"resultInfo": info})]},
            {"value": [{**operation, "resourceData": {"resultInfo": info}}]},
        ):
            result = outcome(json.dumps(body).encode())
            if space in SEPARATORS:
                assert isinstance(result, NotificationError), result
                assert_names_its_path(result)
                assert result.path.endswith((".resultInfo.code", ".resultInfo.subCode"))
                shown = info[result.path.rsplit(".", 1)[1]]
                assert (result.expected, result.found) == (INT32, f"the string {shown!r}")
            elif isinstance(result, NotificationError):
                assert result.path.endswith((".resultInfo.code", ".resultInfo.subCode"))
            else:
                assert [event.result for event in result] == [  # type: ignore[union-attr]
                    ResultInfo(500, 7000, None)
                ]


def test_the_whitespace_list_is_every_whitespace_character() -> None:
    assert len(SPACES) == 29
    assert all(c.isspace() for c in SPACES)


@given(
    left=st.text(st.sampled_from(SPACES), max_size=2),
    sign=st.sampled_from(["", "+", "-"]),
    digits=st.text("0123456789", min_size=1, max_size=12),
    right=st.text(st.sampled_from(" \t\u3000"), max_size=2),
)
def test_numeric_code_strings_are_int32_or_refused(
    left: str, sign: str, digits: str, right: str
) -> None:
    """A numeric string is the Int32 it spells, or refused at the code if it is not one.

    Padding with an information separator (U+001C..U+001F) makes it not numeric.
    """
    text = f"{left}{sign}{digits}{right}"
    body = {"value": [call_notification({"resultInfo": {"code": text}})]}
    number = int(sign + digits)
    result = outcome(json.dumps(body).encode())
    padded_with_a_separator = any(c in SEPARATORS for c in left)
    if not padded_with_a_separator and len(digits) <= 10 and -(2**31) <= number < 2**31:
        assert summary(result) == (
            "parsed",
            [
                CallNotification(
                    CALL_ID,
                    result=ResultInfo(number, 0, None),
                    data=body["value"][0]["resourceData"],
                )
            ],
        )
    else:
        assert isinstance(result, NotificationError)
        assert (result.path, result.expected) == (f"{RESULT}.code", INT32)
