"""The immutable values of transfer_fsm: Graph's vocabularies and the call snapshot.

Every value here is a ``typing.NamedTuple``: immutable, ``__slots__``-sized (no
per-instance ``__dict__``), hashable, comparable with ``==`` and printed with a
readable ``repr``. Equality is strict about the type, so a ``Call`` never equals
a plain tuple or another value type that happens to hold the same fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, NamedTuple, TypeVar

_T = TypeVar("_T", bound=tuple)  # type: ignore[type-arg]


def strict_value(cls: type[_T]) -> type[_T]:
    """Make a NamedTuple compare equal only to values of exactly its own type."""

    def __eq__(self: tuple[object, ...], other: object) -> bool:  # noqa: N807
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self: tuple[object, ...], other: object) -> bool:  # noqa: N807
        return not (type(other) is type(self) and tuple.__eq__(self, other))

    setattr(cls, "__eq__", __eq__)  # noqa: B010
    setattr(cls, "__ne__", __ne__)  # noqa: B010
    setattr(cls, "__hash__", tuple.__hash__)  # noqa: B010
    return cls


def json_double(value: object) -> bool:
    """A real number a JSON double can carry: a finite ``float``, or an ``int`` that a
    float made from it does not overflow (``10**400`` is refused; ``bool`` is no number)."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is not int:
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def describe_value(value: object) -> str:
    """How an error message names a JSON value it did not expect."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, float) and value != value:
        return "NaN"  # as JSON writers spell it
    if isinstance(value, float) and abs(value) == float("inf"):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, (int, float)):
        text = repr(value) if abs(value) < 10**12 else "a number out of range"
        return text
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


class _WireEnum(str, Enum):
    """An enum whose values are Graph's wire strings; ``str()`` gives the wire string."""

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class CallState(_WireEnum):
    """Graph's ``callState``: every documented value, v1.0 and beta."""

    INCOMING = "incoming"
    """An incoming call that has not been answered yet."""
    ESTABLISHING = "establishing"
    """The call is being set up (may be reported after ``established``)."""
    RINGING = "ringing"
    """Listed in the docs and the beta schema, absent from the v1.0 enum."""
    ESTABLISHED = "established"
    """The call is up; also the state a failed transfer returns to."""
    HOLD = "hold"
    """The call is on hold."""
    TRANSFERRING = "transferring"
    """A transfer has started."""
    TRANSFER_ACCEPTED = "transferAccepted"
    """The transfer target accepted the transfer."""
    REDIRECTING = "redirecting"
    """The call is being redirected."""
    TERMINATING = "terminating"
    """The call is being torn down."""
    TERMINATED = "terminated"
    """The call has ended; absorbing."""
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"
    """Graph's evolvable-enum sentinel."""


class Audio(_WireEnum):
    """Graph's ``mediaState`` for ``callMediaState.audio``."""

    ACTIVE = "active"
    """Audio flows."""
    INACTIVE = "inactive"
    """Audio is paused (during a transfer) or gone (after termination)."""


class TransferStatus(_WireEnum):
    """Where one transfer attempt stands; moves only forward within the attempt."""

    REQUESTED = "requested"
    """The bot POSTed ``/transfer``; nothing has been heard yet."""
    TRANSFERRING = "transferring"
    """Graph reported the transfer in progress."""
    ACCEPTED = "accepted"
    """The target accepted the transfer."""
    ABANDONED = "abandoned"
    """The bot gave up waiting (:class:`TransferAbandoned`): no longer in flight for the
    bot, which may request again, but not ended by Graph, whose later word (a completion
    or a failure of this attempt) still ends it as ``completed`` or ``failed``."""
    COMPLETED = "completed"
    """The call was transferred; the bot's leg has ended."""
    FAILED = "failed"
    """The transfer did not happen; see ``Transfer.result``."""


