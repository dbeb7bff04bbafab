"""Attempts over time: retries, late copies of an earlier attempt, stuck attempts, recovery."""

from __future__ import annotations

import json
from collections import Counter
from itertools import permutations
from typing import Any

import pytest
from flows import (
    CALL_ID,
    DOCS,
    LEGACY_CALL_ID,
    LEGACY_REQUEST,
    SEED,
    UP,
    events_of,
    legacy_failed_operation,
    replay,
    step_through,
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
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
    TransferStatus,
)

S = TransferStatus
LEG = "e5d39592-99bd-4db8-bca8-30fb894ec51d"
FIRST = tf.consultative_transfer(tf.User("u-1"), LEG, client_context="first", at=100.0).event
RETRY = tf.consultative_transfer(tf.User("u-1"), LEG, client_context="retry", at=200.0).event
SEED_FAILURE = ResultInfo(500, 7000, "<message>")


def n(**data: Any) -> tf.Notification:
    """One notification about the call, as the issue writes them."""
    change = data.pop("ct", "updated")
    body = {"changeType": change, "resourceUrl": f"/communications/calls/{CALL_ID}"}
    (event,) = tf.parse_notifications({**body, "resourceData": data})
    return event


FAIL = n(state="established", resultInfo={"code": 500, "subCode": 7700})
FAILURE_7700 = ResultInfo(500, 7700)


def failed_first() -> Call:
    """The first consultative attempt, failed as the seed documents."""
    return replay(
        UP,
        FIRST,
        *events_of(
            SEED["consultative-transferring"],
            SEED["consultative-audio-inactive"],
            SEED["consultative-transfer-accepted"],
            SEED["consultative-established-failed"],
            SEED["consultative-audio-active"],
        ),
    )


# 1. A late copy of a finished attempt never decides the next one.


def test_the_first_attempts_failure_redelivered_during_the_retry_is_stale() -> None:
    retry = tf.reduce(failed_first(), RETRY)
    (late,) = events_of(SEED["consultative-established-failed"])
    done = tf.step(retry, late)
    assert done == tf.Step(
        retry, Outcome.STALE, (), "a late copy of an earlier attempt's failure (500/7000)"
    )
    assert retry == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.REQUESTED, request=RETRY, attempt=2),
        None,
        None,
        (SEED_FAILURE,),
    )


def test_a_late_copy_leaks_nothing_into_the_retry_which_completes_with_its_own_request() -> None:
    retry = tf.reduce(failed_first(), RETRY)
    (late,) = events_of(SEED["consultative-established-failed"])
    steps = step_through(
        retry,
        *events_of(SEED["consultative-transferring"]),
        late,
        *events_of(SEED["consultative-transfer-accepted"]),
        late,
        *events_of(SEED["consultative-terminated"]),
        late,
    )
    assert [s.milestones for s in steps] == [
        (),
        (),
        (Milestone.TRANSFER_ACCEPTED,),
        (),
        (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED),
        (),
    ]
    assert steps[-1].call == Call(
        CALL_ID,
        CallState.TERMINATED,
        Audio.INACTIVE,
        Transfer(S.COMPLETED, None, None, Audio.INACTIVE, RETRY, 2),
        None,  # not the first attempt's failure next to AppTransferred
        "AppTransferred",
        (SEED_FAILURE,),
    )
    assert tf.consultation_fate(steps[-1].call, LEG) is tf.LegFate.REPLACED


