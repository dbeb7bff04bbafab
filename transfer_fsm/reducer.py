"""The reducer: reads events as facts and applies the tables of :mod:`transfer_fsm.rules`.

Nothing here decides *what* may happen; that is all in ``rules``. This module
only classifies an event into a :class:`~transfer_fsm.rules.Fact`, looks up the
rule for the current phase and moves each axis as the rule says.
"""

from __future__ import annotations

from collections.abc import Callable

from .events import CallNotification, Event, OperationNotification, ResourceNotification
from .rules import (
    ATTEMPT_FACTS,
    FACT_STATE,
    MEDIA,
    MEDIA_CHAIN,
    OPERATION_PROGRESS,
    RULES,
    STATE_FACT,
    STATE_RANK,
    STATUS_RANK,
    TERMINATED_AUDIO,
    TRANSFER_SUCCESS_REASON,
    TRANSFER_SUCCESS_SUBCODE,
    Attempt,
    Fact,
    Media,
    Rule,
)
from .values import (
    Audio,
    Call,
    CallState,
    ChangeType,
    ResultInfo,
    Transfer,
    TransferRejected,
    TransferRequested,
)

_TERMINATED = CallState.TERMINATED
_DELETED = ChangeType.DELETED
_ACTIVE = Audio.ACTIVE
_INACTIVE = Audio.INACTIVE
_OPEN = Attempt.OPEN
_ATTACH = Attempt.ATTACH
_LATEST = Media.LATEST
_CHAIN = Media.CHAIN
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


def fact_of(event: CallNotification) -> Fact:
    """Classify a call notification's state into the fact the tables key on."""
    if event.change_type is _DELETED:
        fact = Fact.TERMINATED
    elif event.state is None:
        return Fact.NO_STATE
    else:
        fact = STATE_FACT.get(event.state, Fact.UNKNOWN_STATE)
    if fact is Fact.ESTABLISHED:
        result = event.result
        if result is not None and not result.is_success:
            return Fact.ESTABLISHED_FAILED
    elif fact is Fact.TERMINATED:
        result = event.result
        reason = event.termination_reason
        if (result is not None and result.subcode == TRANSFER_SUCCESS_SUBCODE) or (
            reason is not None and reason.lower() == TRANSFER_SUCCESS_REASON
        ):
            return Fact.TERMINATED_TRANSFERRED
    return fact


def _attempt(
    transfer: Transfer | None,
    rule: Rule,
    result: ResultInfo | None,
    request: TransferRequested | None = None,
) -> Transfer | None:
    """The attempt after a rule's status evidence (the same object if unchanged)."""
    status = rule.status
    attempt = rule.attempt
    if attempt is _OPEN:
        assert status is not None
        final = STATUS_RANK[status] == 3
        return _new_transfer(Transfer, (status, result if final else None, None, None, request))
    if transfer is None:
        return None
    if attempt is _ATTACH:
        if request is not None and transfer.request is None:
            return _new_transfer(Transfer, (*transfer[:4], request))
        return transfer
    if status is not None and STATUS_RANK[status] > STATUS_RANK[transfer.status]:
        final = STATUS_RANK[status] == 3
        return _new_transfer(
            Transfer, (status, result if final else transfer.result, *transfer[2:])
        )
    return transfer


def _on_call(call: Call, event: CallNotification) -> Call:
    call_id, state, audio, transfer, result, reason = call
    if event.call_id != call_id:
        raise WrongCallError(call_id, event.call_id)
    if state is _TERMINATED:
        return call
    fact = fact_of(event)
    phase = None if transfer is None else transfer.status
    rule = RULES[phase].get(fact)
    if rule is not None:
        rank = rule.rank
        if rank is not None and rank >= STATE_RANK[phase].get(state, -1):
            state = FACT_STATE[fact]
            if event.result is not None:
                result = event.result
            if event.termination_reason is not None:
                reason = event.termination_reason
        if rule.status is not None:
            transfer = _attempt(transfer, rule, event.result)
    if transfer is not None:
        context = event.replaces_context
        if context is not None and transfer.replaces_context is None:
            transfer = _new_transfer(Transfer, (transfer[0], transfer[1], context, *transfer[3:]))
        if state is _TERMINATED:
            transfer = _new_transfer(
                Transfer, (*transfer[:3], TERMINATED_AUDIO, transfer.request)
            )
    if state is _TERMINATED:
        audio = TERMINATED_AUDIO
    else:
        heard = event.audio
        if heard is _ACTIVE or heard is _INACTIVE:
            mode = MEDIA[None if transfer is None else transfer.status][fact in ATTEMPT_FACTS]
            if mode is _LATEST or (
                mode is _CHAIN
                and transfer is not None
                and MEDIA_CHAIN[heard] >= MEDIA_CHAIN[transfer.audio]
            ):
                audio = heard
                if transfer is not None and transfer.audio is not heard:
                    transfer = _new_transfer(
                        Transfer, (*transfer[:3], heard, transfer.request)
                    )
    return _new_call(Call, (call_id, state, audio, transfer, result, reason))


def _on_operation(call: Call, event: OperationNotification) -> Call:
    if event.call_id != call.call_id:
        raise WrongCallError(call.call_id, event.call_id)
    if call.state is _TERMINATED or event.progress is None:
        return call
    fact = OPERATION_PROGRESS.get(event.progress.lower())
    transfer = call.transfer
    rule = None if fact is None else RULES[None if transfer is None else transfer.status].get(fact)
    if rule is None:
        return call
    new = _attempt(transfer, rule, event.result)
    return call if new is transfer else call._replace(transfer=new)


def _on_resource(call: Call, event: ResourceNotification) -> Call:
    if event.call_id != call.call_id:
        raise WrongCallError(call.call_id, event.call_id)
    return call


def _on_request(call: Call, event: TransferRequested) -> Call:
    return _on_bot_event(call, Fact.REQUESTED, None, event)


def _on_rejected(call: Call, event: TransferRejected) -> Call:
    return _on_bot_event(call, Fact.REJECTED, event.result, None)


def _on_bot_event(
    call: Call, fact: Fact, result: ResultInfo | None, request: TransferRequested | None
) -> Call:
    if call.state is _TERMINATED:
        return call
    transfer = call.transfer
    rule = RULES[None if transfer is None else transfer.status].get(fact)
    if rule is None:
        return call
    new = _attempt(transfer, rule, result, request)
    return call if new is transfer else call._replace(transfer=new)


HANDLERS: dict[type, Callable[[Call, Event], Call]] = {
    CallNotification: _on_call,  # type: ignore[dict-item]
    OperationNotification: _on_operation,  # type: ignore[dict-item]
    ResourceNotification: _on_resource,  # type: ignore[dict-item]
    TransferRequested: _on_request,  # type: ignore[dict-item]
    TransferRejected: _on_rejected,  # type: ignore[dict-item]
}


def reduce(call: Call, event: Event) -> Call:
    """Return the call after ``event``: ``step(call, event).call``, without the report.

    Never mutates ``call`` or ``event`` and never raises for a well-formed
    event. Raises :class:`WrongCallError` (a ``ValueError``) for an event
    about another call, and ``TypeError`` for something that is not an event.
    """
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"not a transfer_fsm event: {type(event).__name__}")
    return handler(call, event)

