"""A call's whole lifecycle outside a transfer, from Graph's own notification bodies.

The bodies are shaped like the ones the Graph docs show for answering and
hanging up a call (``call-answer``, ``call-delete``) and like captured ones:
an incoming call is ``created``/``incoming``; after the bot answers,
``updated``/``establishing`` and ``updated``/``established`` follow ("Call
establishing/established notifications may arrive out of order"); a real
``established`` first comes without ``mediaState`` and a later ``updated``
repeats ``established`` with ``mediaState.audio: active``; a hang-up is
``updated``/``terminating`` then ``deleted``/``terminated`` with a
``resultInfo`` whose code and subcode are strings ("200", "5001"). Calls are
also seen going from ``establishing`` straight to ``terminated``.

The order is ``rules.NO_ATTEMPT``'s (``docs/model.md`` prints it, generated);
``terminated`` is absorbing, and equal ranks have no order: the later delivery wins.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from itertools import permutations
from math import factorial
from typing import Any

import pytest
from flows import CALL_ID, UP, Body, events_of, replay, step_through, with_one_duplicate
from hypothesis import given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, ChangeType, Milestone, Outcome, ResultInfo

S = CallState
HUNG_UP = "call state terminating → terminated; audio active → inactive; resultInfo 200/5001"
ALREADY_IN_VIEW = "everything it says is already in the view"
OVERTAKEN = "the view has already moved past it"
AFTER_TERMINATION = "the call has already terminated"
NOTHING_KNOWN = "it carries no state or audio the library knows (kept on the event)"
CALL_CHAIN_ID = "b0fe8425-6f48-41ed-9dd6-b706ff66319a"


def notification(change: str, **resource: Any) -> Body:
    """A commsNotifications body with one notification about the call resource."""
    return {
        "@odata.type": "#microsoft.graph.commsNotifications",
        "value": [
            {
                "@odata.type": "#microsoft.graph.commsNotification",
                "changeType": change,
                "resource": f"/app/calls/{CALL_ID}",
                "resourceUrl": f"/communications/calls/{CALL_ID}",
                "resourceData": {
                    "@odata.type": "#microsoft.graph.call",
                    "@odata.id": f"/communications/calls/{CALL_ID}",
                    "@odata.etag": 'W/"5445"',
                    **resource,
                },
            }
        ],
    }


def media(audio: str) -> dict[str, str]:
    return {"@odata.type": "#microsoft.graph.callMediaState", "audio": audio}


def event(body: Body) -> tf.Notification:
    """The one event of a body."""
    (only,) = events_of(body)
    return only


INCOMING = notification(
    "created",
    state="incoming",
    direction="incoming",
    source={
        "@odata.type": "#microsoft.graph.participantInfo",
        "identity": {"user": {"displayName": "Test User", "id": "8a34a46b-3d17-4adc"}},
        "region": "westus",
        "languageId": "en-US",
    },
    targets=[
        {
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "identity": {"application": {"displayName": "Test BOT", "id": "bot-app-id"}},
        }
    ],
    requestedModalities=["audio"],
)
ESTABLISHING = notification("updated", state="establishing")
ESTABLISHED = notification("updated", state="established", callChainId=CALL_CHAIN_ID)
ESTABLISHED_WITH_AUDIO = notification(
    "updated",
    state="established",
    mediaState=media("active"),
    meetingCapability={"@odata.type": "#microsoft.graph.meetingCapability"},
    coOrganizers=[],
    callChainId=CALL_CHAIN_ID,
)
HOLD = notification("updated", state="hold")
UNHOLD = notification("updated", state="established")
REDIRECTING = notification("updated", state="redirecting")
RINGING = notification("updated", state="ringing")
TERMINATING = notification("updated", state="terminating")
CONVERSATION_ENDED = ResultInfo(200, 5001, "The conversation has ended.")
TERMINATED = notification(
    "deleted",
    state="terminated",
    resultInfo={
        "@odata.type": "#microsoft.graph.resultInfo",
        "code": "200",
        "subcode": "5001",
        "message": "The conversation has ended.",
    },
)
NO_ACK = ResultInfo(
    408, 1106, "An acknowledgement was not received for the call acceptance in the allotted time."
)
TERMINATED_UNANSWERED = notification(
    "deleted",
    state="terminated",
    resultInfo={"code": 408, "subcode": 1106, "message": NO_ACK.message},
)
AUDIO_ACTIVE = notification("updated", mediaState=media("active"))
AUDIO_INACTIVE = notification("updated", mediaState=media("inactive"))

# The documented lifecycle of an answered call that the bot hangs up, in production order.
LIFECYCLE: list[Body] = [
    INCOMING,
    ESTABLISHING,
    ESTABLISHED,
    ESTABLISHED_WITH_AUDIO,
    HOLD,
    UNHOLD,
    TERMINATING,
    TERMINATED,
]
FRESH = Call(CALL_ID)
ENDED = Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, None, CONVERSATION_ENDED, None)

# The ranks the docs of the rules give outside an attempt (see the module docstring).
RANK: dict[CallState | None, int] = {
    None: 0,
    S.INCOMING: 1,
    S.ESTABLISHING: 2,
    S.RINGING: 2,
    S.ESTABLISHED: 3,
    S.HOLD: 3,
    S.REDIRECTING: 3,
    S.TERMINATING: 6,
    S.TERMINATED: 7,
}


def finals(start: Call, events: Sequence[tf.Event]) -> tuple[int, set[Call]]:
    """How many delivery orders of ``events`` there are, and the views they end in."""
    ends = {replay(start, *order) for order in permutations(events)}
    return factorial(len(events)), ends


def finals_with_a_duplicate(start: Call, events: Sequence[tf.Event]) -> tuple[int, set[Call]]:
    """Every order with any one event delivered twice at any position, and their views."""
    runs = 0
    ends: set[Call] = set()
    for order in permutations(events):
        for delivered in with_one_duplicate(order):
            runs += 1
            ends.add(replay(start, *delivered))
    return runs, ends


# 1. The whole lifecycle, step by step.


def test_an_incoming_call_answered_held_resumed_then_hung_up() -> None:
    steps = step_through(FRESH, *events_of(*LIFECYCLE))
    assert steps == [
        tf.Step(Call(CALL_ID, S.INCOMING), Outcome.APPLIED, (), "call state none → incoming"),
        tf.Step(
            Call(CALL_ID, S.ESTABLISHING), Outcome.APPLIED, (), "call state incoming → establishing"
        ),
        tf.Step(
            Call(CALL_ID, S.ESTABLISHED),
            Outcome.APPLIED,
            (),
            "call state establishing → established",
        ),
        tf.Step(UP, Outcome.APPLIED, (Milestone.AUDIO_ACTIVE,), "audio none → active"),
        tf.Step(
            Call(CALL_ID, S.HOLD, Audio.ACTIVE),
            Outcome.APPLIED,
            (),
            "call state established → hold",
        ),
        tf.Step(UP, Outcome.APPLIED, (), "call state hold → established"),
        tf.Step(
            Call(CALL_ID, S.TERMINATING, Audio.ACTIVE),
            Outcome.APPLIED,
            (),
            "call state established → terminating",
        ),
        tf.Step(ENDED, Outcome.APPLIED, (Milestone.CALL_TERMINATED,), HUNG_UP),
    ]
    assert steps[-1].call == Call(
        call_id=CALL_ID,
        state=S.TERMINATED,
        audio=Audio.INACTIVE,
        transfer=None,
        result=ResultInfo(200, 5001, "The conversation has ended."),
        termination_reason=None,
    )


def test_the_hang_up_result_codes_are_strings_on_the_wire_and_numbers_on_the_call() -> None:
    hung_up = event(TERMINATED)
    assert isinstance(hung_up, tf.CallNotification)
    assert hung_up == tf.CallNotification(
        CALL_ID,
        ChangeType.DELETED,
        S.TERMINATED,
        None,
        CONVERSATION_ENDED,
        None,
        None,
        TERMINATED["value"][0]["resourceData"],
    )
    assert tf.reduce(UP, hung_up).result == ResultInfo(200, 5001, "The conversation has ended.")


def test_notifications_after_the_hang_up_are_stale_or_duplicates() -> None:
    late = step_through(ENDED, *events_of(*LIFECYCLE))
    assert late == [
        *(tf.Step(ENDED, Outcome.STALE, (), AFTER_TERMINATION) for _ in LIFECYCLE[:-1]),
        tf.Step(ENDED, Outcome.DUPLICATE, (), ALREADY_IN_VIEW),
    ]


# 2. Delivery order.


@pytest.mark.parametrize(
    ("bodies", "view"),
    [
        ((INCOMING, ESTABLISHING, ESTABLISHED), Call(CALL_ID, S.ESTABLISHED)),
        ((ESTABLISHING, ESTABLISHED, ESTABLISHED_WITH_AUDIO), UP),
        ((INCOMING, ESTABLISHING, ESTABLISHED, ESTABLISHED_WITH_AUDIO), UP),
        ((ESTABLISHING, ESTABLISHED, AUDIO_ACTIVE), UP),
        ((ESTABLISHING, RINGING, ESTABLISHED, ESTABLISHED_WITH_AUDIO), UP),
    ],
    ids=[
        "incoming-establishing-established",
        "establishing-established-audio",
        "incoming-establishing-established-audio",
        "establishing-established-media-only-audio",
        "establishing-ringing-established-audio",
    ],
)
def test_the_answer_notifications_in_any_order_end_established(
    bodies: tuple[Body, ...], view: Call
) -> None:
    events = events_of(*bodies)
    runs, ends = finals(FRESH, events)
    assert (runs, ends) == (factorial(len(bodies)), {view})
    runs, ends = finals_with_a_duplicate(FRESH, events)
    n = len(bodies)
    assert (runs, ends) == (factorial(n) * n * (n + 1), {view})


def test_the_notifications_of_a_call_answered_then_hung_up_end_in_one_view_in_any_order() -> None:
    """Without hold/unhold no two of these states share a rank and only one carries
    audio, so the order cannot matter; a duplicate anywhere changes nothing either."""
    events = events_of(
        INCOMING, ESTABLISHING, ESTABLISHED, ESTABLISHED_WITH_AUDIO, TERMINATING, TERMINATED
    )
    assert finals(FRESH, events) == (720, {ENDED})
    assert finals_with_a_duplicate(FRESH, events) == (720 * 6 * 7, {ENDED})


def test_a_call_answered_then_hanging_up_ends_terminating_with_audio_in_any_order() -> None:
    events = events_of(INCOMING, ESTABLISHING, ESTABLISHED, ESTABLISHED_WITH_AUDIO, TERMINATING)
    terminating = Call(CALL_ID, S.TERMINATING, Audio.ACTIVE)
    assert finals(FRESH, events) == (120, {terminating})
    assert finals_with_a_duplicate(FRESH, events) == (120 * 5 * 6, {terminating})


def test_the_whole_lifecycle_in_any_order_ends_terminated_because_termination_absorbs() -> None:
    """Hold and unhold race (see below), but the hang-up absorbs whatever they left."""
    assert finals(FRESH, events_of(*LIFECYCLE)) == (40320, {ENDED})


def test_late_answer_notifications_are_reported_stale_or_duplicate() -> None:
    steps = step_through(
        UP, *events_of(INCOMING, ESTABLISHING, ESTABLISHED, ESTABLISHED_WITH_AUDIO, AUDIO_ACTIVE)
    )
    assert steps == [
        tf.Step(UP, Outcome.STALE, (), OVERTAKEN),
        tf.Step(UP, Outcome.STALE, (), OVERTAKEN),
        tf.Step(UP, Outcome.DUPLICATE, (), ALREADY_IN_VIEW),
        tf.Step(UP, Outcome.DUPLICATE, (), ALREADY_IN_VIEW),
        tf.Step(UP, Outcome.DUPLICATE, (), ALREADY_IN_VIEW),
    ]


# 3. Establishing straight to terminated.


@pytest.mark.parametrize(
    "order",
    [(ESTABLISHING, TERMINATED_UNANSWERED), (TERMINATED_UNANSWERED, ESTABLISHING)],
    ids=["establishing-first", "terminated-first"],
)
def test_a_call_that_ends_while_establishing_ends_terminated(order: tuple[Body, Body]) -> None:
    unanswered = Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, None, NO_ACK, None)
    call = replay(tf.reduce(FRESH, event(INCOMING)), *events_of(*order))
    assert call == unanswered
    late = step_through(call, *events_of(ESTABLISHED, ESTABLISHED_WITH_AUDIO, AUDIO_ACTIVE))
    assert late == [tf.Step(unanswered, Outcome.STALE, (), AFTER_TERMINATION)] * 3


def test_incoming_establishing_and_terminated_in_any_order_end_terminated() -> None:
    events = events_of(INCOMING, ESTABLISHING, TERMINATED_UNANSWERED)
    unanswered = Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, None, NO_ACK, None)
    assert finals(FRESH, events) == (6, {unanswered})
    assert finals_with_a_duplicate(FRESH, events) == (6 * 3 * 4, {unanswered})


# 4. States the library does not know, and ringing.


UNKNOWN_STATES = ["unknownFutureValue", "parked", "Established", "TERMINATED", ""]


@pytest.mark.parametrize("state", UNKNOWN_STATES)
def test_an_unknown_state_is_kept_on_the_event_and_ignored(state: str) -> None:
    body = notification("updated", state=state)
    unknown = event(body)
    assert isinstance(unknown, tf.CallNotification)
    assert unknown.state == state
    assert unknown.data["state"] == state
    assert unknown.data is body["value"][0]["resourceData"]
    for call in (
        FRESH,
        Call(CALL_ID, S.INCOMING),
        Call(CALL_ID, S.ESTABLISHING),
        UP,
        Call(CALL_ID, S.HOLD, Audio.ACTIVE),
        Call(CALL_ID, S.TERMINATING, Audio.ACTIVE),
    ):
        assert tf.step(call, unknown) == tf.Step(call, Outcome.IGNORED, (), NOTHING_KNOWN)
    assert tf.step(ENDED, unknown) == tf.Step(ENDED, Outcome.STALE, (), AFTER_TERMINATION)


def test_unknown_future_value_parses_to_the_sentinel_member_and_is_ignored() -> None:
    unknown = event(notification("updated", state="unknownFutureValue"))
    assert isinstance(unknown, tf.CallNotification)
    assert unknown.state is S.UNKNOWN_FUTURE_VALUE
    assert tf.step(UP, unknown) == tf.Step(UP, Outcome.IGNORED, (), NOTHING_KNOWN)


def test_an_unknown_state_with_known_audio_moves_only_the_media() -> None:
    body = notification("updated", state="parked", mediaState=media("inactive"))
    assert tf.step(UP, event(body)) == tf.Step(
        Call(CALL_ID, S.ESTABLISHED, Audio.INACTIVE),
        Outcome.APPLIED,
        (Milestone.AUDIO_INACTIVE,),
        "audio active → inactive",
    )


def test_an_unknown_state_with_a_result_does_not_record_the_result() -> None:
    body = notification(
        "updated", state="parked", resultInfo={"code": "500", "subcode": "7000", "message": "m"}
    )
    assert tf.step(UP, event(body)) == tf.Step(UP, Outcome.IGNORED, (), NOTHING_KNOWN)


def test_deleted_means_terminated_whatever_unknown_state_it_carries() -> None:
    body = notification("deleted", state="parked", resultInfo={"code": 200, "subcode": 5001})
    assert tf.step(UP, event(body)) == tf.Step(
        Call(CALL_ID, S.TERMINATED, Audio.INACTIVE, None, ResultInfo(200, 5001)),
        Outcome.APPLIED,
        (Milestone.CALL_TERMINATED,),
        "call state established → terminated; audio active → inactive; resultInfo 200/5001",
    )


def _reached_by_lifecycle_prefix() -> st.SearchStrategy[Call]:
    """Any call a bot can hold after some of the lifecycle's notifications, in any order."""
    return (
        st.integers(0, len(LIFECYCLE))
        .flatmap(lambda n: st.permutations(LIFECYCLE[:n]))
        .map(lambda bodies: replay(FRESH, *events_of(*bodies)))
    )