def test_a_different_failure_of_the_retry_fails_it_once() -> None:
    retry = replay(failed_first(), RETRY, *events_of(SEED["consultative-transferring"]))
    (late,) = events_of(SEED["consultative-established-failed"])
    steps = step_through(retry, late, FAIL, late, FAIL)
    assert [(s.outcome, s.milestones) for s in steps] == [
        (Outcome.STALE, ()),
        (Outcome.APPLIED, (Milestone.TRANSFER_FAILED,)),
        (Outcome.STALE, ()),
        (Outcome.DUPLICATE, ()),
    ]
    assert steps[1].reason == (
        "failed the attempt: 500/7700; call state transferring → established; resultInfo 500/7700"
    )
    assert steps[-1].call == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.FAILED, FAILURE_7700, None, None, RETRY, 2),
        FAILURE_7700,
        None,
        (SEED_FAILURE,),
    )
    assert tf.consultation_fate(steps[-1].call, LEG) is tf.LegFate.KEPT
    third = tf.reduce(steps[-1].call, FIRST)
    assert third.earlier_failures == (SEED_FAILURE, FAILURE_7700)
    assert tf.step(third, late).outcome is tf.step(third, FAIL).outcome is Outcome.STALE


def test_a_retry_that_really_fails_with_the_first_failures_result_waits_for_the_bot() -> None:
    """Where the protocol cannot tell: the retry's own failure carries exactly the
    resultInfo the first attempt failed with. It is read as a late copy, so the retry
    stays in flight; the bot's timeout ends it (TransferAbandoned), and a GET shows
    where the call stands."""
    retry = replay(failed_first(), RETRY, *events_of(SEED["consultative-transferring"]))
    same = events_of(SEED["consultative-established-failed"], SEED["consultative-audio-active"])
    stuck = replay(retry, *same)
    assert stuck.transfer == Transfer(S.TRANSFERRING, None, None, Audio.ACTIVE, RETRY, 2)
    assert tf.transfer_blockers(stuck) == (tf.Blocker.TRANSFER_IN_PROGRESS,)
    assert tf.transfer_overdue(stuck, now=231.0, timeout=30.0) == 2
    abandoned = tf.step(stuck, TransferAbandoned(attempt=2))
    assert abandoned.milestones == (Milestone.TRANSFER_ABANDONED,)
    assert abandoned.milestone_keys == (f"{CALL_ID}:2:transferAbandoned",)
    assert abandoned.reason == "abandoned the attempt (the bot's timeout: not Graph's word)"
    answer = {"id": CALL_ID, "state": "established", "mediaState": {"audio": "active"}}
    recovered = tf.reduce(abandoned.call, tf.parse_call_resource(answer))
    assert recovered == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.ABANDONED, None, None, Audio.ACTIVE, RETRY, 2),
        None,
        None,
        (SEED_FAILURE,),
    )
    assert tf.can_transfer(recovered)


def test_a_late_copy_of_a_failed_legacy_operation_is_stale_in_the_retry() -> None:
    failed = tf.OperationNotification(
        CALL_ID, "op-1", status="failed", result=ResultInfo(500, 7000), progress="transferring"
    )
    first = replay(UP, FIRST, failed)
    assert first.transfer is not None
    assert first.transfer.status is S.FAILED
    retry = tf.reduce(first, RETRY)
    assert tf.step(retry, failed) == tf.Step(
        retry, Outcome.STALE, (), "a late copy of an earlier attempt's failure (500/7000)"
    )


# 2. Findings 1 and 2 of the review, as the issue wrote them.


def test_a_refused_retry_is_failed_whatever_arrived_before_the_refusal() -> None:
    c = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
    for e in (
        TransferRequested(),
        FAIL,
        TransferRequested(),
        n(state="transferring"),
        TransferRejected(ResultInfo(403, 8523)),
    ):
        c = tf.reduce(c, e)
    assert c == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.FAILED, ResultInfo(403, 8523), None, None, TransferRequested(), 2),
        None,  # the call's resultInfo is Graph's; the POST's answer is the attempt's result
        None,
        (FAILURE_7700,),
    )
    assert tf.transfer_blockers(c) == ()


