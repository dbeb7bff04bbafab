"""The shapes snapshots are declared in: how one kind of JSON value is written, read and described.

A :class:`Shape` writes a value as JSON-ready data, reads it back (checking
it, and raising :class:`BadValueError` whose path grows as it unwinds), and
describes itself as JSON Schema. :mod:`transfer_fsm.snapshot` declares the
``Call`` snapshot from them, once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, NoReturn

from .values import describe_value, json_double


class BadValueError(Exception):
    """Raised inside the readers; the path grows as it unwinds (cheap when nothing fails)."""

    def __init__(self, expected: str, value: object, found: str | None = None) -> None:
        self.parts: list[str] = []
        self.expected = expected
        self.found = describe_value(value) if found is None else found

    def at(self, key: object) -> BadValueError:
        """This error, one key further from the root."""
        self.parts.append(key_step(key))
        return self


def key_step(key: object) -> str:
    """A key as one step of a JSON path: ``.name``, or ``["any key"]`` when it is not a name."""
    if type(key) is str and key.isidentifier():
        return f".{key}"
    return f"[{json.dumps(key, ensure_ascii=False) if type(key) is str else repr(key)}]"


def refuse(expected: str, value: object) -> NoReturn:
    """Refuse ``value``, which is not ``expected``."""
    raise BadValueError(expected, value)


class Shape:
    """One kind of snapshot value: how to write it, read it and describe it."""

    def write(self, value: Any) -> Any:
        """The JSON-ready form of ``value``."""
        raise NotImplementedError

    def read(self, value: Any) -> Any:
        """The value ``value`` (parsed JSON) stands for; ``BadValueError`` if it is none."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """This shape as JSON Schema."""
        raise NotImplementedError


class Text(Shape):
    """A JSON string."""

    def write(self, value: Any) -> Any:
        if type(value) is not str:  # a value built by hand (reduce only keeps strings here)
            refuse("a string", value)
        return value

    def read(self, value: Any) -> Any:
        if type(value) is not str:
            refuse("a string", value)
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
            refuse("an integer", value)
        return value

    def read(self, value: Any) -> Any:
        if type(value) is not int:
            if type(value) is float and value.is_integer():
                return int(value)
            refuse("an integer", value)
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
        return {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max}


def _finite(value: Any) -> Any:
    if json_double(value):  # 10**400 is "a number out of range"
        return value
    refuse("a finite number", value)  # NaN and the infinities are named as JSON writers spell them


class AttemptNumber(Shape):
    """An attempt number: a JSON integer of at least 1."""

    def write(self, value: Any) -> Any:
        return self.read(value)

    def read(self, value: Any) -> Any:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int or value < 1:
            refuse("an attempt number (an integer of at least 1)", value)
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
            refuse(f"a {self.enum.__name__} member", value)
        return value.value

    def read(self, value: Any) -> Any:
        member = self.members.get(value) if type(value) is str else None
        if member is None:
            refuse(self.expected, value)
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
            refuse("an array", value)
        read = self.shape.read
        items = []
        for index, item in enumerate(value):
            try:
                items.append(read(item))
            except BadValueError as bad:
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
            except BadValueError as bad:
                bad.parts.append(f".{key}")
                raise
        return out

    def read(self, value: Any) -> Any:
        if type(value) is not dict:
            value = as_dict(value)
        if value.keys() != self.keys:
            self._wrong_keys(value)
        for key, wanted in self.fixed.items():
            if not same_json(value[key], wanted):
                raise BadValueError(json.dumps(wanted), value[key]).at(key)
        values = []
        for key, shape in self.fields:
            try:
                values.append(shape.read(value[key]))
            except BadValueError as bad:
                bad.parts.append(f".{key}")
                raise
        return self.make(*values)

    def _wrong_keys(self, value: dict[Any, Any]) -> NoReturn:
        for key in (*self.fixed, *dict(self.fields)):
            if key not in value:
                raise BadValueError("a value (every key is required)", None, "no such key").at(key)
        extra = next(key for key in value if key not in self.keys)
        raise BadValueError("no such key (not in the schema)", value[extra]).at(extra)

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


def same_json(value: object, wanted: object) -> bool:
    """``value`` equals ``wanted`` as JSON Schema compares (``1.0`` is ``1``, ``true`` is not)."""
    if type(wanted) is int:
        return type(value) in (int, float) and value == wanted
    return type(value) is type(wanted) and value == wanted


def as_dict(value: Any) -> dict[Any, Any]:
    """A mapping that is not a plain ``dict`` (an ``OrderedDict``, an ORM's JSON type) as one."""
    if not isinstance(value, Mapping):
        refuse("an object", value)
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
            refuse(" or ".join(cls.__name__ for cls in self.by_type), value)
        return entry[1].write(value)

    def read(self, value: Any) -> Any:
        if type(value) is not dict:
            value = as_dict(value)
        kind = value.get(self.key)
        entry = self.kinds.get(kind) if type(kind) is str else None
        if entry is None:
            if self.key not in value:
                raise BadValueError(self.expected, None, "no such key").at(self.key)
            raise BadValueError(self.expected, value[self.key]).at(self.key)
        return entry[1].read(value)

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [record.schema() for _, record in self.kinds.values()]}