KNOWN_STATE_STRINGS = frozenset(state.value for state in CallState)


@given(
    call=_reached_by_lifecycle_prefix(),
    state=st.one_of(
        st.text().filter(lambda text: text not in KNOWN_STATE_STRINGS),
        st.just("unknownFutureValue"),
    ),
    change=st.sampled_from(["created", "updated"]),
    audio=st.sampled_from([None, "active", "inactive", "unknownFutureValue"]),
    result=st.sampled_from([None, {"code": "500", "subcode": "7000"}]),
)
def test_a_future_state_never_moves_the_call_state_and_is_kept(
    call: Call, state: str, change: str, audio: str | None, result: dict[str, str] | None
) -> None:
    resource: dict[str, Any] = {"state": state}
    if audio is not None:
        resource["mediaState"] = media(audio)
    if result is not None:
        resource["resultInfo"] = result
    body = notification(change, **resource)
    (future,) = tf.parse_notifications(json.dumps(body))
    assert isinstance(future, tf.CallNotification)
    assert future.state == state
    assert future.data == body["value"][0]["resourceData"]

    done = tf.step(call, future)
    terminated = call.state is S.TERMINATED
    known_audio = audio in ("active", "inactive")
    expected = call._replace(audio=Audio(audio)) if known_audio and not terminated else call
    assert done.call == expected
    if terminated:
        assert done == tf.Step(call, Outcome.STALE, (), AFTER_TERMINATION)
    elif not known_audio:
        assert done == tf.Step(call, Outcome.IGNORED, (), NOTHING_KNOWN)
    elif expected.audio is call.audio:
        assert done == tf.Step(call, Outcome.DUPLICATE, (), ALREADY_IN_VIEW)
    else:
        assert done.outcome is Outcome.APPLIED


