"""The rules of phase ``abandoned``, row by row: what each fact does once the bot gave up.

The bot's ``TransferAbandoned`` ends its wait, not the attempt: for the call
state the phase reads as after a failure (a ``GET`` that says ``established``
puts the call back; late progress is stale), its media as in flight (the
attempt's chain), and Graph's own word still ends the attempt, once.
"""

from __future__ import annotations

import pytest
from flows import CALL_ID, UP, note, replay, step_through

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallNotification,
    CallState,
    ChangeType,
    LegFate,
    Milestone,
    Outcome,
    ResultInfo,
    Transfer,
    TransferAbandoned,
    TransferRequested,
    TransferStatus,
)

S = CallState
T = TransferStatus
REQUEST = TransferRequested("leg-1", "ctx")
FAILURE = ResultInfo(500, 7000, "transfer failed")
HUNG_UP = ResultInfo(200, 5001, "The conversation has ended.")
REQUESTED = tf.reduce(UP, REQUEST)
TRANSFERRING = replay(REQUESTED, note(S.TRANSFERRING))
GAVE_UP = tf.reduce(REQUESTED, TransferAbandoned(attempt=1))  # the call still established
GAVE_UP_TRANSFERRING = tf.reduce(TRANSFERRING, TransferAbandoned(attempt=1))
ABANDONED = Transfer(T.ABANDONED, request=REQUEST)


def applied(step: tf.Step, call: Call, *milestones: Milestone) -> None:
    """``step`` applied, made ``call`` and fired ``milestones``, and says what it did."""
    assert (step.call, step.outcome, step.milestones) == (call, Outcome.APPLIED, milestones)
    assert step.reason


def stale(step: tf.Step, call: Call) -> None:
    assert (step.call, step.outcome, step.milestones) == (call, Outcome.STALE, ())


def test_the_starting_views() -> None:
    assert UP._replace(transfer=ABANDONED) == GAVE_UP
    assert UP._replace(state=S.TRANSFERRING, transfer=ABANDONED) == GAVE_UP_TRANSFERRING
    assert tf.transfer_blockers(GAVE_UP) == ()
    assert tf.transfer_blockers(GAVE_UP_TRANSFERRING) == (tf.Blocker.TRANSFER_IN_PROGRESS,)
    assert tf.transfer_overdue(GAVE_UP, now=1e9, timeout=0) is None


@pytest.mark.parametrize("other", [S.HOLD, S.REDIRECTING], ids=["hold", "redirecting"])
def test_hold_and_redirect_after_the_give_up_are_taken_and_the_call_resumes(
    other: CallState,
) -> None:
    """Established, hold and redirecting share a rank: the later delivered wins."""
    first, back = step_through(GAVE_UP, note(other), note(S.ESTABLISHED))
    applied(first, GAVE_UP._replace(state=other))
    applied(back, GAVE_UP)
    from_transferring = tf.step(GAVE_UP_TRANSFERRING, note(other))
    applied(from_transferring, GAVE_UP_TRANSFERRING._replace(state=other))


def test_a_get_that_says_established_puts_a_transferring_call_back() -> None:
    answer = tf.parse_call_resource({"id": CALL_ID, "state": "established"})
    back = tf.step(GAVE_UP_TRANSFERRING, answer)
    applied(back, GAVE_UP)
    assert tf.can_transfer(back.call)
    stale(tf.step(back.call, note(S.TRANSFERRING)), back.call)  # late progress
    stale(tf.step(back.call, note(S.TRANSFER_ACCEPTED)), back.call)


@pytest.mark.parametrize(
    "late",
    [note(S.ESTABLISHED), note(S.HOLD), note(S.REDIRECTING)],
    ids=["established", "hold", "redirecting"],
)
def test_after_the_give_up_nothing_late_reverts_terminating(late: CallNotification) -> None:
    terminating = tf.step(GAVE_UP, note(S.TERMINATING))
    applied(terminating, GAVE_UP._replace(state=S.TERMINATING))
    stale(tf.step(terminating.call, late), terminating.call)


