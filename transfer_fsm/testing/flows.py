"""The documented transfer flows: Graph's own bodies, the bot's request, the view they end in.

The payloads are Graph's documentation's (``payloads/seed.json``: the seed
page; ``payloads/graph-docs.json``: the v1.0 and legacy beta pages, whose
``_source`` names them). The flows are every documented variant in each
documented production order of its races: direct and consultative, success
and failure; the audio-inactive notification may carry ``transferAccepted``
(accepted happened first) and the audio-active one may too (audio came back
before the call did). Each flow's ``final`` is written out here from the
documentation, not computed by the reducer, so the reducer is tested
against it.

Every flow exists twice: with the bot's request (it reduced
``TransferRequested`` before its POST) and observed (another instance sent
the POST, so no request is reduced). An observed flow is not given where the
documentation leaves it undecidable (a legacy operation's failure is the
transfer's only by the request's ``clientContext``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..events import CallNotification, Notification
from ..parse import parse_notifications
from ..reducer import reduce
from ..request import TransferRequest, blind_transfer, consultative_transfer
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

Body = dict[str, Any]
"""One ``commsNotifications`` callback body, as JSON decodes it."""


def _payloads(name: str) -> dict[str, Any]:
    text = (
        resources.files(__package__).joinpath("payloads").joinpath(name).read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


SEED: dict[str, Body] = _payloads("seed.json")
"""The seed page's bodies by name (``direct-transferring``, ..., ``request-consultative``)."""
DOCS: dict[str, Any] = _payloads("graph-docs.json")
"""The v1.0 and legacy beta pages' bodies and requests by name."""

SEED_CALL_ID = "341a0500-d4bf-4224-8b19-1581168d328b"
"""The call id of the seed page's and the v1.0 page's notifications."""
LEGACY_CALL_ID = "57DAB8B1894C409AB240BD8BEAE78896"
"""The call id of the legacy beta page's notifications."""
LEGACY_CONTEXT = "d45324c1-fcb5-430a-902c-f20af696537c"
"""The ``clientContext`` of the legacy beta page's request, echoed by its operation."""

HEIDI = User("550fae72-d251-43ec-868c-373732c2704f", "Heidi Steen")
"""The documented target."""
_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_LEG = "e5d39592-99bd-4db8-bca8-30fb894ec51d"


def _is_restore(body: Mapping[str, Any]) -> bool:
    """The audio-active notification that still says ``established`` (docs/model.md, 1)."""
    return any(
        isinstance(event, CallNotification)
        and event.audio is Audio.ACTIVE
        and event.state is CallState.ESTABLISHED
        for event in parse_notifications(body)
    )


