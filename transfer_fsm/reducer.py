"""The reducer: reads events as facts and applies the tables of :mod:`transfer_fsm.rules`.

Nothing here decides *what* may happen; that is all in ``rules``. This module
only classifies an event into a :class:`~transfer_fsm.rules.Fact`, looks up the
rule for the current phase and moves each axis as the rule says.
"""

from __future__ import annotations

from typing import NamedTuple

from .events import CallNotification, Event, OperationNotification, ResourceNotification
from .rules import (
    BOT_FACTS,
    FACT_STATE,
    FINAL_STATUSES,
    MEDIA,
    MEDIA_CHAIN,
    PLAIN_FACT,
    REFINABLE,
    REFUSAL_RESTORES,
    RULES,
    SETTLED_AFTER_END,
    STATE_RANK,
    TERMINATED_AUDIO,
    Attempt,
    Fact,
    Media,
    advances_to,
    fact_of,
    media_kind,
    operation_fact,
)
from .values import (
    SUCCESS_CODES,
    Audio,
    Call,
    CallState,
    ChangeType,
    ResultInfo,
    Transfer,
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
    TransferStatus,
)

_TERMINATED = CallState.TERMINATED
_DELETED = ChangeType.DELETED
_OPEN = Attempt.OPEN
_ATTACH = Attempt.ATTACH
_LATEST = Media.LATEST
_CHAIN = Media.CHAIN
_STALE = Media.STALE
_UNKNOWN_STATE = Fact.UNKNOWN_STATE
_REQUESTED = Fact.REQUESTED
_REJECTED = Fact.REJECTED
_ABANDONED = Fact.ABANDONED
_EARLIER = Fact.EARLIER_FAILURE
_new_call = tuple.__new__
_new_transfer = tuple.__new__


class WrongCallError(ValueError):
    """An event for one call was reduced into the snapshot of another."""

    def __init__(self, call_id: str, event_call_id: str) -> None:
        self.call_id = call_id
        self.event_call_id = event_call_id
        super().__init__(
            f"event for call {event_call_id!r} cannot be reduced into call {call_id!r}"
        )


class Move(NamedTuple):
    """A rule compiled for one phase and one current state: what actually moves.

    ``state``: the new call state (``None``: the axis stays); ``status``: the
    new transfer status (``None``: it stays); ``final``: the status ends the
    attempt, so the event's ``resultInfo`` becomes the attempt's result.
    """

    state: CallState | None
    status: TransferStatus | None
    final: bool
    attempt: Attempt | None


Phase = TransferStatus | None


def compile_moves() -> dict[Phase, dict[CallState | None, dict[Fact, Move]]]:
    """Resolve every rank comparison of :data:`RULES` ahead of time."""
    compiled: dict[Phase, dict[CallState | None, dict[Fact, Move]]] = {}
    for phase, table in RULES.items():
        ranks = STATE_RANK[phase]
        by_state: dict[CallState | None, dict[Fact, Move]] = {}
        compiled[phase] = by_state
        for state in (None, *CallState):
            current = ranks.get(state, -1)
            moves: dict[Fact, Move] = {}
            by_state[state] = moves
            for fact, rule in table.items():
                moves_state = rule.rank is not None and rule.rank >= current
                status = advances_to(rule, phase)
                if moves_state or status is not None or rule.attempt is not None:
                    moves[fact] = Move(
                        FACT_STATE[fact] if moves_state else None,
                        status,
                        status in FINAL_STATUSES,
                        rule.attempt,
                    )
    return compiled


def compile_media() -> dict[Phase, dict[Fact, Media]]:
    """How each phase's media axis takes the audio of each fact."""
    return {
        phase: {fact: modes[media_kind(fact)] for fact in Fact} for phase, modes in MEDIA.items()
    }


MOVES = compile_moves()
MEDIA_MODES = compile_media()


