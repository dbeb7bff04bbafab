"""Each rule of ``rules.py`` by what it does to a call, so that a wrong rule fails a test.

The docs test compares ``docs/model.md`` with the tables generated from the
rules, so a wrong rule with a regenerated table passes it; these tests pin
what each rule does instead: hang-up, hold and redirect during an attempt and
after a failure, what a late notification can and cannot revert, how an
observing bot opens an attempt, and what blocks a transfer. Every assertion is
on whole calls, or whole ``step`` reports.
"""

from __future__ import annotations

import pytest
from flows import CALL_ID, REQUEST, UP, note, replay, step_through

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Blocker,
    Call,
    CallNotification,
    CallState,
    ChangeType,
    Milestone,
    OperationNotification,
    Outcome,
    ResourceNotification,
    ResultInfo,
    Transfer,
    TransferRejected,
    TransferStatus,
)
from transfer_fsm.rules import Fact, Rule

S = CallState
T = TransferStatus
APPLIED = "applied"
OVERTAKEN = "the view has already moved past it"
FAILURE = ResultInfo(500, 7000, "transfer failed")
HUNG_UP = ResultInfo(200, 5001, "The conversation has ended.")


def hung_up(**kw: object) -> CallNotification:
    """The hang-up's last notification: ``deleted``, ``terminated``, with its result."""
    return CallNotification(CALL_ID, ChangeType.DELETED, S.TERMINATED, result=HUNG_UP, **kw)  # type: ignore[arg-type]


class Applied:
    """An applied step: the whole new call and its milestones, and a reason that names
    what moved (its wording is pinned in test_bookkeeping.py and test_attempts.py)."""

    def __init__(self, call: Call, *milestones: Milestone) -> None:
        self.call, self.milestones = call, milestones

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, tf.Step)
            and (other.call, other.outcome, other.milestones)
            == (self.call, Outcome.APPLIED, self.milestones)
            and other.reason not in ("", APPLIED)
        )

    def __repr__(self) -> str:
        return f"Applied({self.call!r}, milestones={self.milestones!r})"


def applied(call: Call, *milestones: Milestone) -> Applied:
    return Applied(call, *milestones)


def stale(call: Call) -> tf.Step:
    return tf.Step(call, Outcome.STALE, (), OVERTAKEN)


REQUESTED = tf.reduce(UP, REQUEST)
TRANSFERRING = replay(REQUESTED, note(S.TRANSFERRING))
ACCEPTED = replay(TRANSFERRING, note(S.TRANSFER_ACCEPTED))
FAILED = replay(TRANSFERRING, note(S.ESTABLISHED, result=FAILURE))
IN_FLIGHT = pytest.mark.parametrize(
    "during", [REQUESTED, TRANSFERRING, ACCEPTED], ids=["requested", "transferring", "accepted"]
)


def test_the_starting_views() -> None:
    """The views the tests below start from, as the rules they do not test build them."""
    views = [REQUESTED, TRANSFERRING, ACCEPTED, FAILED]
    assert views == [
        UP._replace(transfer=Transfer(T.REQUESTED, request=REQUEST)),
        UP._replace(state=S.TRANSFERRING, transfer=Transfer(T.TRANSFERRING, request=REQUEST)),
        UP._replace(state=S.TRANSFER_ACCEPTED, transfer=Transfer(T.ACCEPTED, request=REQUEST)),
        UP._replace(transfer=Transfer(T.FAILED, FAILURE, request=REQUEST), result=FAILURE),
    ]


# During an attempt ---------------------------------------------------------------


def test_a_call_put_on_hold_while_the_request_is_pending_is_held_and_the_attempt_waits() -> None:
    held = REQUESTED._replace(state=S.HOLD)
    assert step_through(REQUESTED, note(S.HOLD), note(S.ESTABLISHED)) == [
        applied(held),
        applied(REQUESTED),
    ]


def test_a_call_redirected_while_the_request_is_pending_is_redirecting_and_the_attempt_waits() -> (
    None
):
    redirecting = REQUESTED._replace(state=S.REDIRECTING)
    assert step_through(REQUESTED, note(S.REDIRECTING), note(S.ESTABLISHED)) == [
        applied(redirecting),
        applied(REQUESTED),
    ]


@pytest.mark.parametrize("state", [S.ESTABLISHED, S.HOLD, S.REDIRECTING])
@pytest.mark.parametrize("during", [TRANSFERRING, ACCEPTED], ids=["transferring", "accepted"])
def test_hold_resume_or_redirect_reported_while_the_transfer_is_in_progress_is_stale(
    during: Call, state: CallState
) -> None:
    assert tf.step(during, note(state)) == stale(during)


