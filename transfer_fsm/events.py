"""Events parsed from Graph ``commsNotification`` objects.

Each event keeps what it was parsed from in ``data`` (the ``resourceData``
exactly as received, never copied or modified), so fields the library does
not know are kept, not dropped. Values it does not know in known fields (a
future ``state`` string, say) are kept as plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from types import MappingProxyType
from typing import Any, NamedTuple, TypeAlias, Union

from .values import (
    Audio,
    CallState,
    ChangeType,
    ResultInfo,
    TransferRejected,
    TransferRequested,
    strict_value,
)

EMPTY: Mapping[str, object] = MappingProxyType({})


@strict_value
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


@strict_value
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


@strict_value
class ResourceNotification(NamedTuple):
    """A notification about another sub-resource of a call (``participants``, ...).

    It is not a call update: the reducer reports it as ignored.
    """

    call_id: str
    path: str
    change_type: ChangeType = ChangeType.UPDATED
    data: object = None


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

Event: TypeAlias = Union[Notification, TransferRequested, TransferRejected]  # noqa: UP007
_document(
    Event,
    "Event",
    "What reduce and step accept: a Notification (what parse_notifications returns),\n"
    "TransferRequested (reduce it before the POST) or TransferRejected (the POST failed).",
)
