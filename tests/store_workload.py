"""A workload every store must pass, whatever its backend, and how to open a store by name.

A store is named by a spec string (see :func:`open_store`), so the same tests
and the same worker process (``store_worker.py``) run against every backend.

:func:`workload` builds many calls, each following a documented flow
(``flows.FLOWS`` and ``flows.VARIANT_FLOWS``) under its own call id, some of
them consultative transfers naming another call; it returns the bot's requests,
the callback bodies shuffled across calls (some carrying several calls'
notifications), each call's expected final view, the links a store must
answer, and the bounds on each milestone kind per call.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from flows import FLOWS, VARIANT_FLOWS, Flow, request_of

import transfer_fsm as tf
from transfer_fsm.store import AsyncStore, Link, MemoryStore, Store
from transfer_fsm.store.sqlite import AsyncSQLiteStore, SQLiteStore

ALL_FLOWS: list[Flow] = [*FLOWS, *VARIANT_FLOWS]
ENDED = (tf.TransferStatus.COMPLETED, tf.TransferStatus.FAILED)
KINDS = tuple(tf.Milestone)


# -- opening a store by name ------------------------------------------------------------


def _options(query: str) -> dict[str, Any]:
    """``timeout=5&synchronous=NORMAL`` as keyword arguments."""
    options: dict[str, Any] = dict(parse_qsl(query, strict_parsing=True)) if query else {}
    if "timeout" in options:
        options["timeout"] = float(options["timeout"])
    if "journal" in options:
        options["journal"] = options["journal"] == "1"
    return options


@contextmanager
def open_store(spec: str) -> Iterator[Store]:
    """The store ``spec`` names, closed on exit.

    - ``memory:``: a new, empty ``MemoryStore`` (this process only);
    - ``sqlite:PATH`` or ``sqlite:PATH?synchronous=NORMAL&timeout=5&journal=1``:
      an ``SQLiteStore`` on the file ``PATH``;
    - ``redis:URL``: not yet; the Redis store's tests add that case below.
    """
    kind, _, rest = spec.partition(":")
    if kind == "memory":
        yield MemoryStore()
    elif kind == "sqlite":
        path, _, query = rest.partition("?")
        with SQLiteStore(path, **_options(query)) as store:
            yield store
    # The Redis store adds its case here: ``redis:redis://127.0.0.1:PORT/0?prefix=x``.
    else:
        raise ValueError(f"no store named {spec!r} (memory:, sqlite:PATH)")


@asynccontextmanager
async def open_async_store(spec: str) -> AsyncIterator[AsyncStore]:
    """The asyncio store ``spec`` names (as :func:`open_store`; ``memory:`` has none)."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        path, _, query = rest.partition("?")
        async with AsyncSQLiteStore(path, **_options(query)) as store:
            yield store
    # The Redis store adds its case here, as in open_store.
    else:
        raise ValueError(f"no asyncio store named {spec!r} (sqlite:PATH)")


def conflicts_of(store: object) -> int:
    """How many writes the store retried after a conflict (0 for a store without retries)."""
    conflicts = getattr(store, "conflicts", 0)
    assert isinstance(conflicts, int)
    return conflicts


# -- the workload ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Calls to apply to a store, and what the store must end with."""

    requests: list[tuple[str, tf.TransferRequested]]
    """The bot's request for each call: apply these first."""
    bodies: list[bytes]
    """Every notification once, as callback bodies, shuffled across calls."""
    expected: dict[str, tf.Call]
    """Each call's final view (its flow's documented final view, under its id)."""
    links: dict[str, Link]
    """What ``link`` answers for each id that has a link (others: ``None``)."""
    attempts_ended: int
    """How many attempts end (completed or failed): one ``transferCompleted`` or
    ``transferFailed`` each."""
    bounds: dict[str, dict[tf.Milestone, tuple[int, int]]]
    """For each call and milestone kind, the fewest and most times it is reported over
    the call's notifications in any delivery order (equal: it fires that many times
    whatever the order)."""


def _is_consultative(flow: Flow) -> bool:
    return request_of(flow).replaces_call_id is not None


