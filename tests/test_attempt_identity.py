"""Attempts with names: numbers, milestone keys, and Graph's word over the bot's guess.

Every documented flow with the bot's give-up (``TransferAbandoned(attempt=1)``)
and its ``GET`` of the call anywhere among Graph's notifications; a failed
first attempt (ended by Graph, by a refusal, or by the bot's give-up and a
``GET``) followed by every documented flow as the retry, with the proof of
the first attempt's real outcome anywhere; three attempts with late copies of
the first two; two timers racing. What must hold in every order: one view
(attempt number included), one set of terminal milestone keys, and each key
fired at most once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations, permutations
from math import factorial

import pytest
from flows import FLOWS, VARIANT_FLOWS, Flow, replay
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, Milestone, Outcome, ResultInfo
from transfer_fsm import TransferStatus as S
from transfer_fsm.report import milestone_keys, milestones

ALL_FLOWS = [*FLOWS, *VARIANT_FLOWS]
FAILED_FLOWS = [f for f in ALL_FLOWS if f.final.transfer and f.final.transfer.status is S.FAILED]
# One failed flow of each documented family (the seed's direct and consultative, v1.0
# blind, consultative and PSTN, the legacy operation) as the first attempt.
FIRSTS = FAILED_FLOWS[::4]
TERMINAL = (Milestone.TRANSFER_COMPLETED.value, Milestone.TRANSFER_FAILED.value)


def walk(call: Call, events: Sequence[tf.Event]) -> tuple[Call, list[str]]:
    """The call after ``events`` and the keys of every milestone they fired, in order."""
    keys: list[str] = []
    for event in events:
        new = tf.reduce(call, event)
        if new is not call:
            keys += milestone_keys(new, milestones(call, new))
        call = new
    return call, keys


def attempt(flow_or_call: Flow | Call) -> tf.Transfer:
    """The attempt of a call, or of a flow's final view (every flow has one)."""
    call = flow_or_call if isinstance(flow_or_call, Call) else flow_or_call.final
    assert call.transfer is not None
    return call.transfer


def ended_with(flow: Flow) -> ResultInfo:
    """The resultInfo a failed flow ends its attempt with."""
    result = attempt(flow).result
    assert result is not None
    return result


def terminal(keys: list[str]) -> list[str]:
    return sorted(key for key in keys if key.rsplit(":", 1)[1] in TERMINAL)


def interleavings(graphs: Sequence[tf.Event], bots: Sequence[tf.Event]) -> Iterator[list[tf.Event]]:
    """Every order of Graph's notifications with the bot's events, the bot's in their order."""
    size = len(graphs) + len(bots)
    for order in permutations(graphs):
        for places in combinations(range(size), len(bots)):
            rest, own = iter(order), iter(bots)
            yield [next(own) if at in places else next(rest) for at in range(size)]


def get_answer(view: Call) -> tf.Event:
    """Graph's answer to a GET of the call as ``view`` shows it: 404 once it has ended."""
    if view.state is CallState.TERMINATED:
        return tf.call_gone(view.call_id)
    body: dict[str, object] = {"id": view.call_id, "state": str(view.state)}
    if view.result is not None:
        result = view.result
        body["resultInfo"] = {"code": result.code, "subcode": result.subcode}
        body["resultInfo"]["message"] = result.message  # type: ignore[index]
    if view.audio is not None:
        body["mediaState"] = {"audio": str(view.audio)}
    return tf.parse_call_resource(body)


# 1. One attempt: the bot gives up, asks Graph, and Graph's word decides -------------


def test_the_bots_give_up_and_its_get_in_every_order_end_in_the_flows_own_view() -> None:
    """Graph's word over the bot's guess: wherever the timeout fires among the flow's
    notifications, the attempt ends as Graph says, once; the give-up fires only its own
    milestone, never ``transferFailed``."""
    orders = 0
    for flow in ALL_FLOWS:
        bots = [tf.TransferAbandoned(attempt=1), get_answer(flow.final)]
        expected = [f"{flow.final.call_id}:1:{WORDS[attempt(flow).status]}"]
        for order in interleavings(flow.events(), bots):
            final, keys = walk(flow.requested, order)
            orders += 1
            assert final == flow.final, (flow.name, order)
            assert terminal(keys) == expected, (flow.name, order)
            assert len(set(keys)) == len(keys), (flow.name, keys)
    assert orders == 53_700


