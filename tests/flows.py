"""The documented transfer flows, as bodies and as the views they must end in.

The payloads are the seed page's (``tests/payloads/seed.json``, checked against
``../shared/seeds/call-transfer.md`` by ``test_seed.py``) plus the variants the
page's notes document: the audio-inactive notification may carry
``transferAccepted`` (accepted happened first) and the audio-active one may
carry ``transferAccepted`` (audio came back before the call did). The v1.0
success notification (``resultInfo`` 0/7015) is from the v1.0 page.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, ResultInfo, Transfer, TransferStatus

Body = dict[str, Any]

SEED: dict[str, Body] = json.loads(
    (Path(__file__).parent / "payloads" / "seed.json").read_text(encoding="utf-8")
)
DOCS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "payloads" / "graph-docs.json").read_text(encoding="utf-8")
)
CALL_ID = "341a0500-d4bf-4224-8b19-1581168d328b"
LEGACY_CALL_ID = "57DAB8B1894C409AB240BD8BEAE78896"
REQUEST = tf.TransferRequested()
UP = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
"""The call up, audio flowing, no attempt yet: where most stories start."""


def with_state(body: Body, state: str) -> Body:
    """The same notification, reporting another call state."""
    changed = copy.deepcopy(body)
    changed["value"][0]["resourceData"]["state"] = state
    return changed


V1_SUCCESS: Body = {
    "@odata.type": "#microsoft.graph.commsNotifications",
    "value": [
        {
            "@odata.type": "#microsoft.graph.commsNotification",
            "changeType": "deleted",
            "resourceUrl": f"/communications/calls/{CALL_ID}",
            "resourceData": {
                "@odata.type": "#microsoft.graph.call",
                "state": "terminated",
                "resultInfo": {
                    "@odata.type": "#microsoft.graph.resultInfo",
                    "code": 0,
                    "subcode": 7015,
                    "message": "GracefulTransferCompleted",
                },
            },
        }
    ],
}


def note(
    state: CallState | str | None = None, audio: Audio | None = None, **kw: Any
) -> tf.CallNotification:
    """A call notification (``changeType: updated``) about ``CALL_ID``, built directly."""
    return tf.CallNotification(CALL_ID, tf.ChangeType.UPDATED, state, audio, **kw)


def events_of(*bodies: Body) -> list[tf.Notification]:
    """The notifications of callback bodies, parsed, in order."""
    return [event for body in bodies for event in tf.parse_notifications(body)]


def step_through(call: Call, *events: tf.Event) -> list[tf.Step]:
    """Every step of reducing ``events`` into ``call``, in order."""
    done = []
    for event in events:
        done.append(tf.step(call, event))
        call = done[-1].call
    return done


def with_one_duplicate(order: Sequence[tf.Event]) -> Iterator[list[tf.Event]]:
    """The order with each of its events delivered once more, at every position."""
    for event in order:
        for position in range(len(order) + 1):
            yield [*order[:position], event, *order[position:]]


def replay(call: Call, *events: tf.Event) -> Call:
    """The call after ``events``."""
    for event in events:
        call = tf.reduce(call, event)
    return call


@dataclass(frozen=True)
class Flow:
    """One documented flow in one documented production order."""

    name: str
    bodies: tuple[Body, ...]
    final: Call
    request: tf.TransferRequested = REQUEST
    """What the bot reduces before the flow's notifications."""

    def events(self) -> list[tf.Notification]:
        """The flow's notifications, parsed, in production order."""
        return events_of(*self.bodies)


def _success(kind: str, terminated: Body, final: Call, label: str = "") -> list[Flow]:
    label = label or kind
    start = SEED[f"{kind}-transferring"]
    inactive = SEED[f"{kind}-audio-inactive"]
    accepted = SEED[f"{kind}-transfer-accepted"]
    return [
        Flow(
            f"{label} success, accepted after audio inactive",
            (start, inactive, accepted, terminated),
            final,
        ),
        Flow(
            f"{label} success, accepted before audio inactive",
            (start, accepted, with_state(inactive, "transferAccepted"), terminated),
            final,
        ),
    ]


def _failure(kind: str, final: Call, failed: Body | None = None, label: str = "") -> list[Flow]:
    label = label or kind
    start = SEED[f"{kind}-transferring"]
    inactive = SEED[f"{kind}-audio-inactive"]
    accepted = SEED[f"{kind}-transfer-accepted"]
    failed = failed or SEED[f"{kind}-established-failed"]
    active = SEED[f"{kind}-audio-active"]
    inactive_accepted = with_state(inactive, "transferAccepted")
    heads = {
        "accepted after audio inactive": (start, inactive, accepted),
        "accepted before audio inactive": (start, accepted, inactive_accepted),
    }
    tails = {
        "established before audio active": (failed, active),
        "established after audio active": (with_state(active, "transferAccepted"), failed),
    }
    return [
        Flow(f"{label} failure, {head}, {tail}", heads[head] + tails[tail], final)
        for head in heads
        for tail in tails
    ]


