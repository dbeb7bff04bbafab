"""The histories ``mutation_diff.py`` replays, and what it observes after each event.

A history is a start (``up``: established with audio active; ``bare``:
``Call(id)``) and a list of atoms. An atom is an event written without
classes (a body and the index of its notification, a ``GET`` answer, the
bot's request, refusal or abandon, a ``404``), so that each copy of the
package (the original, a mutant) makes it with its own classes: their
reducers test events by identity. The histories are seeded and the same for
every mutant; the original's observations are computed once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

CALL = "c1"
LEG = "leg-1"
OTHER = "unrelated-leg"
CLOCK = ((0.0, 0.0), (60.0, 30.0), (100.0, 50.0), (1e6, 1.0))
"""(now, timeout) pairs asked of ``transfer_overdue``."""
AT = (None, 0.0, 50.0, 95.0)
CONTEXTS = ("ctx", "ctx-b")
"""The ``clientContext`` of the bot's requests that carry one, echoed by operations."""
Atom = tuple[Any, ...]
History = tuple[str, tuple[int, ...]]
OBSERVABLES = (
    "reduce",
    "step.call",
    "step.outcome",
    "step.milestones",
    "step.reason",
    "step.milestone_keys",
    "transfer_blockers",
    "can_transfer",
    "consultation_fate(request's leg)",
    "consultation_fate(unrelated)",
    *(f"transfer_overdue(now={now}, timeout={timeout})" for now, timeout in CLOCK),
)
Observation = tuple[str, ...]


@dataclass(frozen=True)
class Histories:
    """The atoms, the histories over them, and each atom's short label."""

    atoms: tuple[Atom, ...]
    histories: tuple[History, ...]

    def label(self, history: History, upto: int) -> str:
        """The history's first ``upto + 1`` events, short."""
        start, indices = history
        return " ; ".join([start, *(_label(self.atoms[i]) for i in indices[: upto + 1])])


def wire(value: object) -> str:
    """A value in a form equal across copies of the package: its ``repr``."""
    return repr(value)


def _label(atom: Atom) -> str:
    kind = atom[0]
    if kind == "note":
        item = atom[1]["value"][atom[2]]
        data = item.get("resourceData") or {}
        if "/operations/" in item.get("resourceUrl", item.get("resource", "")):
            info = data.get("resultInfo") or {}
            words = [str(data.get("status")), f"{info.get('code', '-')}/{info.get('subCode', '-')}"]
            words += [f"ctx={data['clientContext']}"] if "clientContext" in data else []
            kind = str(data.get("@odata.type", "")).rpartition(".")[2]
            words += [] if kind == "commsOperation" else [kind]
            return f"op {' '.join(words)}"
        return f"{item['changeType']} {_call_words(data)}"
    if kind == "resource":
        return f"GET {_call_words(atom[1])}"
    return " ".join(str(part) for part in atom if part is not None)


def _call_words(data: dict[str, Any]) -> str:
    info = data.get("resultInfo")
    words = [str(data.get("state", "-")), str((data.get("mediaState") or {}).get("audio", "-"))]
    words += [f"{info['code']}/{info.get('subcode', info.get('subCode'))}"] if info else []
    words += [f"ctx={data['replacesContext']}"] if "replacesContext" in data else []
    words += [str(data["terminationReason"])] if "terminationReason" in data else []
    return "/".join(words)


def make_events(api: ModuleType, atoms: Sequence[Atom]) -> list[object]:
    """Each atom as an event of the package ``api``."""
    parsed: dict[int, list[object]] = {}
    events: list[object] = []
    for atom in atoms:
        kind = atom[0]
        if kind == "note":
            body = atom[1]
            if id(body) not in parsed:
                parsed[id(body)] = list(api.parse_notifications(body))
            events.append(parsed[id(body)][atom[2]])
        elif kind == "resource":
            events.append(api.parse_call_resource(atom[1]))
        elif kind == "gone":
            events.append(api.call_gone(CALL))
        elif kind == "requested":
            events.append(api.TransferRequested(*_request_fields(api, atom[1:])))
        elif kind == "rejected":
            result = None if atom[1] is None else api.ResultInfo(atom[1], atom[2], "x")
            events.append(api.TransferRejected(result))
        else:  # abandoned
            events.append(api.TransferAbandoned(*atom[1:]))
    return events


def _request_fields(api: ModuleType, fields: Sequence[Any]) -> list[object]:
    replaces, context, target, at = fields
    if target is not None:
        target = getattr(api, target[0])(*target[1])
    return [replaces, context, target, at]


def starts(api: ModuleType) -> dict[str, object]:
    return {
        "up": api.Call(CALL, api.CallState.ESTABLISHED, api.Audio.ACTIVE),
        "bare": api.Call(CALL),
    }