@dataclass(frozen=True)
class Flow:
    """One documented flow in one documented production order.

    ``start`` is the call before the request (up, audio flowing), ``request``
    the bot's checked request (``None`` when the flow is observed: another
    instance sent it), ``bodies`` the callbacks in one documented order and
    ``final`` the documented view after the request and every body, in any
    order, with duplicates and late copies (except the interleavings
    :meth:`documented` refuses).
    """

    name: str
    start: Call
    request: TransferRequest | None
    bodies: tuple[Body, ...]
    final: Call

    @property
    def requested(self) -> Call:
        """The call as the bot holds it when the callbacks start: ``start`` with the request."""
        return self.start if self.request is None else reduce(self.start, self.request.event)

    def events(self) -> list[Notification]:
        """The flow's notifications, parsed, in its documented order."""
        return [event for body in self.bodies for event in parse_notifications(body)]

    def about(self, call_id: str) -> Flow:
        """The same flow about another call: ``call_id`` in its bodies and its views.

        Its bodies and its request's body are new copies. Raises ``ValueError``
        as :func:`check_call_id` does.
        """
        check_call_id(call_id)
        old = self.final.call_id
        request = self.request
        if request is not None:
            request = TransferRequest(copy.deepcopy(request.body), request.event)
        return Flow(
            self.name,
            self.start._replace(call_id=call_id),
            request,
            tuple(_about(body, old, call_id) for body in self.bodies),
            self.final._replace(call_id=call_id),
        )

    def documented(self, delivery: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``final`` is the reference view of ``delivery``, a delivery of this flow.

        ``delivery`` must hold every body of the flow at least once and
        nothing else (False otherwise). It is then False only for an
        interleaving ``docs/model.md`` lists as ambiguous: in an observed flow,
        every copy of the audio-active restore (which still says
        ``established``) delivered before anything that shows the transfer
        began (ambiguity 1), which reads as the call's media before the
        transfer.
        """
        if not all(body in delivery for body in self.bodies):
            return False
        if not all(body in self.bodies for body in delivery):
            return False
        if self.request is not None:
            return True
        restores = [_is_restore(body) for body in delivery]
        first_other = restores.index(False) if False in restores else len(restores)
        return first_other == 0 or any(restores[first_other:])


def check_call_id(call_id: object) -> str:
    """``call_id`` if a resource URL can carry it; else ``ValueError``.

    A call id here is a non-empty string without ``/``, ``?`` or ``#``,
    which would end it inside ``/communications/calls/{id}``.
    """
    if not isinstance(call_id, str) or not call_id or any(c in call_id for c in "/?#"):
        raise ValueError(f"call_id: a non-empty call id without '/', '?' or '#', got {call_id!r}")
    return call_id


def _with_state(body: Body, state: str) -> Body:
    changed = copy.deepcopy(body)
    (item,) = changed["value"]
    item["resourceData"]["state"] = state
    return changed


def _code_200_success() -> Body:
    """The success as the call-delete end-reason table gives it: 200/7015, as strings."""
    body: Body = copy.deepcopy(DOCS["v1-completed-7015"])
    (item,) = body["value"]
    item["resourceData"]["resultInfo"].update(code="200", subcode="7015")
    return body


def _legacy_call(state: str, audio: str) -> Body:
    """A call notification on the legacy path (its shape inferred: the page shows none)."""
    url = f"/app/calls/{LEGACY_CALL_ID}"
    data = {"state": state, "mediaState": {"audio": audio}}
    return {"value": [{"changeType": "updated", "resource": url, "resourceData": data}]}


def _legacy_failed_operation() -> Body:
    """The legacy transfer operation failing (inferred: the page documents running, completed)."""
    body: Body = copy.deepcopy(DOCS["legacy-operation-accepted"])
    (item,) = body["value"]
    item["resourceData"].update(
        status="failed", resultInfo={"code": "500", "subCode": "7000", "message": "x"}
    )
    return body


_BLIND = blind_transfer(HEIDI)  # v1.0 example 1
_CONSULTATIVE = consultative_transfer(  # the seed page's consultative request
    HEIDI._replace(tenant_id=_TENANT),
    _LEG,
    client_context="<clientContext-value>",
    language_id="en-us",
    region="amer",
    annotate=True,
)
_CONSULTATIVE_V1 = consultative_transfer(HEIDI, _LEG, annotate=True)  # v1.0 example 2
_CONSULTATIVE_PSTN = consultative_transfer(  # v1.0 example 4
    Phone("+12345678901"),
    _LEG,
    client_context="9e90d1c1-f61e-43e7-9f75-d420159aae08",
    language_id="en-us",
    region="amer",
    annotate=True,
)
_LEGACY = consultative_transfer(  # the legacy beta page's request
    HEIDI._replace(tenant_id=_TENANT),
    _LEG,
    client_context=LEGACY_CONTEXT,
    language_id="en-US",
    region="westus",
)

UP = Call(SEED_CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
"""The call up, audio flowing, no attempt yet: where every flow starts."""


def _completed(
    request: TransferRequested,
    result: ResultInfo | None,
    reason: str | None,
    call_id: str = SEED_CALL_ID,
) -> Call:
    """Completed: the call terminated, audio inactive."""
    transfer = Transfer(TransferStatus.COMPLETED, result, None, Audio.INACTIVE, request)
    return Call(call_id, CallState.TERMINATED, Audio.INACTIVE, transfer, result, reason)


def _failed(
    request: TransferRequested,
    failure: int | ResultInfo,
    context: str | None,
    call_id: str = SEED_CALL_ID,
) -> Call:
    """Failed, audio restored; ``failure`` is a subcode of 500 with the seed's message."""
    result = failure if isinstance(failure, ResultInfo) else ResultInfo(500, failure, "<message>")
    transfer = Transfer(TransferStatus.FAILED, result, context, Audio.ACTIVE, request)
    return Call(call_id, CallState.ESTABLISHED, Audio.ACTIVE, transfer, result, None)


def _flow(name: str, request: TransferRequest, bodies: Sequence[Body], final: Call) -> Flow:
    return Flow(name, UP._replace(call_id=final.call_id), request, tuple(bodies), final)


def _success(
    kind: str, request: TransferRequest, terminated: Body, final: Call, label: str = ""
) -> list[Flow]:
    label = label or kind
    start = SEED[f"{kind}-transferring"]
    inactive = SEED[f"{kind}-audio-inactive"]
    accepted = SEED[f"{kind}-transfer-accepted"]
    orders = {
        "accepted after audio inactive": (start, inactive, accepted, terminated),
        "accepted before audio inactive": (
            start,
            accepted,
            _with_state(inactive, "transferAccepted"),
            terminated,
        ),
    }
    return [_flow(f"{label} success, {order}", request, orders[order], final) for order in orders]


def _failure(
    kind: str, request: TransferRequest, final: Call, failed: Body | None = None, label: str = ""
) -> list[Flow]:
    label = label or kind
    start = SEED[f"{kind}-transferring"]
    inactive = SEED[f"{kind}-audio-inactive"]
    accepted = SEED[f"{kind}-transfer-accepted"]
    failed = failed or SEED[f"{kind}-established-failed"]
    active = SEED[f"{kind}-audio-active"]
    heads = {
        "accepted after audio inactive": (start, inactive, accepted),
        "accepted before audio inactive": (
            start,
            accepted,
            _with_state(inactive, "transferAccepted"),
        ),
    }
    tails = {
        "established before audio active": (failed, active),
        "established after audio active": (_with_state(active, "transferAccepted"), failed),
    }
    return [
        _flow(f"{label} failure, {head}, {tail}", request, heads[head] + tails[tail], final)
        for head in heads
        for tail in tails
    ]


def _legacy_flows() -> tuple[Flow, Flow]:
    """The legacy operation completing, and failing (which only the request tells apart)."""
    completed = _completed(_LEGACY.event, None, "AppTransferred", LEGACY_CALL_ID)
    failed = _failed(_LEGACY.event, ResultInfo(500, 7000, "x"), None, LEGACY_CALL_ID)
    return (
        _flow(
            "legacy beta commsOperation transfer",
            _LEGACY,
            (
                DOCS["legacy-operation-transferring"],
                DOCS["legacy-operation-accepted"],
                DOCS["legacy-terminated"],
            ),
            completed,
        ),
        _flow(
            "legacy beta commsOperation transfer failing among call notifications (inferred)",
            _LEGACY,
            (
                DOCS["legacy-operation-transferring"],
                _legacy_call("transferring", "inactive"),
                _legacy_failed_operation(),
                _legacy_call("established", "active"),
            ),
            failed,
        ),
    )


def _requested_flows() -> list[Flow]:
    """Every documented flow with the bot's request that an observer can follow too."""
    app_transferred = _completed(_CONSULTATIVE.event, None, "AppTransferred")
    graceful = ResultInfo(0, 7015, "GracefulTransferCompleted")
    graceful_200 = ResultInfo(200, 7015, "GracefulTransferCompleted")
    return [
        *_success(
            "direct",
            _BLIND,
            SEED["direct-terminated"],
            _completed(_BLIND.event, None, "AppTransferred"),
        ),
        *_failure("direct", _BLIND, _failed(_BLIND.event, 1000, "<replacesContext>")),
        *_success("consultative", _CONSULTATIVE, SEED["consultative-terminated"], app_transferred),
        *_failure(
            "consultative", _CONSULTATIVE, _failed(_CONSULTATIVE.event, 7000, "<replacesContext>")
        ),
        *_success(
            "direct",
            _BLIND,
            DOCS["v1-completed-7015"],
            _completed(_BLIND.event, graceful, None),
            "v1.0 direct (0/7015)",
        ),
        *_failure(
            "direct",
            _BLIND,
            _failed(_BLIND.event, 7000, None),
            DOCS["v1-failed-7000"],
            "v1.0 blind (500/7000)",
        ),
        *_failure(
            "consultative",
            _CONSULTATIVE_V1,
            _failed(_CONSULTATIVE_V1.event, 7700, "<replacesContext>"),
            DOCS["v1-failed-7700-with-context"],
            "v1.0 consultative (500/7700)",
        ),
        *_failure(
            "consultative",
            _CONSULTATIVE_PSTN,
            _failed(_CONSULTATIVE_PSTN.event, 7700, None),
            DOCS["v1-failed-7700"],
            "v1.0 consultative PSTN (500/7700, no replacesContext)",
        ),
        *_success(
            "direct",
            _BLIND,
            _code_200_success(),
            _completed(_BLIND.event, graceful_200, None),
            "success code 200 as a string",
        ),
        _legacy_flows()[0],
    ]


def _observed(flow: Flow) -> Flow:
    """The flow as a bot that never reduced the request sees it."""
    assert flow.final.transfer is not None
    final = flow.final._replace(transfer=flow.final.transfer._replace(request=None))
    return Flow(f"{flow.name}, observed", flow.start, None, flow.bodies, final)


def _about(value: Any, old: str, new: str) -> Any:
    """``value`` with every ``/calls/{old}`` in its strings made ``/calls/{new}``."""
    if isinstance(value, str):
        return value.replace(f"/calls/{old}", f"/calls/{new}")
    if isinstance(value, dict):
        return {key: _about(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_about(item, old, new) for item in value]
    return value


def _documented() -> list[Flow]:
    observable = _requested_flows()
    # A failed legacy operation with a numeric subCode is the transfer's only by
    # the clientContext of the bot's request: an observer cannot tell.
    return [*observable, _legacy_flows()[1], *(_observed(flow) for flow in observable)]


_FLOWS = _documented()


def documented_flows(*, call_id: str | None = None) -> list[Flow]:
    """Every documented flow, as callback bodies about ``call_id``.

    Without ``call_id`` each flow keeps its document's own call id (the seed
    page's, or the legacy beta page's for the legacy operation flows). The
    flows with the bot's request come first, then the same flows observed
    (``request`` is ``None``). Each call returns new bodies: change them
    freely. Raises ``ValueError`` as :meth:`Flow.about` does.
    """
    return [flow.about(flow.final.call_id if call_id is None else call_id) for flow in _FLOWS]
