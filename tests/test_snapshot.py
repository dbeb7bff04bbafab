"""Versioned snapshots: ``Call.to_dict`` / ``Call.from_dict``, ``SnapshotError`` and the schema.

- round trip: every reachable call (random histories reduced from the
  documented flows, the bot's own events and arbitrary requests) comes back
  equal through JSON text, with every nested value of the same type (enums as
  members), and its snapshot is valid against the published schema;
- anything that is not a snapshot raises ``SnapshotError`` (a ``ValueError``)
  naming the JSON path, and nothing else is ever raised;
- the published schema is the generated one, and accepts exactly what
  ``from_dict`` accepts (checked by ``tests/jsonschema_mini.py``).
"""

from __future__ import annotations

import collections
import copy
import json
import math
import pickle
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from flows import CALL_ID, FLOWS, replay
from hypothesis import find, given
from hypothesis import strategies as st
from jsonschema_mini import UnknownKeywordError, check_schema, errors, is_valid
from test_properties import EVENTS, STARTS

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallState,
    Phone,
    ResultInfo,
    SnapshotError,
    Transfer,
    TransferStatus,
    User,
)
from transfer_fsm.cli import SCHEMA_FILE, schema_text
from transfer_fsm.snapshot import VERSION, json_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json_schema()
Json = Any
Path_ = tuple["str | int", ...]

# -- reachable calls ------------------------------------------------------------------------

TEXT = st.text(max_size=8)
TARGETS = st.one_of(
    st.none(),
    st.builds(User, TEXT, st.none() | TEXT, st.none() | TEXT),
    st.builds(Phone, TEXT),
)
ATS = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers()
REQUESTS = st.builds(tf.TransferRequested, st.none() | TEXT, st.none() | TEXT, TARGETS, ATS)
RESULTS = st.builds(ResultInfo, st.integers(), st.integers(), st.none() | TEXT)
HISTORY = st.one_of(
    EVENTS,  # the property tests' notifications and bot events (terminations among them)
    st.sampled_from([event for flow in FLOWS for event in flow.events()]),
    REQUESTS,
    st.builds(tf.TransferRejected, st.none() | RESULTS),
    st.just(tf.TransferAbandoned()),
)
CALLS = st.builds(
    lambda start, events: replay(start, *events), STARTS, st.lists(HISTORY, max_size=14)
)