def observe(api: ModuleType, call: Any, event: object) -> tuple[Observation, Any]:
    """Everything a user sees of ``event`` reduced on ``call``, and the call after it."""
    try:
        new = api.reduce(call, event)
        reduced = wire(new)
    except Exception as error:  # an exception is an answer too
        new, reduced = call, f"raises {type(error).__name__}: {error}"
    try:
        made = api.step(call, event)
        stepped = tuple(
            wire(value)
            for value in (
                made.call,
                made.outcome,
                made.milestones,
                made.reason,
                getattr(made, "milestone_keys", None),
            )
        )
    except Exception as error:
        stepped = (f"raises {type(error).__name__}: {error}",) * 5
    return (reduced, *stepped, *_queries(api, new)), new


def _queries(api: ModuleType, call: Any) -> Iterator[str]:
    request = None if call.transfer is None else call.transfer.request
    leg = LEG if request is None or request.replaces_call_id is None else request.replaces_call_id
    asked: list[tuple[Callable[..., object], tuple[object, ...]]] = [
        (api.transfer_blockers, (call,)),
        (api.can_transfer, (call,)),
        (api.consultation_fate, (call, leg)),
        (api.consultation_fate, (call, OTHER)),
        *((api.transfer_overdue, (call, now, timeout)) for now, timeout in CLOCK),
    ]
    for function, args in asked:
        try:
            yield wire(function(*args))
        except Exception as error:
            yield f"raises {type(error).__name__}: {error}"


def observations(api: ModuleType, made: Histories) -> Iterator[tuple[int, int, Observation]]:
    """(history, event, observation) for every event of every history, in order."""
    events = make_events(api, made.atoms)
    first = starts(api)
    for number, (start, indices) in enumerate(made.histories):
        call = first[start]
        for position, index in enumerate(indices):
            seen, call = observe(api, call, events[index])
            yield number, position, seen


