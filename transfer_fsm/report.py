"""``step``: the reducer plus a report of what the event did, why, and what it caused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .events import CallNotification, Event, OperationNotification, ResourceNotification
from .reducer import classify, move_of, reduce
from .rules import (
    AUDIO_MILESTONE,
    FACT_STATE,
    FINAL_STATUSES,
    RULES,
    STATUS_MILESTONE,
    TERMINATED_MILESTONE,
    Attempt,
    Fact,
)
from .values import (
    Audio,
    Call,
    CallState,
    Milestone,
    Outcome,
    ResultInfo,
    TransferAbandoned,
    TransferRequested,
    TransferStatus,
)


class Step:
    """What :func:`step` returns: the new call, what the event did, and why.

    An immutable record of four fields, ``call``, ``outcome``, ``milestones``
    and ``reason``: it compares, hashes, prints, unpacks
    (``call, outcome, milestones, reason = step``), ``match``-es, pickles and
    copies by them. ``call`` and ``milestones`` are made with the step; for a
    call notification, ``outcome`` and ``reason`` are worked out when first
    read (from the calls before and after and the notification's immutable
    fields, which are then let go), so a store that applies thousands of
    notifications pays only for what is read.
    """

    __slots__ = ("_event", "_old", "_outcome", "_reason", "call", "milestones")
    __match_args__ = ("call", "outcome", "milestones", "reason")

    call: Call
    milestones: tuple[Milestone, ...]
    _outcome: Outcome | None
    _reason: str | None
    _old: Call
    _event: Event

    def __init__(
        self, call: Call, outcome: Outcome, milestones: tuple[Milestone, ...], reason: str
    ) -> None:
        _set_call(self, call)
        _set_outcome(self, outcome)
        _set_milestones(self, milestones)
        _set_reason(self, reason)

    @property
    def outcome(self) -> Outcome:
        """What the event did: applied, duplicate, stale or ignored."""
        outcome = self._outcome
        if outcome is None:
            outcome = self._work_out()[0]
        return outcome

    @property
    def reason(self) -> str:
        """Why: what moved ("failed the attempt: 500/7000"), or why nothing did."""
        reason = self._reason
        if reason is None:
            reason = self._work_out()[1]
        return reason

    @property
    def milestone_keys(self) -> tuple[str, ...]:
        """A stable key per milestone, parallel to :attr:`milestones`: the idempotency key
        of the bot's reaction to it.

        ``"{call_id}:{attempt}:{milestone}"``, where ``attempt`` is the number of the
        attempt the milestone belongs to (``Transfer.attempt`` of :attr:`call`; 0
        before the call's first attempt), and ``"{call_id}:callTerminated"`` for the
        call's end. The same milestone of the same attempt has the same key in every
        delivery order and on every writer; different attempts have different keys.
        Milestones fire at most once per key over an attempt's own notifications;
        media outside a transfer has no order (``docs/model.md``), so an
        ``audioActive`` / ``audioInactive`` there may fire again under its key.
        """
        return milestone_keys(self.call, self.milestones)

    def _work_out(self) -> tuple[Outcome, str]:
        """The outcome and the reason, from the calls before and after and the event."""
        old, new, event = self._old, self.call, self._event
        if new is not old:
            outcome, reason = _APPLIED, describe(old, new, event)
        else:
            outcome, reason = _unchanged(old, event)
        _set_outcome(self, outcome)
        _set_reason(self, reason)
        _set_old(self, None)  # what they were worked out from is no longer held
        _set_event(self, None)
        return outcome, reason

    def _fields(self) -> tuple[Call, Outcome, tuple[Milestone, ...], str]:
        return (self.call, self.outcome, self.milestones, self.reason)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fields())

    def __eq__(self, other: object) -> bool:
        if type(other) is not Step:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"Step(call={self.call!r}, outcome={self.outcome!r}, "
            f"milestones={self.milestones!r}, reason={self.reason!r})"
        )

    def __reduce__(self) -> tuple[type[Step], tuple[Any, ...]]:
        return (Step, self._fields())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Step is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Step is immutable: cannot delete {name!r}")


_set_call = Step.__dict__["call"].__set__
_set_outcome = Step.__dict__["_outcome"].__set__
_set_milestones = Step.__dict__["milestones"].__set__
_set_reason = Step.__dict__["_reason"].__set__
_set_old = Step.__dict__["_old"].__set__
_set_event = Step.__dict__["_event"].__set__
_new_step = object.__new__
_APPLIED = Outcome.APPLIED
_NONE: tuple[Milestone, ...] = ()
_TERMINATED = CallState.TERMINATED


def lazy_step(old: Call, new: Call, event: Event) -> Step:
    """The step from ``old`` to ``new`` (``reduce(old, event)``), as :func:`step` returns it:
    its outcome and reason are worked out when read."""
    made: Step = _new_step(Step)
    _set_call(made, new)
    if new is old:  # reduce returns its input itself when nothing moved
        _set_outcome(made, None)
        _set_milestones(made, _NONE)
    else:
        _set_outcome(made, _APPLIED)
        _set_milestones(made, milestones(old, new))
    _set_reason(made, None)
    _set_old(made, old)
    _set_event(made, event)
    if type(event) is not CallNotification:
        # Only a call notification is read from immutable fields alone; any other
        # event (an operation's @odata.type is in its data) is worded at once.
        made._work_out()
    return made


AFTER_TERMINATION = "the call has already terminated"
SUB_RESOURCE = "a sub-resource notification is not a call update"
NO_PROGRESS = "the operation carries no transfer progress"
ALREADY_IN_VIEW = "everything it says is already in the view"
OVERTAKEN = "the view has already moved past it"
NOTHING_KNOWN = "it carries no state or audio the library knows (kept on the event)"
ATTEMPT_OPEN = "a transfer attempt is already open"
NOT_IN_FLIGHT = "no attempt is in flight"
LATE_COPY = "a late copy of an earlier attempt's failure"

# How an applied step names the status it moved the attempt to (only a new
# attempt is ever requested: see OPENED_WORDS).
STATUS_WORDS: dict[TransferStatus, str] = {
    TransferStatus.TRANSFERRING: "the transfer is in progress",
    TransferStatus.ACCEPTED: "the target accepted the transfer",
    TransferStatus.ABANDONED: "abandoned the attempt (the bot's timeout: not Graph's word)",
    TransferStatus.COMPLETED: "completed the attempt",
    TransferStatus.FAILED: "failed the attempt",
}
# How a step that opens an attempt names the status it opens it in.
OPENED_WORDS: dict[TransferStatus, str] = {
    TransferStatus.REQUESTED: "opened an attempt (the bot's request)",
    TransferStatus.TRANSFERRING: "opened an attempt by observation: in progress",
    TransferStatus.ACCEPTED: "opened an attempt by observation: accepted",
    TransferStatus.COMPLETED: "opened an attempt by observation: completed",
    TransferStatus.FAILED: "opened an attempt by observation: failed",
}
# Why a failure happened, by the fact that caused it (others: Graph's failure).
FAILURE_CAUSES: dict[Fact, str] = {
    Fact.REJECTED: "Graph refused the request",
    Fact.TERMINATED: "the call ended without a transfer result",
}


def step(call: Call, event: Event) -> Step:
    """Reduce one event and report what it did.

    Returns the new call (what :func:`reduce` returns), the
    :class:`~transfer_fsm.Outcome` (applied, duplicate, stale or ignored),
    the milestones the event caused, in a fixed order, and a short reason
    that names what happened ("failed the attempt: 500/7000", "opened an
    attempt by observation", "a late copy of an earlier attempt's failure").
    """
    return lazy_step(call, reduce(call, event), event)


def milestones(old: Call, new: Call) -> tuple[Milestone, ...]:
    """The milestones caused by going from ``old`` to ``new``."""
    before, after = old[3], new[3]  # the attempts (``transfer``)
    status = None if after is None else after[0]
    first = (
        STATUS_MILESTONE.get(status)  # type: ignore[arg-type]
        if before is None or before[0] is not status
        else None
    )
    state, audio = new[1], new[2]
    if state is _TERMINATED:
        second = TERMINATED_MILESTONE if old[1] is not _TERMINATED else None
    else:
        second = AUDIO_MILESTONE[audio] if audio is not None and audio is not old[2] else None
    if first is None:
        return _NONE if second is None else (second,)
    return (first,) if second is None else (first, second)


def milestone_keys(call: Call, fired: tuple[Milestone, ...]) -> tuple[str, ...]:
    """The keys of the milestones ``fired`` by the step that made ``call``
    (see :attr:`Step.milestone_keys`)."""
    call_id = call[0]
    attempt = call[3]
    number = 0 if attempt is None else attempt[5]
    return tuple(
        f"{call_id}:{milestone.value}"
        if milestone is TERMINATED_MILESTONE
        else f"{call_id}:{number}:{milestone.value}"
        for milestone in fired
    )


def _code(result: ResultInfo | None) -> str:
    return "no resultInfo" if result is None else f"{result.code}/{result.subcode}"


def describe(old: Call, new: Call, event: Event) -> str:
    """What an applied event did, clause by clause: the attempt, then each axis."""
    fact = classify(old, event)
    move = move_of(old, fact)
    attempt = None if move is None else move.attempt
    clauses = _attempt_clauses(old, new, fact, attempt)
    if new.state is not old.state:
        clauses.append(f"call state {_word(old.state)} → {_word(new.state)}")
    if new.audio is not old.audio:
        clauses.append(f"audio {_word(old.audio)} → {_word(new.audio)}")
    if new.result != old.result and new.result is not None:
        clauses.append(f"resultInfo {_code(new.result)}")
    if new.termination_reason != old.termination_reason:
        clauses.append(f"terminationReason {new.termination_reason!r}")
    return "; ".join(clauses) or "applied"


def _attempt_clauses(old: Call, new: Call, fact: Fact | None, attempt: Attempt | None) -> list[str]:
    before, after = old.transfer, new.transfer
    if after is None:
        return []
    clauses = []
    status = after.status
    if attempt is Attempt.OPEN:  # a new attempt: nothing of the old one to compare
        words = OPENED_WORDS[status]
        if status is TransferStatus.FAILED:
            words += f": {_code(after.result)}"
        return [words]
    if attempt is Attempt.ATTACH and before is not None and before.request is None:
        clauses.append("attached the request to the attempt opened by observation")
    if before is not None and before.status is not status:
        words = STATUS_WORDS[status]
        if status is TransferStatus.FAILED:
            cause = FAILURE_CAUSES.get(fact) if fact is not None else None
            words += f" ({cause})" if cause else ""
            words += f": {_code(after.result)}"
        clauses.append(words)
    if before is not None and before.replaces_context != after.replaces_context:
        clauses.append(f"replacesContext {after.replaces_context!r}")
    if before is not None and before.audio is not after.audio and old.audio is new.audio:
        clauses.append(f"the attempt's audio {_word(before.audio)} → {_word(after.audio)}")
    return clauses


def _word(value: CallState | Audio | None) -> str:
    return "none" if value is None else value.value


def _unchanged(call: Call, event: Event) -> tuple[Outcome, str]:
    """Why an event left the call as it was."""
    if isinstance(event, ResourceNotification):
        return Outcome.IGNORED, SUB_RESOURCE
    terminated = call.state is CallState.TERMINATED
    fact = classify(call, event)
    if fact is Fact.EARLIER_FAILURE and not terminated:
        return Outcome.STALE, f"{LATE_COPY} ({_code(_result_of(event))})"
    if isinstance(event, CallNotification):
        return _unchanged_call(call, event, fact, terminated)
    if terminated:
        return Outcome.STALE, AFTER_TERMINATION
    if isinstance(event, OperationNotification):
        if fact is None:
            return Outcome.IGNORED, NO_PROGRESS
        transfer = call.transfer
        proves = RULES[None][fact].status
        if (
            transfer is not None
            and transfer.status is proves
            and (proves not in FINAL_STATUSES or event.result == transfer.result)
        ):
            return Outcome.DUPLICATE, ALREADY_IN_VIEW
        return Outcome.STALE, OVERTAKEN
    if isinstance(event, TransferRequested):
        return Outcome.IGNORED, ATTEMPT_OPEN
    if isinstance(event, TransferAbandoned) and event.attempt is not None:
        return Outcome.STALE, _not_in_flight(call, event.attempt)
    return Outcome.IGNORED, NOT_IN_FLIGHT


def _not_in_flight(call: Call, named: int) -> str:
    """Why ``TransferAbandoned(attempt=named)`` changed nothing."""
    transfer = call.transfer
    if transfer is None:
        return f"attempt {named} is not in flight: no attempt was opened"
    return (
        f"attempt {named} is not in flight: attempt {transfer.attempt} is {transfer.status.value}"
    )


def _unchanged_call(
    call: Call, event: CallNotification, fact: Fact | None, terminated: bool
) -> tuple[Outcome, str]:
    if terminated:
        if FACT_STATE.get(fact) is CallState.TERMINATED and _nothing_new(call, event):  # type: ignore[arg-type]
            return Outcome.DUPLICATE, ALREADY_IN_VIEW
        return Outcome.STALE, AFTER_TERMINATION
    known_audio = isinstance(event.audio, Audio)
    if fact in (Fact.NO_STATE, Fact.UNKNOWN_STATE) and not known_audio:
        return Outcome.IGNORED, NOTHING_KNOWN
    state_known = FACT_STATE.get(fact) in (None, call.state)  # type: ignore[arg-type]
    audio_known = not known_audio or event.audio is call.audio
    if state_known and audio_known:
        return Outcome.DUPLICATE, ALREADY_IN_VIEW
    return Outcome.STALE, OVERTAKEN


def _result_of(event: Event) -> ResultInfo | None:
    return event.result if isinstance(event, (CallNotification, OperationNotification)) else None


def _nothing_new(call: Call, event: CallNotification) -> bool:
    """The event's resultInfo and terminationReason, where it has them, are the view's."""
    return event.result in (None, call.result) and event.termination_reason in (
        None,
        call.termination_reason,
    )