def reduce(call: Call, event: Event) -> Call:
    """Return the call after ``event``: ``step(call, event).call``, without the report.

    Never mutates ``call`` or ``event`` and never raises for a well-formed
    event. Raises :class:`WrongCallError` (a ``ValueError``) for an event
    about another call, and ``TypeError`` for something that is not an event.
    """
    # The hot path, one frame on purpose (it runs for every webhook): a call
    # notification moves every axis, in the order the theory of operation gives.
    if type(event) is not CallNotification:
        return _reduce_other(call, event)
    call_id, state, audio, current, result, reason, earlier = call
    if current is None:
        phase = t_result = t_context = t_audio = t_request = None
        number = 0
    else:
        phase, t_result, t_context, t_audio, t_request, number = current
    event_id, change, heard_state, heard, event_result, event_reason, context, _, _ = event
    if event_id != call_id:
        raise WrongCallError(call_id, event_id)
    if state is _TERMINATED and phase not in SETTLED_AFTER_END:
        return call
    fact = PLAIN_FACT.get(heard_state, _UNKNOWN_STATE)
    if change is _DELETED or (
        (event_result is not None or event_reason is not None) and fact in REFINABLE
    ):
        fact = fact_of(event, earlier)
        if fact is _EARLIER:  # a late copy of an earlier attempt's failure: nothing of it
            return call
    if state is _TERMINATED and fact not in SETTLED_AFTER_END[phase]:
        return call
    move = MOVES[phase][state].get(fact)
    if move is not None:  # the call-state axis and the transfer status
        new_state, status, final, attempt = move
        if attempt is _OPEN and status is not None:
            if phase is not None:  # after a failed attempt, whose failures are remembered
                earlier = remembered(earlier, t_result, result)
                result = None
            t_result = t_context = t_audio = t_request = None
            number += 1
        if new_state is not None:
            state = new_state
            if event_result is not None:
                result = event_result
            if event_reason is not None:
                reason = event_reason
        if status is not None:
            phase = status
            if final:
                t_result = event_result
                if result is None and new_state is None and state is _TERMINATED:
                    result = event_result  # Graph's word settling an abandoned attempt late
    if context is not None and t_context is None and phase is not None:
        t_context = context
    if state is _TERMINATED:  # the media axis, in the phase after the event
        taken: Audio | None = TERMINATED_AUDIO
        mode = _LATEST
    elif type(heard) is Audio:
        taken = heard
        mode = MEDIA_MODES[phase][fact]
    else:
        taken = None
        mode = _STALE
    if mode is _LATEST or (mode is _CHAIN and MEDIA_CHAIN[taken] >= MEDIA_CHAIN[t_audio]):
        audio = taken
        if phase is not None:
            t_audio = taken
    # The attempt object is kept when none of its fields moved (one new object a step).
    if phase is None:
        kept = None
    elif (
        current is not None
        and phase is current[0]
        and t_result is current[1]
        and t_context is current[2]
        and t_audio is current[3]
        and t_request is current[4]
        and number == current[5]
    ):
        kept = current
    else:
        kept = _new_transfer(Transfer, (phase, t_result, t_context, t_audio, t_request, number))
    new = (call_id, state, audio, kept, result, reason, earlier)
    return call if tuple.__eq__(new, call) else _new_call(Call, new)


