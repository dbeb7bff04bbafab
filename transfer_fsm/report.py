"""``step``: the reducer plus a report of what the event did and what it caused."""

from __future__ import annotations

from typing import NamedTuple

from .events import CallNotification, Event, OperationNotification, ResourceNotification
from .reducer import reduce
from .rules import (
    AUDIO_MILESTONE,
    FACT_STATE,
    FINAL_STATUSES,
    RULES,
    STATUS_MILESTONE,
    TERMINATED_MILESTONE,
    Fact,
    fact_of,
    operation_fact,
)
from .values import Audio, Call, CallState, Milestone, Outcome, TransferRequested


class Step(NamedTuple):
    """What :func:`step` returns: the new call, what the event did, and why."""

    call: Call
    outcome: Outcome
    milestones: tuple[Milestone, ...]
    reason: str


APPLIED = "applied"
AFTER_TERMINATION = "the call has already terminated"
SUB_RESOURCE = "a sub-resource notification is not a call update"
NO_PROGRESS = "the operation carries no transfer progress"
ALREADY_IN_VIEW = "everything it says is already in the view"
OVERTAKEN = "the view has already moved past it"
NOTHING_KNOWN = "it carries no state or audio the library knows (kept on the event)"
ATTEMPT_OPEN = "a transfer attempt is already open"
NOT_WAITING = "no requested attempt is waiting for an answer"


def step(call: Call, event: Event) -> Step:
    """Reduce one event and report what it did.

    Returns the new call (what :func:`reduce` returns), the
    :class:`~transfer_fsm.Outcome` (applied, duplicate, stale or ignored),
    the milestones the event caused, in a fixed order, and a short reason.
    """
    new = reduce(call, event)
    if new != call:
        return Step(new, Outcome.APPLIED, milestones(call, new), APPLIED)
    outcome, reason = _unchanged(call, event)
    return Step(new, outcome, (), reason)


def milestones(old: Call, new: Call) -> tuple[Milestone, ...]:
    """The milestones caused by going from ``old`` to ``new``."""
    found: list[Milestone] = []
    before, after = old.transfer, new.transfer
    if (
        after is not None
        and after.status in STATUS_MILESTONE
        and (before is None or before.status is not after.status)
    ):
        found.append(STATUS_MILESTONE[after.status])
    if new.state is CallState.TERMINATED:
        if old.state is not CallState.TERMINATED:
            found.append(TERMINATED_MILESTONE)
    elif new.audio is not None and new.audio is not old.audio:
        found.append(AUDIO_MILESTONE[new.audio])
    return tuple(found)


def _unchanged(call: Call, event: Event) -> tuple[Outcome, str]:
    """Why an event left the call as it was."""
    if isinstance(event, ResourceNotification):
        return Outcome.IGNORED, SUB_RESOURCE
    terminated = call.state is CallState.TERMINATED
    if isinstance(event, CallNotification):
        fact = fact_of(event)
        if terminated:
            if FACT_STATE.get(fact) is CallState.TERMINATED and _nothing_new(call, event):
                return Outcome.DUPLICATE, ALREADY_IN_VIEW
            return Outcome.STALE, AFTER_TERMINATION
        known_audio = isinstance(event.audio, Audio)
        if fact in (Fact.NO_STATE, Fact.UNKNOWN_STATE) and not known_audio:
            return Outcome.IGNORED, NOTHING_KNOWN
        state_known = FACT_STATE.get(fact) in (None, call.state)
        audio_known = not known_audio or event.audio is call.audio
        if state_known and audio_known:
            return Outcome.DUPLICATE, ALREADY_IN_VIEW
        return Outcome.STALE, OVERTAKEN
    if terminated:
        return Outcome.STALE, AFTER_TERMINATION
    if isinstance(event, OperationNotification):
        transfer = call.transfer
        progress = operation_fact(event, None if transfer is None else transfer.request)
        if progress is None:
            return Outcome.IGNORED, NO_PROGRESS
        proves = RULES[None][progress].status
        if (
            transfer is not None
            and transfer.status is proves
            and (proves not in FINAL_STATUSES or event.result == transfer.result)
        ):
            return Outcome.DUPLICATE, ALREADY_IN_VIEW
        return Outcome.STALE, OVERTAKEN
    if isinstance(event, TransferRequested):
        return Outcome.IGNORED, ATTEMPT_OPEN
    return Outcome.IGNORED, NOT_WAITING


def _nothing_new(call: Call, event: CallNotification) -> bool:
    """The event's resultInfo and terminationReason, where it has them, are the view's."""
    return event.result in (None, call.result) and event.termination_reason in (
        None,
        call.termination_reason,
    )
