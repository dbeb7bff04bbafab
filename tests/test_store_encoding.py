"""``fast_encode``: the bytes ``encode`` writes, for the calls ``reduce`` makes, and
``None`` (the caller's cue to run ``encode``) for anything it does not write exactly.

Every reachable call of the snapshot tests (random histories, text with any
code point, floats and ints as a request's ``at``) and every step of the
documented flows; and values built by hand that ``encode`` refuses.
"""

from __future__ import annotations

import math

import pytest
from flows import request_of
from hypothesis import given
from store_workload import ALL_FLOWS
from test_snapshot import CALLS

import transfer_fsm as tf
from transfer_fsm import Call, ResultInfo, SnapshotError
from transfer_fsm.store import encode
from transfer_fsm.store.core import SnapshotCache
from transfer_fsm.store.encoding import fast_encode


def int_at(call: Call) -> bool:
    """Whether the call's request has an ``int`` ``at`` (left to ``encode``)."""
    attempt = call.transfer
    return attempt is not None and attempt.request is not None and type(attempt.request.at) is int


@given(CALLS)
def test_every_reachable_call_is_encoded_as_encode_does(call: Call) -> None:
    fast = fast_encode(call)
    assert fast == (None if int_at(call) else encode(call))


def test_every_step_of_the_documented_flows_is_encoded_as_encode_does() -> None:
    calls = []
    for number, flow in enumerate(ALL_FLOWS):
        call_id = f"call-{number}"
        call = tf.reduce(Call(call_id), request_of(flow)) if flow.request else Call(call_id)
        calls.append(call)
        for body in flow.about(call_id).bodies:
            for event in tf.parse_notifications(body):
                call = tf.reduce(call, event)
                calls.append(call)
    assert len(calls) > 100
    assert [fast_encode(call) for call in calls] == [encode(call) for call in calls]


@pytest.mark.parametrize(
    "call",
    [
        Call("x", state="established"),  # type: ignore[arg-type]
        Call("x", result=ResultInfo(True, 1, None)),
        Call("x", earlier_failures=[ResultInfo(500, 1, None)]),  # type: ignore[arg-type]
        Call("x", termination_reason=5),  # type: ignore[arg-type]
        tf.reduce(Call("x"), tf.TransferRequested(at=math.nan)),
        tf.reduce(Call("x"), tf.TransferRequested(at=10**400)),
        tf.reduce(Call("x"), tf.TransferRequested(target="someone")),  # type: ignore[arg-type]
        tf.reduce(Call("x"), tf.TransferRequested())._replace(call_id=7),  # type: ignore[arg-type]
    ],
)
def test_a_value_built_by_hand_is_left_to_encode(call: Call) -> None:
    assert fast_encode(call) is None
    try:
        raw = encode(call)
    except SnapshotError:
        with pytest.raises(SnapshotError):
            SnapshotCache().encode("x", call)  # the store's cache refuses it alike
        return  # encode refuses it, as the store does
    assert raw.startswith(b'{"version":2')  # a list where a tuple goes: encode writes it
    cache = SnapshotCache()
    assert cache.encode("x", call) == raw  # the cache falls back to encode
    assert cache.last("x") == (raw, call)
