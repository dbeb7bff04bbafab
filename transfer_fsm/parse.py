"""``parse_notifications``: Graph callback bodies to events, or one clear error.

Accepts a ``commsNotifications`` body (``{"value": [...]}``) or a single
``commsNotification``, as bytes (UTF-8), text or an already-decoded mapping.
Anything else raises :class:`NotificationError` naming the JSON path and what
was expected; nothing else is ever raised. Values the library does not know
are kept: unknown strings stay strings, unknown fields stay in ``event.data``.
Text a store keeps must be text UTF-8 can carry (see :mod:`transfer_fsm.text`):
a call id may hold no lone surrogate and no control character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TypeGuard, TypeVar

from .events import (
    EMPTY,
    CallNotification,
    Notification,
    OperationNotification,
    ResourceNotification,
)
from .text import CALL_ID, CARRIED, MAX_ID_LENGTH, id_flaw, text_flaw
from .values import Audio, CallState, ChangeType, ResultInfo, describe_value

_new = tuple.__new__
_STATES: dict[str, CallState] = {s.value: s for s in CallState}
_AUDIO: dict[str, Audio] = {a.value: a for a in Audio}
_CHANGES: dict[str, ChangeType] = {c.value: c for c in ChangeType}
_INT32 = range(-(2**31), 2**31)
_E = TypeVar("_E")


class NotificationError(ValueError):
    """A body that is not a commsNotifications body or a commsNotification.

    ``path`` is the JSON path of the offending value (``$`` is the body),
    ``expected`` what was expected there and ``found`` what was there.
    """

    def __init__(self, path: str, expected: str, found: str) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(f"{path}: expected {expected}, found {found}")


def _fail(path: str, expected: str, value: object) -> NoReturn:
    raise NotificationError(path, expected, describe_value(value))


def _under(prefix: str, error: NotificationError) -> NotificationError:
    """The same error, its path now under ``prefix``."""
    return NotificationError(prefix + error.path, error.expected, error.found)


# Whitespace as ``int()`` strips it: every ``\s`` but the four ASCII
# information separators (U+001C..U+001F), which ``int()`` refuses.
_NUMERIC = re.compile(r"[^\S\x1c-\x1f]*[+-]?[0-9]{1,10}[^\S\x1c-\x1f]*")


def _is_numeric(text: str) -> bool:
    """A decimal integer of at most ten digits, as Graph sends codes in strings."""
    return _NUMERIC.fullmatch(text) is not None


def _subcode_key(fields: Mapping[str, Any]) -> str:
    """Graph spells it ``subcode`` (the schema) or ``subCode`` (some payloads)."""
    return "subcode" if fields.get("subcode") is not None or "subCode" not in fields else "subCode"


def _reject_constant(name: str) -> NoReturn:
    raise NotificationError("$", "standard JSON (no NaN or Infinity)", name)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


def decode(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> object:
    """Decode a body to JSON values, raising :class:`NotificationError` on bad bytes or text."""
    kind = type(body)
    if kind is not bytes and kind is not str and isinstance(body, Mapping):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = (body if kind is bytes else bytes(body)).decode("utf-8")  # type: ignore[union-attr]
        except UnicodeDecodeError as error:
            raise NotificationError(
                "$", "UTF-8 text", f"a byte that is not UTF-8 at offset {error.start}"
            ) from None
        except ValueError:  # a released memoryview
            raise NotificationError("$", "readable bytes", "a released buffer") from None
    if not isinstance(body, str):
        _fail("$", "bytes, text or a decoded JSON object", body)
    try:
        return _DECODER.decode(body)
    except NotificationError:
        raise
    except json.JSONDecodeError as error:
        raise NotificationError(
            "$", "valid JSON", f"{error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise NotificationError("$", "JSON nested less deeply", "nesting too deep") from None
    except ValueError as error:  # e.g. an integer with too many digits
        raise NotificationError("$", "valid JSON", str(error)) from None


def parse_notifications(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
) -> list[Notification]:
    """Parse a callback body into events, in the order Graph listed them.

    A ``resourceData`` holding a list of calls gives one event per call.
    Raises :class:`NotificationError` (a ``ValueError``) and nothing else; a
    call id that is not text UTF-8 can carry or that holds a control character
    is refused at the ``resourceUrl`` (or ``resource``) it came from.
    """
    doc: Any = decode(body)
    if not _is_mapping(doc):
        _fail("$", "a JSON object", doc)
    events: list[Notification] = []
    if "value" in doc:
        items = doc["value"]
        if not isinstance(items, list):
            _fail("$.value", "an array of commsNotification objects", items)
        for index, item in enumerate(items):
            try:
                _events_of(item, events)
            except NotificationError as error:
                raise _under(_path(index), error) from None
    elif "changeType" in doc:
        _notification(doc, -1, events)
    else:
        _fail(
            "$", "a commsNotifications object ('value') or a commsNotification ('changeType')", doc
        )
    return events


def parse_call_resource(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
) -> CallNotification:
    """Read Graph's answer to ``GET /communications/calls/{id}`` as an event for :func:`reduce`.

    ``body`` is the ``call`` resource (bytes, text or a decoded mapping) with
    its ``id``; ``state``, ``mediaState.audio``, ``resultInfo``,
    ``terminationReason`` and ``replacesContext`` are read as a notification's
    are, and the whole resource is kept in ``data``. The answer is reduced by
    the same rules as a notification: it carries no version either, so a
    notification racing it may be older or newer, and each axis takes from it
    only what moves it forward (a ``resultInfo`` an earlier attempt failed
    with is a late copy here too). A ``GET`` answered 404 means the call is
    gone: reduce :func:`call_gone` instead. Raises :class:`NotificationError`
    naming the JSON path, as :func:`parse_notifications` does (an ``id`` that
    is not text UTF-8 can carry, holds a control character or is longer than
    256 characters, at ``$.id``).
    """
    doc = decode(body)
    if not _is_mapping(doc):
        _fail("$", "a call resource (a JSON object)", doc)
    resource = doc
    call_id = resource.get("id")
    if type(call_id) is not str or not call_id.strip():
        _fail("$.id", "the call id (a non-empty string)", call_id)
    _check_id(call_id, "$.id")
    try:
        return _call(resource, call_id, ChangeType.UPDATED, "", EMPTY)
    except NotificationError as error:
        raise _under("$", error) from None


def call_gone(call_id: str) -> CallNotification:
    """The event for a ``GET /communications/calls/{id}`` answered ``404 Not Found``.

    Graph no longer knows the call: it is read as a ``deleted`` notification
    (``terminated``, absorbing). During an attempt that is still in flight it
    fails the attempt, as any termination without a transfer result does;
    after a transfer completes the call is already terminated and this changes
    nothing. Raises ``ValueError`` for an empty call id, or one that is not
    text UTF-8 can carry or that holds a control character.
    """
    if type(call_id) is not str or not call_id.strip():
        raise ValueError(f"call_id: a non-empty call id, got {call_id!r}")
    wrong = id_flaw(call_id)
    if wrong is not None:
        raise ValueError(f"call_id: {CALL_ID}, got {wrong}")
    gone = (call_id, ChangeType.DELETED, CallState.TERMINATED, None, None, None, None, EMPTY, EMPTY)
    return _new(CallNotification, gone)


def _path(index: int) -> str:
    return "$" if index < 0 else f"$.value[{index}]"


def _notification(item: object, index: int, events: list[Notification]) -> None:
    """Append the events of one notification; errors name their path under ``$``."""
    try:
        _events_of(item, events)
    except NotificationError as error:
        raise _under(_path(index), error) from None


def _events_of(notification: Any, events: list[Notification]) -> None:
    # Paths in errors raised here are relative to the notification.
    if not _is_mapping(notification):
        _fail("", "a commsNotification object", notification)
    value = notification.get("changeType")
    change = _CHANGES.get(value) if type(value) is str else None
    if change is None:
        _fail(".changeType", "'created', 'updated' or 'deleted'", value)
    key = "resourceUrl"
    url = notification.get(key)
    if url is None:
        key = "resource"
        url = notification.get(key)
    if type(url) is not str:
        _fail(f".{key}", _EXPECTED_URL, url)
    if (  # the usual /communications/calls/{id}: no sub-resource (no objects made to say so)
        url.startswith(_CALLS)
        and len(url) > _CALLS_LENGTH
        and url.find("/", _CALLS_LENGTH) < 0
        and "?" not in url
        and "#" not in url
    ):
        call_id: str = url[_CALLS_LENGTH:]
        rest: Sequence[str] = _NO_REST
    else:
        call_id, rest = _split(url, key)
    if len(call_id) > MAX_ID_LENGTH or not (call_id.isascii() and call_id.isprintable()):
        _check_id(call_id, f".{key}")  # else short, no control character, no surrogate
    data = notification.get("resourceData")
    if not rest:
        if type(data) is list:
            for position, entity in enumerate(data):
                path = f".resourceData[{position}]"
                events.append(_call(entity, call_id, change, path, notification))
        else:
            events.append(_call(data, call_id, change, ".resourceData", notification))
    elif rest[0] == "operations" and len(rest) == 2:
        events.append(_operation(data, call_id, rest[1], change, notification))
    else:
        fields = (call_id, "/".join(rest), change, data, notification)
        events.append(_new(ResourceNotification, fields))


_CALLS = "/communications/calls/"
_CALLS_LENGTH = len(_CALLS)
_NO_REST: tuple[str, ...] = ()  # no sub-resource segments
_EXPECTED_URL = "a call resource path such as /communications/calls/{id}"


def _check_id(call_id: str, path: str) -> None:
    """Refuse a call id holding a lone surrogate or a control character."""
    wrong = id_flaw(call_id)
    if wrong is not None:
        raise NotificationError(path, CALL_ID, wrong)


def _split(url: str, key: str) -> tuple[str, Sequence[str]]:
    """The call id and the sub-resource path segments of any other resource URL."""
    parts = url.split("?", 1)[0].split("#", 1)[0].split("/")
    at = parts.index("calls") if "calls" in parts else -1
    if at < 0 or at + 1 >= len(parts) or not parts[at + 1]:
        _fail(f".{key}", _EXPECTED_URL, url)
    return parts[at + 1], [part for part in parts[at + 2 :] if part]


def _call(
    data: object, call_id: str, change: ChangeType, path: str, notification: Mapping[str, Any]
) -> CallNotification:
    if data is None:
        empty = (call_id, change, None, None, None, None, None, EMPTY, notification)
        return _new(CallNotification, empty)
    if not _is_mapping(data):
        _fail(path, "a call object", data)
    call: Mapping[str, Any] = data
    try:
        # _word and _text, inline: this runs for every notification.
        state = call.get("state")
        if state is not None:
            if type(state) is not str:
                _fail(".state", "a callState string", state)
            state = _STATES.get(state, state)
        audio = None
        media = call.get("mediaState")
        if media is not None:
            if not _is_mapping(media):
                _fail(".mediaState", "a callMediaState object", media)
            audio = _word(media.get("audio"), _AUDIO, ".mediaState.audio", "a mediaState string")
        info = call.get("resultInfo")
        result = None if info is None else _result(info)
        reason = call.get("terminationReason")
        if reason is not None:
            _kept(reason, ".terminationReason")
        context = call.get("replacesContext")
        if context is not None:
            _kept(context, ".replacesContext")
    except NotificationError as error:
        raise _under(path, error) from None
    fields = (call_id, change, state, audio, result, reason, context, call, notification)
    return _new(CallNotification, fields)


def _word(value: object, known: Mapping[str, _E], path: str, expected: str) -> _E | str | None:
    """An enum member for a known wire string, the string itself for an unknown one."""
    if value is None:
        return None
    if type(value) is not str:
        _fail(path, expected, value)
    return known.get(value, value)


def _kept(value: object, path: str) -> None:
    """Refuse ``value`` unless it is a string UTF-8 can carry (a ``Call`` keeps it)."""
    if type(value) is not str:
        _fail(path, "a string", value)
    wrong = text_flaw(value)
    if wrong is not None:
        raise NotificationError(path, CARRIED, wrong)


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or type(value) is str:
        return value
    _fail(f".{key}", "a string", value)


def _result(info: object) -> ResultInfo:
    try:
        if not _is_mapping(info):
            _fail("", "a resultInfo object", info)
        fields = info
        code = _int32(fields.get("code"), ".code")
        key = _subcode_key(fields)
        subcode = _int32(fields.get(key), f".{key}")
        message = _text(fields, "message")
        if message is not None:
            _kept(message, ".message")
    except NotificationError as error:
        raise _under(".resultInfo", error) from None
    return _new(ResultInfo, (code, subcode, message))


def _int32(value: object, path: str) -> int:
    """An Int32 given as a JSON number or a numeric string; absent means 0."""
    if value is None:
        return 0
    if type(value) is int:
        number = value
    elif type(value) is str and _is_numeric(value):
        number = int(value)
    else:
        _fail(path, "an Int32 (a number or a numeric string)", value)
    if number not in _INT32:
        _fail(path, "an Int32 (a number or a numeric string)", value)
    return number


def _operation(
    data: object,
    call_id: str,
    operation_id: str,
    change: ChangeType,
    notification: Mapping[str, Any],
) -> OperationNotification:
    if data is None:
        data = EMPTY
    if not _is_mapping(data):
        _fail(".resourceData", "a commsOperation object", data)
    operation = data
    try:
        status = _text(operation, "status")
        info = operation.get("resultInfo")
        result = progress = None
        if info is not None:
            if not _is_mapping(info):
                _fail(".resultInfo", "a resultInfo object", info)
            fields = info
            key = _subcode_key(fields)
            word = fields.get(key)
            if type(word) is str and not _is_numeric(word):
                progress = word
                fields = {k: v for k, v in fields.items() if k != key}
            result = _result(fields)
        context = _text(operation, "clientContext")
    except NotificationError as error:
        raise _under(".resourceData", error) from None
    return _new(
        OperationNotification,
        (call_id, operation_id, change, status, result, progress, context, operation, notification),
    )