def build(api: ModuleType, flows: Sequence[Any], count: int, seed: int) -> Histories:
    """The documented flows (in order, shuffled with copies, with and without the
    request first) and ``count`` random histories over their atoms and the bot's."""
    rng = random.Random(seed)
    atoms: list[Atom] = []
    index: dict[str, int] = {}

    def add(atom: Atom) -> int:
        key = repr(atom)
        if key not in index:
            index[key] = len(atoms)
            atoms.append(atom)
        return index[key]

    histories: list[History] = []
    for flow in flows:
        notes = tuple(add(("note", body, i)) for body in flow.bodies for i in _count(api, body))
        request = (add(_requested_atom(flow.request.event)),) if flow.request else ()
        for order in [notes, *(_shuffled(rng, notes) for _ in range(8))]:
            histories += [("up", order), ("up", (*request, *order))]
    noted = list(range(len(atoms)))
    bot = [add(atom) for atom in _bot_atoms(api)]
    calls = [add(atom) for atom in _call_atoms(api)]
    operations = [add(atom) for atom in _operation_atoms()]
    for _ in range(count):
        length = rng.randint(1, 16)
        pools = rng.choices((noted, bot, calls, operations), weights=(5, 3, 2, 2), k=length)
        histories.append((rng.choice(("up", "bare")), tuple(rng.choice(p) for p in pools)))
    abandons = [add(atom) for atom in _bot_atoms(api) if atom[0] == "abandoned"]
    tails = [add(atom) for atom in _after_abandon_atoms()] + operations
    requests = [add(atom) for atom in _bot_atoms(api) if atom[0] == "requested"]
    for _ in range(count // 3):
        histories.append(("up", _abandoned_history(rng, requests, noted, calls, abandons, tails)))
    return Histories(tuple(atoms), tuple(dict.fromkeys(histories)))


def _abandoned_history(
    rng: random.Random,
    requests: list[int],
    noted: list[int],
    calls: list[int],
    abandons: list[int],
    tails: list[int],
) -> tuple[int, ...]:
    """One or more attempts, each given up (by number or not) after some progress, and
    what may still come after a give-up: Graph's word on it (a refusal, a failed legacy
    operation, a failure, a termination that proves the transfer, after a 404 too), a
    late copy, the next request."""
    events: list[int] = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.8:
            events.append(rng.choice(requests))
        events += rng.choices(noted + calls, k=rng.randint(0, 3))
        events.append(rng.choice(abandons))
        events += rng.choices(tails, k=rng.randint(1, 5))
    return tuple(events)


def _count(api: ModuleType, body: Any) -> range:
    return range(len(api.parse_notifications(body)))


def _shuffled(rng: random.Random, notes: tuple[int, ...]) -> tuple[int, ...]:
    order = list(notes) + rng.choices(notes, k=rng.randint(0, 3))
    rng.shuffle(order)
    return tuple(order)


def _requested_atom(event: Any) -> Atom:
    target = event.target
    shown = None if target is None else (type(target).__name__, tuple(target))
    return ("requested", event.replaces_call_id, event.client_context, shown, event.at)


def _bot_atoms(api: ModuleType) -> Iterator[Atom]:
    """The bot's request (its fields varied), refusal, abandon, and Graph's 404."""
    heidi = ("User", ("u-1", "Heidi", None))
    for replaces in (None, LEG):
        for at in AT:
            yield ("requested", replaces, None, heidi, at)
    for context in CONTEXTS:
        yield ("requested", None, context, ("Phone", ("+12345678901",)), None)
        yield ("requested", LEG, context, heidi, 50.0)
    for code, subcode in ((403, 8501), (500, 7000), (500, 7700), (404, 0)):
        yield ("rejected", code, subcode)
    yield ("rejected", None)
    yield ("abandoned",)
    if "attempt" in getattr(api.TransferAbandoned, "_fields", ()):
        for attempt in (1, 2, 3):
            yield ("abandoned", attempt)
    yield ("gone",)


def _call_atoms(api: ModuleType) -> Iterator[Atom]:
    """Call notifications and ``GET`` answers in every state, with and without audio and
    a result (Graph's documented failures, so that an earlier attempt's recurs)."""
    states = [None, *(state.value for state in api.CallState), "someFutureState"]
    results = (None, (500, 7000), (0, 7015), (500, 7700))
    for n, state in enumerate(states):
        for audio in (None, "active", "inactive"):
            for k, result in enumerate(results):
                data: dict[str, Any] = {} if state is None else {"state": state}
                if audio is not None:
                    data["mediaState"] = {"audio": audio}
                if result is not None:
                    data["resultInfo"] = {"code": result[0], "subcode": result[1], "message": "x"}
                if (n + k) % 3 == 0:
                    data["replacesContext"] = "ctx-2"
                yield ("resource", {"id": CALL, **data})
                change = ("created", "updated", "deleted")[(n + k) % 3]
                yield ("note", _body(change, data), 0)


def _operation_atoms() -> Iterator[Atom]:
    """The legacy transfer's ``commsOperation`` failing: with no ``clientContext``, the
    bot's request's (either of ``CONTEXTS``) or another's; with a progress word or a
    numeric ``subCode``; with ``resultInfo`` code 0, 2xx or 500 (the documented failures'
    too, so that an earlier attempt's recurs) or none; and an operation of another type."""
    results = (None, (0, 7015), (200, 7015), (500, 7000), (500, 7700), (0, 7000))
    for context in (None, *CONTEXTS, "someone-elses"):
        for word in (None, "transferAccepted"):
            for result in results:
                data: dict[str, Any] = {"@odata.type": "#microsoft.graph.commsOperation"}
                data["status"] = "failed"
                if context is not None:
                    data["clientContext"] = context
                if result is not None or word is not None:
                    code, subcode = result or (200, None)
                    info: dict[str, Any] = {"code": code, "message": "x"}
                    if word is not None or subcode is not None:
                        info["subCode"] = word if word is not None else subcode
                    data["resultInfo"] = info
                yield ("note", _operation_body("deleted", data), 0)
    progress = {"code": 200, "subCode": "transferring", "message": "x"}
    for status in ("running", "completed"):
        data = {"@odata.type": "#microsoft.graph.commsOperation", "status": status}
        data.update(clientContext=CONTEXTS[0], resultInfo=progress)
        yield ("note", _operation_body("updated", data), 0)
    prompt: dict[str, Any] = {"@odata.type": "#microsoft.graph.playPromptOperation"}
    prompt.update(status="failed", clientContext=CONTEXTS[0])
    prompt["resultInfo"] = {"code": 500, "subCode": 7000, "message": "x"}
    yield ("note", _operation_body("deleted", prompt), 0)


def _after_abandon_atoms() -> Iterator[Atom]:
    """What may follow a give-up: Graph's refusal of the POST, a 404, a termination that
    proves the transfer (by ``terminationReason`` or subcode 7015) or proves nothing, and
    a failure."""
    for code, subcode in ((403, 8501), (500, 7000)):
        yield ("rejected", code, subcode)
    yield ("rejected", None)
    yield ("gone",)
    for change in ("updated", "deleted"):
        for extra in (
            {"terminationReason": "AppTransferred"},
            {"resultInfo": {"code": 0, "subcode": 7015, "message": "x"}},
            {"resultInfo": {"code": 200, "subcode": 5001, "message": "x"}},
            {
                "resultInfo": {"code": 200, "subcode": 5001, "message": "x"},
                "terminationReason": "AppTransferred",
            },
            {},
        ):
            data = {"state": "terminated", **extra}
            yield ("note", _body(change, data), 0)
            yield ("resource", {"id": CALL, **data})
    failed = {"state": "established", "resultInfo": {"code": 500, "subcode": 7000, "message": "x"}}
    yield ("note", _body("updated", failed), 0)
    yield ("resource", {"id": CALL, **failed, "mediaState": {"audio": "active"}})


def _operation_body(change: str, data: dict[str, Any]) -> dict[str, Any]:
    url = f"/communications/calls/{CALL}/operations/op-1"
    return {"value": [{"changeType": change, "resourceUrl": url, "resourceData": data}]}


def _body(change: str, data: dict[str, Any]) -> dict[str, Any]:
    url = f"/communications/calls/{CALL}"
    return {"value": [{"changeType": change, "resourceUrl": url, "resourceData": data}]}