def same_structure(a: object, b: object, where: str = "call") -> None:
    """``a`` and ``b`` are equal and every nested value has the same type (an enum its member)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, tuple):
        assert isinstance(b, tuple)
        assert len(a) == len(b), where
        names = getattr(a, "_fields", range(len(a)))
        for name, x, y in zip(names, a, b, strict=True):
            same_structure(x, y, f"{where}.{name}")
    else:
        assert a == b, where


def through_json(call: Call) -> Call:
    return Call.from_dict(json.loads(json.dumps(call.to_dict())))


@given(CALLS)
def test_every_reachable_call_round_trips_through_json_with_its_types(call: Call) -> None:
    snapshot = call.to_dict()
    back = through_json(call)
    assert back == call
    same_structure(back, call)
    assert snapshot["version"] == VERSION
    assert list(errors(SCHEMA, json.loads(json.dumps(snapshot)))) == []


@pytest.mark.parametrize(
    ("what", "reached"),
    [
        ("two earlier failures", lambda c: len(c.earlier_failures) >= 2),
        (
            "a user target with at",
            lambda c: (
                c.transfer is not None
                and c.transfer.request is not None
                and type(c.transfer.request.target) is User
                and c.transfer.request.at is not None
            ),
        ),
        (
            "a phone target",
            lambda c: (
                c.transfer is not None
                and c.transfer.request is not None
                and type(c.transfer.request.target) is Phone
            ),
        ),
        (
            "a completed transfer",
            lambda c: c.transfer and c.transfer.status is TransferStatus.COMPLETED,
        ),
        ("termination with a reason", lambda c: c.termination_reason is not None),
    ],
)
def test_the_round_trip_property_reaches(what: str, reached: Callable[[Call], object]) -> None:
    found = find(CALLS, lambda call: bool(reached(call)))  # raises if the strategy never gets there
    same_structure(through_json(found), found)


RICH = Call(
    CALL_ID,
    CallState.ESTABLISHED,
    Audio.ACTIVE,
    Transfer(
        TransferStatus.FAILED,
        ResultInfo(500, 7000, "<message>"),
        "<replacesContext>",
        Audio.ACTIVE,
        tf.TransferRequested("e5d39592", "ctx", User("u1", "Ada", "t1"), 1090.5),
    ),
    ResultInfo(500, 7000, "<message>"),
    None,
    (ResultInfo(403, 8523, "Cannot do transfer for meeting mode"), ResultInfo(500, 1000)),
)
PHONE = replay(Call(CALL_ID), tf.TransferRequested(target=Phone("+12345678901"), at=7))
ENDED = FLOWS[0].final


def test_a_snapshot_is_plain_json_with_every_key() -> None:
    assert RICH.to_dict() == {
        "version": 2,
        "call_id": CALL_ID,
        "state": "established",
        "audio": "active",
        "transfer": {
            "status": "failed",
            "result": {"code": 500, "subcode": 7000, "message": "<message>"},
            "replaces_context": "<replacesContext>",
            "audio": "active",
            "request": {
                "replaces_call_id": "e5d39592",
                "client_context": "ctx",
                "target": {"kind": "user", "id": "u1", "display_name": "Ada", "tenant_id": "t1"},
                "at": 1090.5,
            },
            "attempt": 1,
        },
        "result": {"code": 500, "subcode": 7000, "message": "<message>"},
        "termination_reason": None,
        "earlier_failures": [
            {"code": 403, "subcode": 8523, "message": "Cannot do transfer for meeting mode"},
            {"code": 500, "subcode": 1000, "message": None},
        ],
    }
    assert PHONE.to_dict()["transfer"]["request"]["target"] == {
        "kind": "phone",
        "number": "+12345678901",
    }
    assert Call("x").to_dict() == {
        "version": 2,
        "call_id": "x",
        **dict.fromkeys(["state", "audio", "transfer", "result", "termination_reason"]),
        "earlier_failures": [],
    }


def test_numbers_another_json_writer_gives_read_as_the_same_call() -> None:
    """``500.0`` is an integer in JSON Schema (and in JavaScript): it reads as ``500``."""
    text = re.sub(r'("(?:code|subcode)": )(\d+)', r"\1\2.0", json.dumps(RICH.to_dict()))
    assert text.count(".0,") == 8  # every code and subcode, as a float
    data = json.loads(text)
    data["version"] = 2.0
    same_structure(Call.from_dict(data), RICH)
    huge = {**PHONE.to_dict()}
    huge["transfer"] = {
        **huge["transfer"],
        "request": {**huge["transfer"]["request"], "at": 10**308},  # a double carries it
    }
    assert Call.from_dict(huge).transfer.request.at == 10**308  # type: ignore[union-attr]


# -- what is not a snapshot -----------------------------------------------------------------


def _set(path: Path_, value: object) -> Callable[[Json], None]:
    def change(data: Json) -> None:
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value

    return change


def _delete(path: Path_) -> Callable[[Json], None]:
    def change(data: Json) -> None:
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]

    return change


NAN, INF = float("nan"), float("inf")
STATUSES = "one of 'requested', 'transferring', 'accepted', 'abandoned', 'completed', 'failed'"
BAD: list[tuple[str, Callable[[Json], None], str, str, str]] = [
    # (id, change, path, expected, found)
    ("id-int", _set(("transfer", "request", "target", "id"), 5), "$.transfer.request.target.id",
     "a string", "5"),
    ("code-string", _set(("earlier_failures", 1, "code"), "500"), "$.earlier_failures[1].code",
     "an integer", "the string '500'"),
    ("subcode-bool", _set(("result", "subcode"), True), "$.result.subcode", "an integer", "true"),
    ("code-fraction", _set(("result", "code"), 500.5), "$.result.code", "an integer", "500.5"),
    ("state-unknown", _set(("state",), "Established"), "$.state",
     "one of 'incoming', 'establishing', 'ringing', 'established', 'hold', 'transferring', "
     "'transferAccepted', 'redirecting', 'terminating', 'terminated', 'unknownFutureValue'",
     "the string 'Established'"),
    ("status-unknown", _set(("transfer", "status"), "done"), "$.transfer.status",
     STATUSES, "the string 'done'"),
    ("status-null", _set(("transfer", "status"), None), "$.transfer.status",
     STATUSES, "null"),
    ("audio-int", _set(("audio",), 1), "$.audio", "one of 'active', 'inactive'", "1"),
    ("kind-unknown", _set(("transfer", "request", "target", "kind"), "bot"),
     "$.transfer.request.target.kind", "one of 'user', 'phone'", "the string 'bot'"),
    ("kind-missing", _delete(("transfer", "request", "target", "kind")),
     "$.transfer.request.target.kind", "one of 'user', 'phone'", "no such key"),
    ("key-missing", _delete(("transfer", "audio")), "$.transfer.audio",
     "a value (every key is required)", "no such key"),
    ("failure-key-missing", _delete(("earlier_failures", 0, "message")),
     "$.earlier_failures[0].message", "a value (every key is required)", "no such key"),
    ("key-extra", _set(("transfer", "request", "extra"), 1), "$.transfer.request.extra",
     "no such key (not in the schema)", "1"),
    ("key-extra-odata", _set(("@odata.type",), "#x"), '$["@odata.type"]',
     "no such key (not in the schema)", "the string '#x'"),
    ("phone-with-user-key", _set(("transfer", "request", "target"),
     {"kind": "phone", "number": "+1", "display_name": None}),
     "$.transfer.request.target.display_name", "no such key (not in the schema)", "null"),
    ("version-newer", _set(("version",), 3), "$.version",
     "a schema version up to 2 (this transfer_fsm is older)", "3"),
    ("version-newer-float", _set(("version",), 3.0), "$.version",
     "a schema version up to 2 (this transfer_fsm is older)", "3.0"),
    ("version-string", _set(("version",), "1"), "$.version", "2", "the string '1'"),
    ("version-bool", _set(("version",), True), "$.version", "2", "true"),
    ("version-zero", _set(("version",), 0), "$.version", "2", "0"),
    ("attempt-zero", _set(("transfer", "attempt"), 0), "$.transfer.attempt",
     "an attempt number (an integer of at least 1)", "0"),
    ("attempt-string", _set(("transfer", "attempt"), "1"), "$.transfer.attempt",
     "an attempt number (an integer of at least 1)", "the string '1'"),
    ("attempt-bool", _set(("transfer", "attempt"), True), "$.transfer.attempt",
     "an attempt number (an integer of at least 1)", "true"),
    ("attempt-missing", _delete(("transfer", "attempt")), "$.transfer.attempt",
     "a value (every key is required)", "no such key"),
    ("v1-with-attempt", _set(("version",), 1), "$.transfer.attempt",
     "no such key (not in the schema)", "1"),
    ("version-missing", _delete(("version",)), "$.version",
     "a value (every key is required)", "no such key"),
    ("at-nan", _set(("transfer", "request", "at"), NAN), "$.transfer.request.at",
     "a finite number", "NaN"),
    ("at-inf", _set(("transfer", "request", "at"), -INF), "$.transfer.request.at",
     "a finite number", "-Infinity"),
    ("at-string", _set(("transfer", "request", "at"), "12.5"), "$.transfer.request.at",
     "a finite number", "the string '12.5'"),
    ("at-bool", _set(("transfer", "request", "at"), False), "$.transfer.request.at",
     "a finite number", "false"),
    ("transfer-array", _set(("transfer",), []), "$.transfer", "an object", "an array"),
    ("target-string", _set(("transfer", "request", "target"), "u1"),
     "$.transfer.request.target", "an object", "the string 'u1'"),
    ("failures-object", _set(("earlier_failures",), {}), "$.earlier_failures", "an array",
     "an object"),
    ("failures-null", _set(("earlier_failures",), None), "$.earlier_failures", "an array", "null"),
    ("failure-null", _set(("earlier_failures", 0), None), "$.earlier_failures[0]", "an object",
     "null"),
    ("call-id-null", _set(("call_id",), None), "$.call_id", "a string", "null"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "path", "expected", "found"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_what_is_not_a_snapshot_names_its_path(
    change: Callable[[Json], None], path: str, expected: str, found: str
) -> None:
    data = RICH.to_dict()
    change(data)
    with pytest.raises(SnapshotError) as caught:
        Call.from_dict(data)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.expected, error.found, error.call_id) == (path, expected, found, None)
    assert str(error) == f"{path}: expected {expected}, found {found}"
    if not any(isinstance(v, float) and not math.isfinite(v) for _, v in _nodes(data)):
        assert not is_valid(SCHEMA, data)  # the schema refuses it too


@pytest.mark.parametrize(
    ("data", "found"),
    [([], "an array"), (None, "null"), ("{}", "the string '{}'"), (1, "1"), ((1,), "a tuple")],
)
def test_a_snapshot_is_an_object(data: object, found: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        Call.from_dict(data)
    assert (caught.value.path, caught.value.expected, caught.value.found) == (
        "$",
        "an object",
        found,
    )


@pytest.mark.parametrize(
    ("at", "found"),
    [(NAN, "NaN"), (INF, "Infinity"), (-INF, "-Infinity"), (True, "true")]
    + [(at, "a number out of range") for at in (10**5000, 10**400, -(10**400))],
    ids=["nan", "inf", "-inf", "true", "10**5000", "1e400", "-1e400"],
)
def test_to_dict_refuses_an_at_no_snapshot_can_hold(at: float, found: str) -> None:
    call = replay(Call(CALL_ID), tf.TransferRequested(at=at))
    with pytest.raises(SnapshotError) as caught:
        call.to_dict()
    error = caught.value
    assert (error.path, error.expected, error.found) == (
        "$.transfer.request.at",
        "a finite number",
        found,
    )


@pytest.mark.parametrize(
    ("result", "path", "found"),
    [
        (ResultInfo(NAN, 0), "$.result.code", "NaN"),  # type: ignore[arg-type]
        (ResultInfo(500, 7000.0), "$.result.subcode", "7000.0"),  # type: ignore[arg-type]
        (ResultInfo(True, 0), "$.result.code", "true"),
    ],
)
def test_to_dict_refuses_a_result_code_that_is_not_an_int(
    result: ResultInfo, path: str, found: str
) -> None:
    """Built by hand (a parsed code is always an int): no snapshot of it could be read back
    as the same call."""
    call = Call(CALL_ID, tf.CallState.TERMINATED, None, None, result)
    with pytest.raises(SnapshotError) as caught:
        call.to_dict()
    assert (caught.value.path, caught.value.expected, caught.value.found) == (
        path,
        "an integer",
        found,
    )


def test_to_dict_refuses_a_target_that_is_neither_a_user_nor_a_phone() -> None:
    call = replay(Call(CALL_ID), tf.TransferRequested(target="u1"))  # type: ignore[arg-type]
    with pytest.raises(SnapshotError) as caught:
        call.to_dict()
    assert (caught.value.path, caught.value.expected) == (
        "$.transfer.request.target",
        "User or Phone",
    )


def test_snapshot_error_pickles_and_copies_with_its_attributes() -> None:
    error = SnapshotError("$.version", "a schema version up to 1", "2", call_id="c1")
    message = "stored snapshot of call 'c1': $.version: expected a schema version up to 1, found 2"
    assert str(error) == message
    for again in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(again) is SnapshotError
        attributes = (again.path, again.expected, again.found, again.call_id)
        assert attributes == ("$.version", "a schema version up to 1", "2", "c1")
        assert str(again) == message


# -- any change to a valid snapshot: SnapshotError or a Call, and the schema agrees ------------


def _nodes(value: Json, path: Path_ = ()) -> Iterator[tuple[Path_, Json]]:
    """Every value of a JSON document with its path, the document first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _json_path(path: Path_) -> str:
    """A path as ``SnapshotError.path`` writes it."""
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step.isidentifier():
            out += f".{step}"
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
WORDS = [m.value for enum in (CallState, Audio, TransferStatus) for m in enum]
LIKELY = st.sampled_from(
    [*WORDS, "user", "phone", None, 0, 1, 1.0, 2, 2.0, 1.5, True, [], {},
     RICH.to_dict()["result"], RICH.to_dict()["transfer"]["request"]["target"],
     PHONE.to_dict()["transfer"]["request"]["target"], PHONE.to_dict()["transfer"],
     ENDED.to_dict()["transfer"], RICH.to_dict()["earlier_failures"]]
)  # fmt: skip
BASES = st.sampled_from([RICH, PHONE, ENDED, Call("x")])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Json, str, Path_]:
    """A valid snapshot with one value replaced, one key removed or one key added."""
    data = draw(BASES).to_dict()
    nodes = list(_nodes(data))
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "replace":
        path = draw(st.sampled_from([p for p, _ in nodes]))
        value = draw(LIKELY | JSON_VALUES)
        if not path:
            return value, how, path
        _set(path, value)(data)
    elif how == "remove":
        path = draw(st.sampled_from([p for p, v in nodes if p and isinstance(p[-1], str)]))
        _delete(path)(data)
    else:
        where, node = draw(st.sampled_from([(p, v) for p, v in nodes if isinstance(v, dict)]))
        key = draw(st.text(max_size=5).filter(lambda k: k not in node))
        path = (*where, key)
        _set(path, draw(LIKELY | JSON_VALUES))(data)
    return data, how, path