def test_a_request_after_an_observed_attempt_ended_opens_one_the_bot_can_close() -> None:
    """docs/model.md: a request attaches to an observed attempt while it is in flight;
    once it has ended, a request opens the next attempt (the contract is to reduce it
    before the POST), and the bot's timeout can always close it."""
    request = tf.consultative_transfer(tf.User("u"), "leg-1").event
    c = Call(CALL_ID, CallState.ESTABLISHED)
    for e in (n(state="transferring"), FAIL, request):
        c = tf.reduce(c, e)
    assert c == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        None,
        Transfer(S.REQUESTED, request=request, attempt=2),
        None,
        None,
        (FAILURE_7700,),
    )
    assert tf.step(c, FAIL).outcome is Outcome.STALE  # the observed attempt's failure again
    closed = tf.step(c, TransferAbandoned(attempt=2))
    assert closed.call.transfer == Transfer(S.ABANDONED, request=request, attempt=2)
    assert closed.milestones == (Milestone.TRANSFER_ABANDONED,)
    attached = replay(Call(CALL_ID, CallState.ESTABLISHED), n(state="transferring"), request)
    assert attached.transfer == Transfer(S.TRANSFERRING, request=request)
    assert tf.step(attached, request).reason == "a transfer attempt is already open"


# 3. TransferAbandoned and the bot's own timeout.


@pytest.mark.parametrize(
    "heard",
    [(), (n(state="transferring"),), (n(state="transferring"), n(state="transferAccepted"))],
    ids=["requested", "transferring", "accepted"],
)
def test_abandoning_an_attempt_in_flight_is_the_bots_word_once_and_leaves_the_call_state(
    heard: tuple[tf.Event, ...],
) -> None:
    call = replay(UP, RETRY, *heard)
    steps = step_through(call, TransferAbandoned(), TransferAbandoned(), TransferAbandoned(1))
    assert steps[0].call == call._replace(
        transfer=call.transfer._replace(status=S.ABANDONED)  # type: ignore[union-attr]
    )
    assert steps[0].milestones == (Milestone.TRANSFER_ABANDONED,)
    assert steps[1] == tf.Step(steps[0].call, Outcome.IGNORED, (), "no attempt is in flight")
    assert steps[2] == tf.Step(
        steps[0].call, Outcome.STALE, (), "attempt 1 is not in flight: attempt 1 is abandoned"
    )


def test_abandoning_with_no_attempt_in_flight_changes_nothing() -> None:
    completed = replay(UP, RETRY, *events_of(SEED["direct-terminated"]))
    for call in (UP, Call(CALL_ID), failed_first()):
        assert tf.step(call, TransferAbandoned()) == tf.Step(
            call, Outcome.IGNORED, (), "no attempt is in flight"
        )
    assert tf.step(completed, TransferAbandoned()) == tf.Step(
        completed, Outcome.STALE, (), "the call has already terminated"
    )


def test_a_timer_named_for_another_attempt_changes_nothing() -> None:
    """A stale timer (the first attempt's, during the retry) or one for an attempt never
    opened leaves the call as it is; the retry's own timer abandons the retry."""
    assert tf.step(UP, TransferAbandoned(1)) == tf.Step(
        UP, Outcome.STALE, (), "attempt 1 is not in flight: no attempt was opened"
    )
    retry = tf.reduce(failed_first(), RETRY)
    assert retry.transfer == Transfer(S.REQUESTED, request=RETRY, attempt=2)
    for named in (1, 3):
        assert tf.step(retry, TransferAbandoned(named)) == tf.Step(
            retry, Outcome.STALE, (), f"attempt {named} is not in flight: attempt 2 is requested"
        )
    assert tf.reduce(retry, TransferAbandoned(2)) == retry._replace(
        transfer=Transfer(S.ABANDONED, request=RETRY, attempt=2)
    )