@cache
def _flow_bounds(index: int) -> dict[tf.Milestone, tuple[int, int]]:
    """Fewest and most of each milestone over every order of the flow's notifications."""
    flow = ALL_FLOWS[index]
    counts: dict[tf.Milestone, set[int]] = {kind: set() for kind in KINDS}
    for order in itertools.permutations(flow.events()):
        reported = Counter(
            milestone
            for done in steps_through(flow.final.call_id, [request_of(flow), *order])
            for milestone in done.milestones
        )
        for kind in KINDS:
            counts[kind].add(reported[kind])
    return {kind: (min(seen), max(seen)) for kind, seen in counts.items()}


def steps_through(call_id: str, events: Iterable[tf.Event]) -> list[tf.Step]:
    """Every step of ``events`` from a new call ``call_id``, one process, in order."""
    call = tf.Call(call_id)
    done = []
    for event in events:
        done.append(tf.step(call, event))
        call = done[-1].call
    return done


def _merge(bodies: list[tuple[str, dict[str, Any]]], rng: random.Random) -> list[bytes]:
    """The bodies in order, about one in five of them merged with the next ones (other calls)."""
    merged: list[bytes] = []
    position = 0
    while position < len(bodies):
        calls = {bodies[position][0]}
        items = list(bodies[position][1]["value"])
        position += 1
        size = rng.randint(2, 4) if rng.random() < 0.2 else 1
        while len(calls) < size and position < len(bodies) and bodies[position][0] not in calls:
            calls.add(bodies[position][0])
            items += bodies[position][1]["value"]
            position += 1
        body = {"@odata.type": "#microsoft.graph.commsNotifications", "value": items}
        merged.append(json.dumps(body, separators=(",", ":")).encode())
    return merged


def flow_as(
    flow: Flow, call_id: str, request: tf.TransferRequested
) -> tuple[tf.Call, list[dict[str, Any]]]:
    """The final view and the bodies of ``flow`` run as call ``call_id`` after ``request``.

    The view is the flow's documented one, under the new id and request; it is
    checked here against a replay in production order, so a wrong expectation fails.
    """
    attempt = flow.final.transfer
    assert attempt is not None
    final = flow.final._replace(call_id=call_id, transfer=attempt._replace(request=request))
    bodies = list(flow.about(call_id).bodies)
    events = [event for body in bodies for event in tf.parse_notifications(body)]
    replayed = steps_through(call_id, [request, *events])[-1].call
    assert replayed == final, (flow.name, replayed, final)
    return final, bodies


def run_flow(
    store: Store, flow: Flow, call_id: str, request: tf.TransferRequested | None = None
) -> tf.Call:
    """Apply ``flow`` as call ``call_id`` (its request, then its bodies); its final view."""
    request = request_of(flow) if request is None else request
    final, bodies = flow_as(flow, call_id, request)
    store.apply(call_id, request)
    for body in bodies:
        store.apply_body(body)
    return final


