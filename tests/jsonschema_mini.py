"""A tiny JSON Schema (draft 2020-12) validator: only the keywords the snapshot schema uses.

It exists so the tests can check the published schema against ``Call.from_dict``
without a dependency. It knows ``type`` (one name or a list), ``enum``,
``const``, ``minimum``, ``maximum``, ``properties``, ``required``,
``additionalProperties: false``, ``items`` and ``oneOf``, plus the annotations ``$schema``, ``$id``,
``title`` and ``description``, which do not validate. Any other keyword, or
``additionalProperties`` other than ``false``, raises :class:`UnknownKeywordError`
when the schema is checked, so a schema that grows a keyword cannot be
half-validated here. Numbers follow JSON Schema: ``1.0`` is an integer and
equals ``1``; ``true`` is a boolean, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})
VALIDATING = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "oneOf",
    }
)
TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


class UnknownKeywordError(ValueError):
    """The schema uses something this validator does not implement."""


class NotJsonError(ValueError):
    """The instance is not a JSON value (NaN, an infinity, a tuple, a key that is not a string)."""


def check_schema(schema: object, where: str = "#") -> None:
    """Raise :class:`UnknownKeywordError` for any keyword (anywhere) this module does not know."""
    if not isinstance(schema, dict):
        raise UnknownKeywordError(f"{where}: a schema must be an object, not {schema!r}")
    for keyword, value in schema.items():
        if keyword not in ANNOTATIONS | VALIDATING:
            raise UnknownKeywordError(f"{where}: keyword {keyword!r} is not implemented")
        if keyword == "additionalProperties" and value is not False:
            raise UnknownKeywordError(f"{where}: only additionalProperties: false is implemented")
        if keyword == "type":
            names = value if isinstance(value, list) else [value]
            unknown = [name for name in names if name not in TYPES]
            if unknown or not names:
                raise UnknownKeywordError(f"{where}: type {value!r}")
    for key, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}/properties/{key}")
    if "items" in schema:
        check_schema(schema["items"], f"{where}/items")
    for index, sub in enumerate(schema.get("oneOf", [])):
        check_schema(sub, f"{where}/oneOf/{index}")


def is_valid(schema: dict[str, Any], instance: object) -> bool:
    """Whether ``instance`` (a JSON value) is valid against ``schema``."""
    return next(errors(schema, instance), None) is None


def errors(schema: dict[str, Any], instance: object, path: str = "$") -> Iterator[str]:
    """Every reason ``instance`` is invalid, each as ``path: reason``."""
    _check_json(instance)
    yield from _errors(schema, instance, path)


def _errors(schema: dict[str, Any], instance: object, path: str) -> Iterator[str]:
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(instance, name) for name in names):
            yield f"{path}: not of type {schema['type']}"
    if "enum" in schema and not any(_equal(instance, item) for item in schema["enum"]):
        yield f"{path}: not one of {schema['enum']}"
    if "const" in schema and not _equal(instance, schema["const"]):
        yield f"{path}: not {schema['const']!r}"
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            yield f"{path}: less than {schema['minimum']!r}"
        if "maximum" in schema and instance > schema["maximum"]:
            yield f"{path}: more than {schema['maximum']!r}"
    if isinstance(instance, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in instance:
                yield f"{path}: no required key {key!r}"
        for key, value in instance.items():
            if key in properties:
                yield from _errors(properties[key], value, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                yield f"{path}: key {key!r} is not allowed"
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            yield from _errors(schema["items"], item, f"{path}[{index}]")
    if "oneOf" in schema:
        matched = sum(is_valid(sub, instance) for sub in schema["oneOf"])
        if matched != 1:
            yield f"{path}: matches {matched} of oneOf's schemas, not exactly 1"


def _is_type(value: object, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "number":
        return number
    # "integer": a number with no fractional part, 1.0 included
    return number and (isinstance(value, int) or float(value).is_integer())  # type: ignore[arg-type]


def _equal(a: object, b: object) -> bool:
    """JSON equality: numbers by value (``1 == 1.0``), booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def _check_json(value: object) -> None:
    """Raise :class:`NotJsonError` unless ``value`` is a JSON value as ``json.loads`` gives."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJsonError(f"{value!r} is not a JSON number")
        return
    if isinstance(value, list):
        for item in value:
            _check_json(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJsonError(f"the key {key!r} is not a string")
            _check_json(item)
        return
    raise NotJsonError(f"a {type(value).__name__} is not a JSON value")
