"""The documented transfer flows, from the public test kit, and helpers for the tests.

The flows, payloads and views are :mod:`transfer_fsm.testing`'s (the same kit
bots use to test themselves): ``FLOWS`` are the seed page's flows and the v1.0
direct success, ``VARIANT_FLOWS`` every other documented variant, both with
the bot's request, and ``OBSERVED_FLOWS`` the same flows as a bot that never
reduced the request sees them. The payloads are checked against
``../shared/seeds/call-transfer.md`` by ``test_seed.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, ResultInfo
from transfer_fsm.testing import Body as Body
from transfer_fsm.testing import Flow as Flow
from transfer_fsm.testing import documented_flows
from transfer_fsm.testing.flows import DOCS as DOCS
from transfer_fsm.testing.flows import LEGACY_CALL_ID as LEGACY_CALL_ID
from transfer_fsm.testing.flows import (
    LEGACY_CONTEXT,
    SEED_CALL_ID,
    _completed,
    _failed,
    _legacy_failed_operation,
    _with_state,
)
from transfer_fsm.testing.flows import SEED as SEED
from transfer_fsm.testing.flows import UP as UP

T = TypeVar("T")

CALL_ID = SEED_CALL_ID
legacy_failed_operation = _legacy_failed_operation
with_state = _with_state
"""The same notification, reporting another call state."""

REQUEST = tf.TransferRequested()

ALL_DOCUMENTED = documented_flows()
_REQUESTED = [flow for flow in ALL_DOCUMENTED if flow.request is not None]
FLOWS: list[Flow] = [
    flow for flow in _REQUESTED if flow.name.startswith(("direct", "consultative", "v1.0 direct"))
]
VARIANT_FLOWS: list[Flow] = [flow for flow in _REQUESTED if flow not in FLOWS]
"""Every other documented variant whose notifications differ from the seed's.

Variants whose notifications are the same as a flow's here or in ``FLOWS``
(PSTN and group-call transfers notify as a blind transfer does) are mapped to
it in ``test_variants.py``.
"""
OBSERVED_FLOWS: list[Flow] = [flow for flow in ALL_DOCUMENTED if flow.request is None]
FLOW: dict[str, Flow] = {flow.name: flow for flow in [*FLOWS, *VARIANT_FLOWS]}
"""The flows with a request, by name."""
SUCCESS = FLOW["direct success, accepted after audio inactive"]
FAILURE = FLOW["direct failure, accepted after audio inactive, established before audio active"]
CONSULTATIVE = FLOW["consultative success, accepted after audio inactive"]
V1_SUCCESS: Body = DOCS["v1-completed-7015"]


def note(
    state: CallState | str | None = None, audio: Audio | None = None, **kw: Any
) -> tf.CallNotification:
    """A call notification (``changeType: updated``) about ``CALL_ID``, built directly."""
    return tf.CallNotification(CALL_ID, tf.ChangeType.UPDATED, state, audio, **kw)


def events_of(*bodies: Body) -> list[tf.Notification]:
    """The notifications of callback bodies, parsed, in order."""
    return [event for body in bodies for event in tf.parse_notifications(body)]


def step_through(call: Call, *events: tf.Event) -> list[tf.Step]:
    """Every step of reducing ``events`` into ``call``, in order."""
    done = []
    for event in events:
        done.append(tf.step(call, event))
        call = done[-1].call
    return done


def with_one_duplicate(order: Sequence[T]) -> Iterator[list[T]]:
    """The order with each of its events delivered once more, at every position."""
    for event in order:
        for position in range(len(order) + 1):
            yield [*order[:position], event, *order[position:]]


def replay(call: Call, *events: tf.Event) -> Call:
    """The call after ``events``."""
    for event in events:
        call = tf.reduce(call, event)
    return call


def completed_view(
    result: ResultInfo | None, reason: str | None, request: tf.TransferRequested = REQUEST
) -> Call:
    """The documented view after a completed transfer (the kit's, with ``request``)."""
    return _completed(request, result, reason)


def failed_view(
    subcode: int,
    context: str | None = "<replacesContext>",
    request: tf.TransferRequested = REQUEST,
) -> Call:
    """The documented view after a failed transfer (500/``subcode``), audio restored."""
    return _failed(request, subcode, context)


LEGACY_REQUEST = tf.TransferRequested(client_context=LEGACY_CONTEXT)


def request_of(flow: Flow) -> tf.TransferRequested:
    """The event of the bot's request in a flow that has one."""
    assert flow.request is not None, f"{flow.name} is observed: it has no request"
    return flow.request.event