@pytest.mark.parametrize("state", [S.INCOMING, S.ESTABLISHING, S.RINGING])
def test_a_late_answer_notification_during_an_attempt_is_stale(state: CallState) -> None:
    for during in (REQUESTED, TRANSFERRING, ACCEPTED):
        assert tf.step(during, note(state)) == stale(during)


@IN_FLIGHT
def test_a_hang_up_during_an_attempt_leaves_it_open_until_the_call_ends_then_fails_it(
    during: Call,
) -> None:
    terminating = during._replace(state=S.TERMINATING)
    assert during.transfer is not None
    failed = during.transfer._replace(status=T.FAILED, result=HUNG_UP, audio=Audio.INACTIVE)
    ended = Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, failed, HUNG_UP)
    assert step_through(during, note(S.TERMINATING), hung_up()) == [
        applied(terminating),
        applied(ended, Milestone.TRANSFER_FAILED, Milestone.CALL_TERMINATED),
    ]


@IN_FLIGHT
def test_a_transfer_failure_reported_after_the_hang_up_began_fails_the_attempt_only(
    during: Call,
) -> None:
    """The failure's ``established`` is below ``terminating``: the call stays terminating."""
    terminating = tf.reduce(during, note(S.TERMINATING))
    assert terminating.transfer is not None
    failed = terminating.transfer._replace(status=T.FAILED, result=FAILURE)
    assert tf.step(terminating, note(S.ESTABLISHED, result=FAILURE)) == applied(
        terminating._replace(transfer=failed), Milestone.TRANSFER_FAILED
    )


def test_a_failed_transfer_operation_does_not_revert_terminating() -> None:
    """The legacy operation failing puts an established call back to established, but a
    call whose hang-up began stays terminating; only the attempt fails."""
    request = tf.TransferRequested(client_context="ctx-1")
    failing = OperationNotification(
        CALL_ID, "op", ChangeType.DELETED, "failed", FAILURE, client_context="ctx-1"
    )
    terminating = replay(UP, request, note(S.TERMINATING))
    assert tf.step(terminating, failing) == applied(
        terminating._replace(transfer=Transfer(T.FAILED, FAILURE, request=request)),
        Milestone.TRANSFER_FAILED,
    )
    assert tf.step(tf.reduce(UP, request), failing) == applied(
        UP._replace(transfer=Transfer(T.FAILED, FAILURE, request=request), result=FAILURE),
        Milestone.TRANSFER_FAILED,
    )


def test_a_rejection_answered_after_the_transfer_was_accepted_fails_it() -> None:
    """A refused POST: the attempt never started, so its transferAccepted was an
    earlier attempt's and the call is back to established."""
    assert ACCEPTED.transfer is not None
    assert tf.step(ACCEPTED, TransferRejected(FAILURE)) == applied(
        ACCEPTED._replace(
            state=S.ESTABLISHED,
            transfer=ACCEPTED.transfer._replace(status=T.FAILED, result=FAILURE),
        ),
        Milestone.TRANSFER_FAILED,
    )


@IN_FLIGHT
def test_while_an_attempt_is_open_audio_only_climbs_its_chain(during: Call) -> None:
    """none < inactive < active within the attempt, from the request on: once a
    notification said active, an inactive without a transfer state is stale."""
    assert during.transfer is not None
    topped = during._replace(transfer=during.transfer._replace(audio=Audio.ACTIVE))
    assert step_through(during, note(audio=Audio.ACTIVE), note(audio=Audio.INACTIVE)) == [
        applied(topped),
        stale(topped),
    ]


def test_a_call_whose_legacy_transfer_operation_runs_cannot_be_transferred_again() -> None:
    """The legacy operation moves no call state: the attempt alone blocks a second POST."""
    running = OperationNotification(CALL_ID, "op", status="running", progress="transferring")
    done = OperationNotification(
        CALL_ID, "op", ChangeType.DELETED, "completed", progress="transferAccepted"
    )
    for events, status in (((running,), T.TRANSFERRING), ((running, done), T.ACCEPTED)):
        call = replay(REQUESTED, *events)
        assert call == REQUESTED._replace(transfer=Transfer(status, request=REQUEST))
        assert tf.transfer_blockers(call) == (Blocker.TRANSFER_IN_PROGRESS,)


# After a failed attempt ----------------------------------------------------------


def test_hold_after_a_failed_attempt_is_taken_and_the_call_resumes() -> None:
    assert step_through(FAILED, note(S.HOLD), note(S.ESTABLISHED)) == [
        applied(FAILED._replace(state=S.HOLD)),
        applied(FAILED),
    ]


def test_redirect_after_a_failed_attempt_is_taken() -> None:
    assert step_through(FAILED, note(S.REDIRECTING), note(S.ESTABLISHED)) == [
        applied(FAILED._replace(state=S.REDIRECTING)),
        applied(FAILED),
    ]