class ChangeType(_WireEnum):
    """``commsNotification.changeType``."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class Outcome(_WireEnum):
    """What one event did to a call, as reported by :func:`transfer_fsm.step`."""

    APPLIED = "applied"
    """The event changed the call's view."""
    DUPLICATE = "duplicate"
    """Everything the event says is already in the view."""
    STALE = "stale"
    """The view has already moved past what the event says."""
    IGNORED = "ignored"
    """The event carries nothing the library applies to the call (kept, not applied)."""


class Milestone(_WireEnum):
    """Something a bot may act on; each fires at most once over an attempt's notifications.

    :attr:`transfer_fsm.Step.milestone_keys` gives each one a stable key to dedupe
    the bot's reaction on.
    """

    TRANSFER_ACCEPTED = "transferAccepted"
    TRANSFER_COMPLETED = "transferCompleted"
    TRANSFER_FAILED = "transferFailed"
    """Graph's word (a failure ``resultInfo``, a termination without a transfer, a
    refused POST) ended the attempt as failed; never the bot's own timeout."""
    TRANSFER_ABANDONED = "transferAbandoned"
    """The bot's :class:`TransferAbandoned` gave up on the attempt (its own guess)."""
    AUDIO_INACTIVE = "audioInactive"
    AUDIO_ACTIVE = "audioActive"
    CALL_TERMINATED = "callTerminated"


class Blocker(_WireEnum):
    """Why a call cannot be transferred now (see :func:`transfer_fsm.transfer_blockers`)."""

    NOT_ESTABLISHED = "notEstablished"
    """No state has been reported yet, or the call is still being set up."""
    REDIRECTING = "redirecting"
    """The call is being redirected."""
    TRANSFER_IN_PROGRESS = "transferInProgress"
    """An attempt is open (requested, transferring or accepted), or the call still says
    ``transferring`` / ``transferAccepted``."""
    TRANSFERRED = "transferred"
    """The call has already been transferred."""
    ENDING = "ending"
    """The call is being torn down (``terminating``)."""
    TERMINATED = "terminated"
    """The call has ended."""


class LegFate(_WireEnum):
    """What a consultative transfer did to the call it replaces (``replacesCallId``).

    See :func:`transfer_fsm.consultation_fate`.
    """

    UNRELATED = "unrelated"
    """The primary call's current attempt does not name this call."""
    PENDING = "pending"
    """The attempt that replaces this call is still open."""
    REPLACED = "replaced"
    """The transfer completed: this call ends (or ended) because of it."""
    KEPT = "kept"
    """The transfer failed: this call was not replaced."""


SUCCESS_CODES = frozenset({0, *range(200, 300)})
"""``resultInfo.code`` values that mean success: Graph uses both 0 and 2xx."""


@strict_value
class ResultInfo(NamedTuple):
    """Graph's ``resultInfo``: ``code``, ``subcode`` and an optional ``message``."""

    code: int
    subcode: int = 0
    message: str | None = None

    @property
    def is_success(self) -> bool:
        """True for ``code`` 0 or 2xx (see :data:`SUCCESS_CODES`)."""
        return self.code in SUCCESS_CODES


@strict_value
class User(NamedTuple):
    """A Teams user (``identity.user``): ``id`` and, optionally, tenant and display name."""

    id: str
    display_name: str | None = None
    tenant_id: str | None = None


@strict_value
class Phone(NamedTuple):
    """A phone number (``identity.phone``), in E.164 form such as ``+12345678901``."""

    number: str


@strict_value
class TransferRequested(NamedTuple):
    """The bot POSTed ``/transfer`` for this call: opens a transfer attempt.

    Every field is optional and only recorded; reduce this event *before* the
    POST goes out, so that notifications racing the 202 find the attempt open.
    ``target`` is the whole target (a :class:`User` or a :class:`Phone`), so a
    retry can be rebuilt from the view; ``at`` is the caller's own clock
    reading when it sent the request (any number of seconds, such as
    ``time.time()``), read only by :func:`transfer_fsm.transfer_overdue`.
    """

    replaces_call_id: str | None = None
    client_context: str | None = None
    target: User | Phone | None = None
    at: float | None = None


