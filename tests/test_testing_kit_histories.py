"""The kit for a Python bot: async handlers, a reset hook, milestones, and several attempts.

``assert_conforms`` awaits an ``async def`` handler (and reset hook) on one
event loop, calls ``reset(call_id)`` before every delivery, checks the keys of
the milestones a handler acted on when it returns ``Handled``, and with
``histories=True`` runs the histories of several attempts (a retry with the
first attempt's mail late, a refused POST, an abandoned attempt and a GET).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import Call
from transfer_fsm.testing import (
    Body,
    Delivered,
    Handled,
    assert_conforms,
    deliveries,
    documented_flows,
    histories,
)
from transfer_fsm.testing.inputs import events_of as input_events
from transfer_fsm.testing.inputs import requested_of

FLOWS = documented_flows()[:2]
HISTORIES = {case.id: case for case in histories()}
RETRY = HISTORIES["retry-failed-attempt-then-a-retry-completes"]


def events_of(item: Delivered) -> list[tf.Event]:
    """A body's notifications, or the bot's own event as it is."""
    return list(tf.parse_notifications(item)) if isinstance(item, dict) else [item]


def handled(start: Call, delivered: list[Delivered]) -> Handled:
    """The reference as a bot: every item through ``step``, acting on each milestone key."""
    call, keys = start, list[str]()
    for item in delivered:
        for event in events_of(item):
            done = tf.step(call, event)
            call = done.call
            keys.extend(done.milestone_keys)
    return Handled(call, keys)


def test_an_async_handler_with_a_store_that_reset_empties_conforms() -> None:
    store: dict[str, Call] = {}
    resets: list[str] = []

    async def reset(call_id: str) -> None:
        await asyncio.sleep(0)
        resets.append(call_id)
        store.pop(call_id, None)

    async def handle(start: Call, bodies: list[Body]) -> Call:
        call = store.setdefault(start.call_id, start)
        for body in bodies:
            await asyncio.sleep(0)
            for event in tf.parse_notifications(body):
                call = tf.reduce(call, event)
        store[start.call_id] = call
        return call

    assert_conforms(handle, flows=FLOWS, reset=reset, max_examples=10)
    assert set(resets) == {FLOWS[0].final.call_id}
    assert len(resets) >= 2 * 10


def test_without_the_reset_a_stored_call_leaks_into_the_next_delivery() -> None:
    store: dict[str, Call] = {}

    def handle(start: Call, bodies: list[Body]) -> Call:
        call = store.get(start.call_id, start)
        for body in bodies:
            for event in tf.parse_notifications(body):
                call = tf.reduce(call, event)
        store[start.call_id] = call
        return call

    failure, success = documented_flows()[2], documented_flows()[0]  # about the same call
    with pytest.raises(AssertionError, match=r"^flow 'direct success, .*': the handler's view"):
        assert_conforms(handle, flows=[failure, success], max_examples=5)
    store.clear()
    assert_conforms(handle, flows=[failure, success], reset=lambda _: store.clear(), max_examples=5)


def test_an_async_handler_that_raises_fails_naming_the_flow() -> None:
    async def broken(start: Call, bodies: list[Body]) -> Call:
        raise KeyError("resourceData")

    with pytest.raises(AssertionError, match=r"(?s)^flow 'direct success.*raised KeyError"):
        assert_conforms(broken, flows=FLOWS[:1], max_examples=5)


def test_milestones_are_checked_against_the_reference_keys_when_the_handler_reports_them() -> None:
    assert_conforms(handled, flows=FLOWS, max_examples=20, histories=[RETRY])

    def acts_twice(start: Call, delivered: list[Delivered]) -> Handled:
        """A bot that acts on every terminal notification it receives, copies included."""
        call, keys = handled(start, delivered)
        terminal = [k for k in keys if k.endswith(("transferCompleted", "transferFailed"))]
        copies = len(delivered) - len({repr(item) for item in delivered})
        return Handled(call, [*keys, *terminal[:1] * copies])

    with pytest.raises(AssertionError) as caught:
        assert_conforms(acts_twice, flows=FLOWS[:1], max_examples=50)
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "flow 'direct success, accepted after audio inactive': "
        "the handler's milestones differs from the reference"
    )
    handler, reference = (eval(line.split(": ", 1)[1]) for line in lines[-2:])
    call_id = FLOWS[0].final.call_id
    assert Counter(handler) - Counter(reference) == {f"{call_id}:1:transferCompleted": 1}


def test_keys_without_the_attempt_number_fail_the_retry_history() -> None:
    def first_attempt_only(start: Call, delivered: list[Delivered]) -> Handled:
        call, keys = handled(start, delivered)
        return Handled(call, [key.replace(":2:", ":1:") for key in keys])

    assert_conforms(first_attempt_only, flows=FLOWS, max_examples=10)  # one attempt: alike
    with pytest.raises(AssertionError, match=rf"^case '{RETRY.id}': the handler's milestones"):
        assert_conforms(first_attempt_only, flows=[], histories=[RETRY], max_examples=10)


def test_the_reference_conforms_over_every_history_of_several_attempts() -> None:
    assert_conforms(handled, flows=[], histories=True, max_examples=15)


def test_a_bot_that_ignores_its_own_events_fails_a_history_naming_the_case() -> None:
    def bodies_only(start: Call, delivered: list[Delivered]) -> Call:
        return handled(start, [item for item in delivered if isinstance(item, dict)]).call

    with pytest.raises(AssertionError) as caught:
        assert_conforms(bodies_only, flows=[], histories=True, max_examples=5)
    message = str(caught.value)
    assert message.startswith(f"case '{RETRY.id}': the handler's view differs from the reference")
    assert "delivery (the case's inputs by index, as delivered): [0, 1, 2, 3, 4, 5, 6," in message
    assert "  1. #0 the bot requests a transfer" in message


@settings(max_examples=100)
@given(st.data())
def test_a_drawn_history_keeps_the_bots_events_in_order_and_copies_only_bodies(
    data: st.DataObject,
) -> None:
    case = data.draw(st.sampled_from(list(HISTORIES.values())))
    delivered = data.draw(deliveries(case, max_copies=3))
    bots = [item for item in delivered if not isinstance(item, dict)]
    expected = [
        e
        for item in case.inputs
        if item["kind"] != "notification"
        for e in input_events(item, case.call_id)
    ]
    assert bots == expected
    bodies = [item["body"] for item in case.inputs if item["kind"] == "notification"]
    assert all(item in bodies for item in delivered if isinstance(item, dict))
    assert all(body in delivered for body in bodies)
    assert len(delivered) <= len(case.inputs) + 3


def test_a_drawn_retry_can_deliver_the_first_attempts_mail_after_the_retrys_request() -> None:
    retry_request = requested_of(RETRY.inputs[6]["request"])
    first = [RETRY.inputs[i]["body"] for i in range(1, 6)]

    def late(delivered: list[Delivered]) -> bool:
        at = delivered.index(retry_request)
        return any(item in first for item in delivered[at + 1 :])

    found = find(deliveries(RETRY), late, settings=settings(database=None, max_examples=500))
    assert late(found)