def test_a_late_copy_of_the_failure_puts_a_held_call_back_to_established() -> None:
    """Equal ranks have no order (the later delivered wins); the copy's result is the
    call's, and the failed attempt keeps the result it ended with."""
    again = ResultInfo(500, 7700, "copy")
    held = tf.reduce(FAILED, note(S.HOLD))
    assert tf.step(held, note(S.ESTABLISHED, result=again)) == applied(
        FAILED._replace(result=again)
    )


def test_a_hang_up_after_a_failed_attempt_ends_the_call_and_the_attempt_stays_failed() -> None:
    assert FAILED.transfer is not None
    ended = Call(
        CALL_ID,
        S.TERMINATED,
        Audio.INACTIVE,
        FAILED.transfer._replace(audio=Audio.INACTIVE),
        HUNG_UP,
    )
    assert step_through(FAILED, note(S.TERMINATING), hung_up()) == [
        applied(FAILED._replace(state=S.TERMINATING)),
        applied(ended, Milestone.CALL_TERMINATED),
    ]


@pytest.mark.parametrize(
    "late",
    [note(S.ESTABLISHED), note(S.HOLD), note(S.REDIRECTING), note(S.ESTABLISHED, result=FAILURE)],
    ids=["established", "hold", "redirecting", "the failure again"],
)
def test_after_a_failed_attempt_nothing_late_reverts_terminating(late: CallNotification) -> None:
    terminating = tf.reduce(FAILED, note(S.TERMINATING))
    assert tf.step(terminating, late) == stale(terminating)


def test_after_a_failed_attempt_media_follows_the_latest_notification_again() -> None:
    attempt = FAILED.transfer
    assert attempt is not None

    def heard(audio: Audio) -> Call:
        return FAILED._replace(audio=audio, transfer=attempt._replace(audio=audio))

    inactive, active = Audio.INACTIVE, Audio.ACTIVE
    up = S.ESTABLISHED  # media-only notifications rank on the attempt's chain (model.md, 15)
    steps = step_through(FAILED, note(up, inactive), note(up, active), note(up, inactive))
    assert steps == [
        applied(heard(inactive), Milestone.AUDIO_INACTIVE),
        applied(heard(active), Milestone.AUDIO_ACTIVE),
        applied(heard(inactive), Milestone.AUDIO_INACTIVE),
    ]


# After the bot gave up ------------------------------------------------------------


def test_graph_settles_an_abandoned_attempt_after_the_call_ended_and_the_end_fires_once() -> None:
    """The bot gave up on an accepted transfer, the call then ended (a 404), and Graph's
    ``AppTransferred`` termination arrives last: it completes the abandoned attempt (Graph's
    word), and the call's end, already announced, is not announced again."""
    abandoned = tf.reduce(ACCEPTED, tf.TransferAbandoned(attempt=1))
    assert abandoned == ACCEPTED._replace(transfer=Transfer(T.ABANDONED, request=REQUEST))
    ended = abandoned._replace(
        state=S.TERMINATED,
        audio=Audio.INACTIVE,
        transfer=Transfer(T.ABANDONED, audio=Audio.INACTIVE, request=REQUEST),
    )
    assert tf.step(abandoned, tf.call_gone(CALL_ID)) == applied(ended, Milestone.CALL_TERMINATED)
    proof = CallNotification(
        CALL_ID, ChangeType.DELETED, S.TERMINATED, termination_reason="AppTransferred"
    )
    completed = ended._replace(
        transfer=Transfer(T.COMPLETED, audio=Audio.INACTIVE, request=REQUEST),
        termination_reason="AppTransferred",
    )
    settled = tf.step(ended, proof)
    assert settled == applied(completed, Milestone.TRANSFER_COMPLETED)
    assert settled.milestone_keys == (f"{CALL_ID}:1:transferCompleted",)
    assert tf.step(completed, proof) == tf.Step(
        completed, Outcome.DUPLICATE, (), "everything it says is already in the view"
    )


def test_after_the_bot_gave_up_the_call_state_moves_as_after_a_failure_and_the_attempt_waits() -> (
    None
):
    """An observed attempt (no request) given up while transferring: hold, resume and
    redirect are taken in any order (equal rank), terminating outranks them, and none of
    them says anything of the attempt, which stays abandoned for Graph to settle."""
    abandoned = tf.reduce(OBSERVED_TRANSFERRING, tf.TransferAbandoned())
    assert abandoned == OBSERVED_TRANSFERRING._replace(transfer=Transfer(T.ABANDONED))
    moves = [S.HOLD, S.ESTABLISHED, S.REDIRECTING, S.HOLD, S.TERMINATING]
    late = [S.ESTABLISHED, S.HOLD, S.REDIRECTING]
    steps = step_through(abandoned, *(note(state) for state in [*moves, *late]))
    before = abandoned
    for previous, state, made in zip([S.TRANSFERRING, *moves], moves, steps, strict=False):
        now = before._replace(state=state)
        assert made == tf.Step(
            now, Outcome.APPLIED, (), f"call state {previous.value} → {state.value}"
        )
        before = now
    assert steps[len(moves) :] == [stale(before)] * len(late)
    assert before == abandoned._replace(state=S.TERMINATING)


