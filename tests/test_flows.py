"""The seed's flows in their documented orders, asserting the whole view after every step."""

from __future__ import annotations

import pytest
from flows import (
    CALL_ID,
    FLOWS,
    REQUEST,
    SEED,
    Flow,
    events_of,
    request_of,
    step_through,
    with_state,
)

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallState,
    Milestone,
    Outcome,
    ResultInfo,
    Transfer,
    TransferStatus,
)

ESTABLISHED = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)


def _steps(call: Call, *bodies: dict[str, object]) -> list[tf.Step]:
    return step_through(call, *events_of(*bodies))


def _attempt(status: TransferStatus, audio: Audio | None = None, **fields: object) -> Transfer:
    return Transfer(status, audio=audio, request=REQUEST, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_each_documented_order_ends_in_the_documented_view(flow: Flow) -> None:
    call = tf.reduce(tf.Call(CALL_ID), request_of(flow))
    for event in flow.events():
        call = tf.reduce(call, event)
    assert call == flow.final


def test_direct_transfer_that_succeeds() -> None:
    requested = tf.step(ESTABLISHED, REQUEST)
    assert requested == tf.Step(
        ESTABLISHED._replace(transfer=_attempt(TransferStatus.REQUESTED)),
        Outcome.APPLIED,
        (),
        "opened an attempt (the bot's request)",
    )
    kind = "direct"
    steps = _steps(
        requested.call,
        SEED[f"{kind}-transferring"],
        SEED[f"{kind}-audio-inactive"],
        SEED[f"{kind}-transfer-accepted"],
        SEED[f"{kind}-terminated"],
    )
    transferring = _attempt(TransferStatus.TRANSFERRING)
    assert [(s.call, s.outcome, s.milestones) for s in steps] == [
        (
            Call(CALL_ID, CallState.TRANSFERRING, Audio.ACTIVE, transferring),
            Outcome.APPLIED,
            (),
        ),
        (
            Call(
                CALL_ID,
                CallState.TRANSFERRING,
                Audio.INACTIVE,
                transferring._replace(audio=Audio.INACTIVE),
            ),
            Outcome.APPLIED,
            (Milestone.AUDIO_INACTIVE,),
        ),
        (
            Call(
                CALL_ID,
                CallState.TRANSFER_ACCEPTED,
                Audio.INACTIVE,
                _attempt(TransferStatus.ACCEPTED, Audio.INACTIVE),
            ),
            Outcome.APPLIED,
            (Milestone.TRANSFER_ACCEPTED,),
        ),
        (
            Call(
                CALL_ID,
                CallState.TERMINATED,
                Audio.INACTIVE,
                _attempt(TransferStatus.COMPLETED, Audio.INACTIVE),
                termination_reason="AppTransferred",
            ),
            Outcome.APPLIED,
            (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED),
        ),
    ]


def test_consultative_transfer_that_fails_with_audio_back_first() -> None:
    kind = "consultative"
    steps = _steps(
        tf.reduce(ESTABLISHED, REQUEST),
        SEED[f"{kind}-transferring"],
        SEED[f"{kind}-transfer-accepted"],
        with_state(SEED[f"{kind}-audio-inactive"], "transferAccepted"),
        with_state(SEED[f"{kind}-audio-active"], "transferAccepted"),
        SEED[f"{kind}-established-failed"],
    )
    accepted = _attempt(TransferStatus.ACCEPTED)
    failure = ResultInfo(500, 7000, "<message>")
    failed = _attempt(
        TransferStatus.FAILED, Audio.ACTIVE, result=failure, replaces_context="<replacesContext>"
    )
    assert [(s.call, s.milestones) for s in steps] == [
        (
            Call(
                CALL_ID, CallState.TRANSFERRING, Audio.ACTIVE, _attempt(TransferStatus.TRANSFERRING)
            ),
            (),
        ),
        (
            Call(CALL_ID, CallState.TRANSFER_ACCEPTED, Audio.ACTIVE, accepted),
            (Milestone.TRANSFER_ACCEPTED,),
        ),
        (
            Call(
                CALL_ID,
                CallState.TRANSFER_ACCEPTED,
                Audio.INACTIVE,
                accepted._replace(audio=Audio.INACTIVE),
            ),
            (Milestone.AUDIO_INACTIVE,),
        ),
        (
            Call(
                CALL_ID,
                CallState.TRANSFER_ACCEPTED,
                Audio.ACTIVE,
                accepted._replace(audio=Audio.ACTIVE),
            ),
            (Milestone.AUDIO_ACTIVE,),
        ),
        (
            Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, failed, failure),
            (Milestone.TRANSFER_FAILED,),
        ),
    ]
    assert {s.outcome for s in steps} == {Outcome.APPLIED}


def test_late_and_repeated_notifications_are_reported_not_applied() -> None:
    kind = "direct"
    done = _steps(
        tf.reduce(ESTABLISHED, REQUEST),
        SEED[f"{kind}-transferring"],
        SEED[f"{kind}-transfer-accepted"],
        SEED[f"{kind}-transfer-accepted"],
        SEED[f"{kind}-transferring"],
        SEED[f"{kind}-terminated"],
        SEED[f"{kind}-audio-inactive"],
        SEED[f"{kind}-terminated"],
    )
    assert [(s.outcome, s.reason) for s in done] == [
        (Outcome.APPLIED, "the transfer is in progress; call state established → transferring"),
        (
            Outcome.APPLIED,
            "the target accepted the transfer; call state transferring → transferAccepted",
        ),
        (Outcome.DUPLICATE, "everything it says is already in the view"),
        (Outcome.STALE, "the view has already moved past it"),
        (
            Outcome.APPLIED,
            "completed the attempt; call state transferAccepted → terminated; "
            "audio active → inactive; terminationReason 'AppTransferred'",
        ),
        (Outcome.STALE, "the call has already terminated"),
        (Outcome.DUPLICATE, "everything it says is already in the view"),
    ]
    assert done[-1].call == done[4].call
    assert [s.milestones for s in done[5:]] == [(), ()]