def test_a_proof_of_the_transfer_outranks_a_404_in_either_order() -> None:
    """``call_gone`` proves nothing about the abandoned attempt; the ``AppTransferred``
    termination that arrives after it still completes it, and the view is the same as
    when it arrived first."""
    flow = next(f for f in FLOWS if attempt(f).status is S.COMPLETED)
    *progress, proof = flow.events()
    abandoned = replay(flow.requested, *progress, tf.TransferAbandoned(attempt=1))
    assert abandoned.transfer.status is S.ABANDONED  # type: ignore[union-attr]
    gone = tf.step(abandoned, tf.call_gone(flow.final.call_id))
    assert gone.call.transfer.status is S.ABANDONED  # type: ignore[union-attr]
    assert gone.milestones == (Milestone.CALL_TERMINATED,)
    done = tf.step(gone.call, proof)
    assert done.call == flow.final
    assert (done.outcome, done.milestones) == (Outcome.APPLIED, (Milestone.TRANSFER_COMPLETED,))
    assert done.milestone_keys == (f"{flow.final.call_id}:1:transferCompleted",)
    assert replay(abandoned, proof, tf.call_gone(flow.final.call_id)) == flow.final
    assert tf.step(done.call, proof).outcome is Outcome.DUPLICATE


# 2. Two attempts: the first ended by Graph, a refusal, or the give-up and a GET ----


