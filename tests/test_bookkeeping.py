"""The reducer's bookkeeping and its reports, one behaviour at a time."""

from __future__ import annotations

import pytest
from flows import (
    CALL_ID,
    LEGACY_CALL_ID,
    LEGACY_REQUEST,
    REQUEST,
    SEED,
    UP,
    events_of,
    failed_view,
    legacy_failed_operation,
    note,
    replay,
)

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallNotification,
    CallState,
    ChangeType,
    Milestone,
    Outcome,
    ResultInfo,
    Transfer,
    TransferStatus,
)

S = TransferStatus
FAILURE = ResultInfo(500, 7000, "m")


def test_an_updated_terminated_with_only_apptransferred_completes_the_attempt() -> None:
    ended = note(CallState.TERMINATED, termination_reason="AppTransferred")
    assert tf.reduce(tf.reduce(UP, REQUEST), ended) == Call(
        CALL_ID,
        CallState.TERMINATED,
        Audio.INACTIVE,
        Transfer(S.COMPLETED, None, None, Audio.INACTIVE, REQUEST),
        None,
        "AppTransferred",
    )


def test_a_completion_observed_after_a_failure_takes_nothing_of_the_failed_attempt() -> None:
    failed = replay(UP, REQUEST, note(CallState.ESTABLISHED, result=FAILURE, replaces_context="rc"))
    assert failed.transfer == Transfer(S.FAILED, FAILURE, "rc", None, REQUEST)
    ended = note(CallState.TERMINATED, termination_reason="AppTransferred")
    assert tf.reduce(failed, ended).transfer == Transfer(
        S.COMPLETED, None, None, Audio.INACTIVE, None, 2
    )


def test_a_success_result_is_never_remembered_as_an_earlier_failure() -> None:
    failed = replay(UP, REQUEST, note(CallState.ESTABLISHED, result=FAILURE))
    fine = tf.reduce(failed, note(CallState.ESTABLISHED, result=ResultInfo(0, 0, "ok")))
    assert fine.result == ResultInfo(0, 0, "ok")
    assert tf.reduce(fine, REQUEST).earlier_failures == (FAILURE,)


def test_an_operation_of_another_call_is_refused() -> None:
    other = tf.OperationNotification("another-call", "op", status="running")
    with pytest.raises(tf.WrongCallError) as caught:
        tf.reduce(UP, other)
    assert (caught.value.call_id, caught.value.event_call_id) == (CALL_ID, "another-call")


def test_a_termination_during_an_attempt_says_why_it_failed() -> None:
    hung_up = CallNotification(CALL_ID, ChangeType.DELETED, result=ResultInfo(200, 5001))
    done = tf.step(tf.reduce(UP, REQUEST), hung_up)
    assert done.milestones == (Milestone.TRANSFER_FAILED, Milestone.CALL_TERMINATED)
    assert done.reason == (
        "failed the attempt (the call ended without a transfer result): 200/5001; "
        "call state established → terminated; audio active → inactive; resultInfo 200/5001"
    )


def test_the_attempts_own_audio_is_reported_when_the_calls_does_not_change() -> None:
    requested = tf.reduce(UP, REQUEST)
    done = tf.step(requested, note(CallState.ESTABLISHED, Audio.ACTIVE))
    assert done == tf.Step(
        requested._replace(transfer=Transfer(S.REQUESTED, None, None, Audio.ACTIVE, REQUEST)),
        Outcome.APPLIED,
        (),
        "the attempt's audio none → active",
    )


def test_a_stale_termination_after_the_end_is_not_a_second_termination() -> None:
    ended = tf.reduce(UP, CallNotification(CALL_ID, ChangeType.DELETED))
    again = tf.step(ended, CallNotification(CALL_ID, ChangeType.DELETED, result=ResultInfo(1, 2)))
    assert again == tf.Step(ended, Outcome.STALE, (), "the call has already terminated")


def test_once_accepted_a_plain_inactive_cannot_undo_the_attempts_restored_audio() -> None:
    accepted = replay(UP, REQUEST, note(CallState.TRANSFER_ACCEPTED, Audio.ACTIVE))
    assert accepted.transfer == Transfer(S.ACCEPTED, None, None, Audio.ACTIVE, REQUEST)
    late = note(CallState.ESTABLISHED, Audio.INACTIVE)
    assert tf.step(accepted, late) == tf.Step(
        accepted, Outcome.STALE, (), "the view has already moved past it"
    )


def test_a_failed_transfer_operation_seen_first_puts_a_held_call_back_to_established() -> None:
    held = Call(CALL_ID, CallState.HOLD, Audio.ACTIVE)
    failed = tf.OperationNotification(CALL_ID, "op", status="failed", progress="transferring")
    assert tf.reduce(held, failed) == Call(
        CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, Transfer(S.FAILED)
    )


def test_an_event_that_moves_only_the_call_keeps_the_attempt_object_itself() -> None:
    """reduce builds one new object a step: the attempt is kept when none of its fields
    moved (status, result, replacesContext, audio, request all differ here, so a check
    against the wrong field would rebuild it)."""
    failed = failed_view(1000)
    assert failed.transfer is not None
    held = tf.reduce(failed, note(CallState.HOLD))
    assert held == failed._replace(state=CallState.HOLD)
    assert held.transfer is failed.transfer


def test_an_observer_whose_first_word_is_the_completion_opens_a_completed_attempt() -> None:
    up = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    (ended,) = events_of(SEED["direct-terminated"])
    done = tf.step(up, ended)
    assert done.reason == (
        "opened an attempt by observation: completed; call state established → terminated;"
        " audio active → inactive; terminationReason 'AppTransferred'"
    )
    assert done.milestones == (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED)


def test_the_attempts_failed_operation_puts_a_transferring_call_back_to_established() -> None:
    """A legacy transfer reports its failure on the operation alone: the call is back."""
    (failed,) = events_of(legacy_failed_operation())
    assert isinstance(failed, tf.OperationNotification)
    up = Call(LEGACY_CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    moving = tf.CallNotification(LEGACY_CALL_ID, ChangeType.UPDATED, CallState.TRANSFERRING)
    transferring = replay(up, LEGACY_REQUEST, moving)
    assert transferring.state is CallState.TRANSFERRING
    done = tf.step(transferring, failed)
    assert done.call == Call(
        LEGACY_CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.FAILED, failed.result, None, None, LEGACY_REQUEST),
        failed.result,
    )
    assert done.milestones == (Milestone.TRANSFER_FAILED,)
    assert done.reason.endswith("call state transferring → established; resultInfo 500/7000")