CONTEXT_REQUEST = tf.TransferRequested(client_context="ctx-1")
GAVE_UP = replay(UP, CONTEXT_REQUEST, note(S.TRANSFERRING), tf.TransferAbandoned(1))
FAILED_OPERATION = OperationNotification(
    CALL_ID, "op-1", ChangeType.UPDATED, "failed", FAILURE, None, "ctx-1"
)


@pytest.mark.parametrize(
    "failure",
    [FAILED_OPERATION, note(S.ESTABLISHED, result=FAILURE)],
    ids=["failed operation", "established with a failure"],
)
@pytest.mark.parametrize("state", [S.TRANSFERRING, S.HOLD], ids=["transferring", "held"])
def test_graphs_failure_after_the_give_up_fails_the_attempt_and_gives_the_call_back(
    failure: tf.Event, state: CallState
) -> None:
    """The bot gave up (and the call may have been held since): Graph's own failure, a
    failed operation echoing the request's context or a failed ``established``, still
    ends the same attempt, once, and puts the call back to ``established``."""
    before = GAVE_UP._replace(state=state)
    assert tf.reduce(GAVE_UP, note(state)) == before
    failed = UP._replace(
        transfer=Transfer(T.FAILED, FAILURE, request=CONTEXT_REQUEST), result=FAILURE
    )
    assert tf.step(before, failure) == tf.Step(
        failed,
        Outcome.APPLIED,
        (Milestone.TRANSFER_FAILED,),
        f"failed the attempt: 500/7000; call state {state.value} → established;"
        " resultInfo 500/7000",
    )


@pytest.mark.parametrize(
    "failure",
    [FAILED_OPERATION, note(S.ESTABLISHED, result=FAILURE)],
    ids=["failed operation", "established with a failure"],
)
def test_graphs_failure_after_the_give_up_does_not_revert_terminating(failure: tf.Event) -> None:
    terminating = tf.reduce(GAVE_UP, note(S.TERMINATING))
    assert terminating == GAVE_UP._replace(state=S.TERMINATING)
    assert tf.step(terminating, failure) == tf.Step(
        terminating._replace(transfer=Transfer(T.FAILED, FAILURE, request=CONTEXT_REQUEST)),
        Outcome.APPLIED,
        (Milestone.TRANSFER_FAILED,),
        "failed the attempt: 500/7000",
    )


OBSERVED_GAVE_UP = UP._replace(state=S.TRANSFERRING, transfer=Transfer(T.ABANDONED))


@pytest.mark.parametrize(
    ("event", "after", "milestones", "reason"),
    [
        (
            note(S.ESTABLISHED, result=FAILURE),
            UP._replace(transfer=Transfer(T.FAILED, FAILURE), result=FAILURE),
            (Milestone.TRANSFER_FAILED,),
            "failed the attempt: 500/7000; call state transferring → established;"
            " resultInfo 500/7000",
        ),
        (
            OperationNotification(
                CALL_ID, "op-1", ChangeType.UPDATED, "failed", FAILURE, "transferAccepted"
            ),
            UP._replace(transfer=Transfer(T.FAILED, FAILURE), result=FAILURE),
            (Milestone.TRANSFER_FAILED,),
            "failed the attempt: 500/7000; call state transferring → established;"
            " resultInfo 500/7000",
        ),
        (
            hung_up(),
            Call(
                CALL_ID,
                S.TERMINATED,
                Audio.INACTIVE,
                Transfer(T.ABANDONED, audio=Audio.INACTIVE),
                HUNG_UP,
            ),
            (Milestone.CALL_TERMINATED,),
            "call state transferring → terminated; audio active → inactive; resultInfo 200/5001",
        ),
        (
            hung_up(termination_reason="AppTransferred"),
            Call(
                CALL_ID,
                S.TERMINATED,
                Audio.INACTIVE,
                Transfer(T.COMPLETED, HUNG_UP, audio=Audio.INACTIVE),
                HUNG_UP,
                "AppTransferred",
            ),
            (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED),
            "completed the attempt; call state transferring → terminated; audio active →"
            " inactive; resultInfo 200/5001; terminationReason 'AppTransferred'",
        ),
    ],
    ids=["failure", "failed operation", "hang-up", "transferred"],
)
def test_an_observed_attempt_given_up_is_settled_by_graph_and_never_given_a_request(
    event: tf.Event, after: Call, milestones: tuple[Milestone, ...], reason: str
) -> None:
    """An observing bot's abandoned attempt: Graph's failure or transfer ends it, a plain
    hang-up ends the call only, and no step says it attached a request or opened one."""
    assert tf.reduce(OBSERVED_TRANSFERRING, tf.TransferAbandoned()) == OBSERVED_GAVE_UP
    assert tf.step(OBSERVED_GAVE_UP, event) == tf.Step(after, Outcome.APPLIED, milestones, reason)


