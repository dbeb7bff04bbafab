"""The inputs of a conformance case as JSON, and the events the reference reduces for each.

An input is one thing a bot's handler receives, in the form the conformance
vectors and the ``transfer-fsm conform`` protocol carry (``docs/conformance.md``):

- ``{"kind": "notification", "body": <commsNotifications body>}``: a webhook;
- ``{"kind": "requested", "request": <POST .../transfer body>}``: the bot's own
  request, reduced before the POST (:class:`~transfer_fsm.TransferRequested`);
- ``{"kind": "rejected", "result": {"code", "subcode", "message"}}``: Graph
  answered the POST with an error (:class:`~transfer_fsm.TransferRejected`);
- ``{"kind": "abandoned", "attempt": n}``: the bot's own timeout gave up on
  attempt n (:class:`~transfer_fsm.TransferAbandoned`);
- ``{"kind": "get", "status": 200, "body": <call resource>}`` and
  ``{"kind": "get", "status": 404}``: Graph's answer to ``GET`` of the call
  (:func:`~transfer_fsm.parse_call_resource`, :func:`~transfer_fsm.call_gone`).

Only the standard library and the core are used here: a harness in another
language needs nothing else to be checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..events import Event
from ..parse import call_gone, parse_call_resource, parse_notifications
from ..values import (
    Phone,
    ResultInfo,
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
    User,
)

Input = dict[str, Any]
"""One input of a case, as JSON decodes it (see the module's text for the kinds)."""

KINDS = ("notification", "requested", "rejected", "abandoned", "get")
"""The kinds of input, as their ``kind`` field names them."""

BOT_KINDS = frozenset(KINDS) - {"notification"}
"""The bot's own inputs: never redelivered, and kept in their order by every delivery."""


def requested_of(body: Mapping[str, Any]) -> TransferRequested:
    """The :class:`~transfer_fsm.TransferRequested` a ``POST .../transfer`` body stands for.

    The inverse of the builders (``blind_transfer`` / ``consultative_transfer``):
    the target (a user or a phone), ``replacesCallId`` and ``clientContext``.
    """
    invitation: Mapping[str, Any] = body.get("transferTarget") or {}
    identity: Mapping[str, Any] = invitation.get("identity") or {}
    target: User | Phone | None = None
    if isinstance(identity.get("phone"), Mapping):
        target = Phone(identity["phone"]["id"])
    elif isinstance(identity.get("user"), Mapping):
        user = identity["user"]
        target = User(user["id"], user.get("displayName"), user.get("tenantId"))
    return TransferRequested(invitation.get("replacesCallId"), body.get("clientContext"), target)


def result_of(result: Mapping[str, Any]) -> ResultInfo:
    """A ``{"code", "subcode", "message"}`` object as a :class:`~transfer_fsm.ResultInfo`."""
    return ResultInfo(result["code"], result.get("subcode", 0), result.get("message"))


def events_of(item: Mapping[str, Any], call_id: str) -> list[Event]:
    """The events the reference reduces for one input about ``call_id``, in order.

    Raises ``ValueError`` for an input of no known kind.
    """
    kind = item.get("kind")
    if kind == "notification":
        return list(parse_notifications(item["body"]))
    if kind == "requested":
        return [requested_of(item["request"])]
    if kind == "rejected":
        return [TransferRejected(result_of(item["result"]))]
    if kind == "abandoned":
        return [TransferAbandoned(item.get("attempt"))]
    if kind == "get":
        if item.get("status") == 404:
            return [call_gone(call_id)]
        return [parse_call_resource(item["body"])]
    raise ValueError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")


def notification(body: Mapping[str, Any]) -> Input:
    """A webhook body as an input."""
    return {"kind": "notification", "body": body}


def requested(body: Mapping[str, Any]) -> Input:
    """The bot's request (the ``POST .../transfer`` body) as an input."""
    return {"kind": "requested", "request": body}


def rejected(result: ResultInfo) -> Input:
    """Graph's error answer to the POST as an input."""
    return {
        "kind": "rejected",
        "result": {"code": result.code, "subcode": result.subcode, "message": result.message},
    }


def abandoned(attempt: int) -> Input:
    """The bot's timeout for attempt ``attempt`` as an input."""
    return {"kind": "abandoned", "attempt": attempt}


def get(body: Mapping[str, Any] | None) -> Input:
    """Graph's answer to ``GET`` of the call: the call resource, or ``None`` for a 404."""
    if body is None:
        return {"kind": "get", "status": 404}
    return {"kind": "get", "status": 200, "body": body}


def describe_input(item: Mapping[str, Any]) -> str:
    """A short reading of an input: its kind and what it says."""
    from .describe import describe_body  # the same words the kit's reports use

    kind = item.get("kind")
    if kind == "notification":
        return describe_body(item.get("body") or {})
    if kind == "requested":
        return "the bot requests a transfer"
    if kind == "rejected":
        result = item.get("result") or {}
        return f"Graph refuses the POST: {result.get('code')}/{result.get('subcode')}"
    if kind == "abandoned":
        return f"the bot abandons attempt {item.get('attempt')}"
    if kind == "get" and item.get("status") == 404:
        return "GET answered 404"
    return f"GET answered: {describe_body({'value': [{'resourceData': item.get('body')}]})}"