@given(mutated())
def test_a_changed_snapshot_reads_as_a_call_or_raises_snapshot_error(
    change: tuple[Json, str, Path_],
) -> None:
    data, how, path = change
    error: SnapshotError | None = None
    try:
        call = Call.from_dict(data)
    except SnapshotError as caught:  # nothing else may escape
        error = caught
    accepted = error is None
    old = isinstance(data, dict) and data.get("version") == 1  # read, then written as version 2
    if error is None:
        assert call.to_dict() == (upgraded(data) if old else data)  # it means exactly that call
        same_structure(through_json(call), call)
    elif how == "replace":  # the error is within the changed value's record
        assert error.path.startswith(_json_path(path[:-1]))
    else:  # the removed or added key is named
        assert error.path == _json_path(path)
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return  # NaN or an infinity: not JSON, outside what the schema speaks about
    if old:
        return  # the schema is the current version's (version 1 is read, never written)
    assert is_valid(SCHEMA, data) is accepted, list(errors(SCHEMA, data))
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, (int, float)) and not isinstance(version, bool) and version > VERSION:
        assert not accepted  # a newer version: the schema's const refuses it, as from_dict does


# -- the published schema --------------------------------------------------------------------


def test_the_published_schema_is_the_generated_one() -> None:
    published = (ROOT / SCHEMA_FILE).read_text("utf-8")
    regenerate = f"python -m transfer_fsm schema --write {SCHEMA_FILE}"
    assert published == schema_text(), f"the schema changed: regenerate it with {regenerate}"
    shipped = resources.files("transfer_fsm") / "snapshot.schema.json"
    assert json.loads(shipped.read_text("utf-8")) == SCHEMA