def workload(calls: int, seed: int) -> Workload:
    """``calls`` calls, each a documented flow under its own id; about half of the
    consultative ones name another call of the workload as their consultation call,
    the others a call that never notifies."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(calls)]
    chosen = [rng.randrange(len(ALL_FLOWS)) for _ in ids]
    free = [
        call_id
        for call_id, index in zip(ids, chosen, strict=True)
        if not _is_consultative(ALL_FLOWS[index])
    ]
    requests: list[tuple[str, tf.TransferRequested]] = []
    expected: dict[str, tf.Call] = {}
    singles: list[tuple[str, dict[str, Any]]] = []
    legs: dict[str, str] = {}
    for call_id, index in zip(ids, chosen, strict=True):
        flow = ALL_FLOWS[index]
        request = request_of(flow)
        if _is_consultative(flow):
            leg = (
                free.pop()
                if free and rng.random() < 0.5
                else str(uuid.UUID(int=rng.getrandbits(128)))
            )
            legs[call_id] = leg
            request = request._replace(replaces_call_id=leg)
        requests.append((call_id, request))
        expected[call_id], bodies = flow_as(flow, call_id, request)
        singles += [(call_id, body) for body in bodies]
    rng.shuffle(singles)
    links: dict[str, Link] = {}
    for primary, leg in legs.items():
        found = Link(primary, leg, tf.consultation_fate(expected[primary], leg))
        links[primary] = links[leg] = found
    return Workload(
        requests=requests,
        bodies=_merge(singles, rng),
        expected=expected,
        links=links,
        attempts_ended=sum(
            call.transfer is not None and call.transfer.status in ENDED
            for call in expected.values()
        ),
        bounds={call_id: _flow_bounds(index) for call_id, index in zip(ids, chosen, strict=True)},
    )


# -- delivering and checking -------------------------------------------------------------


def apply_all(store: Store, work: Workload, order: Iterable[int]) -> list[tf.Step]:
    """Apply the requests, then the bodies at ``order``; every step, in order."""
    steps = [store.apply(call_id, request) for call_id, request in work.requests]
    return steps + [done for index in order for done in store.apply_body(work.bodies[index])]


def ended_attempts(counts: dict[str, Counter[tf.Milestone]]) -> int:
    """How many ``transferCompleted`` and ``transferFailed`` were reported in all."""
    ends = (tf.Milestone.TRANSFER_COMPLETED, tf.Milestone.TRANSFER_FAILED)
    return sum(counts_of[kind] for counts_of in counts.values() for kind in ends)


def delivery_order(count: int, seed: int, duplicates: float = 0.0) -> list[int]:
    """Every body index once, and each again with chance ``duplicates``, shuffled by ``seed``."""
    rng = random.Random(seed)
    order = list(range(count))
    order += [index for index in range(count) if rng.random() < duplicates]
    rng.shuffle(order)
    return order


def replay(work: Workload, bodies: Sequence[bytes]) -> dict[str, tf.Call]:
    """Each call's view after its request and the notifications of ``bodies``, in order
    (reduced in this process: the reference a store is compared with)."""
    views = {call_id: tf.reduce(tf.Call(call_id), request) for call_id, request in work.requests}
    for body in bodies:
        for event in tf.parse_notifications(body):
            views[event.call_id] = tf.reduce(views[event.call_id], event)
    return views


def count_milestones(steps: Iterable[tf.Step]) -> dict[str, Counter[tf.Milestone]]:
    """How many times each milestone was reported, per call."""
    counts: dict[str, Counter[tf.Milestone]] = {}
    for done in steps:
        if done.milestones:
            counts.setdefault(done.call.call_id, Counter()).update(done.milestones)
    return counts


def milestone_problems(work: Workload, counts: dict[str, Counter[tf.Milestone]]) -> list[str]:
    """Every call and kind reported more or fewer times than any single delivery order could."""
    problems = [
        f"{call_id}: not in the workload" for call_id in counts if call_id not in work.bounds
    ]
    for call_id, bounds in work.bounds.items():
        reported = counts.get(call_id, Counter())
        for kind, (fewest, most) in bounds.items():
            if not fewest <= reported[kind] <= most:
                problems.append(f"{call_id}: {kind.value} {reported[kind]}x, not {fewest}..{most}")
    return problems


def store_problems(store: Store, work: Workload) -> list[str]:
    """Every call whose stored view, or link, is not the expected one."""
    problems = []
    for call_id, view in work.expected.items():
        if store.get(call_id) != view:
            problems.append(f"{call_id}: stored {store.get(call_id)}, expected {view}")
    for call_id in {*work.expected, *work.links}:
        if store.link(call_id) != work.links.get(call_id):
            problems.append(
                f"{call_id}: link {store.link(call_id)}, expected {work.links.get(call_id)}"
            )
    return problems


async def async_store_problems(store: AsyncStore, work: Workload) -> list[str]:
    """:func:`store_problems` for an asyncio store."""
    problems = []
    for call_id, view in work.expected.items():
        stored = await store.get(call_id)
        if stored != view:
            problems.append(f"{call_id}: stored {stored}, expected {view}")
    for call_id in {*work.expected, *work.links}:
        found = await store.link(call_id)
        if found != work.links.get(call_id):
            problems.append(f"{call_id}: link {found}, expected {work.links.get(call_id)}")
    return problems
