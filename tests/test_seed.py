"""Every payload of the seed page parses to the event it documents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flows import CALL_ID, SEED, V1_SUCCESS

import transfer_fsm as tf
from transfer_fsm import Audio, CallNotification, CallState, ChangeType, ResultInfo

SEED_PAGE = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "call-transfer.md"


@pytest.mark.skipif(not SEED_PAGE.exists(), reason="../shared/seeds is not beside the checkout")
def test_the_bundled_payloads_are_the_seed_pages_payloads() -> None:
    page = SEED_PAGE.read_text(encoding="utf-8")
    notifications = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", page, re.S)]
    bundled = [body for name, body in SEED.items() if not name.startswith("request-")]
    assert notifications == bundled


def _event(body: dict[str, object]) -> CallNotification:
    (event,) = tf.parse_notifications(json.dumps(body).encode())
    assert isinstance(event, CallNotification)
    return event


def _data(body: dict[str, object]) -> Any:
    return body["value"][0]["resourceData"]  # type: ignore[index]


EXPECTED = {
    "transferring": CallNotification(CALL_ID, ChangeType.UPDATED, CallState.TRANSFERRING),
    "audio-inactive": CallNotification(
        CALL_ID, ChangeType.UPDATED, CallState.TRANSFERRING, Audio.INACTIVE
    ),
    "transfer-accepted": CallNotification(CALL_ID, ChangeType.UPDATED, CallState.TRANSFER_ACCEPTED),
    "terminated": CallNotification(
        CALL_ID, ChangeType.DELETED, CallState.TERMINATED, termination_reason="AppTransferred"
    ),
    "audio-active": CallNotification(
        CALL_ID, ChangeType.UPDATED, CallState.ESTABLISHED, Audio.ACTIVE
    ),
}


@pytest.mark.parametrize("kind", ["direct", "consultative"])
@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_seed_notification_parses_to_its_event(kind: str, step: str) -> None:
    body = SEED[f"{kind}-{step}"]
    assert _event(body) == EXPECTED[step]._replace(data=_data(body))


@pytest.mark.parametrize(("kind", "subcode"), [("direct", 1000), ("consultative", 7000)])
def test_the_failure_notification_carries_its_result_and_context(kind: str, subcode: int) -> None:
    body = SEED[f"{kind}-established-failed"]
    assert _event(body) == CallNotification(
        CALL_ID,
        ChangeType.UPDATED,
        CallState.ESTABLISHED,
        result=ResultInfo(500, subcode, "<message>"),
        replaces_context="<replacesContext>",
        data=_data(body),
    )


def test_the_v1_success_notification_carries_7015() -> None:
    assert _event(V1_SUCCESS) == CallNotification(
        CALL_ID,
        ChangeType.DELETED,
        CallState.TERMINATED,
        result=ResultInfo(0, 7015, "GracefulTransferCompleted"),
        data=_data(V1_SUCCESS),
    )


def test_unknown_fields_are_kept_on_the_event() -> None:
    body = SEED["direct-transferring"]
    event = _event(body)
    assert event.data == _data(body)
    assert event.data["@odata.type"] == "#microsoft.graph.call"