def test_graphs_refusal_answered_after_the_give_up_fails_the_attempt() -> None:
    """The POST was answered (an error) after the bot's timer fired: the refusal is
    Graph's word, so it ends the abandoned attempt, with the POST's answer as its result;
    the call's own result stays Graph's."""
    abandoned = tf.reduce(REQUESTED, tf.TransferAbandoned())
    assert abandoned == UP._replace(transfer=Transfer(T.ABANDONED, request=REQUEST))
    refused = ResultInfo(403, 8501, "Forbidden")
    assert tf.step(abandoned, TransferRejected(refused)) == tf.Step(
        UP._replace(transfer=Transfer(T.FAILED, refused, request=REQUEST)),
        Outcome.APPLIED,
        (Milestone.TRANSFER_FAILED,),
        "failed the attempt (Graph refused the request): 403/8501",
    )


def test_after_the_give_up_audio_still_only_climbs_the_attempts_chain() -> None:
    """Graph may still be transferring an abandoned attempt, so its media axis stays the
    attempt's chain (none < inactive < active) for every kind of notification: a call
    state's (hold, established), a media-only one, and a late progress one (whose state is
    stale): each is taken climbing and left descending."""

    def audio(state: CallState, heard: Audio) -> Call:
        """The abandoned attempt in ``state`` with ``heard`` on the call and the chain."""
        attempt = Transfer(T.ABANDONED, audio=heard, request=CONTEXT_REQUEST)
        return GAVE_UP._replace(state=state, audio=heard, transfer=attempt)

    held = audio(S.HOLD, Audio.INACTIVE)
    active = audio(S.HOLD, Audio.ACTIVE)
    assert step_through(
        GAVE_UP,
        note(S.HOLD, Audio.INACTIVE),
        note(S.TRANSFER_ACCEPTED, Audio.ACTIVE),
        note(None, Audio.INACTIVE),
        note(S.TRANSFER_ACCEPTED, Audio.INACTIVE),
        note(S.ESTABLISHED, Audio.INACTIVE),
    ) == [
        applied(held, Milestone.AUDIO_INACTIVE),
        applied(active, Milestone.AUDIO_ACTIVE),
        stale(active),
        stale(active),
        applied(active._replace(state=S.ESTABLISHED)),
    ]
    assert tf.step(GAVE_UP, note(None, Audio.ACTIVE)) == tf.Step(
        audio(S.TRANSFERRING, Audio.ACTIVE),
        Outcome.APPLIED,
        (),
        "the attempt's audio none → active",
    )


def test_an_accepted_transfers_late_progress_cannot_take_its_audio_back() -> None:
    """A late ``transferring`` with audio inactive, after the accepted attempt's audio
    went active, leaves the chain where it is."""
    active = tf.reduce(ACCEPTED, note(None, Audio.ACTIVE))
    assert active == ACCEPTED._replace(
        transfer=Transfer(T.ACCEPTED, audio=Audio.ACTIVE, request=REQUEST)
    )
    assert tf.step(active, note(S.TRANSFERRING, Audio.INACTIVE)) == stale(active)


@pytest.mark.parametrize(
    "late",
    [
        hung_up(),
        CallNotification(CALL_ID, ChangeType.UPDATED, S.TERMINATED, result=HUNG_UP),
        note(S.TERMINATED, termination_reason="Normal"),
        note(S.TERMINATING, termination_reason="Normal"),
        note(S.ESTABLISHED, Audio.ACTIVE, replaces_context="late-context"),
        note(S.TRANSFER_ACCEPTED, Audio.ACTIVE, replaces_context="late-context"),
    ],
    ids=["hang-up", "terminated", "reason", "terminating", "established", "accepted"],
)
def test_once_the_call_ended_an_abandoned_attempt_hears_nothing_but_graphs_word(
    late: CallNotification,
) -> None:
    """Termination stays absorbing for everything that does not settle the attempt: a
    late hang-up, its result or reason, or a late notification with a context is stale."""
    ended = replay(ACCEPTED, tf.TransferAbandoned(attempt=1), tf.call_gone(CALL_ID))
    assert ended == ACCEPTED._replace(
        state=S.TERMINATED,
        audio=Audio.INACTIVE,
        transfer=Transfer(T.ABANDONED, audio=Audio.INACTIVE, request=REQUEST),
    )
    assert tf.step(ended, late) == tf.Step(
        ended, Outcome.STALE, (), "the call has already terminated"
    )


