"""The public test kit, ``transfer_fsm.testing``, as a bot's own tests use it.

The library's other tests take their flows from it too (``tests/flows.py``),
so here are the promises a user relies on: the flows are Graph's documented
bodies about the user's call id, the deliveries are every body at least once
with copies anywhere, the fake Graph answers a request as the documents do,
and ``assert_conforms`` passes ``reduce`` and catches a bot that applies
notifications in arrival order, naming the flow and a minimal delivery.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from flows import DOCS, SEED, events_of, replay
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, TransferStatus
from transfer_fsm.testing import (
    Body,
    FakeGraph,
    Flow,
    assert_conforms,
    deliveries,
    documented_flows,
)
from transfer_fsm.testing.conform import describe

MY_CALL = "my-call-0001"
FLOWS = documented_flows(call_id=MY_CALL)
BY_NAME = {flow.name: flow for flow in FLOWS}
FAILED = (
    "v1.0 consultative (500/7700) failure, "
    "accepted after audio inactive, established before audio active"
)


def reference(start: Call, bodies: list[Body]) -> Call:
    """A bot that does what the README says: every notification through ``reduce``."""
    return replay(start, *events_of(*bodies))


def arrival_order(start: Call, bodies: list[Body]) -> Call:
    """A bot that applies each notification as it arrives: its state and audio win."""
    call = start
    for body in bodies:
        for event in tf.parse_notifications(body):
            if isinstance(event, tf.CallNotification):
                state = event.state if isinstance(event.state, CallState) else call.state
                audio = event.audio if isinstance(event.audio, Audio) else call.audio
                if state is CallState.TERMINATED:
                    audio = Audio.INACTIVE
                call = call._replace(state=state, audio=audio)
    return call


def canonical(body: object) -> str:
    return json.dumps(body, sort_keys=True)


def state_and_audio(call: Call) -> tuple[object, object]:
    return call.state, call.audio


# -- documented_flows ---------------------------------------------------------------


def test_every_flow_exists_with_a_request_and_observed_except_the_failing_legacy_operation() -> (
    None
):
    requested = [flow for flow in FLOWS if flow.request is not None]
    observed = [flow for flow in FLOWS if flow.request is None]
    assert (len(FLOWS), len(requested), len(observed)) == (59, 30, 29)
    assert [flow.name for flow in observed] == [
        f"{flow.name}, observed" for flow in requested if "failing among" not in flow.name
    ]
    assert len(set(BY_NAME)) == len(FLOWS)


def test_the_flows_are_about_the_callers_call_in_every_body_and_view() -> None:
    for flow in FLOWS:
        assert flow.start == Call(MY_CALL, CallState.ESTABLISHED, Audio.ACTIVE)
        assert flow.final.call_id == MY_CALL
        assert {event.call_id for event in flow.events()} == {MY_CALL}
        assert MY_CALL in json.dumps(flow.bodies)
        assert "341a0500" not in json.dumps(flow.bodies)
        assert "57DAB8B1" not in json.dumps(flow.bodies)


def test_without_a_call_id_each_flow_keeps_its_documents_own_call() -> None:
    ids = Counter(flow.final.call_id for flow in documented_flows())
    assert ids == {
        "341a0500-d4bf-4224-8b19-1581168d328b": 56,
        "57DAB8B1894C409AB240BD8BEAE78896": 3,
    }


def test_the_requests_are_the_documented_request_bodies() -> None:
    bodies = {canonical(flow.request.body) for flow in FLOWS if flow.request is not None}
    documented = {
        canonical(DOCS[name])
        for name in (
            "v1-request-1-blind",
            "v1-request-2-consultative",
            "v1-request-4-consultative-pstn",
            "legacy-request-consultative",
        )
    } | {canonical(SEED["request-consultative"])}
    assert bodies == documented


def test_each_flows_request_is_in_its_final_view_and_observed_flows_have_none() -> None:
    for flow in FLOWS:
        assert flow.final.transfer is not None
        expected = None if flow.request is None else flow.request.event
        assert flow.final.transfer.request == expected
        assert flow.requested == (
            flow.start if flow.request is None else tf.reduce(flow.start, flow.request.event)
        )


def test_the_documented_order_of_every_flow_ends_in_its_final_view() -> None:
    for flow in FLOWS:
        assert reference(flow.requested, list(flow.bodies)) == flow.final, flow.name


def test_each_call_returns_new_bodies_so_a_test_may_change_them() -> None:
    first = documented_flows(call_id=MY_CALL)
    first[0].bodies[0]["value"][0]["resourceData"]["state"] = "changed"
    assert first[0].request is not None
    assert FLOWS[0].request is not None
    first[0].request.body["transferTarget"]["endpointType"] = "changed"
    assert FLOWS[0].request.body["transferTarget"]["endpointType"] == "default"
    assert documented_flows(call_id=MY_CALL)[0].bodies == FLOWS[0].bodies
    assert FLOWS[0].bodies[0]["value"][0]["resourceData"]["state"] == "transferring"


@pytest.mark.parametrize("bad", ["", "a/b", "call?1", "call#1", 7, None])
def test_a_call_id_a_resource_url_cannot_carry_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"call_id: a non-empty call id without '/', '\?' or '#'"):
        FLOWS[0].about(bad)
    if bad is not None:
        with pytest.raises(ValueError, match="call_id"):
            documented_flows(call_id=bad)
        with pytest.raises(ValueError, match="call_id"):
            FakeGraph(bad)


def test_only_observed_failures_with_the_restore_first_are_not_documented() -> None:
    """docs/model.md, ambiguity 1: the flows that can end otherwise say so."""
    failing = BY_NAME[
        "direct failure, accepted after audio inactive, established before audio active, observed"
    ]
    transferring, inactive, accepted, failed, restore = failing.bodies
    assert not failing.documented([restore, transferring, inactive, accepted, failed])
    assert not failing.documented([restore, restore, transferring, inactive, accepted, failed])
    assert failing.documented([transferring, restore, inactive, accepted, failed])
    assert failing.documented([restore, transferring, restore, inactive, accepted, failed])
    with_request = BY_NAME[failing.name.removesuffix(", observed")]
    assert with_request.documented([restore, transferring, inactive, accepted, failed])
    assert reference(with_request.requested, [restore, transferring, inactive, accepted, failed])
    # an observed flow whose restore says transferAccepted has no ambiguous order
    other = BY_NAME[
        "direct failure, accepted after audio inactive, established after audio active, observed"
    ]
    assert all(other.documented([body, *other.bodies]) for body in other.bodies)
    # a delivery must hold every body of the flow and nothing else
    assert failing.documented([transferring, inactive, accepted, failed]) is False
    assert failing.documented([]) is False
    assert with_request.documented([*with_request.bodies, FLOWS[0].bodies[-1]]) is False
    assert with_request.documented(with_request.about("another-call").bodies) is False
    # the restore is found by what it says, so a flow rebuilt or reordered keeps the rule
    rebuilt = Flow(
        failing.name, failing.start, None, tuple(reversed(failing.bodies)), failing.final
    )
    assert not rebuilt.documented([restore, transferring, inactive, accepted, failed])
    assert rebuilt.documented([transferring, restore, inactive, accepted, failed])


# -- deliveries ----------------------------------------------------------------------


@settings(max_examples=200)
@given(st.data())
def test_a_delivery_holds_every_body_at_least_once_and_copies_of_nothing_else(
    data: st.DataObject,
) -> None:
    flow = data.draw(st.sampled_from(FLOWS))
    delivered = data.draw(deliveries(flow, max_copies=3))
    assert all(body in delivered for body in flow.bodies)
    assert all(body in flow.bodies for body in delivered)
    assert len(flow.bodies) <= len(delivered) <= len(flow.bodies) + 3
    assert flow.documented(delivered)
    assert reference(flow.requested, delivered) == flow.final


def test_deliveries_reach_shuffles_duplicates_and_late_copies() -> None:
    flow = BY_NAME["consultative success, accepted after audio inactive"]
    seen = {"shuffled": False, "duplicate": False, "late copy": False}

    @settings(max_examples=300, database=None)
    @given(deliveries(flow))
    def look(delivered: list[Body]) -> None:
        firsts = [delivered.index(body) for body in flow.bodies]
        seen["shuffled"] |= firsts != sorted(firsts)
        seen["duplicate"] |= len(delivered) > len(flow.bodies)
        last = max(firsts)
        seen["late copy"] |= len(delivered) > last + 1

    look()
    assert seen == {"shuffled": True, "duplicate": True, "late copy": True}


def test_a_handler_may_change_the_bodies_it_is_given() -> None:
    flow = FLOWS[0]

    def vandal(start: Call, bodies: list[Body]) -> Call:
        call = reference(start, bodies)
        for body in bodies:
            body["value"] = []
        return call

    assert_conforms(vandal, flows=[flow], max_examples=20)
    assert flow.bodies == documented_flows(call_id=MY_CALL)[0].bodies


def test_by_default_up_to_six_copies_and_any_body_may_be_copied() -> None:
    flow = BY_NAME["consultative success, accepted after audio inactive"]
    n = len(flow.bodies)
    limits = settings(database=None, max_examples=500)
    assert len(find(deliveries(flow), lambda d: len(d) >= n + 6, settings=limits)) == n + 6
    for body in (flow.bodies[0], flow.bodies[-1]):

        def twice(delivered: list[Body], body: Body = body) -> bool:
            return delivered.count(body) > 1

        assert find(deliveries(flow), twice, settings=limits).count(body) == 2
    with pytest.raises(NoSuchExample):
        find(deliveries(flow), lambda d: len(d) > n + 6, settings=limits)


def test_with_no_copies_a_delivery_is_a_shuffle() -> None:
    flow = BY_NAME["consultative success, accepted after audio inactive"]

    @settings(max_examples=50, database=None)
    @given(deliveries(flow, max_copies=0))
    def shuffled(delivered: list[Body]) -> None:
        assert sorted(map(canonical, delivered)) == sorted(map(canonical, flow.bodies))

    shuffled()


def test_max_copies_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="max_copies"):
        deliveries(FLOWS[0], max_copies=-1)


def test_a_body_is_described_by_its_state_audio_result_and_reason() -> None:
    assert [describe(body) for body in BY_NAME[FAILED].bodies] == [
        "transferring",
        "transferring, audio inactive",
        "transferAccepted",
        "established, 500/7700",
        "established, audio active",
    ]
    legacy = BY_NAME["legacy beta commsOperation transfer"]
    assert [describe(body) for body in legacy.bodies] == [
        "running, 200/transferring",
        "completed, 200/transferAccepted",
        "terminated, AppTransferred",
    ]
    two = {"value": [*FLOWS[0].bodies[0]["value"], {"resourceData": [1]}, "x"]}
    assert describe(two) == "transferring; (no resourceData); (no resourceData)"
    assert describe({"value": [{"resourceData": {}}]}) == "-"
    assert describe({}) == ""


# -- FakeGraph -----------------------------------------------------------------------

BLIND = tf.blind_transfer(tf.User("550fae72-d251-43ec-868c-373732c2704f"))
CONSULTATIVE = tf.consultative_transfer(tf.User("550fae72"), "consultation-leg")
PHONE = tf.blind_transfer(tf.Phone("+12345678901"))


@pytest.mark.parametrize(
    ("request_", "outcome", "flow"),
    [
        (BLIND, "completed", "direct success, accepted after audio inactive"),
        (PHONE, "completed", "direct success, accepted after audio inactive"),
        (
            BLIND,
            "failed",
            "direct failure, accepted after audio inactive, established before audio active",
        ),
        (CONSULTATIVE, "completed", "consultative success, accepted after audio inactive"),
        (
            CONSULTATIVE,
            "failed",
            "consultative failure, accepted after audio inactive, established before audio active",
        ),
    ],
)
def test_the_fake_graph_answers_a_request_with_the_documented_bodies(
    request_: tf.TransferRequest, outcome: Any, flow: str
) -> None:
    bodies = FakeGraph(MY_CALL).transfer(request_, outcome)
    documented = BY_NAME[flow]
    assert bodies == list(documented.bodies)
    start = Call(MY_CALL, CallState.ESTABLISHED, Audio.ACTIVE)
    call = reference(tf.reduce(start, request_.event), bodies)
    assert documented.final.transfer is not None
    assert call == documented.final._replace(
        transfer=documented.final.transfer._replace(request=request_.event)
    )


def test_with_a_random_source_the_fake_graph_shuffles_the_same_bodies() -> None:
    documented = FakeGraph("c").transfer(CONSULTATIVE, "failed")
    orders = set()
    for seed in range(20):
        shuffled = FakeGraph("c").transfer(CONSULTATIVE, "failed", rng=random.Random(seed))
        assert sorted(map(json.dumps, shuffled)) == sorted(map(json.dumps, documented))
        orders.add(tuple(documented.index(body) for body in shuffled))
    assert len(orders) > 5


def test_a_failed_transfer_leaves_the_call_up_and_a_completed_one_ends_it() -> None:
    graph = FakeGraph(MY_CALL)
    graph.transfer(BLIND, "failed")
    assert not graph.ended
    graph.transfer(BLIND, "completed")
    assert graph.ended
    with pytest.raises(ValueError, match="the call has ended"):
        graph.transfer(BLIND, "failed")


def test_the_fake_graph_refuses_what_is_not_a_request_or_an_outcome() -> None:
    with pytest.raises(ValueError, match="outcome: 'completed' or 'failed'"):
        FakeGraph("c").transfer(BLIND, "accepted")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="request: a TransferRequest"):
        FakeGraph("c").transfer(BLIND.event, "failed")  # type: ignore[arg-type]


def test_a_bot_driven_by_the_fake_graph_tracks_a_retry_after_a_failure() -> None:
    graph = FakeGraph(MY_CALL)
    call = tf.reduce(Call(MY_CALL, CallState.ESTABLISHED, Audio.ACTIVE), BLIND.event)
    call = reference(call, graph.transfer(BLIND, "failed", rng=random.Random(1)))
    assert call.transfer is not None
    assert call.transfer.status is TransferStatus.FAILED
    retry = tf.consultative_transfer(tf.User("550fae72"), "leg-2")
    call = reference(tf.reduce(call, retry.event), graph.transfer(retry, "completed"))
    assert call.transfer is not None
    assert (call.state, call.transfer.status) == (CallState.TERMINATED, TransferStatus.COMPLETED)
    assert call.earlier_failures == (tf.ResultInfo(500, 1000, "<message>"),)


# -- assert_conforms -----------------------------------------------------------------


def test_the_reference_reducer_conforms() -> None:
    assert_conforms(reference, max_examples=25)


def test_an_arrival_order_bot_is_caught_with_the_flow_and_a_minimal_delivery() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_conforms(arrival_order, view=state_and_audio, max_examples=50)
    message = str(caught.value)
    name = message.split("'")[1]
    assert message.startswith(f"flow {name!r}: the handler's view differs from the reference")
    flow = next(f for f in documented_flows() if f.name == name)
    order = json.loads(message.split("as delivered): ")[1].split("\n")[0])
    delivered = [flow.bodies[i] for i in order]
    # the reported delivery really fails, and it is minimal: no copies, and the
    # documented order passes
    assert state_and_audio(arrival_order(flow.requested, delivered)) != state_and_audio(flow.final)
    assert sorted(order) == list(range(len(flow.bodies)))
    assert state_and_audio(arrival_order(flow.requested, list(flow.bodies))) == state_and_audio(
        flow.final
    )
    assert f"handler:   {state_and_audio(arrival_order(flow.requested, delivered))}" in message
    assert f"reference: {state_and_audio(flow.final)!r}" in message
    for at, index in enumerate(order, 1):
        assert f"  {at}. #{index} {describe(flow.bodies[index])}" in message


def test_every_documented_order_passes_the_arrival_order_bot_so_only_generation_catches_it() -> (
    None
):
    for flow in FLOWS:
        got = state_and_audio(arrival_order(flow.requested, list(flow.bodies)))
        assert got == state_and_audio(flow.final), flow.name


def test_a_handler_that_raises_fails_with_the_flow_and_the_error() -> None:
    def broken(start: Call, bodies: list[Body]) -> Call:
        if len(bodies) > 4:
            raise KeyError("resourceData")
        return reference(start, bodies)

    flow = BY_NAME["direct success, accepted after audio inactive"]
    with pytest.raises(AssertionError, match=r"raised KeyError\('resourceData'\)") as caught:
        assert_conforms(broken, flows=[flow], max_examples=50)
    order = json.loads(str(caught.value).split("as delivered): ")[1].split("\n")[0])
    assert (len(order), sorted(set(order))) == (5, [0, 1, 2, 3])
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_handler_failing_in_two_ways_still_gets_one_assertion_error() -> None:
    """Raising on some deliveries and answering wrong on others is one failure, not a group."""

    def two_ways(start: Call, bodies: list[Body]) -> Call:
        if len(bodies) > len({canonical(body) for body in bodies}):
            raise KeyError("a copy")
        return arrival_order(start, bodies)

    with pytest.raises(AssertionError, match=r"^flow 'direct success, accepted after audio"):
        assert_conforms(two_ways, view=state_and_audio, flows=FLOWS[:1], max_examples=200)


def test_a_result_that_is_not_a_call_fails_naming_what_came_back() -> None:
    def answers_nothing(start: Call, bodies: list[Body]) -> Call:
        return None  # type: ignore[return-value]

    with pytest.raises(AssertionError, match=r"handler:   returned None, not a transfer_fsm.Call"):
        assert_conforms(answers_nothing, view=state_and_audio, flows=FLOWS[:1], max_examples=5)


def test_a_cancelled_handler_fails_naming_the_flow() -> None:
    def cancelled(start: Call, bodies: list[Body]) -> Call:
        raise asyncio.CancelledError

    with pytest.raises(AssertionError, match=r"(?s)^flow 'direct success.*raised CancelledError"):
        assert_conforms(cancelled, flows=FLOWS[:1], max_examples=5)


def test_the_view_compares_only_what_the_bot_keeps() -> None:
    def forgets_the_attempt(start: Call, bodies: list[Body]) -> Call:
        return reference(start, bodies)._replace(transfer=None)

    with pytest.raises(AssertionError, match="transfer="):
        assert_conforms(forgets_the_attempt, flows=FLOWS[:1], max_examples=5)
    assert_conforms(forgets_the_attempt, flows=FLOWS[:1], view=state_and_audio, max_examples=5)


# -- the core stays free of it ------------------------------------------------------


def test_the_core_and_its_stores_import_only_the_standard_library() -> None:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import transfer_fsm, transfer_fsm.cli, transfer_fsm.store\n"
        "from transfer_fsm.store import MemoryStore, SQLiteStore\n"
        "outside = sorted({name.split('.')[0] for name in set(sys.modules) - before}\n"
        "                 - set(sys.stdlib_module_names) - {'transfer_fsm', '__main__'})\n"
        "print(outside, 'transfer_fsm.testing' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["[]", "False"]
