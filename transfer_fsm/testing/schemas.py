"""The JSON Schemas of the conformance vectors (``case.schema.json``) and of the
``transfer-fsm conform`` protocol (``protocol.schema.json``), generated here and shipped.

Both embed the call snapshot schema (``Call.to_dict``) under ``$defs/call``.
A test regenerates the shipped files and compares them.
"""

from __future__ import annotations

import json
from typing import Any

from ..snapshot import json_schema
from ..values import Milestone

CASE_SCHEMA = "case.schema.json"
PROTOCOL_SCHEMA = "protocol.schema.json"
PROTOCOL = 1
"""The version of the conform protocol (``TRANSFER_FSM_PROTOCOL`` in the harness's environment)."""

_BASE = "https://github.com/transfer-fsm/transfer-fsm/"


def _call() -> dict[str, Any]:
    snapshot = json_schema()
    return {key: value for key, value in snapshot.items() if key not in ("$schema", "$id")}


def _obj(required: list[str], properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
        **more,
    }


_TEXT = {"type": "string", "minLength": 1}
_INDEX = {"type": "integer", "minimum": 0}
_BODY = {"type": "object", "description": "A commsNotifications body, as Graph POSTs it."}


def _inputs() -> dict[str, Any]:
    code = {"type": "integer"}
    return {
        "oneOf": [
            _obj(["kind", "body"], {"kind": {"const": "notification"}, "body": _BODY}),
            _obj(
                ["kind", "request"],
                {
                    "kind": {"const": "requested"},
                    "request": {"type": "object", "description": "The POST .../transfer body."},
                },
            ),
            _obj(
                ["kind", "result"],
                {
                    "kind": {"const": "rejected"},
                    "result": _obj(
                        ["code", "subcode", "message"],
                        {"code": code, "subcode": code, "message": {"type": ["string", "null"]}},
                    ),
                },
            ),
            _obj(
                ["kind", "attempt"],
                {"kind": {"const": "abandoned"}, "attempt": {"type": "integer", "minimum": 1}},
            ),
            _obj(
                ["kind", "status", "body"],
                {
                    "kind": {"const": "get"},
                    "status": {"const": 200},
                    "body": {"type": "object", "description": "The call resource."},
                },
            ),
            _obj(["kind", "status"], {"kind": {"const": "get"}, "status": {"const": 404}}),
        ]
    }


def _milestone(key: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "milestone": {"enum": [milestone.value for milestone in Milestone]},
        "attempt": {"type": "integer", "minimum": 0},
    }
    if key:
        properties["key"] = _TEXT
    return _obj(list(properties), properties)


def case_schema() -> dict[str, Any]:
    """The JSON Schema of one case file of the conformance vectors."""
    delivery = _obj(
        ["kind", "order", "final", "milestones"],
        {
            "kind": {"enum": ["documented", "restore-first", "swap", "late-copy", "shuffle"]},
            "order": {"type": "array", "items": _INDEX, "minItems": 1},
            "final": {"$ref": "#/$defs/call"},
            "milestones": {"type": "array", "items": {"$ref": "#/$defs/milestone"}},
        },
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE + CASE_SCHEMA,
        "title": "transfer_fsm conformance case, format 1",
        **_obj(
            ["format", "id", "name", "tier", "source", "call_id", "start", "inputs", "deliveries"],
            {
                "format": {"const": 1},
                "id": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
                "name": _TEXT,
                "tier": {"enum": ["documented", "retry", "ambiguous"]},
                "source": _obj(
                    ["page", "example", "says"],
                    {"page": _TEXT, "example": _TEXT, "says": _TEXT},
                ),
                "call_id": _TEXT,
                "start": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/call"}]},
                "inputs": {"type": "array", "items": {"$ref": "#/$defs/input"}, "minItems": 1},
                "deliveries": {"type": "array", "items": delivery, "minItems": 1},
            },
        ),
        "$defs": {"call": _call(), "input": _inputs(), "milestone": _milestone(key=True)},
    }


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of the lines ``transfer-fsm conform`` and a harness exchange."""
    request = _obj(
        ["case", "delivery", "call_id", "start", "inputs"],
        {
            "case": _TEXT,
            "delivery": _INDEX,
            "call_id": _TEXT,
            "start": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/call"}]},
            "inputs": {"type": "array", "items": {"$ref": "#/$defs/input"}},
        },
        description="A line to the harness: one delivery, its inputs in delivery order.",
    )
    answer = _obj(
        ["case", "delivery", "view"],
        {
            "case": _TEXT,
            "delivery": _INDEX,
            "view": {
                "type": "object",
                "required": ["state"],
                "description": "Whichever fields of the snapshot form (Call.to_dict) the bot "
                "keeps, nested objects partially; at least state.",
            },
            "milestones": {"type": "array", "items": {"$ref": "#/$defs/milestone"}},
        },
        description="A line from the harness: its view after the delivery, and the "
        "milestones it fired (optional: absent, they are not compared).",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE + PROTOCOL_SCHEMA,
        "title": f"transfer-fsm conform protocol, version {PROTOCOL}",
        "$defs": {
            "request": request,
            "answer": answer,
            "call": _call(),
            "input": _inputs(),
            "milestone": _milestone(key=False),
        },
    }


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its shipped file holds it: indent 2, final newline."""
    return json.dumps(schema, indent=2) + "\n"