# Outside an attempt ---------------------------------------------------------------


def test_a_call_answered_before_any_attempt_says_what_moved_and_keys_its_audio_to_attempt_0() -> (
    None
):
    """Before the first attempt the step names only the call's axes, and its milestone's
    key belongs to attempt 0 (the call's first attempt will be 1)."""
    answered = tf.step(Call(CALL_ID), note(S.ESTABLISHED, Audio.ACTIVE))
    assert answered == tf.Step(
        UP,
        Outcome.APPLIED,
        (Milestone.AUDIO_ACTIVE,),
        "call state none → established; audio none → active",
    )
    assert answered.milestone_keys == (f"{CALL_ID}:0:audioActive",)


def test_a_call_rings_and_is_answered_in_the_lifecycles_order_and_a_late_step_is_stale() -> None:
    """Outside an attempt: incoming < establishing = ringing < established = redirecting;
    equal states replace each other (last writer wins), a lower one is stale, and none of
    them opens an attempt."""
    heard = [S.INCOMING, S.ESTABLISHING, S.INCOMING, S.RINGING, S.ESTABLISHING, S.RINGING]
    heard += [S.ESTABLISHED, S.RINGING, S.REDIRECTING, S.ESTABLISHED, S.REDIRECTING]
    views = [S.INCOMING, S.ESTABLISHING, None, S.RINGING, S.ESTABLISHING, S.RINGING]
    views += [S.ESTABLISHED, None, S.REDIRECTING, S.ESTABLISHED, S.REDIRECTING]
    call = Call(CALL_ID)
    for made, view in zip(
        step_through(call, *(note(state) for state in heard)), views, strict=True
    ):
        if view is None:
            assert made == stale(call)
        else:
            assert made == tf.Step(
                Call(CALL_ID, view),
                Outcome.APPLIED,
                (),
                f"call state {'none' if call.state is None else call.state.value} → {view.value}",
            )
            call = made.call


def test_after_a_failure_late_progress_keeps_to_the_chain_but_a_hold_takes_the_audio() -> None:
    """After a failed attempt a late ``transferring`` is the attempt's (its audio only
    climbs the attempt's chain); a hold is the call's own again (the latest audio wins)."""
    active = tf.reduce(FAILED, note(None, Audio.ACTIVE))
    assert active == FAILED._replace(transfer=FAILED.transfer._replace(audio=Audio.ACTIVE))  # type: ignore[union-attr]
    assert step_through(
        active, note(S.TRANSFERRING, Audio.INACTIVE), note(S.HOLD, Audio.INACTIVE)
    ) == [
        stale(active),
        applied(
            active._replace(
                state=S.HOLD,
                audio=Audio.INACTIVE,
                transfer=FAILED.transfer._replace(audio=Audio.INACTIVE),  # type: ignore[union-attr]
            ),
            Milestone.AUDIO_INACTIVE,
        ),
    ]


def test_a_late_transfer_accepted_after_the_hang_up_began_opens_the_attempt_only() -> None:
    """An observing bot: the attempt opens (accepted), the call stays terminating."""
    terminating = tf.reduce(UP, note(S.TERMINATING))
    assert tf.step(terminating, note(S.TRANSFER_ACCEPTED)) == applied(
        terminating._replace(transfer=Transfer(T.ACCEPTED)), Milestone.TRANSFER_ACCEPTED
    )


@pytest.mark.parametrize(
    ("progress", "status", "milestones"),
    [
        ("transferring", T.TRANSFERRING, ()),
        ("transferAccepted", T.ACCEPTED, (Milestone.TRANSFER_ACCEPTED,)),
    ],
)
def test_an_observing_bot_opens_the_attempt_on_the_legacy_operation_progress(
    progress: str, status: TransferStatus, milestones: tuple[Milestone, ...]
) -> None:
    operation = OperationNotification(CALL_ID, "op", status="running", progress=progress)
    assert tf.step(UP, operation) == applied(UP._replace(transfer=Transfer(status)), *milestones)


def test_a_terminated_update_that_reports_the_transfer_completes_it() -> None:
    """Not only ``deleted``: an ``updated`` notification saying ``terminated`` with
    ``AppTransferred`` (or subcode 7015) is the transfer completing."""
    by_reason = note(S.TERMINATED, termination_reason="AppTransferred")
    by_subcode = note(S.TERMINATED, result=ResultInfo(0, 7015))
    completed = Transfer(T.COMPLETED, None, None, Audio.INACTIVE, REQUEST)
    assert tf.reduce(ACCEPTED, by_reason) == Call(
        CALL_ID, S.TERMINATED, Audio.INACTIVE, completed, None, "AppTransferred"
    )
    done = ResultInfo(0, 7015)
    assert tf.reduce(ACCEPTED, by_subcode) == Call(
        CALL_ID, S.TERMINATED, Audio.INACTIVE, completed._replace(result=done), done
    )