@given(call=_reached_by_lifecycle_prefix())
def test_ringing_never_moves_the_call_state_backwards(call: Call) -> None:
    done = tf.step(call, event(RINGING))
    assert RANK[done.call.state] >= RANK[call.state]
    assert done.call._replace(state=call.state) == call
    if RANK[call.state] <= RANK[S.RINGING]:
        assert done.call == call._replace(state=S.RINGING)
    else:
        reason = AFTER_TERMINATION if call.state is S.TERMINATED else OVERTAKEN
        assert done == tf.Step(call, Outcome.STALE, (), reason)


def test_ringing_ranks_with_establishing_so_the_later_delivered_wins() -> None:
    """``ringing`` (in the docs and the beta schema, not in the v1.0 enum) and
    ``establishing`` have no order between them: the later delivery wins."""
    ringing, establishing = event(RINGING), event(ESTABLISHING)
    assert replay(FRESH, establishing, ringing) == Call(CALL_ID, S.RINGING)
    assert replay(FRESH, ringing, establishing) == Call(CALL_ID, S.ESTABLISHING)
    assert replay(FRESH, event(INCOMING), ringing) == Call(CALL_ID, S.RINGING)
    assert replay(FRESH, ringing, event(INCOMING)) == Call(CALL_ID, S.RINGING)
    assert replay(FRESH, ringing, event(ESTABLISHED)) == Call(CALL_ID, S.ESTABLISHED)
    assert tf.step(UP, ringing) == tf.Step(UP, Outcome.STALE, (), OVERTAKEN)


