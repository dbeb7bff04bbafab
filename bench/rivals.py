"""The rivals of ``tf.reduce``: the simplest reducer there is (the floor), and the
same machine in the state-machine libraries users would pick.

The floor keeps ``tf.Call``'s fields on plain ``__slots__`` objects and moves
them through two nested dict tables, one new object per event; it does no
reconciliation (arrival order wins). The libraries model the same two axes
(call state; transfer status) as two machines per call, fed triggers in
production order: they cannot reconcile either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from workload import Item

import transfer_fsm as tf

INSTALL_HINT = "pip install -e '.[bench]'"

Fire = Callable[[str], object]
"""Fires one trigger (by name) on one state-machine library machine."""
Factory = Callable[[], tuple[Fire, Fire]]
"""Makes one call's two machines: (call-state axis, transfer-status axis)."""


# -- the floor: the simplest reducer there is -----------------------------------------

_CS = tf.CallState
_TS = tf.TransferStatus


class FloorTransfer:
    """``tf.Transfer``'s fields on a plain ``__slots__`` object."""

    __slots__ = ("audio", "replaces_context", "request", "result", "status")

    def __init__(
        self,
        status: tf.TransferStatus,
        result: tf.ResultInfo | None,
        replaces_context: str | None,
        audio: tf.Audio | str | None,
        request: tf.TransferRequested | None,
    ) -> None:
        self.status = status
        self.result = result
        self.replaces_context = replaces_context
        self.audio = audio
        self.request = request


class FloorCall:
    """``tf.Call``'s fields on a plain ``__slots__`` object."""

    __slots__ = ("audio", "call_id", "result", "state", "termination_reason", "transfer")

    def __init__(
        self,
        call_id: str,
        state: tf.CallState | None = None,
        audio: tf.Audio | str | None = None,
        transfer: FloorTransfer | None = None,
        result: tf.ResultInfo | None = None,
        termination_reason: str | None = None,
    ) -> None:
        self.call_id = call_id
        self.state = state
        self.audio = audio
        self.transfer = transfer
        self.result = result
        self.termination_reason = termination_reason


_ESTABLISHED, _TERMINATED = _CS.ESTABLISHED, _CS.TERMINATED
_TRANSFERRING, _ACCEPTED = _CS.TRANSFERRING, _CS.TRANSFER_ACCEPTED
FLOOR_STATE: dict[tf.CallState | None, dict[object, tf.CallState]] = {
    None: {
        _ESTABLISHED: _ESTABLISHED,
        _TRANSFERRING: _TRANSFERRING,
        _ACCEPTED: _ACCEPTED,
        _TERMINATED: _TERMINATED,
    },
    _ESTABLISHED: {_TRANSFERRING: _TRANSFERRING, _ACCEPTED: _ACCEPTED, _TERMINATED: _TERMINATED},
    _TRANSFERRING: {_ACCEPTED: _ACCEPTED, _ESTABLISHED: _ESTABLISHED, _TERMINATED: _TERMINATED},
    _ACCEPTED: {_ESTABLISHED: _ESTABLISHED, _TERMINATED: _TERMINATED},
    _TERMINATED: {},
}
FLOOR_STATUS: dict[tf.TransferStatus, dict[object, tf.TransferStatus]] = {
    _TS.REQUESTED: {
        _TRANSFERRING: _TS.TRANSFERRING,
        _ACCEPTED: _TS.ACCEPTED,
        _ESTABLISHED: _TS.FAILED,
        _TERMINATED: _TS.COMPLETED,
    },
    _TS.TRANSFERRING: {
        _ACCEPTED: _TS.ACCEPTED,
        _ESTABLISHED: _TS.FAILED,
        _TERMINATED: _TS.COMPLETED,
    },
    _TS.ACCEPTED: {_ESTABLISHED: _TS.FAILED, _TERMINATED: _TS.COMPLETED},
    _TS.COMPLETED: {},
    _TS.FAILED: {},
}


def floor_reduce(call: FloorCall, event: tf.Event) -> FloorCall:
    """Table lookups and a new object per event; no reconciliation: arrival order wins."""
    if type(event) is tf.TransferRequested:
        opened = FloorTransfer(_TS.REQUESTED, None, None, None, event)
        return FloorCall(
            call.call_id, call.state, call.audio, opened, call.result, call.termination_reason
        )
    if type(event) is not tf.CallNotification:
        return call
    heard = event.state
    transfer = call.transfer
    if transfer is not None and (status := FLOOR_STATUS[transfer.status].get(heard)):
        transfer = FloorTransfer(
            status, event.result, event.replaces_context, event.audio, transfer.request
        )
    return FloorCall(
        call.call_id,
        FLOOR_STATE[call.state].get(heard, call.state),
        call.audio if event.audio is None else event.audio,
        transfer,
        call.result if event.result is None else event.result,
        call.termination_reason if event.termination_reason is None else event.termination_reason,
    )


def run_floor(stream: list[Item], ids: list[str]) -> int:
    """ns to push ``stream`` through ``floor_reduce``, one ``dict`` call id -> ``FloorCall``."""
    calls = {call_id: FloorCall(call_id) for call_id in ids}
    reduce = floor_reduce
    start = time.perf_counter_ns()
    for call_id, event in stream:
        calls[call_id] = reduce(calls[call_id], event)
    return time.perf_counter_ns() - start