def test_the_schema_uses_only_keywords_the_test_validator_implements() -> None:
    check_schema(SCHEMA)
    assert SCHEMA["properties"]["version"] == {"const": VERSION}
    assert SCHEMA["required"] == ["version", *Call._fields]


@pytest.mark.parametrize(
    "schema",
    [{"type": "string", "pattern": "x"}, {"additionalProperties": True}, {"type": "date"},
     {"items": {"exclusiveMaximum": 0}}, {"oneOf": [{"format": "uri"}]}],
)  # fmt: skip
def test_the_test_validator_refuses_keywords_it_does_not_implement(schema: dict[str, Any]) -> None:
    with pytest.raises(UnknownKeywordError):
        check_schema(schema)


def test_the_test_validator_follows_json_schema() -> None:
    integer, nullable = {"type": "integer"}, {"type": ["string", "null"], "enum": ["a", None]}
    assert [is_valid(integer, v) for v in (1, 1.0, 1.5, True, "1", 10**30)] == [
        True, True, False, False, False, True,
    ]  # fmt: skip
    bounded = {"type": "number", "maximum": 2.5}
    assert [is_valid(bounded, v) for v in (2.5, 2, 3, 10**400, "3")] == [
        True, True, False, False, False,
    ]  # fmt: skip
    positive = {"type": "integer", "minimum": 1}
    assert [is_valid(positive, v) for v in (1, 2.0, 0, -1, 0.0, True)] == [
        True, True, False, False, False, False,
    ]  # fmt: skip
    assert [is_valid(nullable, v) for v in ("a", None, "b", 1)] == [True, True, False, False]
    assert [is_valid({"const": 1}, v) for v in (1, 1.0, True, 2)] == [True, True, False, False]
    one = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert [is_valid(one, v) for v in (1, 1.5, "x")] == [False, True, False]
    record = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    values: list[object] = [{"a": "x"}, {}, {"a": 1}, {"a": "x", "b": 1}, []]
    assert [is_valid(record, v) for v in values] == [
        True, False, False, False, False,
    ]  # fmt: skip
    assert [is_valid({"type": "array", "items": integer}, v) for v in ([], [1], [1, "x"])] == [
        True, True, False,
    ]  # fmt: skip


