"""Events parsed from Graph ``commsNotification`` objects.

Each event keeps what it was parsed from: ``data`` is the ``resourceData``
exactly as received and ``notification`` the whole ``commsNotification``
object it came in (``@odata.etag``, ``resource`` beside ``resourceUrl``, any
other field), neither copied nor modified, so fields the library does not
know are kept, not dropped. Values it does not know in known fields (a
future ``state`` string, say) are kept as plain strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import Any, NamedTuple, TypeAlias, TypeVar, Union

from .values import (
    Audio,
    CallState,
    ChangeType,
    ResultInfo,
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
)

_N = TypeVar("_N", bound=tuple)  # type: ignore[type-arg]


class _Empty(Mapping[str, object]):
    """The empty, immutable mapping an event holds when it was given no data.

    Unlike ``MappingProxyType({})`` it pickles and deep-copies (as itself), so
    every event can be queued, stored or copied.
    """

    __slots__ = ()

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "EMPTY"


EMPTY: Mapping[str, object] = _Empty()


def _envelope_aside(cls: type[_N]) -> type[_N]:
    """Leave the last field (``notification``, the envelope) out of ``==`` and ``hash``.

    The same notification delivered in two envelopes (another ``@odata.etag``,
    another batch) is the same event; the envelope is kept for the bot, not compared.
    ``hash`` also leaves out ``data`` (a mapping or list): equal events still hash equal.
    """

    def __eq__(self: tuple[object, ...], other: object) -> bool:  # noqa: N807
        return type(other) is type(self) and self[:-1] == other[:-1]

    def __ne__(self: tuple[object, ...], other: object) -> bool:  # noqa: N807
        return not __eq__(self, other)

    def __hash__(self: tuple[object, ...]) -> int:  # noqa: N807
        return hash(tuple(item for item in self[:-1] if not isinstance(item, (Mapping, list))))

    setattr(cls, "__eq__", __eq__)  # noqa: B010
    setattr(cls, "__ne__", __ne__)  # noqa: B010
    setattr(cls, "__hash__", __hash__)  # noqa: B010
    return cls


@_envelope_aside
class CallNotification(NamedTuple):
    """A notification about the call resource itself (``/communications/calls/{id}``).

    ``state`` and ``audio`` are enum members when known, the raw string when
    not, and ``None`` when the notification does not carry them.
    """

    call_id: str
    change_type: ChangeType = ChangeType.UPDATED
    state: CallState | str | None = None
    audio: Audio | str | None = None
    result: ResultInfo | None = None
    termination_reason: str | None = None
    replaces_context: str | None = None
    data: Mapping[str, object] = EMPTY
    notification: Mapping[str, object] = EMPTY


@_envelope_aside
class OperationNotification(NamedTuple):
    """A notification about ``/calls/{id}/operations/{opId}`` (a ``commsOperation``).

    ``progress`` is a word-valued ``resultInfo.subCode`` such as the legacy
    beta transfer's ``"transferring"`` / ``"transferAccepted"``.
    """

    call_id: str
    operation_id: str
    change_type: ChangeType = ChangeType.UPDATED
    status: str | None = None
    result: ResultInfo | None = None
    progress: str | None = None
    client_context: str | None = None
    data: Mapping[str, object] = EMPTY
    notification: Mapping[str, object] = EMPTY


@_envelope_aside
class ResourceNotification(NamedTuple):
    """A notification about another sub-resource of a call (``participants``, ...).

    It is not a call update: the reducer reports it as ignored.
    """

    call_id: str
    path: str
    change_type: ChangeType = ChangeType.UPDATED
    data: object = None
    notification: Mapping[str, object] = EMPTY


def _document(alias: Any, name: str, doc: str) -> None:
    """Name a ``typing.Union`` alias and give it the text ``help()`` shows."""
    with suppress(AttributeError):  # Python 3.14's typing.Union is types.UnionType: read-only
        alias.__name__, alias.__module__, alias.__doc__ = name, __name__, doc


# Union, not X | Y: help() of an X | Y union shows types.UnionType's doc, not the alias's.
Notification: TypeAlias = Union[CallNotification, OperationNotification, ResourceNotification]  # noqa: UP007
_document(
    Notification,
    "Notification",
    "What parse_notifications returns: a CallNotification, OperationNotification or\n"
    "ResourceNotification.",
)

Event: TypeAlias = Union[  # noqa: UP007
    Notification, TransferRequested, TransferRejected, TransferAbandoned
]
_document(
    Event,
    "Event",
    "What reduce and step accept: a Notification (what parse_notifications returns),\n"
    "TransferRequested (reduce it before the POST), TransferRejected (the POST failed)\n"
    "or TransferAbandoned (the bot's own timeout gave up on the attempt).",
)
