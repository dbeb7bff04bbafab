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
from flows import (
    FLOWS,
    OBSERVED_FLOWS,
    VARIANT_FLOWS,
    Flow,
    replay,
    request_of,
    with_one_duplicate,
)

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
    return tf.reduce(_start(flow, start), request_of(flow))


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


def test_every_flow_but_the_failing_legacy_operation_is_also_documented_observed() -> None:
    """A failed legacy operation with a numeric subCode is the transfer's only by
    the clientContext of the bot's request: an observer cannot tell."""
    observed = {flow.name.removesuffix(", observed"): flow for flow in OBSERVED_FLOWS}
    for flow in ALL_FLOWS:
        if "failing among" in flow.name:
            assert flow.name not in observed
            continue
        assert flow.final.transfer is not None
        seen = observed.pop(flow.name)
        assert (seen.start, seen.request, seen.bodies) == (flow.start, None, flow.bodies)
        assert seen.final == flow.final._replace(
            transfer=flow.final.transfer._replace(request=None)
        )
    assert observed == {}


@pytest.mark.parametrize("flow", OBSERVED_FLOWS, ids=lambda flow: flow.name)
def test_an_observing_bot_gets_the_same_view_except_when_the_restore_comes_first(
    flow: Flow,
) -> None:
    """Flow.documented leaves out exactly the ambiguous orders (docs/model.md, 1)."""
    expected = flow.final
    assert expected.transfer is not None
    ambiguous = expected._replace(
        audio=Audio.INACTIVE, transfer=expected.transfer._replace(audio=Audio.INACTIVE)
    )
    runs = ambiguous_runs = 0
    for order in permutations(flow.bodies):
        for delivered in [list(order), *with_one_duplicate(order)]:
            runs += 1
            events = [event for body in delivered for event in tf.parse_notifications(body)]
            final = replay(flow.start, *events)
            unclear = _restore_comes_first(events)
            ambiguous_runs += unclear
            assert flow.documented(delivered) is not unclear, delivered
            assert final == (ambiguous if unclear else expected), order
    n = len(flow.bodies)
    assert runs == factorial(n) * (1 + n * (n + 1))
    restores = sum(_is_restore(event) for event in flow.events())
    assert (ambiguous_runs > 0) is (restores > 0)