def test_from_dict_reads_any_mapping_as_an_object() -> None:
    """An ``OrderedDict`` (``object_pairs_hook``) or an ORM's JSON type is an object too."""
    call = replay(Call(CALL_ID), tf.blind_transfer(tf.User("u"), at=5.0).event)
    text = json.dumps(call.to_dict())
    ordered = json.loads(text, object_pairs_hook=collections.OrderedDict)
    assert Call.from_dict(ordered) == call
    with pytest.raises(SnapshotError) as caught:
        Call.from_dict(collections.OrderedDict([*ordered.items(), ("extra", 1)]))
    assert caught.value.path == "$.extra"


@pytest.mark.parametrize(
    ("call", "path", "expected", "found"),
    [
        (
            Call(CALL_ID, "established"),  # type: ignore[arg-type]
            "$.state",
            "a CallState member",
            "the string 'established'",
        ),
        (Call(CALL_ID, termination_reason=5), "$.termination_reason", "a string", "5"),  # type: ignore[arg-type]
        (Call(5), "$.call_id", "a string", "5"),  # type: ignore[arg-type]
    ],
)
def test_to_dict_refuses_a_hand_built_value_no_snapshot_could_read_back(
    call: Call, path: str, expected: str, found: str
) -> None:
    with pytest.raises(SnapshotError) as caught:
        call.to_dict()
    assert (caught.value.path, caught.value.expected, caught.value.found) == (path, expected, found)


