"""The rules one at a time: attempts, observation, other calls, lifecycle, bot events."""

from __future__ import annotations

import pytest
from flows import CALL_ID, REQUEST, UP, note, replay

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallNotification,
    CallState,
    ChangeType,
    Milestone,
    OperationNotification,
    Outcome,
    ResultInfo,
    Transfer,
    TransferRejected,
    TransferRequested,
    TransferStatus,
)

S = CallState
FAILURE = ResultInfo(500, 7000, "m")


def test_a_notification_for_another_call_is_refused() -> None:
    other = CallNotification("another-call", state=S.TERMINATED)
    with pytest.raises(tf.WrongCallError) as caught:
        tf.reduce(UP, other)
    assert isinstance(caught.value, ValueError)
    assert "another-call" in str(caught.value)


def test_something_that_is_not_an_event_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        tf.reduce(UP, "transferring")  # type: ignore[arg-type]


def test_an_observing_bot_opens_the_attempt_on_the_first_sign_of_progress() -> None:
    step = tf.step(UP, note(S.TRANSFER_ACCEPTED))
    assert step.call == UP._replace(
        state=S.TRANSFER_ACCEPTED, transfer=Transfer(TransferStatus.ACCEPTED)
    )
    assert step.milestones == (Milestone.TRANSFER_ACCEPTED,)


def test_a_failure_seen_first_opens_a_failed_attempt() -> None:
    call = tf.reduce(UP, note(S.ESTABLISHED, result=FAILURE, replaces_context="rc"))
    assert call == UP._replace(
        transfer=Transfer(TransferStatus.FAILED, FAILURE, "rc"), result=FAILURE
    )


def test_a_request_attaches_to_an_attempt_that_observation_opened() -> None:
    request = TransferRequested(replaces_call_id="consult-leg", client_context="ctx")
    call = replay(UP, note(S.TRANSFERRING), request)
    assert call == UP._replace(
        state=S.TRANSFERRING, transfer=Transfer(TransferStatus.TRANSFERRING, request=request)
    )
    assert tf.step(call, REQUEST) == tf.Step(
        call, Outcome.IGNORED, (), "a transfer attempt is already open"
    )


def test_a_rejected_request_fails_the_attempt_and_a_new_request_opens_another() -> None:
    rejected = ResultInfo(403, 8523, "Cannot do transfer for meeting mode")
    failed = replay(UP, REQUEST, TransferRejected(rejected))
    assert failed == UP._replace(
        transfer=Transfer(TransferStatus.FAILED, rejected, request=REQUEST)
    )
    again = TransferRequested(client_context="second")
    assert tf.reduce(failed, again) == UP._replace(
        transfer=Transfer(TransferStatus.REQUESTED, request=again, attempt=2),
        earlier_failures=(rejected,),
    )
    assert replay(failed, again, note(S.TRANSFERRING)) == UP._replace(
        state=S.TRANSFERRING,
        transfer=Transfer(TransferStatus.TRANSFERRING, request=again, attempt=2),
        earlier_failures=(rejected,),
    )


@pytest.mark.parametrize(
    "heard",
    [
        (),
        (note(S.TRANSFERRING),),
        (note(S.TRANSFERRING), note(S.TRANSFER_ACCEPTED, Audio.INACTIVE)),
    ],
    ids=["requested", "transferring", "accepted"],
)
def test_a_rejection_fails_the_attempt_whatever_it_has_seen(heard: tuple[tf.Event, ...]) -> None:
    """A refused POST is Graph's word that the attempt never started: what arrived in
    between belonged to an earlier attempt, and the call is back to established."""
    call = replay(UP, REQUEST, *heard)
    refused = ResultInfo(403, 8523)
    done = tf.step(call, TransferRejected(refused))
    assert done.call == Call(
        CALL_ID,
        S.ESTABLISHED,
        call.audio,
        Transfer(TransferStatus.FAILED, refused, None, call.transfer.audio, REQUEST),  # type: ignore[union-attr]
    )
    assert done.milestones == (Milestone.TRANSFER_FAILED,)
    assert done.reason.startswith("failed the attempt (Graph refused the request): 403/8523")
    assert tf.can_transfer(done.call)


@pytest.mark.parametrize("state", [S.HOLD, S.REDIRECTING, S.TERMINATING])
def test_a_rejection_leaves_a_state_the_attempt_did_not_report(state: CallState) -> None:
    call = replay(UP._replace(state=state), REQUEST)
    done = tf.step(call, TransferRejected(ResultInfo(403, 8523)))
    assert done.call == Call(
        CALL_ID,
        state,
        Audio.ACTIVE,
        Transfer(TransferStatus.FAILED, ResultInfo(403, 8523), request=REQUEST),
    )
    assert done.reason == "failed the attempt (Graph refused the request): 403/8523"