def test_a_failure_after_the_give_up_is_graphs_word_from_any_state_it_reaches() -> None:
    failed = tf.step(GAVE_UP_TRANSFERRING, note(S.ESTABLISHED, result=FAILURE))
    done = Transfer(T.FAILED, FAILURE, request=REQUEST)
    applied(failed, UP._replace(transfer=done, result=FAILURE), Milestone.TRANSFER_FAILED)
    assert failed.milestone_keys == (f"{CALL_ID}:1:transferFailed",)
    terminating = tf.reduce(GAVE_UP, note(S.TERMINATING))  # above the failure's rank
    late = tf.step(terminating, note(S.ESTABLISHED, result=FAILURE))
    applied(late, terminating._replace(transfer=done), Milestone.TRANSFER_FAILED)


def test_a_hang_up_after_the_give_up_ends_the_call_but_not_the_attempt() -> None:
    ended = tf.step(
        GAVE_UP, CallNotification(CALL_ID, ChangeType.DELETED, S.TERMINATED, result=HUNG_UP)
    )
    view = Call(
        CALL_ID, S.TERMINATED, Audio.INACTIVE, ABANDONED._replace(audio=Audio.INACTIVE), HUNG_UP
    )
    applied(ended, view, Milestone.CALL_TERMINATED)
    stale(tf.step(ended.call, note(S.TERMINATING)), ended.call)
    proof = note(S.TERMINATED, termination_reason="AppTransferred")
    settled = tf.step(ended.call, proof)
    done = view._replace(
        transfer=view.transfer._replace(status=T.COMPLETED),  # type: ignore[union-attr]
        termination_reason="AppTransferred",
    )
    applied(settled, done, Milestone.TRANSFER_COMPLETED)
    assert tf.consultation_fate(settled.call, "leg-1") is LegFate.REPLACED


def test_a_transfer_proof_after_the_give_up_completes_the_same_attempt() -> None:
    proof = CallNotification(
        CALL_ID, ChangeType.DELETED, S.TERMINATED, termination_reason="AppTransferred"
    )
    done = tf.step(GAVE_UP_TRANSFERRING, proof)
    view = Call(
        CALL_ID,
        S.TERMINATED,
        Audio.INACTIVE,
        Transfer(T.COMPLETED, None, None, Audio.INACTIVE, REQUEST),
        None,
        "AppTransferred",
    )
    applied(done, view, Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED)


def test_a_failed_transfer_operation_after_the_give_up_ends_it_and_gives_the_call_back() -> None:
    operation = tf.OperationNotification(
        CALL_ID, "op", status="failed", result=FAILURE, progress="transferring"
    )
    failed = tf.step(GAVE_UP_TRANSFERRING, operation)
    view = UP._replace(transfer=Transfer(T.FAILED, FAILURE, request=REQUEST), result=FAILURE)
    applied(failed, view, Milestone.TRANSFER_FAILED)


def test_a_refusal_after_the_give_up_ends_it_and_gives_back_a_stale_transferring() -> None:
    refusal = ResultInfo(409, 8507)
    refused = tf.step(GAVE_UP_TRANSFERRING, tf.TransferRejected(refusal))
    view = UP._replace(transfer=Transfer(T.FAILED, refusal, request=REQUEST))
    applied(refused, view, Milestone.TRANSFER_FAILED)
    held = tf.reduce(GAVE_UP, note(S.HOLD))  # any other state stays
    assert tf.reduce(held, tf.TransferRejected(refusal)).state is S.HOLD