def version_1(call: Call) -> dict[str, Any]:
    """``call`` as a version-1 snapshot (before attempt numbers) wrote it."""
    data = call.to_dict()
    data["version"] = 1
    if data["transfer"] is not None:
        del data["transfer"]["attempt"]
    return data


def test_a_version_1_snapshot_reads_with_its_attempt_numbered_from_its_failures() -> None:
    """Version 1 had no attempt number: one per remembered failure comes before it."""
    assert Call.from_dict(version_1(RICH)) == RICH._replace(
        transfer=RICH.transfer._replace(attempt=3)  # type: ignore[union-attr]
    )
    assert Call.from_dict(version_1(PHONE)) == PHONE
    assert Call.from_dict(version_1(Call("x"))) == Call("x")
    abandoned = version_1(RICH)
    abandoned["transfer"]["status"] = "abandoned"  # no such status in version 1
    with pytest.raises(SnapshotError) as caught:
        Call.from_dict(abandoned)
    error = caught.value
    assert (error.path, error.found) == ("$.transfer.status", "the string 'abandoned'")


def upgraded(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 snapshot as ``to_dict`` writes the call it reads as."""
    done = copy.deepcopy(data)
    done["version"] = 2
    if isinstance(done.get("transfer"), dict):
        done["transfer"]["attempt"] = 1 + len(done["earlier_failures"])
    return done
