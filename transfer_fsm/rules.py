"""The transition table: every rule of the state machine, declared once, as data.

Theory of operation
-------------------
Graph tells a bot about its call through notifications that may arrive in any
order, twice, or after the call has ended, and carry no sequence number. So
the library never trusts arrival order. It keeps the view of a call on two
independent axes plus the transfer attempt they belong to:

* the **call-state axis** (``Call.state``),
* the **media axis** (``Call.audio``, and ``Transfer.audio`` within an attempt),
* the **transfer status** (``Transfer.status``) of the current attempt,
  numbered by ``Transfer.attempt`` (1, then n + 1 for each attempt opened
  after attempt n ended).

Each notification is read as *facts* (its state, classified by :data:`Fact`;
its audio; its ``resultInfo``) and each axis takes what the facts say only if
that moves it forward in its own order. The order depends on the **phase**:
whether an attempt exists and where its status stands. Within a phase every
axis is a chain (a total order by rank); a fact below the axis' current rank
is stale and changes nothing, a fact of equal rank replaces the value (last
writer wins: only states of equal rank, such as ``established`` and ``hold``,
can tie). Because each axis takes the maximum of what it has seen, a set of
notifications ends in one view whatever their order and however often each
arrives.

Two rules hold above the tables:

1. ``terminated`` is absorbing: once the call-state axis is ``terminated``,
   every later event is stale. Termination sets the media axis to
   ``inactive`` (a terminated call has no media), so a late media fact
   cannot make two delivery orders end differently.
2. The phase is read *before* an event for the call-state axis and the
   transfer status, and *after* them for the media axis, so a notification
   that opens or ends an attempt is itself ranked on the attempt's media chain.

Beside the axes, five bookkeeping rules (applied by the reducer): the call's
``result`` and ``termination_reason`` are taken from an event whose state the
call-state axis takes (and ``result``, when the call has none, from Graph's
word settling an abandoned attempt after the call ended), and the bot's
request or an attempt after a failed one clears ``result`` (it belongs to the
current attempt); the attempt's
``result`` is the ``resultInfo`` of the event that ends it; its
``replaces_context`` is the first one reported while it exists; a request
attaches only to an attempt that has none; and opening
an attempt after a failed one adds the ``resultInfo`` the failed attempt
ended with (whatever its code: the legacy operation may fail with 0), and the
call's own failure ``result`` since, to the call's ``earlier_failures``.

**Attempts over time.** Graph gives no attempt id, so a redelivered
notification of an earlier attempt looks like one of the current attempt's.
What can be told apart is a failure: a failure (``established`` with a
failure ``resultInfo``, or a failed transfer operation) whose ``resultInfo``
equals one in ``earlier_failures`` is read as the fact ``EARLIER_FAILURE``,
a late copy, which no table moves in any phase: it changes nothing, not
even the media axis or the attempt's ``replaces_context``. A remembered
``resultInfo`` wins over an echoed ``clientContext`` (a retry rebuilt from the
view reuses its first request's). The other
notifications of an earlier attempt (``transferring``, ``transferAccepted``,
audio) carry nothing that tells them apart and count for the current one;
they cannot end it. Two bot events end an attempt whatever it has seen:
``TransferRejected`` (Graph refused the POST: the attempt never started, so a
``transferring`` / ``transferAccepted`` it saw was an earlier attempt's and
the call is back to ``established``, see ``REFUSAL_RESTORES``) and
``TransferAbandoned`` (the bot's own timeout; the call state stays, as the bot
does not know it). The bot's give-up is not Graph's failure: it moves the
attempt to ``abandoned`` (phase ``AFTER_ABANDON``), where the bot may request
again, and Graph's own word about the attempt (a completion, a failure it had
not seen) still ends it, once, even after the call has terminated
(``SETTLED_AFTER_END``). The answer of a ``GET`` of the call is read as one
more notification, by the same rules.

The legacy beta transfer reports its progress on a ``commsOperation``
instead of the call's state: its ``resultInfo.subCode`` words are facts of
the transfer status only (see ``operation_fact``). A ``failed`` transfer
operation fails the attempt and, like the documented failure, puts the call
back to ``established`` (rank 3), so it ends in the view the documented
failure does whatever the order.

Beside the reducer, the same module declares what blocks a new transfer
request (``STATE_BLOCKER``, ``STATUS_BLOCKER``) and what an attempt did to
the call a consultative transfer replaces (``LEG_FATE``).

The attempt boundary is the bot's own :class:`~transfer_fsm.TransferRequested`.
Without it (a bot that only observes) the first notification that shows
transfer progress opens the attempt. ``docs/model.md`` states what each mode
guarantees and lists the interleavings that stay ambiguous.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from .events import CallNotification, OperationNotification
from .values import (
    SUCCESS_CODES,
    Audio,
    Blocker,
    CallState,
    ChangeType,
    LegFate,
    Milestone,
    ResultInfo,
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
    TransferStatus,
)


class Fact(str, Enum):
    """What one event says about the call, as the tables key it."""

    INCOMING = "incoming"
    ESTABLISHING = "establishing"
    RINGING = "ringing"
    ESTABLISHED = "established"
    ESTABLISHED_FAILED = "established + failure resultInfo"
    HOLD = "hold"
    TRANSFERRING = "transferring"
    TRANSFER_ACCEPTED = "transferAccepted"
    REDIRECTING = "redirecting"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    TERMINATED_TRANSFERRED = "terminated + 7015 or AppTransferred"
    NO_STATE = "no state"
    UNKNOWN_STATE = "unknown state"
    OPERATION_TRANSFERRING = "operation subCode transferring"
    OPERATION_ACCEPTED = "operation subCode transferAccepted"
    OPERATION_FAILED = "transfer operation status failed"
    EARLIER_FAILURE = "failure resultInfo of an earlier attempt (late copy)"
    REQUESTED = "TransferRequested"
    REJECTED = "TransferRejected"
    ABANDONED = "TransferAbandoned"

    def __repr__(self) -> str:
        return f"Fact.{self.name}"


class Attempt(str, Enum):
    """What a fact does to the transfer attempt beyond advancing its status."""

    OPEN = "open a new attempt"
    ATTACH = "attach the request to an attempt opened by observation"


class Rule(NamedTuple):
    """What one fact does in one phase.

    ``rank``: the fact's place on the call-state axis (``None``: it does not
    move the axis); ``status``: the transfer status the fact proves (``None``:
    none); ``attempt``: whether it opens an attempt or attaches to one.
    """

    rank: int | None
    status: TransferStatus | None = None
    attempt: Attempt | None = None


class Media(str, Enum):
    """How the media axis takes an audio fact in a phase."""

    LATEST = "last writer wins"
    CHAIN = "attempt chain: none < inactive < active"
    STALE = "stale"


# The call state a fact puts on the call-state axis when it applies.
FACT_STATE: dict[Fact, CallState] = {
    Fact.INCOMING: CallState.INCOMING,
    Fact.ESTABLISHING: CallState.ESTABLISHING,
    Fact.RINGING: CallState.RINGING,
    Fact.ESTABLISHED: CallState.ESTABLISHED,
    Fact.ESTABLISHED_FAILED: CallState.ESTABLISHED,
    Fact.OPERATION_FAILED: CallState.ESTABLISHED,
    Fact.HOLD: CallState.HOLD,
    Fact.TRANSFERRING: CallState.TRANSFERRING,
    Fact.TRANSFER_ACCEPTED: CallState.TRANSFER_ACCEPTED,
    Fact.REDIRECTING: CallState.REDIRECTING,
    Fact.TERMINATING: CallState.TERMINATING,
    Fact.TERMINATED: CallState.TERMINATED,
    Fact.TERMINATED_TRANSFERRED: CallState.TERMINATED,
}

# The plain fact of each state a notification can carry; the two compound
# facts are refinements the reducer makes from ``resultInfo`` and the
# termination reason (see ``TRANSFER_SUCCESS_SUBCODE``).
STATE_FACT: dict[object, Fact] = {
    state: fact for fact, state in FACT_STATE.items() if fact.value == state.value
}
TRANSFER_SUCCESS_SUBCODE = 7015
TRANSFER_SUCCESS_REASON = "apptransferred"  # compared case-insensitively
OPERATION_PROGRESS: dict[str, Fact] = {
    "transferring": Fact.OPERATION_TRANSFERRING,
    "transferaccepted": Fact.OPERATION_ACCEPTED,
}
OPERATION_FAILED_STATUS = "failed"  # commsOperation.status, compared case-insensitively
# The legacy transfer reports on a plain ``commsOperation``; prompts,
# recordings and invitations report on their own types and are never the
# transfer's. An operation without ``@odata.type`` is judged by its content.
TRANSFER_OPERATION_TYPES = frozenset({None, "#microsoft.graph.commsOperation"})

# Reading a call notification as a fact: its ``state`` names the plain fact
# (no state: NO_STATE; a string the library does not know: UNKNOWN_STATE);
# ``changeType: deleted`` means terminated whatever the state says; and the
# two REFINABLE facts are refined by what the notification carries (see
# ``fact_of``): an ``established`` with a ``resultInfo`` whose code is not a
# success code is the transfer's failure, a ``terminated`` with subcode 7015
# or ``terminationReason: AppTransferred`` a completed transfer.
PLAIN_FACT: dict[object, Fact] = {None: Fact.NO_STATE, **STATE_FACT}
DELETED_FACT = Fact.TERMINATED
REFINABLE = frozenset({Fact.ESTABLISHED, Fact.TERMINATED})


_DELETED, _UNKNOWN = ChangeType.DELETED, Fact.UNKNOWN_STATE
_ESTABLISHED, _FAILURE = Fact.ESTABLISHED, Fact.ESTABLISHED_FAILED
_TERMINATED, _TRANSFERRED = Fact.TERMINATED, Fact.TERMINATED_TRANSFERRED
_EARLIER = Fact.EARLIER_FAILURE


def fact_of(event: CallNotification, earlier: tuple[ResultInfo, ...] = ()) -> Fact:
    """Classify a call notification into the fact the tables key on.

    ``earlier`` is the call's ``earlier_failures``: a failure that carries one
    of them is a late copy of an earlier attempt's (``EARLIER_FAILURE``).
    """
    _, change, state, _, result, reason, _, _, _ = event
    fact = DELETED_FACT if change is _DELETED else PLAIN_FACT.get(state, _UNKNOWN)
    if fact is _ESTABLISHED:
        if result is not None and result[0] not in SUCCESS_CODES:
            return _EARLIER if result in earlier else _FAILURE
    elif fact is _TERMINATED and (
        (result is not None and result[1] == TRANSFER_SUCCESS_SUBCODE)
        or (reason is not None and reason.lower() == TRANSFER_SUCCESS_REASON)
    ):
        return _TRANSFERRED
    return fact


def operation_fact(
    event: OperationNotification,
    request: TransferRequested | None,
    earlier: tuple[ResultInfo, ...] = (),
) -> Fact | None:
    """Classify a ``commsOperation`` notification (the legacy beta transfer).

    Its ``resultInfo.subCode`` word (``transferring`` / ``transferAccepted``)
    names the progress. ``status: failed`` is the transfer's failure when the
    operation is the transfer's: it carries a progress word, or it echoes the
    ``clientContext`` of the bot's request (Graph asks for a unique context
    per request). An operation of another type (a prompt, a recording, an
    invitation) is no transfer fact (``None``). A failed transfer operation
    whose ``resultInfo`` is in ``earlier`` (the call's ``earlier_failures``) is
    a late copy of an earlier attempt's (``EARLIER_FAILURE``), whatever context
    it echoes (a retry may reuse its first request's); so is one (with a
    progress word) that echoes another ``clientContext`` than the current
    request's.
    """
    if event.data.get("@odata.type") not in TRANSFER_OPERATION_TYPES:
        return None
    progress = None if event.progress is None else OPERATION_PROGRESS.get(event.progress.lower())
    status = event.status
    if status is None or status.lower() != OPERATION_FAILED_STATUS:
        return progress
    context = None if request is None else request.client_context
    echoed = event.client_context
    ours = context is not None and echoed == context
    if progress is None and not ours:
        return None
    if event.result in earlier:  # remembered: a late copy, whatever context it echoes
        return _EARLIER
    if ours or context is None or echoed is None:
        return Fact.OPERATION_FAILED
    return _EARLIER  # it echoes another request's context: another attempt's transfer


# The bot's own events, as facts.
BOT_FACTS: dict[type, Fact] = {
    TransferRequested: Fact.REQUESTED,
    TransferRejected: Fact.REJECTED,
    TransferAbandoned: Fact.ABANDONED,
}

# Facts that only a notification of an attempt carries: the media axis ranks
# their audio on the attempt's chain even after the attempt failed.
ATTEMPT_FACTS = frozenset({Fact.TRANSFERRING, Fact.TRANSFER_ACCEPTED})
# Facts that carry no state the library knows (media-only notifications): after
# a failed attempt nothing places their audio outside the attempt, so it too is
# ranked on the attempt's chain (the restore wins in every order).
STATELESS_FACTS = frozenset({Fact.NO_STATE, Fact.UNKNOWN_STATE})

_S = TransferStatus

NO_ATTEMPT: dict[Fact, Rule] = {
    Fact.INCOMING: Rule(1),
    Fact.ESTABLISHING: Rule(2),
    Fact.RINGING: Rule(2),
    Fact.ESTABLISHED: Rule(3),
    Fact.HOLD: Rule(3),
    Fact.REDIRECTING: Rule(3),
    Fact.ESTABLISHED_FAILED: Rule(3, _S.FAILED, Attempt.OPEN),
    Fact.TRANSFERRING: Rule(4, _S.TRANSFERRING, Attempt.OPEN),
    Fact.TRANSFER_ACCEPTED: Rule(5, _S.ACCEPTED, Attempt.OPEN),
    Fact.TERMINATING: Rule(6),
    Fact.TERMINATED: Rule(7),
    Fact.TERMINATED_TRANSFERRED: Rule(7, _S.COMPLETED, Attempt.OPEN),
    Fact.OPERATION_TRANSFERRING: Rule(None, _S.TRANSFERRING, Attempt.OPEN),
    Fact.OPERATION_ACCEPTED: Rule(None, _S.ACCEPTED, Attempt.OPEN),
    Fact.OPERATION_FAILED: Rule(3, _S.FAILED, Attempt.OPEN),
    Fact.REQUESTED: Rule(None, _S.REQUESTED, Attempt.OPEN),
}

IN_FLIGHT: dict[Fact, Rule] = {
    Fact.ESTABLISHED: Rule(0),
    Fact.HOLD: Rule(0),
    Fact.REDIRECTING: Rule(0),
    Fact.TRANSFERRING: Rule(1, _S.TRANSFERRING),
    Fact.TRANSFER_ACCEPTED: Rule(2, _S.ACCEPTED),
    Fact.ESTABLISHED_FAILED: Rule(3, _S.FAILED),
    Fact.TERMINATING: Rule(4),
    Fact.TERMINATED: Rule(5, _S.FAILED),
    Fact.TERMINATED_TRANSFERRED: Rule(5, _S.COMPLETED),
    Fact.OPERATION_TRANSFERRING: Rule(None, _S.TRANSFERRING),
    Fact.OPERATION_ACCEPTED: Rule(None, _S.ACCEPTED),
    Fact.OPERATION_FAILED: Rule(3, _S.FAILED),
    Fact.REQUESTED: Rule(None, None, Attempt.ATTACH),
    # The POST was refused: the attempt never started (see REFUSAL_RESTORES).
    Fact.REJECTED: Rule(None, _S.FAILED),
    # The bot gave up waiting; it does not know the call state (see AFTER_ABANDON).
    Fact.ABANDONED: Rule(None, _S.ABANDONED),
}

AFTER_FAILURE: dict[Fact, Rule] = {
    Fact.ESTABLISHED: Rule(3),
    Fact.HOLD: Rule(3),
    Fact.REDIRECTING: Rule(3),
    Fact.ESTABLISHED_FAILED: Rule(3),
    Fact.TERMINATING: Rule(4),
    Fact.TERMINATED: Rule(5),
    # A failed attempt gave the call back: a transfer that ends it is another one.
    Fact.TERMINATED_TRANSFERRED: Rule(5, _S.COMPLETED, Attempt.OPEN),
    Fact.REQUESTED: Rule(None, _S.REQUESTED, Attempt.OPEN),
}

# The bot gave up waiting (TransferAbandoned): for the call state the attempt is
# over, as after a failure (a GET that says ``established`` puts the call where
# it may be transferred again; late progress is stale), but Graph has not said
# how it ended, so its word still ends it: a failure ``resultInfo`` it did not
# know, a refused POST, or a termination that proves the transfer (of this
# attempt: nothing is opened). A termination that proves nothing ends the call,
# not the attempt.
AFTER_ABANDON: dict[Fact, Rule] = {
    Fact.ESTABLISHED: Rule(3),
    Fact.HOLD: Rule(3),
    Fact.REDIRECTING: Rule(3),
    Fact.ESTABLISHED_FAILED: Rule(3, _S.FAILED),
    Fact.TERMINATING: Rule(4),
    Fact.TERMINATED: Rule(5),
    Fact.TERMINATED_TRANSFERRED: Rule(5, _S.COMPLETED),
    Fact.OPERATION_FAILED: Rule(3, _S.FAILED),
    Fact.REQUESTED: Rule(None, _S.REQUESTED, Attempt.OPEN),
    Fact.REJECTED: Rule(None, _S.FAILED),
}

# A refused POST means the attempt never started, so a state only an attempt
# reports (a late copy of an earlier attempt's) gives way to the state a failed
# attempt leaves; any other state (hold, terminating) stays as it is.
REFUSAL_RESTORES: dict[CallState | None, CallState | None] = {
    CallState.TRANSFERRING: CallState.ESTABLISHED,
    CallState.TRANSFER_ACCEPTED: CallState.ESTABLISHED,
}

# The phase is the current attempt's status (``None``: no attempt). A
# completed attempt ends the call, so nothing applies in it.
RULES: dict[TransferStatus | None, dict[Fact, Rule]] = {
    None: NO_ATTEMPT,
    _S.REQUESTED: IN_FLIGHT,
    _S.TRANSFERRING: IN_FLIGHT,
    _S.ACCEPTED: IN_FLIGHT,
    _S.ABANDONED: AFTER_ABANDON,
    _S.FAILED: AFTER_FAILURE,
    _S.COMPLETED: {},
}

# How the media axis takes an audio fact in each phase (after the event's
# own status change): (the fact carries a state outside an attempt, it carries
# no state, it carries an attempt state); see ``media_kind``.
MEDIA: dict[TransferStatus | None, tuple[Media, Media, Media]] = {
    None: (Media.LATEST, Media.LATEST, Media.LATEST),
    _S.REQUESTED: (Media.CHAIN, Media.CHAIN, Media.CHAIN),
    _S.TRANSFERRING: (Media.CHAIN, Media.CHAIN, Media.CHAIN),
    _S.ACCEPTED: (Media.CHAIN, Media.CHAIN, Media.CHAIN),
    _S.ABANDONED: (Media.CHAIN, Media.CHAIN, Media.CHAIN),
    _S.FAILED: (Media.LATEST, Media.CHAIN, Media.CHAIN),
    _S.COMPLETED: (Media.STALE, Media.STALE, Media.STALE),
}


def media_kind(fact: Fact) -> int:
    """Which column of :data:`MEDIA` a fact's audio is read by."""
    return 2 if fact in ATTEMPT_FACTS else 1 if fact in STATELESS_FACTS else 0


MEDIA_CHAIN: dict[Audio | None, int] = {None: 0, Audio.INACTIVE: 1, Audio.ACTIVE: 2}
TERMINATED_AUDIO = Audio.INACTIVE

# The transfer status only moves forward; COMPLETED and FAILED are both final
# (Graph's word). ABANDONED (the bot's) is past every in-flight status and
# before the final ones.
STATUS_RANK: dict[TransferStatus, int] = {
    _S.REQUESTED: 0,
    _S.TRANSFERRING: 1,
    _S.ACCEPTED: 2,
    _S.ABANDONED: 3,
    _S.COMPLETED: 4,
    _S.FAILED: 4,
}
FINAL_RANK = 4
FINAL_STATUSES = frozenset(status for status, rank in STATUS_RANK.items() if rank == FINAL_RANK)
# In flight: the bot is waiting for Graph (what transfer_overdue and TransferAbandoned read).
IN_FLIGHT_STATUSES = frozenset(status for status, table in RULES.items() if table is IN_FLIGHT)

# ``terminated`` is absorbing, but an abandoned attempt is still Graph's to settle:
# these facts end it (its status only) after the call has ended.
SETTLED_AFTER_END: dict[TransferStatus | None, frozenset[Fact]] = {
    _S.ABANDONED: frozenset(
        fact for fact, rule in AFTER_ABANDON.items() if rule.status in FINAL_STATUSES
    ),
}

# What a bot is told when a step moves an axis onto these values.
STATUS_MILESTONE: dict[TransferStatus, Milestone] = {
    _S.ACCEPTED: Milestone.TRANSFER_ACCEPTED,
    _S.ABANDONED: Milestone.TRANSFER_ABANDONED,
    _S.COMPLETED: Milestone.TRANSFER_COMPLETED,
    _S.FAILED: Milestone.TRANSFER_FAILED,
}
AUDIO_MILESTONE: dict[Audio, Milestone] = {
    Audio.INACTIVE: Milestone.AUDIO_INACTIVE,
    Audio.ACTIVE: Milestone.AUDIO_ACTIVE,
}
TERMINATED_MILESTONE = Milestone.CALL_TERMINATED


def advances_to(rule: Rule, phase: TransferStatus | None) -> TransferStatus | None:
    """The status a rule moves the attempt to in a phase (``None``: it stays).

    Derived, not declared: a rule that opens an attempt always sets its
    status; otherwise the status only moves forward (see ``STATUS_RANK``).
    """
    status = rule.status
    if status is None or rule.attempt is Attempt.OPEN or phase is None:
        return status
    return status if STATUS_RANK[status] > STATUS_RANK[phase] else None


# Whether the bot may POST /transfer now: what blocks it, by the call-state
# axis and by the current attempt's status (``None``: nothing). Graph says
# "transfer an active call" and does not say whether a call on hold is one;
# the library lets the bot try. What Graph refuses for reasons a view cannot
# show (a call in meeting mode, a tenant mismatch) comes back as an error
# answer to the POST: a TransferRejected.
STATE_BLOCKER: dict[CallState | None, Blocker | None] = {
    None: Blocker.NOT_ESTABLISHED,
    CallState.INCOMING: Blocker.NOT_ESTABLISHED,
    CallState.ESTABLISHING: Blocker.NOT_ESTABLISHED,
    CallState.RINGING: Blocker.NOT_ESTABLISHED,
    CallState.ESTABLISHED: None,
    CallState.HOLD: None,
    CallState.TRANSFERRING: Blocker.TRANSFER_IN_PROGRESS,
    CallState.TRANSFER_ACCEPTED: Blocker.TRANSFER_IN_PROGRESS,
    CallState.REDIRECTING: Blocker.REDIRECTING,
    CallState.TERMINATING: Blocker.ENDING,
    CallState.TERMINATED: Blocker.TERMINATED,
    CallState.UNKNOWN_FUTURE_VALUE: Blocker.NOT_ESTABLISHED,
}
STATUS_BLOCKER: dict[TransferStatus | None, Blocker | None] = {
    None: None,
    _S.REQUESTED: Blocker.TRANSFER_IN_PROGRESS,
    _S.TRANSFERRING: Blocker.TRANSFER_IN_PROGRESS,
    _S.ACCEPTED: Blocker.TRANSFER_IN_PROGRESS,
    _S.ABANDONED: None,
    _S.COMPLETED: Blocker.TRANSFERRED,
    _S.FAILED: None,
}

# What a consultative transfer did to the call it replaces, by the status of
# the attempt whose request names that call in ``replaces_call_id``.
LEG_FATE: dict[TransferStatus, LegFate] = {
    _S.REQUESTED: LegFate.PENDING,
    _S.TRANSFERRING: LegFate.PENDING,
    _S.ACCEPTED: LegFate.PENDING,
    _S.ABANDONED: LegFate.PENDING,  # until Graph says how it ended
    _S.COMPLETED: LegFate.REPLACED,
    _S.FAILED: LegFate.KEPT,
}


# Derived, not declared: the rank of the call's current state in each phase.
STATE_RANK: dict[TransferStatus | None, dict[CallState | None, int]] = {
    phase: {
        FACT_STATE[fact]: rule.rank
        for fact, rule in table.items()
        if rule.rank is not None and fact in STATE_FACT.values()
    }
    for phase, table in RULES.items()
}