@strict_value
class TransferRejected(NamedTuple):
    """Graph answered the bot's ``/transfer`` POST with an error: the attempt failed.

    A refused POST is Graph's word that the attempt never started, so it fails
    the attempt whatever arrived in between (that belonged to an earlier
    attempt): a ``transferring`` / ``transferAccepted`` it saw gives way to
    ``established``. ``result`` becomes the attempt's result.
    """

    result: ResultInfo | None = None


@strict_value
class TransferAbandoned(NamedTuple):
    """The bot gave up waiting for attempt ``attempt`` (its own timeout).

    Moves that attempt, while it is requested, transferring or accepted, to
    ``abandoned`` and fires ``transferAbandoned`` once: the bot may request
    again (per the call state), but this is the bot's guess, not Graph's word,
    so it fires no ``transferFailed``, and a later completion or failure of the
    attempt from Graph still ends it. When attempt ``attempt`` is not the one in
    flight (it ended, or a later one opened) the event is stale and changes
    nothing. Without a number it abandons whatever attempt is in flight, which
    is racy when several instances run timers: pass the number
    :func:`transfer_fsm.transfer_overdue` returns. It does not move the call
    state, which the bot does not know: ask Graph
    (``GET /communications/calls/{id}``, read by
    :func:`transfer_fsm.parse_call_resource`) where the call stands.
    """

    attempt: int | None = None


@strict_value
class Transfer(NamedTuple):
    """One transfer attempt of a call.

    ``audio`` is the audio state reported *within* this attempt (``None`` until
    one is reported); it is what lets the media axis tell a restored ``active``
    from the ``active`` the call had before the transfer. ``attempt`` numbers
    the attempts of a call: 1 for the first (opened by the bot's request or by
    observation), n + 1 for one opened after attempt n ended; see
    ``docs/model.md`` for how it is counted.
    """

    status: TransferStatus
    result: ResultInfo | None = None
    replaces_context: str | None = None
    audio: Audio | None = None
    request: TransferRequested | None = None
    attempt: int = 1


@strict_value
class Call(NamedTuple):
    """The reconciled view of one call: an immutable snapshot.

    ``state`` is the call-state axis and ``audio`` the media axis; both are
    ``None`` until observed. ``transfer`` is the current attempt (``None``
    until there is one). ``result`` and ``termination_reason`` hold Graph's
    ``resultInfo`` and ``terminationReason`` as last reported with a state the
    call-state axis took; the bot's request, or an attempt after a failed one,
    clears ``result`` (after a transfer it is the termination's, after a
    failure the failure's). ``earlier_failures`` holds every failure
    ``resultInfo`` an earlier attempt ended with or the call reported after
    it, oldest first, each once: a failure notification that carries one of
    them is a late copy of that attempt's, and decides nothing.

    A ``NamedTuple`` of exactly these seven fields: ``len``, iteration,
    indexing, unpacking and ``match`` see them and nothing else. To store a
    call, use :meth:`to_dict` and :meth:`from_dict` (a versioned snapshot).
    """

    call_id: str
    state: CallState | None = None
    audio: Audio | None = None
    transfer: Transfer | None = None
    result: ResultInfo | None = None
    termination_reason: str | None = None
    earlier_failures: tuple[ResultInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """This call as a versioned, JSON-ready snapshot (see ``docs/snapshot.md``).

        ``Call.from_dict(json.loads(json.dumps(call.to_dict()))) == call``.
        Raises :class:`~transfer_fsm.SnapshotError` for a value no snapshot
        can hold (a request's ``at`` that is not a finite number).
        """
        return _snapshot.call_to_dict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Call:
        """Read a snapshot written by :meth:`to_dict` (this or an older schema version).

        Every enum comes back as its member. Raises
        :class:`~transfer_fsm.SnapshotError` (a ``ValueError``) naming the
        JSON path for anything that is not a valid snapshot: a wrong type, an
        unknown enum value, a missing or extra key, a newer schema version.
        """
        return _snapshot.call_from_dict(data)


from . import snapshot as _snapshot  # noqa: E402  (it reads the values defined above)
