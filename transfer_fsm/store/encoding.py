"""A faster :func:`~transfer_fsm.store.encode` for the calls ``reduce`` makes.

:func:`encode` writes ``Call.to_dict()`` through the snapshot shapes, then
``json``: general, and the largest part of a durable store's own work per
apply. :func:`fast_encode` writes the very same bytes directly, for a call
whose every value has the exact type the snapshot expects (as every call
``reduce`` makes does), and answers ``None`` for anything else (a value built
by hand, a request's ``at`` that is not a finite float), which the caller then
encodes with :func:`encode`: its refusals stay the only ones. Strings are
escaped by ``json``'s own ASCII escaper, as ``json.dumps`` does. The tests
hold it to ``encode``'s bytes over every documented flow and generated calls.
"""

from __future__ import annotations

import math
from enum import Enum
from json.encoder import encode_basestring_ascii as _text

from ..snapshot import VERSION
from ..values import (
    Audio,
    Call,
    CallState,
    Phone,
    ResultInfo,
    Transfer,
    TransferRequested,
    TransferStatus,
    User,
)

_HEAD = f'{{"version":{VERSION},"call_id":'


def _members(enum: type[Enum]) -> dict[object, str]:
    return {member: _text(member.value) for member in enum}


_STATES = _members(CallState)
_AUDIO = _members(Audio)
_STATUSES = _members(TransferStatus)


def fast_encode(call: Call) -> bytes | None:
    """``encode(call)``'s bytes, or ``None`` for a call this fast path does not write."""
    if type(call) is not Call:
        return None
    call_id, state, audio, transfer, result, reason, failures = call
    if type(call_id) is not str or type(failures) is not tuple:
        return None
    state_text = _member(state, CallState, _STATES)
    audio_text = _member(audio, Audio, _AUDIO)
    transfer_text = "null" if transfer is None else _transfer(transfer)
    result_text = _result(result)
    reason_text = _optional_text(reason)
    failure_texts = [_result(failure) for failure in failures]
    if (
        state_text is None
        or audio_text is None
        or transfer_text is None
        or result_text is None
        or reason_text is None
        or None in failure_texts
    ):
        return None
    return "".join(
        (
            _HEAD,
            _text(call_id),
            ',"state":',
            state_text,
            ',"audio":',
            audio_text,
            ',"transfer":',
            transfer_text,
            ',"result":',
            result_text,
            ',"termination_reason":',
            reason_text,
            ',"earlier_failures":[',
            ",".join(failure_texts),  # type: ignore[arg-type]
            "]}",
        )
    ).encode()


def _member(value: object, enum: type[Enum], texts: dict[object, str]) -> str | None:
    if value is None:
        return "null"
    return texts[value] if type(value) is enum else None


def _optional_text(value: object) -> str | None:
    if value is None:
        return "null"
    return _text(value) if type(value) is str else None


def _result(result: object) -> str | None:
    if result is None:
        return "null"
    if type(result) is not ResultInfo:
        return None
    code, subcode, message = result
    message_text = _optional_text(message)
    if type(code) is not int or type(subcode) is not int or message_text is None:
        return None
    codes = f'"code":{int.__repr__(code)},"subcode":{int.__repr__(subcode)}'
    return f'{{{codes},"message":{message_text}}}'


def _transfer(transfer: object) -> str | None:
    if type(transfer) is not Transfer:
        return None
    status, result, context, audio, request, attempt = transfer
    status_text = _STATUSES.get(status) if type(status) is TransferStatus else None
    result_text = _result(result)
    context_text = _optional_text(context)
    audio_text = _member(audio, Audio, _AUDIO)
    request_text = "null" if request is None else _request(request)
    if (
        status_text is None
        or result_text is None
        or context_text is None
        or audio_text is None
        or request_text is None
        or type(attempt) is not int
        or attempt < 1
    ):
        return None
    return (
        f'{{"status":{status_text},"result":{result_text},"replaces_context":{context_text},'
        f'"audio":{audio_text},"request":{request_text},"attempt":{int.__repr__(attempt)}}}'
    )


def _request(request: object) -> str | None:
    if type(request) is not TransferRequested:
        return None
    replaces, context, target, at = request
    replaces_text = _optional_text(replaces)
    context_text = _optional_text(context)
    target_text = "null" if target is None else _target(target)
    if at is None:
        at_text = "null"
    elif type(at) is float and math.isfinite(at):
        at_text = float.__repr__(at)
    else:
        return None  # an int, or a value encode refuses: its own path
    if replaces_text is None or context_text is None or target_text is None:
        return None
    return (
        f'{{"replaces_call_id":{replaces_text},"client_context":{context_text},'
        f'"target":{target_text},"at":{at_text}}}'
    )


def _target(target: object) -> str | None:
    if type(target) is User:
        id_, name, tenant = target
        name_text, tenant_text = _optional_text(name), _optional_text(tenant)
        if type(id_) is not str or name_text is None or tenant_text is None:
            return None
        return (
            f'{{"kind":"user","id":{_text(id_)},"display_name":{name_text},'
            f'"tenant_id":{tenant_text}}}'
        )
    if type(target) is Phone:
        (number,) = target
        return None if type(number) is not str else f'{{"kind":"phone","number":{_text(number)}}}'
    return None