def test_an_abandoned_attempts_own_failure_arriving_later_is_graphs_word_and_ends_it() -> None:
    abandoned = replay(UP, RETRY, n(state="transferring"), TransferAbandoned())
    assert tf.transfer_blockers(abandoned) == (tf.Blocker.TRANSFER_IN_PROGRESS,)
    late = tf.step(abandoned, FAIL)
    assert late.call == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(S.FAILED, FAILURE_7700, request=RETRY),
        FAILURE_7700,
    )
    assert late.milestones == (Milestone.TRANSFER_FAILED,)
    assert late.milestone_keys == (f"{CALL_ID}:1:transferFailed",)
    assert tf.can_transfer(late.call)


def test_an_attempt_is_overdue_only_in_flight_with_the_callers_time_past_the_timeout() -> None:
    requested = tf.reduce(UP, RETRY)  # at=200.0
    assert not tf.transfer_overdue(requested, now=230.0, timeout=30.0)
    assert tf.transfer_overdue(requested, now=230.5, timeout=30.0)
    accepted = replay(requested, n(state="transferring"), n(state="transferAccepted"))
    assert tf.transfer_overdue(accepted, now=1000, timeout=30)
    for done in (
        tf.reduce(accepted, FAIL),
        tf.reduce(accepted, TransferAbandoned()),
        replay(accepted, *events_of(SEED["direct-terminated"])),
    ):
        assert not tf.transfer_overdue(done, now=1000, timeout=30)
    untimed = tf.reduce(UP, TransferRequested())
    observed = tf.reduce(UP, n(state="transferring"))
    assert not tf.transfer_overdue(untimed, now=1e12, timeout=0)
    assert not tf.transfer_overdue(observed, now=1e12, timeout=0)
    assert not tf.transfer_overdue(UP, now=1e12, timeout=0)
    for now, timeout in ((float("nan"), 1.0), (1.0, float("inf")), (True, 1.0)):
        with pytest.raises(ValueError, match="a finite number"):
            tf.transfer_overdue(requested, now=now, timeout=timeout)
    with pytest.raises(ValueError, match="the request's at"):
        tf.transfer_overdue(tf.reduce(UP, TransferRequested(at=float("nan"))), now=1, timeout=1)
    huge = 10**300  # a large int a JSON double carries is compared exactly
    late = tf.reduce(UP, tf.blind_transfer(tf.User("u"), at=huge).event)
    assert tf.transfer_overdue(late, now=huge + 31, timeout=30)
    assert not tf.transfer_overdue(late, now=huge + 30, timeout=30)
    for now, timeout in ((10**400, 1), (1, -(10**400))):  # no double carries these
        with pytest.raises(ValueError, match="a finite number of seconds, got a number out of"):
            tf.transfer_overdue(requested, now=now, timeout=timeout)
    beyond = tf.reduce(UP, TransferRequested(at=10**5000))  # bypassing the builder
    with pytest.raises(ValueError, match="the request's at: a finite number of seconds, got a"):
        tf.transfer_overdue(beyond, now=1, timeout=1)


# 4. Recovery by asking Graph.


def test_a_get_of_the_call_reads_as_a_notification_of_its_fields() -> None:
    resource = {
        "@odata.type": "#microsoft.graph.call",
        "id": CALL_ID,
        "state": "established",
        "direction": "outgoing",
        "mediaState": {"audio": "active"},
        "resultInfo": {"code": 500, "subcode": 7000, "message": "m"},
        "terminationReason": None,
        "callChainId": "chain",
    }
    for body in (resource, json.dumps(resource), json.dumps(resource).encode()):
        event = tf.parse_call_resource(body)
        assert event == tf.CallNotification(
            CALL_ID,
            tf.ChangeType.UPDATED,
            CallState.ESTABLISHED,
            Audio.ACTIVE,
            ResultInfo(500, 7000, "m"),
            None,
            None,
            resource,
        )
        assert event.data["callChainId"] == "chain"  # kept, not dropped


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ("[]", "$", "a call resource"),
        ({"state": "established"}, "$.id", "the call id"),
        ({"id": ""}, "$.id", "the call id"),
        ({"id": 7}, "$.id", "the call id"),
        ({"id": CALL_ID, "state": 3}, "$.state", "a callState string"),
        ({"id": CALL_ID, "mediaState": []}, "$.mediaState", "a callMediaState object"),
        ({"id": CALL_ID, "mediaState": {"audio": 1}}, "$.mediaState.audio", "a mediaState"),
        ({"id": CALL_ID, "resultInfo": {"code": "x"}}, "$.resultInfo.code", "an Int32"),
        ({"id": CALL_ID, "terminationReason": 5}, "$.terminationReason", "a string"),
        (b"\xff", "$", "UTF-8 text"),
        ("{", "$", "valid JSON"),
    ],
)
def test_a_get_answer_that_is_not_a_call_is_refused_naming_the_path(
    body: Any, path: str, expected: str
) -> None:
    with pytest.raises(tf.NotificationError) as caught:
        tf.parse_call_resource(body)
    assert caught.value.path == path
    assert caught.value.expected.startswith(expected)