# -- the state-machine libraries ----------------------------------------------------

# The same two axes for both libraries: trigger -> (sources, destination).
_LIVE = ("established", "transferring", "transferAccepted")
_OPEN = ("requested", "transferring", "accepted")
CALL_STATES = (*_LIVE, "terminated")
CALL_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "start_transfer": (("established",), "transferring"),
    "accept": (("established", "transferring"), "transferAccepted"),
    "establish": (("transferring", "transferAccepted"), "established"),
    "fail": (("transferring", "transferAccepted"), "established"),
    "complete": (_LIVE, "terminated"),
    "terminate": (_LIVE, "terminated"),
}
TRANSFER_STATES = ("idle", *_OPEN, "completed", "failed")
TRANSFER_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "request": (("idle", "failed"), "requested"),
    "start_transfer": (("requested",), "transferring"),
    "accept": (("requested", "transferring"), "accepted"),
    "fail": (_OPEN, "failed"),
    "complete": (_OPEN, "completed"),
}
_STATE_TRIGGER: dict[object, str] = {
    _CS.TRANSFERRING: "start_transfer",
    _CS.TRANSFER_ACCEPTED: "accept",
}


def trigger_of(event: tf.Event) -> str | None:
    """The trigger a user of a state-machine library fires for ``event``."""
    if type(event) is tf.TransferRequested:
        return "request"
    if type(event) is not tf.CallNotification:
        return None
    state, result = event.state, event.result
    if state is _CS.ESTABLISHED:
        return "establish" if result is None or result.is_success else "fail"
    if state is _CS.TERMINATED:
        reason = event.termination_reason or ""
        transferred = (result is not None and result.subcode == 7015) or (
            reason.lower() == "apptransferred"
        )
        return "complete" if transferred else "terminate"
    return _STATE_TRIGGER.get(state)


def _missing(name: str) -> SystemExit:
    return SystemExit(
        f"bench: the library {name!r} is not installed; install the benchmark extras "
        f"with:  {INSTALL_HINT}"
    )


def transitions_factory() -> Factory:
    """Two ``transitions.Machine`` per call; invalid triggers are ignored."""
    try:
        from transitions import Machine
    except ImportError:
        raise _missing("transitions") from None
    # Each ignored trigger logs a warning; a bot would silence that too.
    logging.getLogger("transitions").setLevel(logging.ERROR)

    def machine(states: tuple[str, ...], moves: dict[str, tuple[tuple[str, ...], str]]) -> Fire:
        spec = [{"trigger": t, "source": list(src), "dest": dst} for t, (src, dst) in moves.items()]
        built = Machine(
            states=list(states),
            transitions=spec,
            initial=states[0],
            auto_transitions=False,
            ignore_invalid_triggers=True,
        )
        fire: Fire = built.trigger
        return fire

    return lambda: (machine(CALL_STATES, CALL_MOVES), machine(TRANSFER_STATES, TRANSFER_MOVES))


def statemachine_factory() -> Factory:
    """Two ``python-statemachine`` machines per call; events without a transition are ignored."""
    try:
        from statemachine import State, StateMachine
    except ImportError:
        raise _missing("python-statemachine") from None

    class CallAxis(StateMachine):
        allow_event_without_transition = True
        established = State(initial=True)
        transferring = State()
        transfer_accepted = State()
        terminated = State(final=True)
        start_transfer = established.to(transferring)
        accept = established.to(transfer_accepted) | transferring.to(transfer_accepted)
        establish = transferring.to(established) | transfer_accepted.to(established)
        fail = transferring.to(established) | transfer_accepted.to(established)
        complete = terminated.from_(established, transferring, transfer_accepted)
        terminate = terminated.from_(established, transferring, transfer_accepted)

    class TransferAxis(StateMachine):
        allow_event_without_transition = True
        idle = State(initial=True)
        requested = State()
        transferring = State()
        accepted = State()
        completed = State(final=True)
        failed = State()
        request = idle.to(requested) | failed.to(requested)
        start_transfer = requested.to(transferring)
        accept = requested.to(accepted) | transferring.to(accepted)
        fail = failed.from_(requested, transferring, accepted)
        complete = completed.from_(requested, transferring, accepted)

    return lambda: (CallAxis().send, TransferAxis().send)


def run_library(stream: list[Item], ids: list[str], new: Factory) -> int:
    """ns to fire ``stream``'s triggers on machines from ``new`` (made before timing)."""
    machines = {call_id: new() for call_id in ids}
    call_triggers, transfer_triggers = frozenset(CALL_MOVES), frozenset(TRANSFER_MOVES)
    start = time.perf_counter_ns()
    for call_id, event in stream:
        trigger = trigger_of(event)
        if trigger is None:
            continue
        fire_call, fire_transfer = machines[call_id]
        if trigger in call_triggers:
            fire_call(trigger)
        if trigger in transfer_triggers:
            fire_transfer(trigger)
    return time.perf_counter_ns() - start