@pytest.mark.parametrize("first", FIRSTS, ids=lambda flow: flow.name)
def test_a_retry_after_an_abandoned_attempt_whatever_order_graph_speaks_in(first: Flow) -> None:
    """The first attempt heard its progress, then the bot gave up and a GET showed its
    failure; its failure notification (the proof) arrives anywhere, before the give-up
    or during the retry. Every documented flow as the retry, in every order."""
    failure = ended_with(first)
    events = first.events()
    proofs = [e for e in events if getattr(e, "result", None) == failure]
    heard = [e for e in events if e not in proofs]
    start = Call(first.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    answer = get_answer(first.final)
    orders = 0
    for retry in retries_of(first):
        expected = retry_view(first, retry, (failure,))
        terminals: set[tuple[str, ...]] = set()
        for order in permutations(retry.events()):
            history = [
                request_of(first),
                *heard,
                tf.TransferAbandoned(attempt=1),
                answer,
                request_of(retry),
                *order,
            ]
            for proof in proofs:
                for at in range(1, len(history) + 1):
                    delivered = [*history[:at], proof, *history[at:]]
                    final, keys = walk(start, delivered)
                    orders += 1
                    assert final == expected, (retry.name, delivered)
                    assert all(keys.count(key) == 1 for key in terminal(keys)), keys
                    terminals.add(tuple(terminal(keys)))
        assert terminals == {keys_of(retry, (failure,), (1, S.FAILED))}
    assert orders == abandoned_orders(first)


def abandoned_orders(first: Flow) -> int:
    """How many orders the test above runs for ``first``: each retry's in every order,
    with the proof at every place after the first request."""
    events = len(first.events())
    return sum(
        factorial(len(retry.events())) * (events - 1 + 4 + len(retry.events()))
        for retry in retries_of(first)
    )


def test_the_abandoned_attempt_orders_are_counted() -> None:
    assert sum(abandoned_orders(first) for first in FIRSTS) == 167_844


@pytest.mark.parametrize("first", FIRSTS, ids=lambda flow: flow.name)
def test_a_retry_after_a_refused_attempt_in_every_order(first: Flow) -> None:
    refusal = ResultInfo(403, 8523, "Cannot do transfer for meeting mode")
    start = Call(first.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    refused = replay(start, request_of(first), tf.TransferRejected(refusal))
    assert refused.transfer == tf.Transfer(S.FAILED, refusal, request=request_of(first))
    for retry in retries_of(first):
        expected = retry_view(first, retry, (refusal,))
        for order in permutations(retry.events()):
            final, keys = walk(tf.reduce(refused, request_of(retry)), order)
            assert final == expected, (retry.name, order)
            assert terminal(keys) == list(keys_of(retry, (refusal,)))


def request_of(flow: Flow) -> tf.TransferRequested:
    assert flow.request is not None
    return flow.request.event


def retries_of(first: Flow) -> list[Flow]:
    """Every documented flow about the same call as ``first``, as its retry."""
    return [retry for retry in ALL_FLOWS if retry.final.call_id == first.final.call_id]


def retry_view(first: Flow, retry: Flow, failures: tuple[ResultInfo, ...], number: int = 2) -> Call:
    """The retry's documented view: its flow's final, numbered, after ``failures``.

    Where the retry fails with exactly a remembered failure, the protocol cannot tell
    it from a late copy (``docs/model.md``, ambiguity 11): it stays in flight, with
    everything else its flow says.
    """
    final = retry.final
    assert final.transfer is not None
    if final.transfer.status is S.FAILED and final.transfer.result in failures:
        waiting = [e for e in retry.events() if getattr(e, "result", None) != final.transfer.result]
        start = first.final._replace(
            transfer=attempt(first)._replace(attempt=number - 1), earlier_failures=failures[:-1]
        )
        return replay(start, request_of(retry), *waiting)._replace(earlier_failures=failures)
    return final._replace(
        transfer=final.transfer._replace(attempt=number), earlier_failures=failures
    )


WORDS = {S.COMPLETED: "transferCompleted", S.FAILED: "transferFailed"}


def keys_of(
    retry: Flow, failures: tuple[ResultInfo, ...], *ended: tuple[int, S], number: int = 2
) -> tuple[str, ...]:
    """The terminal keys: the earlier attempts' (``ended``), then the retry's (attempt
    ``number``), unless the retry cannot be told from a late copy of ``failures``."""
    call_id = retry.final.call_id
    keys = [f"{call_id}:{attempt}:{WORDS[status]}" for attempt, status in ended]
    end = retry.final.transfer
    assert end is not None
    if not (end.status is S.FAILED and end.result in failures):
        keys.append(f"{call_id}:{number}:{WORDS[end.status]}")
    return tuple(sorted(keys))


# 3. Three attempts, with the first two attempts' mail arriving late ----------------

SEED_FIRSTS = [flow for flow in FAILED_FLOWS if flow in FLOWS]
SECOND = tf.TransferRequested("e5d39592", "second")


def second_attempt(call_id: str, ending: str) -> tuple[list[tf.Event], list[tf.Event], ResultInfo]:
    """The second attempt's history (after its request) as the bot reduces it, Graph's
    notifications of it, and the resultInfo it ends with."""

    def note(**data: object) -> tf.Notification:
        body = {"changeType": "updated", "resourceUrl": f"/communications/calls/{call_id}"}
        (event,) = tf.parse_notifications({**body, "resourceData": data})
        return event

    transferring: tf.Event = note(state="transferring", mediaState={"audio": "inactive"})
    if ending == "refused":
        refusal = ResultInfo(403, 8523, "Cannot do transfer for meeting mode")
        return [tf.TransferRejected(refusal)], [], refusal
    if ending == "failed":
        failure = note(state="established", resultInfo={"code": 500, "subcode": 1234})
        return [transferring, failure], [transferring, failure], ResultInfo(500, 1234)
    answer = {"id": call_id, "state": "established", "resultInfo": {"code": 500, "subcode": 4321}}
    history = [transferring, tf.TransferAbandoned(attempt=2), tf.parse_call_resource(answer)]
    return history, [transferring], ResultInfo(500, 4321)


@st.composite
def three_attempts(draw: st.DrawFn) -> tuple[Flow, str, Flow, list[tf.Event]]:
    first = draw(st.sampled_from(SEED_FIRSTS))
    ending = draw(st.sampled_from(["failed", "refused", "abandoned"]))
    second, graphs, ended = second_attempt(first.final.call_id, ending)
    failures = (ended_with(first), ended)
    third = draw(st.sampled_from([f for f in FLOWS if attempt(f).result not in failures]))
    delivery: list[tf.Event] = list(draw(st.permutations(third.events())))
    late = draw(st.lists(st.sampled_from([*first.events(), *graphs]), max_size=4))
    for event in late:
        delivery.insert(draw(st.integers(0, len(delivery))), event)
    history = [
        request_of(first),
        *draw(st.permutations(first.events())),
        SECOND,
        *second,
        request_of(third),
        *delivery,
    ]
    return first, ending, third, history


@given(three_attempts())
def test_three_attempts_are_numbered_and_keyed_whatever_arrives_late(
    case: tuple[Flow, str, Flow, list[tf.Event]],
) -> None:
    first, ending, third, history = case
    call_id = first.final.call_id
    start = Call(call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    final, keys = walk(start, history)
    _, _, ended = second_attempt(call_id, ending)
    failures = (ended_with(first), ended)
    assert final == retry_view(first, third, failures, number=3)
    assert terminal(keys) == list(keys_of(third, failures, (1, S.FAILED), (2, S.FAILED), number=3))
    assert all(keys.count(key) == 1 for key in terminal(keys))
    assert (f"{call_id}:2:transferAbandoned" in keys) is (ending == "abandoned")


# 4. Racing timers, and Graph's word after the next attempt opened -----------------


def test_a_timer_for_attempt_1_after_attempt_2_opened_changes_nothing() -> None:
    flow = SEED_FIRSTS[0]
    start = Call(flow.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    stuck = tf.reduce(start, request_of(flow)._replace(at=0.0))
    overdue = tf.transfer_overdue(stuck, now=31, timeout=30)
    assert overdue == 1
    mine = tf.step(stuck, tf.TransferAbandoned(attempt=overdue))  # this instance's timer
    assert mine.milestone_keys == (f"{flow.final.call_id}:1:transferAbandoned",)
    retry = tf.reduce(mine.call, SECOND)
    assert retry.transfer == tf.Transfer(S.REQUESTED, request=SECOND, attempt=2)
    theirs = tf.step(retry, tf.TransferAbandoned(attempt=1))  # the other instance's timer
    assert theirs == tf.Step(
        retry, Outcome.STALE, (), "attempt 1 is not in flight: attempt 2 is requested"
    )
    assert theirs.call is retry
    assert tf.step(start, tf.TransferAbandoned(attempt=1)) == tf.Step(
        start, Outcome.STALE, (), "attempt 1 is not in flight: no attempt was opened"
    )


def test_graphs_word_after_the_next_attempt_opened_counts_for_that_attempt() -> None:
    """The decision for the one order no key can untangle: the bot gave up on attempt 1
    and opened attempt 2 before Graph's word about attempt 1 came (no GET between).
    Nothing in a notification names its attempt, so it counts for attempt 2, the one in
    flight: a completion completes it (the call is transferred either way), a failure
    with a resultInfo never seen fails it. GET the call before retrying an abandoned
    attempt and neither can happen (the tests above)."""
    success = next(f for f in FLOWS if attempt(f).status is S.COMPLETED)
    *_, proof = success.events()
    start = Call(success.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    retry = replay(start, request_of(success), tf.TransferAbandoned(attempt=1), SECOND)
    done = tf.step(retry, proof)
    result = attempt(success).result
    assert done.call.transfer == tf.Transfer(S.COMPLETED, result, None, Audio.INACTIVE, SECOND, 2)
    assert done.milestone_keys == (
        f"{success.final.call_id}:2:transferCompleted",
        f"{success.final.call_id}:callTerminated",
    )
    failure = SEED_FIRSTS[0]
    (unknown,) = [e for e in failure.events() if getattr(e, "result", None) is not None]
    failed = tf.step(retry, unknown)
    assert failed.call.transfer.status is S.FAILED  # type: ignore[union-attr]
    assert failed.milestone_keys[0] == f"{success.final.call_id}:2:transferFailed"


def test_milestone_keys_name_the_call_the_attempt_and_the_milestone() -> None:
    flow = SEED_FIRSTS[0]
    call_id = flow.final.call_id
    media = tf.parse_notifications(
        {
            "changeType": "updated",
            "resourceUrl": f"/communications/calls/{call_id}",
            "resourceData": {"state": "established", "mediaState": {"audio": "inactive"}},
        }
    )[0]
    before = tf.step(Call(call_id), media)  # before any attempt: attempt 0
    assert before.milestone_keys == (f"{call_id}:0:audioInactive",)
    first = tf.step(Call(call_id, CallState.ESTABLISHED, Audio.ACTIVE), flow.events()[0])
    assert first.call.transfer.attempt == 1  # type: ignore[union-attr]  # by observation
    assert first.milestone_keys == tuple(f"{call_id}:1:{m}" for m in first.milestones)
    ended = tf.step(first.call, tf.call_gone(call_id))
    assert ended.milestones == (Milestone.TRANSFER_FAILED, Milestone.CALL_TERMINATED)
    assert ended.milestone_keys == (f"{call_id}:1:transferFailed", f"{call_id}:callTerminated")
    assert tf.step(ended.call, tf.call_gone(call_id)).milestone_keys == ()


# 5. Graph's word after the end, and a refusal after the give-up, in every order ---


def test_a_failure_settling_an_abandoned_attempt_after_a_404_ends_in_one_view() -> None:
    """Every documented failed flow, with the bot's give-up and a 404 anywhere among its
    notifications: the call ends terminated, the attempt failed with the flow's result,
    and the call's result is that failure's in every order (a 404 carries none)."""
    orders = 0
    for flow in FAILED_FLOWS:
        bots: list[tf.Event] = [tf.TransferAbandoned(attempt=1), tf.call_gone(flow.final.call_id)]
        views = set()
        for order in interleavings(flow.events(), bots):
            final, keys = walk(flow.requested, order)
            views.add(final)
            orders += 1
            assert terminal(keys) == [f"{flow.final.call_id}:1:transferFailed"]
            assert keys.count(f"{flow.final.call_id}:callTerminated") == 1
        (view,) = views
        assert view.state is CallState.TERMINATED
        assert view.transfer == attempt(flow)._replace(audio=Audio.INACTIVE)
        assert view.result == flow.final.result
    assert orders == 50_760


def test_a_refusal_after_the_give_up_gives_back_what_only_an_attempt_reports() -> None:
    """The POST's refusal comes after the bot's timeout: the attempt never started, so a
    ``transferring`` taken before the give-up was an earlier attempt's, as it would be
    without the give-up; the call may be transferred again in every order."""
    flow = SEED_FIRSTS[0]
    start = Call(flow.final.call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    late = next(e for e in flow.events() if getattr(e, "state", None) is CallState.TRANSFERRING)
    refusal = ResultInfo(409, 8507)
    bots: list[tf.Event] = [
        request_of(flow),
        tf.TransferAbandoned(attempt=1),
        tf.TransferRejected(refusal),
    ]
    views = {walk(start, [*bots[:at], late, *bots[at:]])[0] for at in range(1, len(bots) + 1)}
    (view,) = views
    assert view.state is CallState.ESTABLISHED
    assert view.transfer == tf.Transfer(S.FAILED, refusal, request=request_of(flow))
    assert tf.can_transfer(view)


def test_two_observed_attempts_delivered_in_reverse_are_read_as_one() -> None:
    """Ambiguity 17: without the bot's request, a completion delivered before an earlier
    attempt's failure is read as the first attempt's; the status and state agree."""
    flow = SEED_FIRSTS[0]
    call_id = flow.final.call_id
    (failure,) = [e for e in flow.events() if getattr(e, "result", None) == ended_with(flow)]
    success = next(f for f in FLOWS if attempt(f).status is S.COMPLETED)
    *_, proof = success.about(call_id).events()
    start = Call(call_id, CallState.ESTABLISHED, Audio.ACTIVE)
    in_order, in_order_keys = walk(start, [failure, proof])
    reversed_, reversed_keys = walk(start, [proof, failure])
    assert (attempt(in_order).attempt, attempt(reversed_).attempt) == (2, 1)
    assert in_order.earlier_failures == (ended_with(flow),)
    assert reversed_.earlier_failures == ()
    assert (attempt(in_order).status, in_order.state) == (S.COMPLETED, CallState.TERMINATED)
    assert (attempt(reversed_).status, reversed_.state) == (S.COMPLETED, CallState.TERMINATED)
    assert terminal(in_order_keys) == [
        f"{call_id}:1:transferFailed",
        f"{call_id}:2:transferCompleted",
    ]
    assert terminal(reversed_keys) == [f"{call_id}:1:transferCompleted"]