@pytest.mark.parametrize("result", [ResultInfo(0, 5001, "ok"), ResultInfo(200, 9999, "ok")])
def test_an_established_with_a_success_code_is_not_a_failure_whatever_its_subcode(
    result: ResultInfo,
) -> None:
    """The code decides (0 or 2xx is success), not the subcode or the message."""
    assert tf.reduce(ACCEPTED, note(S.ESTABLISHED, result=result)) == ACCEPTED
    assert tf.reduce(Call(CALL_ID), note(S.ESTABLISHED, result=result)) == Call(
        CALL_ID, S.ESTABLISHED, None, None, result
    )


# What a step says of the attempt, rule by rule ---------------------------------
# A rule's attempt column is what the reason is worded from: only a rule that opens
# an attempt says "opened an attempt", and only one that may bring the bot's request
# says "attached the request". The bot that observes (no request) reads these.

OBSERVED_TRANSFERRING = UP._replace(state=S.TRANSFERRING, transfer=Transfer(T.TRANSFERRING))
OBSERVED_ACCEPTED = UP._replace(state=S.TRANSFER_ACCEPTED, transfer=Transfer(T.ACCEPTED))
OBSERVED_FAILED = Call(
    CALL_ID,
    S.ESTABLISHED,
    Audio.INACTIVE,
    Transfer(T.FAILED, FAILURE, None, Audio.INACTIVE),
    FAILURE,
)
MOVED_ON = CallNotification(
    CALL_ID, ChangeType.DELETED, S.TERMINATED, termination_reason="AppTransferred"
)


def test_the_observed_starting_views() -> None:
    assert [
        replay(UP, note(S.TRANSFERRING)),
        replay(UP, note(S.TRANSFER_ACCEPTED)),
        replay(UP, note(S.TRANSFERRING, Audio.INACTIVE), note(S.ESTABLISHED, result=FAILURE)),
    ] == [OBSERVED_TRANSFERRING, OBSERVED_ACCEPTED, OBSERVED_FAILED]


def said(call: Call, *events: tf.Event) -> list[tuple[str, tuple[Milestone, ...]]]:
    """What each applied step said, and the milestones it fired."""
    steps = step_through(call, *events)
    assert {s.outcome for s in steps} == {Outcome.APPLIED}
    return [(s.reason, s.milestones) for s in steps]


@pytest.mark.parametrize(
    ("event", "reason", "milestones"),
    [
        (
            note(S.TRANSFERRING),
            "opened an attempt by observation: in progress; call state established → transferring",
            (),
        ),
        (
            note(S.TRANSFER_ACCEPTED),
            "opened an attempt by observation: accepted; call state established → transferAccepted",
            (Milestone.TRANSFER_ACCEPTED,),
        ),
        (
            note(S.ESTABLISHED, result=FAILURE),
            "opened an attempt by observation: failed: 500/7000; resultInfo 500/7000",
            (Milestone.TRANSFER_FAILED,),
        ),
        (
            MOVED_ON,
            "opened an attempt by observation: completed; call state established → terminated;"
            " audio active → inactive; terminationReason 'AppTransferred'",
            (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED),
        ),
    ],
    ids=["transferring", "accepted", "failed", "completed"],
)
def test_a_notification_that_shows_a_transfer_says_it_opened_an_attempt_by_observation(
    event: tf.Event, reason: str, milestones: tuple[Milestone, ...]
) -> None:
    assert said(UP, event) == [(reason, milestones)]


def test_an_observed_attempt_in_flight_is_not_said_to_be_opened_again_or_given_a_request() -> None:
    assert said(
        OBSERVED_TRANSFERRING,
        note(S.TRANSFERRING, Audio.INACTIVE),
        note(S.TRANSFER_ACCEPTED),
        note(S.ESTABLISHED, Audio.ACTIVE),  # ranks below accepted: its audio alone is taken
        note(S.ESTABLISHED, result=FAILURE),
    ) == [
        ("audio active → inactive", (Milestone.AUDIO_INACTIVE,)),
        (
            "the target accepted the transfer; call state transferring → transferAccepted",
            (Milestone.TRANSFER_ACCEPTED,),
        ),
        ("audio inactive → active", (Milestone.AUDIO_ACTIVE,)),
        (
            "failed the attempt: 500/7000; call state transferAccepted → established;"
            " resultInfo 500/7000",
            (Milestone.TRANSFER_FAILED,),
        ),
    ]
    assert said(OBSERVED_TRANSFERRING, note(S.TERMINATING), hung_up()) == [
        ("call state transferring → terminating", ()),
        (
            "failed the attempt (the call ended without a transfer result): 200/5001;"
            " call state terminating → terminated; audio active → inactive; resultInfo 200/5001",
            (Milestone.TRANSFER_FAILED, Milestone.CALL_TERMINATED),
        ),
    ]


