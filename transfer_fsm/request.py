"""The bot's side of a transfer: the ``POST .../transfer`` body, whether it may be sent, and
what it did to the call it replaces.

:func:`blind_transfer` and :func:`consultative_transfer` build the request body
Graph documents, checked before anything is sent, together with the matching
:class:`~transfer_fsm.TransferRequested` event, so body and event cannot
disagree. :func:`transfer_blockers` says from a :class:`~transfer_fsm.Call`
whether a transfer may be requested now (the table is
``rules.STATE_BLOCKER`` / ``rules.STATUS_BLOCKER``), and
:func:`consultation_fate` what a consultative transfer did to the call it
replaces (``rules.LEG_FATE``); :func:`transfer_overdue` whether the bot has waited
longer than its own timeout for an attempt. Nothing here sends anything or reads
a clock: the bot POSTs the body itself and passes the time in.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from .rules import IN_FLIGHT_STATUSES, LEG_FATE, STATE_BLOCKER, STATUS_BLOCKER
from .text import MAX_ID_LENGTH, id_flaw
from .values import (
    Blocker,
    Call,
    LegFate,
    Phone,
    TransferRequested,
    User,
    describe_value,
    json_double,
    strict_value,
)

MAX_CLIENT_CONTEXT = 256
"""``clientContext`` is at most 256 characters (Graph's documented limit), counted as
UTF-16 code units, as the .NET service counts them: a character outside the Basic
Multilingual Plane (an emoji, say) counts twice."""

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_USER = "#microsoft.graph.identity"
_IDENTITY_SET = "#microsoft.graph.identitySet"
_TARGET = "#microsoft.graph.invitationParticipantInfo"
_PARTICIPANT = "#microsoft.graph.participantInfo"


@strict_value
class Transferee(NamedTuple):
    """The participant to transfer out of a group call (the body's ``transferee``)."""

    participant_id: str
    identity: User | Phone


class TransferRequest(NamedTuple):
    """A checked ``POST .../transfer`` request: its JSON ``body`` and the matching ``event``.

    Reduce ``event`` into the call *before* sending ``body``, so that
    notifications racing the ``202 Accepted`` find the attempt open.
    """

    body: dict[str, Any]
    event: TransferRequested

    def json(self) -> bytes:
        """The body as compact UTF-8 JSON, ready to send."""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


def blind_transfer(
    target: User | Phone,
    *,
    transferee: Transferee | None = None,
    client_context: str | None = None,
    endpoint_type: str | None = "default",
    language_id: str | None = None,
    region: str | None = None,
    annotate: bool = False,
    at: float | None = None,
) -> TransferRequest:
    """A direct (blind) transfer to ``target``: a user, or a PSTN number in E.164.

    ``transferee`` is needed when transferring out of a group call.
    ``client_context`` (at most 256 characters), ``endpoint_type``,
    ``language_id`` and ``region`` are copied into the body as given
    (``None`` leaves them out); ``annotate`` adds the ``@odata.type``
    annotations some documented bodies carry (a phone identity is always
    typed, as every documented PSTN body types it). Raises ``ValueError``,
    naming the argument, for an empty id or one holding a control character,
    a number that is not E.164, a context that is too long, text that cannot
    be sent as UTF-8 (a lone surrogate), or an ``at`` that is no finite number
    a JSON double can carry. ``at`` is recorded on the event (the caller's
    clock when it sends the request; see :func:`transfer_overdue`).
    """
    options = _Options(endpoint_type, language_id, region, annotate, at)
    return _request(target, None, transferee, client_context, options)


def consultative_transfer(
    target: User | Phone,
    replaces_call_id: str,
    *,
    transferee: Transferee | None = None,
    client_context: str | None = None,
    endpoint_type: str | None = "default",
    language_id: str | None = None,
    region: str | None = None,
    annotate: bool = False,
    at: float | None = None,
) -> TransferRequest:
    """A consultative transfer: ``target`` already talks to the bot on ``replaces_call_id``.

    That call is replaced once the transfer completes (see
    :func:`consultation_fate`). The other arguments are those of
    :func:`blind_transfer`. Raises ``ValueError`` as it does, and for a
    missing or empty ``replaces_call_id``, or one that is no call id (text
    UTF-8 can carry, with no control characters, 256 characters at most).
    """
    if replaces_call_id is None:
        raise ValueError("replaces_call_id: a consultative transfer needs the consultation call id")
    options = _Options(endpoint_type, language_id, region, annotate, at)
    return _request(target, replaces_call_id, transferee, client_context, options)


class _Options(NamedTuple):
    """The builders' arguments that are copied as given."""

    endpoint_type: str | None
    language_id: str | None
    region: str | None
    annotate: bool
    at: float | None


def _request(
    target: User | Phone,
    replaces_call_id: str | None,
    transferee: Transferee | None,
    client_context: str | None,
    options: _Options,
) -> TransferRequest:
    """Check every argument, then build the body and the event from the same values."""
    endpoint_type, language_id, region, annotate, at = options
    identity = _identity(target, "target", annotate)
    participant = None if transferee is None else _participant(transferee, annotate)
    if replaces_call_id is not None:
        _id(replaces_call_id, "replaces_call_id")
    for name, value in (
        ("endpoint_type", endpoint_type),
        ("language_id", language_id),
        ("region", region),
    ):
        if value is not None:
            _nonempty(value, name)
    if client_context is not None:
        _nonempty(client_context, "client_context")
        units = len(client_context.encode("utf-16-le")) // 2
        if units > MAX_CLIENT_CONTEXT:
            raise ValueError(
                f"client_context: at most {MAX_CLIENT_CONTEXT} characters (UTF-16 units), "
                f"got {units}"
            )
    if at is not None and not json_double(at):
        raise ValueError(
            "at: a finite number of seconds (the caller's clock) a JSON double can carry, "
            f"got {describe_value(at)}"
        )
    invitation: dict[str, Any] = {"@odata.type": _TARGET} if annotate else {}
    optional = {
        "endpointType": endpoint_type,
        "identity": identity,
        "languageId": language_id,
        "region": region,
        "replacesCallId": replaces_call_id,
    }
    invitation.update((key, value) for key, value in optional.items() if value is not None)
    body: dict[str, Any] = {"transferTarget": invitation}
    if participant is not None:
        body["transferee"] = participant
    if client_context is not None:
        body["clientContext"] = client_context
    event = TransferRequested(replaces_call_id, client_context, target, at)
    return TransferRequest(body, event)


def _nonempty(value: object, name: str) -> str:
    """A non-blank string that UTF-8 can carry."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: expected text UTF-8 can carry, got {value!r}") from None
    return value


def _id(value: object, name: str) -> str:
    """A non-blank id that UTF-8 can carry, holding no control character, not too long."""
    text = _nonempty(value, name)
    wrong = id_flaw(text)
    if wrong is not None:
        raise ValueError(
            f"{name}: expected an id with no control characters,"
            f" {MAX_ID_LENGTH} characters at most, got {wrong}"
        )
    return text


def _identity(who: User | Phone, name: str, annotate: bool) -> dict[str, Any]:
    """An ``identitySet`` holding one user or one phone."""
    identity: dict[str, Any] = {"@odata.type": _IDENTITY_SET} if annotate else {}
    if isinstance(who, Phone):
        number = who.number
        if not isinstance(number, str) or _E164.fullmatch(number) is None:
            raise ValueError(
                f"{name}: expected a phone number in E.164 form such as '+12345678901', "
                f"got {number!r}"
            )
        # Graph's documented PSTN bodies always type the phone identity:
        # ``phone`` is not a declared property of the v1.0 ``identitySet``.
        identity["phone"] = {"@odata.type": _USER, "id": number}
        return identity
    if not isinstance(who, User):
        raise ValueError(f"{name}: expected a User or a Phone, got {who!r}")
    user: dict[str, Any] = {"@odata.type": _USER} if annotate else {}
    user["id"] = _id(who.id, f"{name}.id")
    if who.tenant_id is not None:
        user["tenantId"] = _id(who.tenant_id, f"{name}.tenant_id")
    if who.display_name is not None:
        user["displayName"] = _nonempty(who.display_name, f"{name}.display_name")
    identity["user"] = user
    return identity


def _participant(transferee: Transferee, annotate: bool) -> dict[str, Any]:
    """The ``transferee`` ``participantInfo``."""
    if not isinstance(transferee, Transferee):
        raise ValueError(f"transferee: expected a Transferee, got {transferee!r}")
    participant: dict[str, Any] = {"@odata.type": _PARTICIPANT} if annotate else {}
    participant["identity"] = _identity(transferee.identity, "transferee.identity", annotate)
    participant["participantId"] = _id(transferee.participant_id, "transferee.participant_id")
    return participant


def transfer_blockers(call: Call) -> tuple[Blocker, ...]:
    """Why ``call`` cannot be transferred now; empty when it can.

    Read from the call-state axis and the current attempt, by the tables
    ``rules.STATE_BLOCKER`` and ``rules.STATUS_BLOCKER``. A state the
    library does not know never reaches the axis: the answer is read from
    the last state it knows.
    """
    transfer = call.transfer
    found = (
        STATE_BLOCKER.get(call.state),
        STATUS_BLOCKER[None if transfer is None else transfer.status],
    )
    return tuple(dict.fromkeys(blocker for blocker in found if blocker is not None))


def can_transfer(call: Call) -> bool:
    """True when :func:`transfer_blockers` finds nothing in the way."""
    return not transfer_blockers(call)


def transfer_overdue(call: Call, now: float, timeout: float) -> int | None:
    """The number of ``call``'s attempt when it is still in flight more than ``timeout``
    after its request; ``None`` when no attempt is overdue.

    The library keeps no clock: ``now`` is the caller's clock reading, on the
    same clock as the ``at`` of the attempt's :class:`~transfer_fsm.TransferRequested`
    (``time.time()`` for both, say), and ``timeout`` is the bot's own choice,
    in the same unit. An attempt that is no longer in flight (failed,
    completed), or whose request carries no ``at`` (or that was opened by
    observation, with no request), is never overdue. When it is overdue, the
    bot reduces :class:`~transfer_fsm.TransferAbandoned` and may ask Graph
    where the call stands (:func:`~transfer_fsm.parse_call_resource`). Raises
    ``ValueError`` when ``now``, ``timeout`` or the request's ``at`` is not a
    finite number a JSON double can carry.

    The answer is the attempt to abandon: reduce
    ``TransferAbandoned(attempt=n)`` with it, so that a timer that fires late,
    or on another instance, after a new attempt opened abandons nothing.
    """
    for name, value in (("now", now), ("timeout", timeout)):
        if not json_double(value):
            raise ValueError(f"{name}: a finite number of seconds, got {describe_value(value)}")
    transfer = call.transfer
    if transfer is None or transfer.status not in IN_FLIGHT_STATUSES:
        return None
    request = transfer.request
    if request is None or request.at is None:
        return None
    if not json_double(request.at):
        raise ValueError(
            f"the request's at: a finite number of seconds, got {describe_value(request.at)}"
        )
    return transfer.attempt if now - request.at > timeout else None


def consultation_fate(primary: Call, leg: Call | str) -> LegFate:
    """What ``primary``'s consultative transfer did to ``leg``, the call it replaces.

    A consultative transfer names the bot's call with the target in
    ``replacesCallId``; Graph drops that call once the transfer completes,
    and documents no notification on it that says why. So a bot that tracks
    both calls asks here: ``REPLACED`` means the consultation call ended (or
    will end) because the transfer completed. The answer is read from the
    primary call's reconciled view (and ``leg``'s id only), so it does not
    depend on delivery order. It needs the
    bot's :class:`~transfer_fsm.TransferRequested` (which carries
    ``replaces_call_id``): Graph's notifications do not name the replaced call.
    """
    leg_id = leg if isinstance(leg, str) else leg.call_id
    transfer = primary.transfer
    if transfer is None or transfer.request is None:
        return LegFate.UNRELATED
    if transfer.request.replaces_call_id != leg_id:
        return LegFate.UNRELATED
    return LEG_FATE[transfer.status]