def test_a_get_cannot_move_an_axis_back_and_a_stale_result_in_it_is_a_late_copy() -> None:
    accepted = replay(UP, RETRY, n(state="transferring"), n(state="transferAccepted"))
    before = {"id": CALL_ID, "state": "established"}
    assert tf.step(accepted, tf.parse_call_resource(before)) == tf.Step(
        accepted, Outcome.STALE, (), "the view has already moved past it"
    )
    retry = tf.reduce(failed_first(), RETRY)
    persisting = {**before, "resultInfo": {"code": 500, "subcode": 7000, "message": "<message>"}}
    assert tf.step(retry, tf.parse_call_resource(persisting)).outcome is Outcome.STALE


def test_a_get_answered_404_means_the_call_is_gone() -> None:
    abandoned = replay(UP, RETRY, n(state="transferring"), TransferAbandoned())
    gone = tf.step(abandoned, tf.call_gone(CALL_ID))
    assert gone.call == Call(  # a 404 proves no outcome: the attempt stays abandoned
        CALL_ID,
        CallState.TERMINATED,
        Audio.INACTIVE,
        Transfer(S.ABANDONED, None, None, Audio.INACTIVE, RETRY),
    )
    assert gone.milestones == (Milestone.CALL_TERMINATED,)
    assert tf.transfer_blockers(gone.call) == (tf.Blocker.TERMINATED,)
    in_flight = tf.step(tf.reduce(UP, RETRY), tf.call_gone(CALL_ID))
    assert in_flight.milestones == (Milestone.TRANSFER_FAILED, Milestone.CALL_TERMINATED)
    with pytest.raises(ValueError, match="call_id"):
        tf.call_gone("")


# 5. What each applied event did, and Call.result across attempts.


def test_each_applied_step_says_what_it_did() -> None:
    steps = step_through(
        UP,
        n(state="transferring"),
        RETRY,
        n(state="transferring", mediaState={"audio": "inactive"}),
        n(state="transferAccepted"),
        FAIL,
    )
    assert [s.reason for s in steps] == [
        "opened an attempt by observation: in progress; call state established → transferring",
        "attached the request to the attempt opened by observation",
        "audio active → inactive",
        "the target accepted the transfer; call state transferring → transferAccepted",
        "failed the attempt: 500/7700; call state transferAccepted → established; "
        "resultInfo 500/7700",
    ]
    context = n(state="established", resultInfo={"code": 500, "subcode": 7000}, replacesContext="c")
    assert tf.step(tf.reduce(UP, RETRY), context).reason == (
        "failed the attempt: 500/7000; replacesContext 'c'; resultInfo 500/7000"
    )


def test_opening_a_retry_says_so_and_compares_nothing_with_the_old_attempt() -> None:
    failed = failed_first()
    assert tf.step(failed, RETRY) == tf.Step(
        tf.reduce(failed, RETRY), Outcome.APPLIED, (), "opened an attempt (the bot's request)"
    )


