"""Versioned snapshots of a :class:`~transfer_fsm.Call`: ``to_dict``, ``from_dict`` and the schema.

The snapshot format is declared once, below, as a tree of *shapes* (:mod:`.shapes`); they
write a call, read it back (checking every value and naming the JSON path of
the first one that is wrong) and describe themselves as JSON Schema, which is
what ``transfer_fsm/snapshot.schema.json`` is generated from
(``python -m transfer_fsm schema --write transfer_fsm/snapshot.schema.json``).

Version 2 is an object: ``version`` (2) and the seven fields of ``Call`` under
their own names; enums are their wire strings, a ``ResultInfo`` is
``{"code", "subcode", "message"}``, a request's target is tagged by ``kind``
(``"user"`` or ``"phone"``), and the attempt carries its number
(``attempt``). Every key is always present (``null`` when empty), and no
other key is allowed, so a snapshot means one thing. Version 1 (no attempt
number, no ``abandoned`` status) is still read: its attempt is numbered
1 + the number of ``earlier_failures`` (each remembered failure stands for an
earlier attempt: an estimate, as an abandoned attempt left none and a failed one
may have left two).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .shapes import (
    AttemptNumber,
    BadValueError,
    Integer,
    Items,
    Member,
    Number,
    Optional,
    Record,
    Shape,
    Tagged,
    Text,
    same_json,
)
from .values import (
    Audio,
    Call,
    CallState,
    Phone,
    ResultInfo,
    Transfer,
    TransferRequested,
    TransferStatus,
    User,
    describe_value,
)

VERSION = 2
"""The snapshot schema version :meth:`Call.to_dict` writes and the newest
:meth:`Call.from_dict` reads."""

SCHEMA_ID = "https://github.com/transfer-fsm/transfer-fsm/snapshot.schema.json"


class SnapshotError(ValueError):
    """Something that is not a valid ``Call`` snapshot.

    ``path`` is the JSON path of the offending value (``$`` is the snapshot),
    ``expected`` what was expected there and ``found`` what was there. A store
    sets ``call_id`` to the call whose stored snapshot it could not read.
    """

    def __init__(self, path: str, expected: str, found: str, call_id: str | None = None) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        self.call_id = call_id
        where = "" if call_id is None else f"stored snapshot of call {call_id!r}: "
        super().__init__(f"{where}{path}: expected {expected}, found {found}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.expected, self.found, self.call_id))


RESULT = Record(
    ResultInfo,
    [("code", Integer()), ("subcode", Integer()), ("message", Optional(Text()))],
    description="Graph's resultInfo.",
)
TARGET = Tagged(
    "kind",
    {
        "user": (
            User,
            Record(
                User,
                [
                    ("id", Text()),
                    ("display_name", Optional(Text())),
                    ("tenant_id", Optional(Text())),
                ],
                fixed={"kind": "user"},
                description="A Teams user (identity.user).",
            ),
        ),
        "phone": (
            Phone,
            Record(
                Phone,
                [("number", Text())],
                fixed={"kind": "phone"},
                description="A phone number (identity.phone).",
            ),
        ),
    },
)
REQUEST = Record(
    TransferRequested,
    [
        ("replaces_call_id", Optional(Text())),
        ("client_context", Optional(Text())),
        ("target", Optional(TARGET)),
        ("at", Optional(Number())),
    ],
    description="The bot's TransferRequested that opened the attempt.",
)
TRANSFER_FIELDS: list[tuple[str, Shape]] = [
    ("status", Member(TransferStatus)),
    ("result", Optional(RESULT)),
    ("replaces_context", Optional(Text())),
    ("audio", Optional(Member(Audio))),
    ("request", Optional(REQUEST)),
]
TRANSFER = Record(
    Transfer,
    [*TRANSFER_FIELDS, ("attempt", AttemptNumber())],
    description="The current transfer attempt.",
)


def call_fields(transfer: Shape) -> list[tuple[str, Shape]]:
    """The fields of a ``Call`` snapshot, its attempt written as ``transfer``."""
    return [
        ("call_id", Text()),
        ("state", Optional(Member(CallState))),
        ("audio", Optional(Member(Audio))),
        ("transfer", Optional(transfer)),
        ("result", Optional(RESULT)),
        ("termination_reason", Optional(Text())),
        ("earlier_failures", Items(RESULT)),
    ]


CALL = Record(
    Call,
    call_fields(TRANSFER),
    fixed={"version": VERSION},
    description="A transfer_fsm Call snapshot (Call.to_dict).",
)


def _call_v1(*fields: Any) -> Call:
    """A version-1 call: its attempt numbered 1 + one per remembered failure."""
    call = Call(*fields)
    if call.transfer is None:
        return call
    return call._replace(transfer=call.transfer._replace(attempt=1 + len(call.earlier_failures)))


V1_STATUSES = tuple(status for status in TransferStatus if status is not TransferStatus.ABANDONED)
CALL_V1 = Record(
    _call_v1,
    call_fields(
        Record(Transfer, [("status", Member(TransferStatus, V1_STATUSES)), *TRANSFER_FIELDS[1:]])
    ),
    fixed={"version": 1},
)


def call_to_dict(call: Call) -> dict[str, Any]:
    """:meth:`Call.to_dict`."""
    try:
        written: dict[str, Any] = CALL.write(call)
    except BadValueError as bad:
        raise _error(bad) from None
    return written


def call_from_dict(data: Any) -> Call:
    """:meth:`Call.from_dict`."""
    if type(data) is dict:
        version: Any = data.get("version")
        whole = type(version) is int or (type(version) is float and version.is_integer())
        if whole and version > VERSION:
            raise SnapshotError(
                "$.version",
                f"a schema version up to {VERSION} (this transfer_fsm is older)",
                describe_value(version),
            )
    try:
        call: Call = (CALL_V1 if _is_version_1(data) else CALL).read(data)
    except BadValueError as bad:
        raise _error(bad) from None
    return call


def _is_version_1(data: Any) -> bool:
    """A mapping whose ``version`` is 1 (read by the version-1 shapes)."""
    return isinstance(data, Mapping) and same_json(data.get("version"), 1)


def _error(bad: BadValueError) -> SnapshotError:
    return SnapshotError("$" + "".join(reversed(bad.parts)), bad.expected, bad.found)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the snapshots :meth:`Call.to_dict` writes, from the shapes above."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"transfer_fsm Call snapshot, version {VERSION}",
        **CALL.schema(),
    }