# 5. States of equal rank race.


@pytest.mark.parametrize(
    ("first", "second", "state"),
    [
        (HOLD, UNHOLD, S.ESTABLISHED),
        (UNHOLD, HOLD, S.HOLD),
        (REDIRECTING, ESTABLISHED, S.ESTABLISHED),
        (ESTABLISHED, REDIRECTING, S.REDIRECTING),
        (HOLD, REDIRECTING, S.REDIRECTING),
        (REDIRECTING, HOLD, S.HOLD),
    ],
    ids=[
        "hold-then-unhold",
        "unhold-then-hold",
        "redirecting-then-established",
        "established-then-redirecting",
        "hold-then-redirecting",
        "redirecting-then-hold",
    ],
)
def test_hold_unhold_and_redirecting_race_and_the_later_delivered_wins(
    first: Body, second: Body, state: CallState
) -> None:
    """``established``, ``hold`` and ``redirecting`` share a rank. A notification
    carries no sequence number, timestamp or version, so when a hold and an
    unhold (or a redirect and an established) race, nothing in the protocol says
    which was produced last: the library takes the later delivered (last writer
    wins), and a late duplicate can revert the view."""
    steps = step_through(UP, *events_of(first, second))
    assert steps[-1] == tf.Step(
        Call(CALL_ID, state, Audio.ACTIVE),
        Outcome.APPLIED,
        (),
        f"call state {steps[0].call.state} → {state}",
    )
    assert replay(UP, *events_of(first, second, first)) == replay(UP, *events_of(second, first))