def test_call_result_is_the_current_attempts() -> None:
    failed = failed_first()
    assert failed.result == SEED_FAILURE
    assert tf.reduce(failed, RETRY).result is None
    success = replay(tf.reduce(failed, RETRY), *events_of(SEED["direct-terminated"]))
    assert (success.result, success.termination_reason) == (None, "AppTransferred")


# 6. Smaller findings.


def test_a_failed_transfer_operation_without_a_result_keeps_the_calls_result() -> None:
    hung = ResultInfo(500, 9999, "earlier")
    call = UP._replace(result=hung)
    failed = tf.OperationNotification(CALL_ID, "op", status="failed", progress="transferring")
    assert tf.reduce(tf.reduce(call, FIRST), failed).result is None  # opening cleared it
    observed = tf.reduce(call, failed)  # observation opens it: no boundary, nothing cleared
    assert observed == call._replace(transfer=Transfer(S.FAILED))
    held = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE, Transfer(S.TRANSFERRING), hung)
    assert tf.reduce(held, failed).result == hung


def test_an_event_keeps_the_notification_it_came_in() -> None:
    notification = {
        "@odata.type": "#microsoft.graph.commsNotification",
        "@odata.etag": 'W/"54451"',
        "changeType": "updated",
        "resource": f"/app/calls/{CALL_ID}",
        "resourceUrl": f"/communications/calls/{CALL_ID}",
        "resourceData": {"state": "transferring"},
        "futureField": [1, 2],
    }
    (event,) = tf.parse_notifications({"value": [notification]})
    assert event.notification is notification or event.notification == notification
    assert event.notification["@odata.etag"] == 'W/"54451"'
    assert event == tf.CallNotification(
        CALL_ID, state=CallState.TRANSFERRING, data={"state": "transferring"}
    )  # the envelope is kept, not compared
    operation = dict(notification, resourceUrl=f"/communications/calls/{CALL_ID}/operations/o")
    (op,) = tf.parse_notifications(operation)
    assert op.notification["futureField"] == [1, 2]


