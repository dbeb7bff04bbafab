"""Shared helpers of the hostile-body tests (``test_hostile_*.py``).

Those modules check that ``parse_notifications`` keeps what it is sent or
refuses it with one error. Whenever a body is refused, the error is a
:class:`NotificationError` whose ``path`` names the bad value or a container
holding it, and whose message starts with that path. No test there measures
time. Here: JSON paths and one-field edits, outcomes as comparable values,
the properties every refusal must have, and the constants the modules share.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

from flows import CALL_ID, Body

import transfer_fsm as tf
from transfer_fsm import NotificationError

URL = f"/communications/calls/{CALL_ID}"
INT32 = "an Int32 (a number or a numeric string)"
RESULT = "$.value[0].resourceData.resultInfo"
NOTE = 'Übergabe "fehlgeschlagen" \\ 转接失败 \U0001f4de\t'  # quotes, escapes, non-BMP

Segment = str | int
Path = tuple[Segment, ...]


class Edit(Enum):
    """What an edit puts at a path when it puts no value there."""

    REMOVE = "remove"


def call_notification(data: object, change: str = "updated") -> Body:
    return {"changeType": change, "resourceUrl": URL, "resourceData": data}


# --------------------------------------------------------------------------
# Paths, edits and the two properties every outcome must have
# --------------------------------------------------------------------------


def render(path: Path) -> str:
    """The JSON path the library uses in errors: ``$.value[0].resourceData.state``."""
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def paths_in(node: object, prefix: Path = ()) -> Iterator[Path]:
    """Every path inside ``node``: each object key and array index, parents first."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*prefix, key)
            yield from paths_in(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*prefix, index)
            yield from paths_in(child, (*prefix, index))


def at(node: Any, path: Path) -> Any:
    """The value at ``path`` inside ``node``."""
    for segment in path:
        node = node[segment]
    return node


def edited(body: Body, path: Path, value: object) -> Body:
    """A deep copy of ``body`` with ``value`` put at ``path`` (added, replaced or removed).

    ``value`` itself is not copied, so a test can check the parser kept that very object.
    """
    changed = copy.deepcopy(body)
    parent = at(changed, path[:-1])
    if value is Edit.REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def outcome(body: Any) -> list[tf.Notification] | NotificationError:
    """The events of ``body``, or the NotificationError refusing it; anything else escapes."""
    try:
        return tf.parse_notifications(body)
    except NotificationError as error:
        return error


def summary(result: list[tf.Notification] | NotificationError) -> object:
    """An outcome as a comparable value: the events, or the error's three parts."""
    if isinstance(result, NotificationError):
        return ("refused", result.path, result.expected, result.found)
    return ("parsed", result)


def assert_names_its_path(error: NotificationError) -> None:
    """The message is ``<path>: expected <what>, found <what>``, short and loggable."""
    assert error.path.startswith("$")
    assert str(error) == f"{error.path}: expected {error.expected}, found {error.found}"
    assert len(str(error)) < 400, "the message must not echo a huge value"
    str(error).encode("utf-8")  # no lone surrogate from the body leaks into the message


def _field(path: str) -> str:
    """``resource`` is Graph's older name for ``resourceUrl``: one field, two spellings.

    A notification without a usable ``resourceUrl`` falls back to ``resource``,
    so the error for a missing or null ``resourceUrl`` names ``resource``.
    """
    return re.sub(r"\.resource(?=$|[.\[])", ".resourceUrl", path)


def within(path: str, container: str) -> bool:
    """``path`` is ``container`` or lies inside it (``$.a.b`` is in ``$.a``, ``$.ab`` is not)."""
    return path == container or (path.startswith(container) and path[len(container)] in ".[")


def assert_blames_the_edit(error: NotificationError, where: str, value: object) -> None:
    """A refusal names the edited value or a container of it, never an untouched field.

    An edit that puts an object or array at ``where`` may also be refused for
    something inside that new value (``{}`` lacks ``changeType``, say).
    """
    assert_names_its_path(error)
    blamed, edit = _field(error.path), _field(where)
    if isinstance(value, (dict, list)):
        assert within(edit, blamed) or within(blamed, edit), (str(error), where)
    else:
        assert within(edit, blamed), (str(error), where)


WIRE_KEYS = [
    "changeType",
    "resourceUrl",
    "resource",
    "resourceData",
    "value",
    "state",
    "mediaState",
    "audio",
    "resultInfo",
    "code",
    "subCode",
    "subcode",
    "message",
    "terminationReason",
    "replacesContext",
    "status",
    "clientContext",
    "@odata.type",
]
"""Every key the parser reads: fuzzers use them as values and as keys."""