def test_a_late_duplicate_of_the_hold_puts_a_resumed_call_back_on_hold() -> None:
    resumed = replay(UP, *events_of(HOLD, UNHOLD))
    assert resumed == UP
    assert tf.step(resumed, event(HOLD)) == tf.Step(
        Call(CALL_ID, S.HOLD, Audio.ACTIVE), Outcome.APPLIED, (), "call state established → hold"
    )


# 6. Media outside a transfer.


def test_media_outside_a_transfer_follows_the_latest_notification() -> None:
    """With no transfer attempt, ``active`` and ``inactive`` have no order: the
    later delivered wins, each change fires its milestone, a repeat is a duplicate."""
    steps = step_through(UP, *events_of(AUDIO_INACTIVE, AUDIO_INACTIVE, AUDIO_ACTIVE))
    paused = Call(CALL_ID, S.ESTABLISHED, Audio.INACTIVE)
    assert steps == [
        tf.Step(paused, Outcome.APPLIED, (Milestone.AUDIO_INACTIVE,), "audio active → inactive"),
        tf.Step(paused, Outcome.DUPLICATE, (), ALREADY_IN_VIEW),
        tf.Step(UP, Outcome.APPLIED, (Milestone.AUDIO_ACTIVE,), "audio inactive → active"),
    ]


