"""``parse_notifications``: Graph callback bodies to events, or one clear error.

Accepts a ``commsNotifications`` body (``{"value": [...]}``) or a single
``commsNotification``, as bytes (UTF-8), text or an already-decoded mapping.
Anything else raises :class:`NotificationError` naming the JSON path and what
was expected; nothing else is ever raised. Values the library does not know
are kept: unknown strings stay strings, unknown fields stay in ``event.data``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from .events import (
    EMPTY,
    CallNotification,
    Notification,
    OperationNotification,
    ResourceNotification,
)
from .values import Audio, CallState, ChangeType, ResultInfo

_new = tuple.__new__
_STATES: dict[str, CallState] = {s.value: s for s in CallState}
_AUDIO: dict[str, Audio] = {a.value: a for a in Audio}
_CHANGES: dict[str, ChangeType] = {c.value: c for c in ChangeType}
_INT32 = range(-(2**31), 2**31)
_UPDATED = ChangeType.UPDATED


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
    raise NotificationError(path, expected, _describe(value))


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        text = repr(value) if abs(value) < 10**12 else "a number out of range"
        return text
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _reject_constant(name: str) -> NoReturn:
    raise NotificationError("$", "standard JSON (no NaN or Infinity)", name)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> object:
    """Decode a body to JSON values, raising :class:`NotificationError` on bad bytes or text."""
    if isinstance(body, Mapping):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotificationError(
                "$", "UTF-8 text", f"a byte that is not UTF-8 at offset {error.start}"
            ) from None
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
    Raises :class:`NotificationError` (a ``ValueError``) and nothing else.
    """
    doc = decode(body)
    if not isinstance(doc, Mapping):
        _fail("$", "a JSON object", doc)
    events: list[Notification] = []
    if "value" in doc:
        items = doc["value"]
        if not isinstance(items, list):
            _fail("$.value", "an array of commsNotification objects", items)
        for index, item in enumerate(items):
            _notification(item, index, events)
    elif "changeType" in doc:
        _notification(doc, -1, events)
    else:
        _fail(
            "$", "a commsNotifications object ('value') or a commsNotification ('changeType')", doc
        )
    return events


def _path(index: int) -> str:
    return "$" if index < 0 else f"$.value[{index}]"


def _notification(item: object, index: int, events: list[Notification]) -> None:
    if not isinstance(item, Mapping):
        _fail(_path(index), "a commsNotification object", item)
    value = item.get("changeType")
    change = _CHANGES.get(value) if type(value) is str else None
    if change is None:
        _fail(_path(index) + ".changeType", "'created', 'updated' or 'deleted'", value)
    url = item.get("resourceUrl")
    key = "resourceUrl"
    if url is None:
        url = item.get("resource")
        key = "resource"
    if not isinstance(url, str):
        _fail(
            f"{_path(index)}.{key}", "a call resource path such as /communications/calls/{id}", url
        )
    call_id, rest = _split(url, index, key)
    data = item.get("resourceData")
    if not rest:
        if isinstance(data, list):
            for position, entity in enumerate(data):
                events.append(
                    _call(entity, call_id, change, f"{_path(index)}.resourceData[{position}]")
                )
        else:
            events.append(_call(data, call_id, change, f"{_path(index)}.resourceData"))
    elif rest[0] == "operations" and len(rest) == 2:
        events.append(_operation(data, call_id, rest[1], change, index))
    else:
        events.append(_new(ResourceNotification, (call_id, "/".join(rest), change, data)))


def _split(url: str, index: int, key: str) -> tuple[str, list[str]]:
    """The call id and the sub-resource path segments of a resource URL."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    parts = path.split("/")
    try:
        at = parts.index("calls")
    except ValueError:
        at = -1
    if at < 0 or at + 1 >= len(parts) or not parts[at + 1]:
        _fail(
            f"{_path(index)}.{key}", "a call resource path such as /communications/calls/{id}", url
        )
    rest = [part for part in parts[at + 2 :] if part]
    return parts[at + 1], rest


def _call(data: object, call_id: str, change: ChangeType, path: str) -> CallNotification:
    if data is None:
        return _new(CallNotification, (call_id, change, None, None, None, None, None, EMPTY))
    if not isinstance(data, Mapping):
        _fail(path, "a call object", data)
    state: CallState | str | None = data.get("state")
    if state is not None:
        if type(state) is not str:
            _fail(path + ".state", "a callState string", state)
        state = _STATES.get(state, state)
    audio: Audio | str | None = None
    media = data.get("mediaState")
    if media is not None:
        if not isinstance(media, Mapping):
            _fail(path + ".mediaState", "a callMediaState object", media)
        audio = media.get("audio")
        if audio is not None:
            if type(audio) is not str:
                _fail(path + ".mediaState.audio", "a mediaState string", audio)
            audio = _AUDIO.get(audio, audio)
    info = data.get("resultInfo")
    result = None if info is None else _result(info, path + ".resultInfo")
    reason = _text(data, "terminationReason", path)
    context = _text(data, "replacesContext", path)
    return _new(CallNotification, (call_id, change, state, audio, result, reason, context, data))


def _text(data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None or type(value) is str:
        return value
    _fail(f"{path}.{key}", "a string", value)


def _result(info: object, path: str) -> ResultInfo:
    if not isinstance(info, Mapping):
        _fail(path, "a resultInfo object", info)
    code = _int32(info.get("code"), path + ".code")
    key = "subcode" if "subcode" in info else "subCode"
    subcode = _int32(info.get(key), f"{path}.{key}")
    message = _text(info, "message", path)
    return _new(ResultInfo, (code, subcode, message))


def _int32(value: object, path: str) -> int:
    """An Int32 given as a JSON number or a numeric string; absent means 0."""
    if value is None:
        return 0
    if type(value) is int:
        number = value
    elif type(value) is str and value.strip().lstrip("+-").isdigit() and len(value) < 16:
        number = int(value)
    else:
        _fail(path, "an Int32 (a number or a numeric string)", value)
    if number not in _INT32:
        _fail(path, "an Int32 (a number or a numeric string)", value)
    return number


def _operation(
    data: object, call_id: str, operation_id: str, change: ChangeType, index: int
) -> OperationNotification:
    path = f"{_path(index)}.resourceData"
    if data is None:
        data = EMPTY
    if not isinstance(data, Mapping):
        _fail(path, "a commsOperation object", data)
    status = _text(data, "status", path)
    info = data.get("resultInfo")
    result = progress = None
    if info is not None:
        if not isinstance(info, Mapping):
            _fail(path + ".resultInfo", "a resultInfo object", info)
        key = "subcode" if "subcode" in info else "subCode"
        word = info.get(key)
        if type(word) is str and not word.strip().lstrip("+-").isdigit():
            progress = word
            info = {k: v for k, v in info.items() if k != key}
        result = _result(info, path + ".resultInfo")
    context = _text(data, "clientContext", path)
    return _new(
        OperationNotification,
        (call_id, operation_id, change, status, result, progress, context, data),
    )