def _advance_attempt(
    call: Call, fact: Fact | None, result: ResultInfo | None, request: TransferRequested | None
) -> Call:
    """Apply a fact that carries no state or audio of its own: the bot's, or an operation's."""
    call_id, state, audio, current, c_result, reason, earlier = call
    if current is None:
        phase = t_result = t_context = t_audio = t_request = None
        number = 0
    else:
        phase, t_result, t_context, t_audio, t_request, number = current
    if fact is None or (state is _TERMINATED and fact not in SETTLED_AFTER_END.get(phase, ())):
        return call
    move = MOVES[phase][state].get(fact)
    if move is None:
        return call
    new_state, status, final, attempt = move
    if attempt is _OPEN and status is not None:  # a new attempt: nothing of the old one
        if phase is not None:  # after a failed attempt, whose failures are remembered
            earlier = remembered(earlier, t_result, c_result)
            c_result = None
        elif fact is _REQUESTED:  # the bot's boundary clears the result
            c_result = None
        if new_state is not None:  # a failed transfer operation seen first
            state = new_state
            if result is not None:
                c_result = result
        t_result = result if final else None
        opened = _new_transfer(Transfer, (status, t_result, None, None, request, number + 1))
        return _new_call(Call, (call_id, state, audio, opened, c_result, reason, earlier))
    if phase is None:
        return call
    if attempt is _ATTACH:
        if t_request is not None or request is None:
            return call
        t_request = request
    if fact is _REJECTED:  # the attempt never started: what it saw was an earlier one's
        state = REFUSAL_RESTORES.get(state, state)
    elif new_state is not None:  # a failed transfer operation: the call is back
        state = new_state
        if result is not None:
            c_result = result
    elif c_result is None and state is _TERMINATED:  # the operation settles it late
        c_result = result
    if status is not None:
        phase = status
        if final:
            t_result = result
    # Every path here moves the attempt (its status, its request, or a refusal's
    # result), so it is built anew; an equal call is still never rebuilt.
    moved = _new_transfer(Transfer, (phase, t_result, t_context, t_audio, t_request, number))
    new = (call_id, state, audio, moved, c_result, reason, earlier)
    return call if tuple.__eq__(new, call) else _new_call(Call, new)


def remembered(
    earlier: tuple[ResultInfo, ...], ended: ResultInfo | None, since: ResultInfo | None
) -> tuple[ResultInfo, ...]:
    """``earlier_failures`` once an attempt opens after an ended one, each ``resultInfo`` once:
    the one the attempt ended with (``ended``: any code, as a failed legacy operation
    may carry 0 or none), and the call's own ``result`` since when it is a failure."""
    if ended is not None and ended not in earlier:
        earlier = (*earlier, ended)
    if since is not None and since[0] not in SUCCESS_CODES and since not in earlier:
        earlier = (*earlier, since)
    return earlier


def _reduce_other(call: Call, event: Event) -> Call:
    """Every event but a call notification: the bot's own, and sub-resources'."""
    if type(event) is TransferRequested:
        return _advance_attempt(call, _REQUESTED, None, event)
    if type(event) is TransferRejected:
        return _advance_attempt(call, _REJECTED, event.result, None)
    if type(event) is TransferAbandoned:
        attempt = call.transfer
        named = event.attempt
        if named is not None and (attempt is None or attempt.attempt != named):
            return call  # another attempt than the one it names: a stale timer
        return _advance_attempt(call, _ABANDONED, None, None)
    if type(event) is not OperationNotification and type(event) is not ResourceNotification:
        raise TypeError(f"not a transfer_fsm event: {type(event).__name__}")
    if event.call_id != call.call_id:
        raise WrongCallError(call.call_id, event.call_id)
    if type(event) is not OperationNotification:
        return call  # a sub-resource notification is not a call update
    attempt = call.transfer
    request = None if attempt is None else attempt.request
    return _advance_attempt(
        call, operation_fact(event, request, call.earlier_failures), event.result, None
    )


def classify(call: Call, event: Event) -> Fact | None:
    """The fact the reducer reads ``event`` as, against ``call`` (``None``: no call fact).

    For reports (:func:`transfer_fsm.step`); :func:`reduce` classifies inline.
    """
    if type(event) is CallNotification:
        return fact_of(event, call.earlier_failures)
    if type(event) is OperationNotification:
        attempt = call.transfer
        request = None if attempt is None else attempt.request
        return operation_fact(event, request, call.earlier_failures)
    return BOT_FACTS.get(type(event))


def move_of(call: Call, fact: Fact | None) -> Move | None:
    """The compiled rule for ``fact`` in ``call``'s phase and state (``None``: no rule)."""
    attempt = call.transfer
    phase = None if attempt is None else attempt.status
    return None if fact is None else MOVES[phase][call.state].get(fact)