@pytest.mark.parametrize(
    "call",
    [
        FRESH,
        Call(CALL_ID, S.INCOMING),
        Call(CALL_ID, S.ESTABLISHING),
        Call(CALL_ID, S.ESTABLISHED),
        Call(CALL_ID, S.HOLD, Audio.ACTIVE),
        Call(CALL_ID, S.TERMINATING, Audio.ACTIVE),
    ],
    ids=["fresh", "incoming", "establishing", "established", "hold", "terminating"],
)
def test_a_media_only_notification_sets_the_audio_and_leaves_the_state(call: Call) -> None:
    for body, audio, milestone in (
        (AUDIO_INACTIVE, Audio.INACTIVE, Milestone.AUDIO_INACTIVE),
        (AUDIO_ACTIVE, Audio.ACTIVE, Milestone.AUDIO_ACTIVE),
    ):
        done = tf.step(call, event(body))
        moved = call.audio is not audio
        assert done == tf.Step(
            call._replace(audio=audio),
            Outcome.APPLIED if moved else Outcome.DUPLICATE,
            (milestone,) if moved else (),
            f"audio {call.audio or 'none'} → {audio}" if moved else ALREADY_IN_VIEW,
        )


def test_a_media_only_notification_after_the_hang_up_is_stale() -> None:
    assert tf.step(ENDED, event(AUDIO_ACTIVE)) == tf.Step(
        ENDED, Outcome.STALE, (), AFTER_TERMINATION
    )