def test_a_rejection_with_no_attempt_in_flight_changes_nothing() -> None:
    failed = replay(UP, REQUEST, note(S.ESTABLISHED, result=FAILURE))
    for call in (UP, failed):
        assert tf.step(call, TransferRejected()) == tf.Step(
            call, Outcome.IGNORED, (), "no attempt is in flight"
        )


def test_progress_of_the_failed_attempt_cannot_reopen_it() -> None:
    failed = replay(
        UP,
        REQUEST,
        note(S.TRANSFERRING),
        note(S.ESTABLISHED, result=FAILURE),
        note(S.ESTABLISHED, Audio.ACTIVE),
    )
    for late in (note(S.TRANSFERRING), note(S.TRANSFER_ACCEPTED, Audio.INACTIVE)):
        assert tf.step(failed, late) == tf.Step(
            failed, Outcome.STALE, (), "the view has already moved past it"
        )


def test_a_late_audio_inactive_of_a_failed_attempt_still_counts_before_the_restore() -> None:
    failed = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.ESTABLISHED, result=FAILURE))
    paused = tf.reduce(failed, note(S.TRANSFERRING, Audio.INACTIVE))
    attempt = Transfer(TransferStatus.FAILED, FAILURE, None, Audio.INACTIVE, REQUEST)
    assert paused == Call(CALL_ID, S.ESTABLISHED, Audio.INACTIVE, attempt, FAILURE)
    assert tf.reduce(paused, note(S.ESTABLISHED, Audio.ACTIVE)) == Call(
        CALL_ID, S.ESTABLISHED, Audio.ACTIVE, attempt._replace(audio=Audio.ACTIVE), FAILURE
    )


def test_media_outside_a_transfer_follows_the_latest_notification() -> None:
    call = replay(UP, note(audio=Audio.INACTIVE))
    assert call == UP._replace(audio=Audio.INACTIVE)
    assert replay(call, note(audio=Audio.ACTIVE)) == UP


def test_establishing_after_established_does_not_drag_the_call_back() -> None:
    start = Call(CALL_ID)
    forward = replay(start, note(S.INCOMING), note(S.ESTABLISHING), note(S.ESTABLISHED))
    backward = replay(start, note(S.ESTABLISHED), note(S.ESTABLISHING), note(S.INCOMING))
    assert forward == backward == Call(CALL_ID, S.ESTABLISHED)


def test_hold_and_unhold_race_is_last_writer_wins() -> None:
    held = UP._replace(state=S.HOLD)
    assert replay(UP, note(S.HOLD)) == held
    assert replay(UP, note(S.HOLD), note(S.ESTABLISHED)) == UP
    assert replay(UP, note(S.ESTABLISHED), note(S.HOLD)) == held


def test_termination_is_absorbing_and_ends_the_media() -> None:
    ended = ResultInfo(200, 5001, "The conversation has ended.")
    deleted = CallNotification(CALL_ID, ChangeType.DELETED, result=ended)
    call = tf.reduce(UP, deleted)
    assert call == Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, None, ended)
    for late in (note(S.ESTABLISHED, Audio.ACTIVE), REQUEST, note(S.TRANSFERRING)):
        assert tf.step(call, late) == tf.Step(
            call, Outcome.STALE, (), "the call has already terminated"
        )


def test_a_call_that_ends_during_a_transfer_fails_the_attempt() -> None:
    ended = ResultInfo(200, 4097, "ended by other participant")
    call = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.TERMINATED, result=ended))
    assert call == Call(
        CALL_ID,
        S.TERMINATED,
        Audio.INACTIVE,
        Transfer(TransferStatus.FAILED, ended, None, Audio.INACTIVE, REQUEST),
        ended,
    )


@pytest.mark.parametrize("state", ["unknownFutureValue", "parked", S.UNKNOWN_FUTURE_VALUE])
def test_unknown_states_never_move_the_call(state: str) -> None:
    for call in (UP, replay(UP, REQUEST, note(S.TRANSFER_ACCEPTED))):
        assert tf.step(call, note(state)) == tf.Step(
            call,
            Outcome.IGNORED,
            (),
            "it carries no state or audio the library knows (kept on the event)",
        )