def test_a_failed_legacy_operation_converges_unless_its_media_says_established() -> None:
    """Media-only notifications after a failure rank on the attempt's chain: every
    order ends restored. Media notifications that say ``established`` are media
    outside a transfer once the operation has failed (last writer wins): pinned."""
    start = tf.reduce(Call(LEGACY_CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE), LEGACY_REQUEST)

    def media(audio: str, state: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaState": {"audio": audio}}
        if state is not None:
            data["state"] = state
        url = f"/app/calls/{LEGACY_CALL_ID}"
        return {"value": [{"changeType": "updated", "resource": url, "resourceData": data}]}

    def finals(state: str | None) -> Counter[Audio | None]:
        bodies = (
            DOCS["legacy-operation-transferring"],
            media("inactive", state),
            legacy_failed_operation(),
            media("active", state),
        )
        return Counter(replay(start, *order).audio for order in permutations(events_of(*bodies)))

    assert finals(None) == Counter({Audio.ACTIVE: 24})
    assert finals("established") == Counter({Audio.ACTIVE: 16, Audio.INACTIVE: 8})


def test_a_failure_learnt_after_abandoning_is_remembered_for_the_retry() -> None:
    """Abandon, then a GET still shows the failure: its late notification is a copy."""
    abandoned = replay(UP, FIRST, n(state="transferring"), TransferAbandoned())
    answer = {"id": CALL_ID, "state": "established", "resultInfo": {"code": 500, "subCode": 7700}}
    known = tf.reduce(abandoned, tf.parse_call_resource(answer))
    assert known.result == FAILURE_7700
    retry = tf.reduce(known, RETRY)
    assert retry.earlier_failures == (FAILURE_7700,)
    assert tf.step(retry, FAIL).outcome is Outcome.STALE
    assert tf.step(retry, tf.parse_call_resource(answer)).outcome is Outcome.STALE


def test_every_failure_an_attempt_ended_with_is_remembered() -> None:
    """A failed operation without a code word, then the call's own failure: both."""
    operation = tf.OperationNotification(
        CALL_ID, "op", status="failed", result=ResultInfo(500, 0), progress="transferring"
    )
    failed = replay(UP, FIRST, operation, FAIL)
    retry = tf.reduce(failed, RETRY)
    assert retry.earlier_failures == (ResultInfo(500, 0), FAILURE_7700)
    assert {tf.step(retry, e).outcome for e in (operation, FAIL)} == {Outcome.STALE}


def test_a_remembered_result_wins_over_an_echoed_client_context() -> None:
    """Issue repro (b): a retry rebuilt from the view reuses the first request's
    clientContext, so a late copy of the first failed operation echoes the retry's
    context; its remembered resultInfo makes it a late copy all the same."""

    def failed(context: str, result: ResultInfo) -> tf.OperationNotification:
        return tf.OperationNotification(
            CALL_ID, context, tf.ChangeType.UPDATED, "failed", result, "transferring", context
        )

    first_failure = failed("first", ResultInfo(500, 7000))
    reused = replay(UP, FIRST, first_failure, FIRST)
    assert reused.transfer == Transfer(S.REQUESTED, request=FIRST, attempt=2)
    assert tf.step(reused, first_failure) == tf.Step(
        reused, Outcome.STALE, (), "a late copy of an earlier attempt's failure (500/7000)"
    )
    retry = replay(UP, FIRST, first_failure, RETRY)
    assert tf.step(retry, first_failure).outcome is Outcome.STALE
    assert tf.step(retry, failed("retry", ResultInfo(500, 7000))).outcome is Outcome.STALE
    done = tf.step(retry, failed("retry", ResultInfo(503, 7001)))
    assert done.milestones == (Milestone.TRANSFER_FAILED,)
    assert done.call.transfer == Transfer(S.FAILED, ResultInfo(503, 7001), request=RETRY, attempt=2)


@pytest.mark.parametrize(
    "result", [{"code": 0, "subCode": "transferring"}, {"code": 202}, {"subCode": "transferring"}]
)
def test_a_failed_operation_with_a_success_code_or_none_is_remembered_too(
    result: dict[str, Any],
) -> None:
    """Issue repro (a): a failed transfer operation whose resultInfo code is 0, 2xx or
    missing (read as 0) fails the attempt, and its redelivery is a late copy."""
    (operation,) = tf.parse_notifications(
        {
            "changeType": "updated",
            "resourceUrl": f"/communications/calls/{CALL_ID}/operations/op-1",
            "resourceData": {"status": "failed", "resultInfo": result, "clientContext": "first"},
        }
    )
    assert isinstance(operation, tf.OperationNotification)
    failed = replay(UP, FIRST, operation)
    assert failed.transfer == Transfer(S.FAILED, operation.result, request=FIRST)
    retry = tf.reduce(failed, FIRST)  # rebuilt from the view: the same clientContext
    assert retry.earlier_failures == (operation.result,)
    late = tf.step(retry, operation)
    assert late.outcome is Outcome.STALE
    assert late.call == retry


def test_a_retry_after_a_give_up_remembers_no_failure_the_attempt_never_heard() -> None:
    """The bot gave up and a GET shows the call established without a failure: the
    abandoned attempt ended with no resultInfo, so the retry remembers nothing."""
    get = tf.parse_call_resource({"id": CALL_ID, "state": "established"})
    abandoned = replay(UP, FIRST, n(state="transferring"), TransferAbandoned(), get)
    assert abandoned == UP._replace(transfer=Transfer(S.ABANDONED, request=FIRST))
    assert tf.reduce(abandoned, RETRY) == UP._replace(
        transfer=Transfer(S.REQUESTED, request=RETRY, attempt=2)
    )


def test_a_refusal_repeated_by_two_attempts_is_remembered_once() -> None:
    refused = TransferRejected(ResultInfo(403, 8501, "Forbidden"))
    third = replay(UP, FIRST, refused, RETRY, refused, FIRST)
    assert third == UP._replace(
        transfer=Transfer(S.REQUESTED, request=FIRST, attempt=3),
        earlier_failures=(ResultInfo(403, 8501, "Forbidden"),),
    )


def test_a_success_result_the_call_reported_after_a_failure_is_not_remembered_as_one() -> None:
    """After the failed attempt an ``established`` reports 200/5001 (its subcode is no
    success code, its code is): only the attempt's failure is an earlier failure."""
    ok = n(state="established", resultInfo={"code": 200, "subCode": 5001, "message": "ok"})
    after = replay(failed_first(), ok)
    assert after.result == ResultInfo(200, 5001, "ok")
    assert tf.reduce(after, RETRY) == UP._replace(
        transfer=Transfer(S.REQUESTED, request=RETRY, attempt=2),
        earlier_failures=(SEED_FAILURE,),
    )


def test_observation_does_not_clear_the_result_so_its_order_does_not_matter() -> None:
    terminating = n(state="terminating", resultInfo={"code": 408, "subcode": 0})
    transferring = n(state="transferring")
    assert replay(UP, terminating, transferring) == replay(UP, transferring, terminating)
    assert replay(UP, terminating, transferring).result == ResultInfo(408, 0)


def test_an_abandoned_attempt_that_completes_after_all_keeps_its_request() -> None:
    abandoned = replay(UP, FIRST, n(state="transferring"), TransferAbandoned())
    done = tf.step(abandoned, *events_of(SEED["consultative-terminated"]))
    assert done.call == Call(
        CALL_ID,
        CallState.TERMINATED,
        Audio.INACTIVE,
        Transfer(S.COMPLETED, None, None, Audio.INACTIVE, FIRST, 1),
        None,
        "AppTransferred",
    )
    assert done.milestones == (Milestone.TRANSFER_COMPLETED, Milestone.CALL_TERMINATED)
    assert tf.consultation_fate(done.call, LEG) is tf.LegFate.REPLACED
    failed = replay(UP, FIRST, FAIL, *events_of(SEED["consultative-terminated"]))
    assert failed.transfer == Transfer(S.COMPLETED, None, None, Audio.INACTIVE, None, 2)  # another


def test_a_media_only_inactive_after_a_failed_attempt_is_stale() -> None:
    failed = failed_first()
    media_only = n(mediaState={"audio": "inactive"})
    assert tf.step(failed, media_only) == tf.Step(
        failed, Outcome.STALE, (), "the view has already moved past it"
    )
    with_state = n(state="established", mediaState={"audio": "inactive"})
    assert tf.reduce(failed, with_state).audio is Audio.INACTIVE  # last writer wins (5)


def test_a_failed_operation_of_an_earlier_request_is_stale_whatever_its_result() -> None:
    """Its clientContext names another request: a late copy, even with a new result."""
    first_op = tf.OperationNotification(
        CALL_ID,
        "op-1",
        tf.ChangeType.UPDATED,
        "failed",
        ResultInfo(500, 1),
        "transferring",
        "first",
    )
    retry = replay(UP, FIRST, FAIL, RETRY)
    assert ResultInfo(500, 1) not in retry.earlier_failures
    assert tf.step(retry, first_op) == tf.Step(
        retry, Outcome.STALE, (), "a late copy of an earlier attempt's failure (500/1)"
    )


def test_after_a_failure_a_notification_of_an_unknown_state_ranks_its_audio_on_the_chain() -> None:
    failed = failed_first()
    assert failed.audio is Audio.ACTIVE
    future = n(state="parked", mediaState={"audio": "inactive"})
    assert tf.step(failed, future).outcome is Outcome.STALE
    assert tf.reduce(UP, future).audio is Audio.INACTIVE  # outside an attempt: latest wins