def test_the_established_notification_without_media_keeps_the_audio() -> None:
    assert tf.step(UP, event(ESTABLISHED)) == tf.Step(UP, Outcome.DUPLICATE, (), ALREADY_IN_VIEW)
    paused = Call(CALL_ID, S.ESTABLISHED, Audio.INACTIVE)
    assert tf.step(paused, event(ESTABLISHED)).call == paused


# 7. Hang-up.


def test_a_late_established_after_terminating_is_stale() -> None:
    terminating = Call(CALL_ID, S.TERMINATING, Audio.ACTIVE)
    assert replay(UP, event(TERMINATING)) == terminating
    late = step_through(terminating, *events_of(ESTABLISHED, ESTABLISHED_WITH_AUDIO, HOLD))
    assert late == [tf.Step(terminating, Outcome.STALE, (), OVERTAKEN)] * 3


def test_a_late_established_with_audio_after_terminating_still_moves_the_media() -> None:
    """Pinned, and surprising: the state of the late notification is stale, but
    its audio is taken (media outside an attempt is last writer wins), so a
    terminating call whose audio went inactive reports audio active again."""
    quiet = Call(CALL_ID, S.TERMINATING, Audio.INACTIVE)
    assert tf.step(quiet, event(ESTABLISHED_WITH_AUDIO)) == tf.Step(
        Call(CALL_ID, S.TERMINATING, Audio.ACTIVE),
        Outcome.APPLIED,
        (Milestone.AUDIO_ACTIVE,),
        "audio inactive → active",
    )


def test_terminating_then_terminated_keeps_the_end_reason() -> None:
    steps = step_through(UP, *events_of(TERMINATING, TERMINATED))
    assert steps == [
        tf.Step(
            Call(CALL_ID, S.TERMINATING, Audio.ACTIVE),
            Outcome.APPLIED,
            (),
            "call state established → terminating",
        ),
        tf.Step(ENDED, Outcome.APPLIED, (Milestone.CALL_TERMINATED,), HUNG_UP),
    ]
    assert steps[-1].call.result == ResultInfo(200, 5001, "The conversation has ended.")


def test_terminated_before_terminating_is_the_same_end() -> None:
    steps = step_through(UP, *events_of(TERMINATED, TERMINATING))
    assert steps == [
        tf.Step(
            ENDED,
            Outcome.APPLIED,
            (Milestone.CALL_TERMINATED,),
            "call state established → terminated; audio active → inactive; resultInfo 200/5001",
        ),
        tf.Step(ENDED, Outcome.STALE, (), AFTER_TERMINATION),
    ]


def test_the_first_delivered_termination_decides_the_result() -> None:
    """Graph documents one termination per call; if two disagree, the first wins,
    and the second, whose resultInfo differs, is reported stale."""
    other = copy.deepcopy(TERMINATED)
    other["value"][0]["resourceData"]["resultInfo"] = {"code": 200, "subcode": 4097}
    steps = step_through(UP, *events_of(TERMINATED, other))
    assert steps[-1] == tf.Step(ENDED, Outcome.STALE, (), AFTER_TERMINATION)
