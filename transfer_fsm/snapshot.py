"""Versioned snapshots of a :class:`~transfer_fsm.Call`: ``to_dict``, ``from_dict`` and the schema.

The snapshot format is declared once, below, as a tree of *shapes*; the shapes
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
earlier attempt; an abandoned attempt left none, so the number may be low).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, NoReturn

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


class _BadValueError(Exception):
    """Raised inside the readers; the path grows as it unwinds (cheap when nothing fails)."""

    def __init__(self, expected: str, value: object, found: str | None = None) -> None:
        self.parts: list[str] = []
        self.expected = expected
        self.found = describe_value(value) if found is None else found

    def at(self, key: object) -> _BadValueError:
        """This error, one key further from the root."""
        self.parts.append(_key(key))
        return self


def _key(key: object) -> str:
    """A key as one step of a JSON path: ``.name``, or ``["any key"]`` when it is not a name."""
    if type(key) is str and key.isidentifier():
        return f".{key}"
    return f"[{json.dumps(key, ensure_ascii=False) if type(key) is str else repr(key)}]"


def _bad(expected: str, value: object) -> NoReturn:
    raise _BadValueError(expected, value)


class Shape:
    """One kind of snapshot value: how to write it, read it and describe it."""

    def write(self, value: Any) -> Any:
        """The JSON-ready form of ``value``."""
        raise NotImplementedError

    def read(self, value: Any) -> Any:
        """The value ``value`` (parsed JSON) stands for; ``_BadValueError`` if it is none."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """This shape as JSON Schema."""
        raise NotImplementedError


class Text(Shape):
    """A JSON string."""

    def write(self, value: Any) -> Any:
        if type(value) is not str:  # a value built by hand (reduce only keeps strings here)
            _bad("a string", value)
        return value

    def read(self, value: Any) -> Any:
        if type(value) is not str:
            _bad("a string", value)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


class Integer(Shape):
    """A JSON integer (not a boolean), read as an ``int``.

    As in JSON Schema, a number with no fractional part is an integer: ``500.0``
    (which some JSON writers give for 500) reads as ``500``.
    """

    def write(self, value: Any) -> Any:
        if type(value) is not int:  # a value built by hand (a parsed code is always an int)
            _bad("an integer", value)
        return value

    def read(self, value: Any) -> Any:
        if type(value) is not int:
            if type(value) is float and value.is_integer():
                return int(value)
            _bad("an integer", value)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer"}


class Number(Shape):
    """A finite JSON number (not a boolean): a finite ``float``, or an ``int`` a double carries."""

    def write(self, value: Any) -> Any:
        return _finite(value)

    def read(self, value: Any) -> Any:
        return _finite(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "number"}


def _finite(value: Any) -> Any:
    kind = type(value)
    if kind is float and math.isfinite(value):
        return value
    if kind is int:  # as large as a JSON double can carry (10**400 is "a number out of range")
        try:
            float(value)
        except OverflowError:
            pass
        else:
            return value
    _bad("a finite number", value)  # NaN and the infinities are named as JSON writers spell them


class AttemptNumber(Shape):
    """An attempt number: a JSON integer of at least 1."""

    def write(self, value: Any) -> Any:
        return self.read(value)

    def read(self, value: Any) -> Any:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int or value < 1:
            _bad("an attempt number (an integer of at least 1)", value)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1}


class Member(Shape):
    """An enum member, as its wire string (of ``only`` its given members)."""

    def __init__(self, enum: type[Enum], only: Sequence[Enum] | None = None) -> None:
        self.enum = enum
        chosen = tuple(enum) if only is None else only
        self.members: dict[object, Enum] = {member.value: member for member in chosen}
        self.expected = "one of " + ", ".join(repr(value) for value in self.members)

    def write(self, value: Any) -> Any:
        if type(value) is not self.enum:  # a value built by hand, such as a raw string state
            _bad(f"a {self.enum.__name__} member", value)
        return value.value

    def read(self, value: Any) -> Any:
        member = self.members.get(value) if type(value) is str else None
        if member is None:
            _bad(self.expected, value)
        return member

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.members)}


class Optional(Shape):
    """``null``, or a value of ``shape``."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def write(self, value: Any) -> Any:
        return None if value is None else self.shape.write(value)

    def read(self, value: Any) -> Any:
        return None if value is None else self.shape.read(value)

    def schema(self) -> dict[str, Any]:
        inner = self.shape.schema()
        if set(inner) <= {"type", "enum"}:  # a scalar: one schema with "null" among its types
            nullable: dict[str, Any] = {"type": [inner["type"], "null"]}
            if "enum" in inner:
                nullable["enum"] = [*inner["enum"], None]
            return nullable
        return {"oneOf": [{"type": "null"}, inner]}


