"""Every delivery order of every documented flow, with and without duplicates.

With the bot's ``TransferRequested`` first, every permutation of a flow's
notifications, and every permutation with any one notification delivered a
second time at any position, must end in the flow's documented view, whether
the bot's snapshot started fresh or already established with audio. A bot
that only observes gets the same view except in the one interleaving
``docs/model.md`` lists as ambiguous, pinned here.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from math import factorial

import pytest
from flows import FLOWS, REQUEST, VARIANT_FLOWS, Flow, replay, with_one_duplicate

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState


def orders(flow: Flow) -> list[tuple[tf.Notification, ...]]:
    return list(permutations(flow.events()))


ALL_FLOWS = [*FLOWS, *VARIANT_FLOWS]
STARTS = ("fresh", "established with audio")


def _start(flow: Flow, start: str) -> Call:
    call_id = flow.final.call_id
    if start == "fresh":
        return Call(call_id)
    return Call(call_id, CallState.ESTABLISHED, Audio.ACTIVE)


def _requested(flow: Flow, start: str) -> Call:
    return tf.reduce(_start(flow, start), flow.request)


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("flow", ALL_FLOWS, ids=lambda flow: flow.name)
def test_every_order_ends_in_the_documented_view(flow: Flow, start: str) -> None:
    finals = [replay(_requested(flow, start), *order) for order in orders(flow)]
    assert len(finals) == factorial(len(flow.events()))
    assert set(finals) == {flow.final}


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("flow", ALL_FLOWS, ids=lambda flow: flow.name)
def test_every_order_with_a_duplicate_anywhere_ends_in_the_documented_view(
    flow: Flow, start: str
) -> None:
    finals = [
        replay(_requested(flow, start), *delivered)
        for order in orders(flow)
        for delivered in with_one_duplicate(order)
    ]
    n = len(flow.events())
    assert len(finals) == factorial(n) * n * (n + 1)
    assert set(finals) == {flow.final}


def test_the_exhaustive_tests_cover_the_counted_interleavings() -> None:
    sizes = [len(flow.events()) for flow in ALL_FLOWS]
    plain = sum(factorial(n) for n in sizes)
    duplicated = sum(factorial(n) * n * (n + 1) for n in sizes)
    assert (len(ALL_FLOWS), plain, duplicated) == (30, 2622, 76392)


def _observed(view: Call) -> Call:
    """The documented view as a bot that never sent TransferRequested sees it."""
    assert view.transfer is not None
    return view._replace(transfer=view.transfer._replace(request=None))


def _is_restore(event: tf.Event) -> bool:
    return (
        isinstance(event, tf.CallNotification)
        and event.audio is Audio.ACTIVE
        and event.state is CallState.ESTABLISHED
    )


def _restore_comes_first(order: Sequence[tf.Event]) -> bool:
    """The ambiguous case: every delivery of the audio-active notification that
    still says ``established`` arrives before anything shows a transfer began."""
    restores = [i for i, event in enumerate(order) if _is_restore(event)]
    others = [i for i, event in enumerate(order) if not _is_restore(event)]
    return bool(restores) and max(restores) < min(others)


# A failed legacy operation with a numeric subCode is the transfer's only by
# the clientContext of the bot's request: an observer cannot tell.
OBSERVABLE = [flow for flow in ALL_FLOWS if flow.request == REQUEST]


@pytest.mark.parametrize("flow", OBSERVABLE, ids=lambda flow: flow.name)
def test_an_observing_bot_gets_the_same_view_except_when_the_restore_comes_first(
    flow: Flow,
) -> None:
    expected = _observed(flow.final)
    assert expected.transfer is not None
    ambiguous = expected._replace(
        audio=Audio.INACTIVE, transfer=expected.transfer._replace(audio=Audio.INACTIVE)
    )
    runs = 0
    for order in orders(flow):
        deliveries: list[list[tf.Event]] = [list(order), *with_one_duplicate(order)]
        for delivered in deliveries:
            runs += 1
            final = replay(_start(flow, "established with audio"), *delivered)
            assert final == (ambiguous if _restore_comes_first(delivered) else expected), order
    n = len(flow.events())
    assert runs == factorial(n) * (1 + n * (n + 1))