def test_the_legacy_operation_drives_the_transfer_status() -> None:
    running = OperationNotification(CALL_ID, "op", status="running", progress="transferring")
    done = OperationNotification(
        CALL_ID, "op", ChangeType.DELETED, "completed", progress="transferAccepted"
    )
    call = replay(UP, REQUEST, running)
    assert call == UP._replace(transfer=Transfer(TransferStatus.TRANSFERRING, request=REQUEST))
    accepted = UP._replace(transfer=Transfer(TransferStatus.ACCEPTED, request=REQUEST))
    assert replay(call, done) == accepted
    assert replay(call, done, running) == accepted


def test_a_pre_request_notification_delivered_late_counts_for_the_attempt() -> None:
    call = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.ESTABLISHED, Audio.ACTIVE))
    restored = Transfer(TransferStatus.TRANSFERRING, None, None, Audio.ACTIVE, REQUEST)
    assert call == UP._replace(state=S.TRANSFERRING, transfer=restored)
    assert tf.step(call, note(S.TRANSFERRING, Audio.INACTIVE)) == tf.Step(
        call, Outcome.STALE, (), "the view has already moved past it"
    )


def test_a_late_notification_of_an_earlier_attempt_counts_for_the_new_one() -> None:
    failed = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.ESTABLISHED, result=FAILURE))
    second = TransferRequested(client_context="second")
    call = replay(failed, second, note(S.TRANSFER_ACCEPTED))
    assert call == UP._replace(
        state=S.TRANSFER_ACCEPTED,
        transfer=Transfer(TransferStatus.ACCEPTED, request=second, attempt=2),
        earlier_failures=(FAILURE,),
    )


def test_a_repeated_legacy_operation_is_reported_as_a_duplicate() -> None:
    done = OperationNotification(CALL_ID, "op", ChangeType.DELETED, progress="transferAccepted")
    running = OperationNotification(CALL_ID, "op", status="running", progress="transferring")
    other = OperationNotification(CALL_ID, "op2", status="running")
    call = replay(UP, REQUEST, done)
    assert tf.step(call, done).outcome is Outcome.DUPLICATE
    assert tf.step(call, running).outcome is Outcome.STALE
    assert tf.step(call, other).outcome is Outcome.IGNORED


def test_a_transfer_that_ends_the_call_after_a_failed_attempt_is_a_new_completed_one() -> None:
    failed = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.ESTABLISHED, result=FAILURE))
    ended = CallNotification(
        CALL_ID, ChangeType.DELETED, S.TERMINATED, termination_reason="AppTransferred"
    )
    assert tf.reduce(failed, ended) == Call(
        CALL_ID,
        S.TERMINATED,
        Audio.INACTIVE,
        Transfer(TransferStatus.COMPLETED, None, None, Audio.INACTIVE, None, 2),
        None,
        "AppTransferred",
        (FAILURE,),
    )


def test_of_two_disagreeing_terminations_the_first_delivered_wins() -> None:
    transferred = CallNotification(
        CALL_ID, ChangeType.DELETED, S.TERMINATED, termination_reason="AppTransferred"
    )
    plain = CallNotification(CALL_ID, ChangeType.DELETED)
    accepted = replay(UP, REQUEST, note(S.TRANSFERRING), note(S.TRANSFER_ACCEPTED))
    completed = Transfer(TransferStatus.COMPLETED, None, None, Audio.INACTIVE, REQUEST)
    failed = Transfer(TransferStatus.FAILED, None, None, Audio.INACTIVE, REQUEST)
    assert replay(accepted, transferred, plain) == Call(
        CALL_ID, S.TERMINATED, Audio.INACTIVE, completed, None, "AppTransferred"
    )
    assert replay(accepted, plain, transferred) == Call(
        CALL_ID, S.TERMINATED, Audio.INACTIVE, failed, None, None
    )


def test_a_bare_established_during_an_attempt_does_not_end_it() -> None:
    call = replay(UP, REQUEST, note(S.TRANSFER_ACCEPTED), note(S.ESTABLISHED))
    assert call == UP._replace(
        state=S.TRANSFER_ACCEPTED, transfer=Transfer(TransferStatus.ACCEPTED, request=REQUEST)
    )


def test_an_unknown_audio_value_is_kept_and_ignored() -> None:
    event = note(audio="unknownFutureValue")  # type: ignore[arg-type]
    assert tf.step(UP, event) == tf.Step(
        UP,
        Outcome.IGNORED,
        (),
        "it carries no state or audio the library knows (kept on the event)",
    )