@pytest.mark.parametrize("state", [S.HOLD, S.REDIRECTING])
def test_hold_or_redirect_during_an_observed_accepted_transfer_gives_the_attempt_its_audio(
    state: CallState,
) -> None:
    """The state ranks below accepted and is not taken; the audio is the attempt's first."""
    assert said(OBSERVED_ACCEPTED, note(state, Audio.ACTIVE)) == [
        ("the attempt's audio none → active", ())
    ]


def test_an_observed_accepted_transfer_completing_says_only_that_it_completed() -> None:
    assert said(OBSERVED_ACCEPTED, MOVED_ON) == [
        (
            "completed the attempt; call state transferAccepted → terminated;"
            " audio active → inactive; terminationReason 'AppTransferred'",
            (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED),
        )
    ]


@pytest.mark.parametrize(
    ("event", "reason", "milestones"),
    [
        (note(S.ESTABLISHED, Audio.ACTIVE), "audio inactive → active", (Milestone.AUDIO_ACTIVE,)),
        (note(S.HOLD), "call state established → hold", ()),
        (note(S.REDIRECTING), "call state established → redirecting", ()),
        (note(S.ESTABLISHED, result=ResultInfo(500, 7700)), "resultInfo 500/7700", ()),
        (note(S.TERMINATING), "call state established → terminating", ()),
        (
            hung_up(),
            "call state established → terminated; resultInfo 200/5001",
            (Milestone.CALL_TERMINATED,),
        ),
    ],
    ids=["resumed", "hold", "redirect", "another-failure", "terminating", "hang-up"],
)
def test_after_an_observed_failure_a_call_notification_says_what_moved_not_the_attempt(
    event: tf.Event, reason: str, milestones: tuple[Milestone, ...]
) -> None:
    assert said(OBSERVED_FAILED, event) == [(reason, milestones)]


# Events that are not the call's own notifications ------------------------------


@pytest.mark.parametrize(
    "event",
    [
        OperationNotification("another-call", "op", status="running", progress="transferring"),
        ResourceNotification("another-call", "participants/p1"),
    ],
    ids=["operation", "sub-resource"],
)
def test_a_notification_under_another_call_is_refused_naming_both_calls(event: tf.Event) -> None:
    with pytest.raises(tf.WrongCallError) as caught:
        tf.reduce(UP, event)
    assert (caught.value.call_id, caught.value.event_call_id) == (CALL_ID, "another-call")


def test_a_sub_resource_notification_is_ignored_in_every_phase() -> None:
    participant = ResourceNotification(CALL_ID, "participants/p1")
    for call in (UP, REQUESTED, ACCEPTED, FAILED):
        assert tf.step(call, participant) == tf.Step(
            call, Outcome.IGNORED, (), "a sub-resource notification is not a call update"
        )


# What blocks a transfer -----------------------------------------------------------


def test_a_ringing_call_cannot_be_transferred() -> None:
    ringing = tf.reduce(Call(CALL_ID), note(S.RINGING))
    assert ringing == Call(CALL_ID, S.RINGING)
    assert tf.transfer_blockers(ringing) == (Blocker.NOT_ESTABLISHED,)
    assert tf.can_transfer(ringing) is False


def test_the_call_a_given_up_consultative_transfer_replaces_waits_for_graphs_word() -> None:
    consulting = replay(UP, tf.TransferRequested("leg-9"), tf.TransferAbandoned(1))
    assert consulting.transfer == Transfer(T.ABANDONED, request=tf.TransferRequested("leg-9"))
    assert tf.consultation_fate(consulting, "leg-9") is tf.LegFate.PENDING


def test_a_call_still_transferring_cannot_be_transferred_after_the_bot_abandoned_its_attempt() -> (
    None
):
    """Abandoning ends the bot's wait but does not move the call state: Graph may still be
    transferring it, so another request waits for the call to say where it stands."""
    abandoned = tf.reduce(OBSERVED_TRANSFERRING, tf.TransferAbandoned())
    assert abandoned == OBSERVED_TRANSFERRING._replace(transfer=Transfer(T.ABANDONED))
    assert tf.transfer_blockers(abandoned) == (Blocker.TRANSFER_IN_PROGRESS,)
    assert tf.can_transfer(abandoned) is False


# The tables as values ----------------------------------------------------------


def test_a_rule_prints_the_way_the_tables_spell_it() -> None:
    """For whoever reads a table in a debugger or in a failed assertion."""
    assert repr({Fact.HOLD: Rule(0, T.FAILED)}) == (
        "{Fact.HOLD: Rule(rank=0, status=TransferStatus.FAILED, attempt=None)}"
    )
