"""Every delivery order of every documented flow, with and without duplicates.

With the bot's ``TransferRequested`` first, every permutation of a flow's
notifications, and every permutation with any one notification delivered a
second time at any position, must end in the flow's documented view. A bot
that only observes gets the same view except in the one interleaving
``docs/model.md`` lists as ambiguous, pinned here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import permutations
from math import factorial

import pytest
from flows import CALL_ID, FLOWS, REQUEST, Flow

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState


def replay(call: Call, events: Iterable[tf.Event]) -> Call:
    for event in events:
        call = tf.reduce(call, event)
    return call


def with_one_duplicate(order: Sequence[tf.Event]) -> Iterator[list[tf.Event]]:
    """The order with each of its events delivered once more, at every position."""
    for event in order:
        for position in range(len(order) + 1):
            yield [*order[:position], event, *order[position:]]


def orders(flow: Flow) -> list[tuple[tf.Notification, ...]]:
    return list(permutations(flow.events()))


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_every_order_ends_in_the_documented_view(flow: Flow) -> None:
    requested = tf.reduce(Call(CALL_ID), REQUEST)
    finals = {replay(requested, order) for order in orders(flow)}
    assert finals == {flow.final}


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_every_order_with_a_duplicate_anywhere_ends_in_the_documented_view(flow: Flow) -> None:
    requested = tf.reduce(Call(CALL_ID), REQUEST)
    finals = {
        replay(requested, delivered)
        for order in orders(flow)
        for delivered in with_one_duplicate(order)
    }
    assert finals == {flow.final}


def test_the_exhaustive_tests_cover_the_counted_interleavings() -> None:
    sizes = [len(flow.events()) for flow in FLOWS]
    plain = sum(factorial(n) for n in sizes)
    duplicated = sum(factorial(n) * n * (n + 1) for n in sizes)
    assert (len(FLOWS), plain, duplicated) == (14, 1104, 31680)


OBSERVED_START = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)


def _observed(view: Call) -> Call:
    """The documented view as a bot that never sent TransferRequested sees it."""
    assert view.transfer is not None
    return view._replace(transfer=view.transfer._replace(request=None))


def _restore_comes_first(flow: Flow, order: Sequence[tf.Notification]) -> bool:
    """The ambiguous case: the audio-active notification that still says
    ``established`` arrives before anything shows that a transfer began."""
    first = order[0]
    return (
        isinstance(first, tf.CallNotification)
        and first.audio is Audio.ACTIVE
        and first.state is CallState.ESTABLISHED
    )


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_an_observing_bot_gets_the_same_view_except_when_the_restore_comes_first(
    flow: Flow,
) -> None:
    expected = _observed(flow.final)
    assert expected.transfer is not None
    ambiguous = expected._replace(
        audio=Audio.INACTIVE, transfer=expected.transfer._replace(audio=Audio.INACTIVE)
    )
    for order in orders(flow):
        final = replay(OBSERVED_START, order)
        assert final == (ambiguous if _restore_comes_first(flow, order) else expected), order