def completed_view(result: ResultInfo | None, reason: str | None) -> Call:
    """The documented view after a completed transfer."""
    transfer = Transfer(TransferStatus.COMPLETED, result, None, Audio.INACTIVE, REQUEST)
    return Call(CALL_ID, CallState.TERMINATED, Audio.INACTIVE, transfer, result, reason)


def failed_view(subcode: int, context: str | None = "<replacesContext>") -> Call:
    """The documented view after a failed transfer (500/``subcode``), audio restored."""
    result = ResultInfo(500, subcode, "<message>")
    transfer = Transfer(TransferStatus.FAILED, result, context, Audio.ACTIVE, REQUEST)
    return Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, transfer, result, None)


COMPLETED_APP_TRANSFERRED = completed_view(None, "AppTransferred")
COMPLETED_7015 = completed_view(ResultInfo(0, 7015, "GracefulTransferCompleted"), None)

FLOWS: list[Flow] = [
    *_success("direct", SEED["direct-terminated"], COMPLETED_APP_TRANSFERRED),
    *_failure("direct", failed_view(1000)),
    *_success("consultative", SEED["consultative-terminated"], COMPLETED_APP_TRANSFERRED),
    *_failure("consultative", failed_view(7000)),
    *_success("direct", V1_SUCCESS, COMPLETED_7015, "v1.0 direct (0/7015)"),
]


def _code_200_success() -> Body:
    """The success as the call-delete end-reason table gives it: 200/7015, as strings."""
    body = copy.deepcopy(V1_SUCCESS)
    body["value"][0]["resourceData"]["resultInfo"].update(code="200", subcode="7015")
    return body


LEGACY_COMPLETED = Call(
    LEGACY_CALL_ID,
    CallState.TERMINATED,
    Audio.INACTIVE,
    Transfer(TransferStatus.COMPLETED, None, None, Audio.INACTIVE, REQUEST),
    None,
    "AppTransferred",
)

LEGACY_CONTEXT = "d45324c1-fcb5-430a-902c-f20af696537c"
LEGACY_REQUEST = tf.TransferRequested(client_context=LEGACY_CONTEXT)


def _legacy_call(state: str, audio: str) -> Body:
    """A call notification on the legacy path (its shape inferred: D3 shows none mid-transfer)."""
    url = f"/app/calls/{LEGACY_CALL_ID}"
    data = {"state": state, "mediaState": {"audio": audio}}
    return {"value": [{"changeType": "updated", "resource": url, "resourceData": data}]}


def legacy_failed_operation() -> Body:
    """The legacy transfer operation failing (inferred: D3 documents running and completed)."""
    body: Body = copy.deepcopy(DOCS["legacy-operation-accepted"])
    data = body["value"][0]["resourceData"]
    data.update(status="failed", resultInfo={"code": "500", "subCode": "7000", "message": "x"})
    return body


LEGACY_FAILED = Call(
    LEGACY_CALL_ID,
    CallState.ESTABLISHED,
    Audio.ACTIVE,
    Transfer(TransferStatus.FAILED, ResultInfo(500, 7000, "x"), None, Audio.ACTIVE, LEGACY_REQUEST),
    ResultInfo(500, 7000, "x"),
    None,
)

VARIANT_FLOWS: list[Flow] = [
    *_failure("direct", failed_view(7000, None), DOCS["v1-failed-7000"], "v1.0 blind (500/7000)"),
    *_failure(
        "consultative",
        failed_view(7700),
        DOCS["v1-failed-7700-with-context"],
        "v1.0 consultative (500/7700)",
    ),
    *_failure(
        "consultative",
        failed_view(7700, None),
        DOCS["v1-failed-7700"],
        "v1.0 consultative PSTN (500/7700, no replacesContext)",
    ),
    *_success(
        "direct",
        _code_200_success(),
        completed_view(ResultInfo(200, 7015, "GracefulTransferCompleted"), None),
        "success code 200 as a string",
    ),
    Flow(
        "legacy beta commsOperation transfer",
        (
            DOCS["legacy-operation-transferring"],
            DOCS["legacy-operation-accepted"],
            DOCS["legacy-terminated"],
        ),
        LEGACY_COMPLETED,
    ),
    Flow(
        "legacy beta commsOperation transfer failing among call notifications (inferred)",
        (
            DOCS["legacy-operation-transferring"],
            _legacy_call("transferring", "inactive"),
            legacy_failed_operation(),
            _legacy_call("established", "active"),
        ),
        LEGACY_FAILED,
        LEGACY_REQUEST,
    ),
]
"""Every other documented variant whose notifications differ from the seed's.

Variants whose notifications are the same as a flow's here or in ``FLOWS``
(PSTN and group-call transfers notify as a blind transfer does) are mapped to
it in ``test_variants.py``.
"""