@pytest.mark.parametrize(
    ("state", "kind"),
    [(S.ESTABLISHED, "another state"), (None, "no state"), (S.TRANSFERRING, "an attempt's state")],
)
def test_after_the_give_up_audio_climbs_the_attempts_chain_whatever_the_notification(
    state: CallState | None, kind: str
) -> None:
    """The attempt may still be running at Graph: its audio only climbs, as in flight."""
    steps = step_through(
        GAVE_UP_TRANSFERRING,
        note(state, Audio.INACTIVE),
        note(state, Audio.ACTIVE),
        note(state, Audio.INACTIVE),
    )
    assert [step.call.audio for step in steps] == [Audio.INACTIVE, Audio.ACTIVE, Audio.ACTIVE], kind
    assert [step.milestones for step in steps] == [
        (Milestone.AUDIO_INACTIVE,),
        (Milestone.AUDIO_ACTIVE,),
        (),
    ]
    assert steps[-1].outcome is Outcome.STALE
    assert steps[-1].call.transfer.audio is Audio.ACTIVE  # type: ignore[union-attr]


def test_the_call_an_abandoned_consultative_attempt_replaces_is_pending() -> None:
    """Until Graph says how the attempt ended, the consultation call's fate is open."""
    assert tf.consultation_fate(GAVE_UP, "leg-1") is LegFate.PENDING
    assert tf.consultation_fate(GAVE_UP, "another") is LegFate.UNRELATED


def test_a_give_up_is_worded_as_the_bots_own_whatever_the_attempt_saw() -> None:
    observed = UP._replace(state=S.TRANSFERRING, transfer=Transfer(T.TRANSFERRING))
    for call in (REQUESTED, TRANSFERRING, observed):
        done = tf.step(call, TransferAbandoned())
        assert done.reason == "abandoned the attempt (the bot's timeout: not Graph's word)"
        assert done.milestones == (Milestone.TRANSFER_ABANDONED,)


@pytest.mark.parametrize(
    ("heard", "reason"),
    [
        (note(S.ESTABLISHED), "call state transferring → established"),
        (note(S.HOLD), "call state transferring → hold"),
        (note(S.REDIRECTING), "call state transferring → redirecting"),
        (note(S.TERMINATING), "call state transferring → terminating"),
    ],
    ids=["established", "hold", "redirecting", "terminating"],
)
def test_after_an_observed_attempt_is_given_up_a_call_notification_says_only_what_moved(
    heard: CallNotification, reason: str
) -> None:
    """No request is attached and no attempt opened by a state the phase ranks."""
    observed = UP._replace(state=S.TRANSFERRING, transfer=Transfer(T.TRANSFERRING))
    gave_up = tf.reduce(observed, TransferAbandoned())
    done = tf.step(gave_up, heard)
    assert done.reason == reason
    assert done.call.transfer == Transfer(T.ABANDONED)


GONE = tf.call_gone(CALL_ID)
HUNG_UP_GONE = CallNotification(CALL_ID, ChangeType.DELETED, S.TERMINATED, result=HUNG_UP)


@pytest.mark.parametrize(
    "word",
    [
        note(S.ESTABLISHED, result=FAILURE),
        tf.OperationNotification(
            CALL_ID, "op", status="failed", result=FAILURE, progress="transferring"
        ),
    ],
    ids=["a failure", "a failed operation"],
)
def test_graphs_word_after_the_404_gives_the_call_its_result_unless_it_has_one(
    word: tf.Event,
) -> None:
    """After the end, the settling word gives the call the result it would have had had it
    arrived before the 404 (which carries none); a hang-up's own result stays."""
    settled = tf.step(tf.reduce(GAVE_UP_TRANSFERRING, GONE), word)
    assert settled.call == Call(
        CALL_ID,
        S.TERMINATED,
        Audio.INACTIVE,
        Transfer(T.FAILED, FAILURE, None, Audio.INACTIVE, REQUEST),
        FAILURE,
    )
    assert settled.call == replay(GAVE_UP_TRANSFERRING, word, GONE)
    assert settled.milestones == (Milestone.TRANSFER_FAILED,)
    hung_up = tf.reduce(tf.reduce(GAVE_UP_TRANSFERRING, HUNG_UP_GONE), word)
    assert hung_up.result == HUNG_UP
    assert hung_up.transfer == Transfer(T.FAILED, FAILURE, None, Audio.INACTIVE, REQUEST)