class Items(Shape):
    """A JSON array of values of ``shape``, read as a tuple."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def write(self, value: Any) -> Any:
        return [self.shape.write(item) for item in value]

    def read(self, value: Any) -> Any:
        if type(value) is not list:
            _bad("an array", value)
        read = self.shape.read
        items = []
        for index, item in enumerate(value):
            try:
                items.append(read(item))
            except _BadValueError as bad:
                bad.parts.append(f"[{index}]")
                raise
        return tuple(items)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.shape.schema()}


class Record(Shape):
    """A JSON object with exactly the given keys, read as ``make(*values)``.

    ``fixed`` are keys with one allowed value each, written first and checked
    on reading (the snapshot's ``version``, a target's ``kind``).
    """

    def __init__(
        self,
        make: Callable[..., Any],
        fields: Sequence[tuple[str, Shape]],
        fixed: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        self.make = make
        self.fields = tuple(fields)
        self.fixed = dict(fixed or {})
        self.keys = frozenset((*self.fixed, *(key for key, _ in self.fields)))
        self.description = description

    def write(self, value: Any) -> Any:
        out = dict(self.fixed)
        for (key, shape), item in zip(self.fields, value, strict=True):
            try:
                out[key] = shape.write(item)
            except _BadValueError as bad:
                bad.parts.append(f".{key}")
                raise
        return out

    def read(self, value: Any) -> Any:
        if type(value) is not dict:
            value = _as_dict(value)
        if value.keys() != self.keys:
            self._wrong_keys(value)
        for key, wanted in self.fixed.items():
            if not _same_json(value[key], wanted):
                raise _BadValueError(json.dumps(wanted), value[key]).at(key)
        values = []
        for key, shape in self.fields:
            try:
                values.append(shape.read(value[key]))
            except _BadValueError as bad:
                bad.parts.append(f".{key}")
                raise
        return self.make(*values)

    def _wrong_keys(self, value: dict[Any, Any]) -> NoReturn:
        for key in (*self.fixed, *dict(self.fields)):
            if key not in value:
                raise _BadValueError("a value (every key is required)", None, "no such key").at(key)
        extra = next(key for key in value if key not in self.keys)
        raise _BadValueError("no such key (not in the schema)", value[extra]).at(extra)

    def schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {key: {"const": wanted} for key, wanted in self.fixed.items()}
        properties.update((key, shape.schema()) for key, shape in self.fields)
        schema: dict[str, Any] = {"type": "object"}
        if self.description:
            schema["description"] = self.description
        schema.update(
            properties=properties,
            required=[*properties],
            additionalProperties=False,
        )
        return schema


def _same_json(value: object, wanted: object) -> bool:
    """``value`` equals ``wanted`` as JSON Schema compares (``1.0`` is ``1``, ``true`` is not)."""
    if type(wanted) is int:
        return type(value) in (int, float) and value == wanted
    return type(value) is type(wanted) and value == wanted


def _as_dict(value: Any) -> dict[Any, Any]:
    """A mapping that is not a plain ``dict`` (an ``OrderedDict``, an ORM's JSON type) as one."""
    if not isinstance(value, Mapping):
        _bad("an object", value)
    return dict(value)


class Tagged(Shape):
    """One of several records, told apart by the value of one key (``kind``)."""

    def __init__(self, key: str, kinds: Mapping[str, tuple[type, Record]]) -> None:
        self.key = key
        self.kinds = dict(kinds)
        self.by_type = {cls: (kind, record) for kind, (cls, record) in self.kinds.items()}
        self.expected = "one of " + ", ".join(repr(kind) for kind in self.kinds)

    def write(self, value: Any) -> Any:
        entry = self.by_type.get(type(value))
        if entry is None:
            _bad(" or ".join(cls.__name__ for cls in self.by_type), value)
        return entry[1].write(value)

    def read(self, value: Any) -> Any:
        if type(value) is not dict:
            value = _as_dict(value)
        kind = value.get(self.key)
        entry = self.kinds.get(kind) if type(kind) is str else None
        if entry is None:
            if self.key not in value:
                raise _BadValueError(self.expected, None, "no such key").at(self.key)
            raise _BadValueError(self.expected, value[self.key]).at(self.key)
        return entry[1].read(value)

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [record.schema() for _, record in self.kinds.values()]}


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
    except _BadValueError as bad:
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
    except _BadValueError as bad:
        raise _error(bad) from None
    return call


def _is_version_1(data: Any) -> bool:
    """A mapping whose ``version`` is 1 (read by the version-1 shapes)."""
    return isinstance(data, Mapping) and _same_json(data.get("version"), 1)


def _error(bad: _BadValueError) -> SnapshotError:
    return SnapshotError("$" + "".join(reversed(bad.parts)), bad.expected, bad.found)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the snapshots :meth:`Call.to_dict` writes, from the shapes above."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"transfer_fsm Call snapshot, version {VERSION}",
        **CALL.schema(),
    }
