"""The reducer against the independent reference model, step by step.

See ``reference_model.py``: written from the seed page with ``transitions`` and
``attrs``, it walks only the documented orders and refuses any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from flows import CALL_ID, FLOWS, REQUEST, SEED, Body, Flow, with_state
from reference_model import ReferenceCall, View, disagreements
from transitions import MachineError

import transfer_fsm as tf

# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------


Reducer = Callable[[tf.Call, tf.Event], tf.Call]


def walk(flow: Flow, reduce: Reducer) -> tuple[View, list[str]]:
    """Walk ``flow`` through the model and ``reduce`` side by side.

    Returns the model's final view and every disagreement, step by step
    (step 0 is the bot's POST /transfer, step n the flow's n-th notification).
    """
    model, call = ReferenceCall(), tf.Call(CALL_ID)
    found = disagreements(f"{flow.name}, start", model.view(), View.of(call))

    model.request_transfer()
    call = reduce(call, REQUEST)
    found += disagreements(f"{flow.name}, step 0 (POST /transfer)", model.view(), View.of(call))

    for number, body in enumerate(flow.bodies, start=1):
        fired = model.notify(body)
        for event in tf.parse_notifications(body):
            call = reduce(call, event)
        where = f"{flow.name}, step {number} ({', '.join(fired)})"
        found += disagreements(where, model.view(), View.of(call))
    return model.view(), found


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_reducer_agrees_with_the_model_at_every_step(flow: Flow) -> None:
    final, found = walk(flow, tf.reduce)
    assert not found, "\n".join(found)
    assert final == View.of(flow.final)


def test_the_agreement_check_catches_a_reducer_that_misses_audio_active() -> None:
    def deaf(call: tf.Call, event: tf.Event) -> tf.Call:
        if isinstance(event, tf.CallNotification) and event.audio is tf.Audio.ACTIVE:
            return call
        return tf.reduce(call, event)

    name = "direct failure, accepted after audio inactive, established before audio active"
    flow = next(flow for flow in FLOWS if flow.name == name)
    assert walk(flow, deaf)[1] == [
        f"{name}, step 5 (audio_active_while_established): audio: "
        "model 'active', reducer 'inactive'"
    ]


TRANSFERRING = SEED["direct-transferring"]
INACTIVE = SEED["direct-audio-inactive"]
ACCEPTED = SEED["direct-transfer-accepted"]
TERMINATED = SEED["direct-terminated"]
FAILED = SEED["direct-established-failed"]
ACTIVE_ACCEPTED = with_state(SEED["direct-audio-active"], "transferAccepted")

# Each ends with the first notification the page does not document in that place.
UNDOCUMENTED_ORDERS: dict[str, list[Body]] = {
    "transferAccepted before transferring": [ACCEPTED],
    "transferring after transferAccepted": [TRANSFERRING, ACCEPTED, TRANSFERRING],
    "audio active before audio inactive": [TRANSFERRING, ACCEPTED, ACTIVE_ACCEPTED],
    "terminated before audio inactive": [TRANSFERRING, ACCEPTED, TERMINATED],
    "established after terminated": [TRANSFERRING, INACTIVE, ACCEPTED, TERMINATED, FAILED],
    "audio inactive carrying established": [TRANSFERRING, with_state(INACTIVE, "established")],
    "a state the page does not document (hold)": [with_state(ACCEPTED, "hold")],
}


@pytest.mark.parametrize("bodies", UNDOCUMENTED_ORDERS.values(), ids=list(UNDOCUMENTED_ORDERS))
def test_the_model_refuses_an_undocumented_order(bodies: list[Body]) -> None:
    model = ReferenceCall()
    model.request_transfer()
    *documented, undocumented = bodies
    for body in documented:
        model.notify(body)
    before = model.view()
    with pytest.raises(MachineError):
        model.notify(undocumented)
    assert model.view() == before


def test_the_call_machine_itself_raises_on_transferring_after_transfer_accepted() -> None:
    model = ReferenceCall()
    model.request_transfer()
    model.notify(TRANSFERRING)
    model.notify(ACCEPTED)
    transferring = model.call.machine.events["transferring"]
    with pytest.raises(MachineError, match="Can't trigger event transferring"):
        transferring.trigger(model.call)
    assert model.call.phase == "accepted"


def test_the_model_refuses_notifications_before_the_bot_requests_a_transfer() -> None:
    with pytest.raises(MachineError):
        ReferenceCall().notify(TRANSFERRING)


@pytest.mark.parametrize("name", [field.name for field in attrs.fields(View)])
def test_a_difference_in_any_field_of_the_view_is_reported(name: str) -> None:
    model = ReferenceCall()
    model.request_transfer()
    view = model.view()
    changed: dict[str, Any] = {name: "something else"}
    other = attrs.evolve(view, **changed)
    assert disagreements("here", view, other) == [
        f"here: {name}: model {getattr(view, name)!r}, reducer 'something else'"
    ]
