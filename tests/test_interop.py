"""The official ``msgraph-sdk`` Python models accept what the library builds and parses.

Runs when the SDKs are installed (the ``interop`` extra, which ``.ci/run``
installs; without it these tests skip and say so):
every body the builder makes is deserialized with the SDK's own JSON parse
node into its ``TransferPostRequestBody`` (v1.0 and beta), the typed fields
say what the matching ``TransferRequested`` says, and the SDK writes the body
back unchanged. ``CallState`` covers every value of both SDKs' enums.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_request import DOCUMENTED

import transfer_fsm as tf
from transfer_fsm import Phone, Transferee, User

pytest.importorskip(
    "msgraph", reason="the Graph SDKs are not installed: pip install -e '.[interop]'"
)
pytest.importorskip(
    "msgraph_beta", reason="the Graph SDKs are not installed: pip install -e '.[interop]'"
)

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from kiota_serialization_json.json_serialization_writer_factory import (
    JsonSerializationWriterFactory,
)
from msgraph.generated.communications.calls.item.transfer.transfer_post_request_body import (
    TransferPostRequestBody,
)
from msgraph.generated.models.call_state import CallState as SdkCallState
from msgraph_beta.generated.communications.calls.item.transfer.transfer_post_request_body import (  # type: ignore[import-untyped]
    TransferPostRequestBody as BetaTransferPostRequestBody,
)
from msgraph_beta.generated.models.call_state import CallState as BetaCallState  # type: ignore[import-untyped]

BODY_TYPES = {"v1.0": TransferPostRequestBody, "beta": BetaTransferPostRequestBody}

BUILT: dict[str, tf.TransferRequest] = {
    **{name: request for name, (request, _) in DOCUMENTED.items()},
    "group call, consultative to a phone, every option": tf.consultative_transfer(
        Phone("+442071234567"),
        "leg-1",
        transferee=Transferee("participant-1", Phone("+12345678901")),
        client_context="c" * tf.MAX_CLIENT_CONTEXT,
        language_id="en-gb",
        region="emea",
        annotate=True,
    ),
    "no endpoint type": tf.blind_transfer(User("u-1", "Ünïcødé ☎"), endpoint_type=None),
}


def _deserialize(body_type: Any, payload: bytes) -> Any:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", payload)
    return node.get_object_value(body_type)


def _serialize(value: Any) -> Any:
    writer = JsonSerializationWriterFactory().get_serialization_writer("application/json")
    writer.write_object_value(None, value)
    return json.loads(writer.get_serialized_content())


def _target_id(identity: Any) -> str:
    """The user id, or the phone number, wherever the SDK model put it."""
    if identity.user is not None:
        return str(identity.user.id)
    phone = getattr(identity, "phone", None) or identity.additional_data["phone"]
    return str(phone["id"] if isinstance(phone, dict) else phone.id)


@pytest.mark.parametrize("version", BODY_TYPES)
@pytest.mark.parametrize("name", BUILT)
def test_the_sdk_reads_the_built_body_as_the_event_says(name: str, version: str) -> None:
    request = BUILT[name]
    body = _deserialize(BODY_TYPES[version], request.json())
    target = body.transfer_target
    assert target.replaces_call_id == request.event.replaces_call_id
    built = request.event.target
    assert built is not None
    assert _target_id(target.identity) == (
        built.number if isinstance(built, tf.Phone) else built.id
    )
    # clientContext is no declared parameter: it is kept as additional data, and
    # the SDK reads a string that looks like a GUID as a UUID.
    context = body.additional_data.get("clientContext", getattr(body, "client_context", None))
    assert (None if context is None else str(context)) == request.event.client_context
    transferee = request.body.get("transferee")
    if transferee is None:
        assert body.transferee is None
    else:
        assert body.transferee.participant_id == transferee["participantId"]
    assert _serialize(body) == request.body


SDK_ENUMS = {"v1.0": SdkCallState, "beta": BetaCallState}


@pytest.mark.parametrize("version", SDK_ENUMS)
def test_call_state_covers_every_value_of_the_sdk_enum(version: str) -> None:
    sdk_values = {str(member.value) for member in SDK_ENUMS[version]}
    assert sdk_values <= {state.value for state in tf.CallState}
    for value in sdk_values:
        body = {
            "changeType": "updated",
            "resourceUrl": "/communications/calls/c-1",
            "resourceData": {"state": value},
        }
        (event,) = tf.parse_notifications(body)
        assert isinstance(event, tf.CallNotification)
        assert event.state is tf.CallState(value)


def test_the_beta_enum_has_ringing_and_v1_does_not() -> None:
    """The schema difference the library's enum papers over (v1.0 skips rank 2)."""
    assert "ringing" in {str(member.value) for member in BetaCallState}
    assert "ringing" not in {str(member.value) for member in SdkCallState}
