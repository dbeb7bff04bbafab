"""What the benchmark feeds the reducers: the documented flows, and streams built from them.

The flows are the test suite's own (``tests/flows.py``), so the benchmark
measures exactly the orders the tests check.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import transfer_fsm as tf

# The documented flows live in tests/flows.py. tests/ is not a package, so it goes
# on sys.path here, once, and nowhere else; the benchmark then imports
# ``flows`` as the tests do. This works whatever the current directory is.
TESTS_DIR = str(Path(__file__).resolve().parent.parent / "tests")
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

# Re-exported (``as``): the other modules of the benchmark take the flows from here.
from flows import CALL_ID as CALL_ID  # noqa: E402
from flows import FLOWS as FLOWS  # noqa: E402  (needs TESTS_DIR on sys.path, above)
from flows import Flow as Flow  # noqa: E402
from flows import request_of as request_of  # noqa: E402

_T = TypeVar("_T")

REQUEST = tf.TransferRequested()
RNG_SEED = 20240611

Body = dict[str, Any]
Item = tuple[str, tf.Event]
"""(call id, event): the bot knows the call of its own ``TransferRequested``."""
Templates = list[list[tf.Notification]]
"""Each flow's notifications, parsed, in production order (index = flow index)."""


@dataclass(frozen=True)
class Config:
    """How big each measurement is."""

    rounds: int
    calls: int  # distinct call ids in the reduce stream
    attempts: int  # transfer attempts per call
    duplicates: float  # chance that a notification is delivered twice
    library_calls: int  # calls in the in-order stream for the libraries
    parse_bodies: int  # bodies parsed per round
    live_calls: int  # calls held live for the memory figure
    sizes: tuple[int, ...]  # notifications per body in the scale test
    scale_items: int  # notifications parsed per round and size (at least one body)
    store_calls: int  # calls whose bodies MemoryStore.apply_body takes per round
    snapshot_calls: int  # calls in the to_dict + from_dict round trip
    tracked_calls: int  # calls held in a MemoryStore for the memory figure
    store_applies: int  # SQLiteStore / RedisStore applies per round


def ends_call(flow: Flow) -> bool:
    """Whether the flow ends the call (a completed transfer) rather than failing back."""
    return flow.final.state is tf.CallState.TERMINATED


def templates_of(flows: list[Flow]) -> Templates:
    """Each flow's notifications, parsed once, in production order."""
    return [flow.events() for flow in flows]


# -- event streams ---------------------------------------------------------------


class Plan(NamedTuple):
    """Which calls there are and which flow each of their attempts follows."""

    ids: list[str]
    attempts: list[list[int]]


def make_plan(flows: list[Flow], calls: int, attempts: int, rng: random.Random) -> Plan:
    """Failed attempts first (the call lives on), then one attempt of any flow."""
    failures = [index for index, flow in enumerate(flows) if not ends_call(flow)]
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(calls)]
    chosen = [
        [rng.choice(failures) for _ in range(attempts - 1)] + [rng.randrange(len(flows))]
        for _ in ids
    ]
    return Plan(ids, chosen)


def call_items(
    call_id: str,
    attempts: list[int],
    templates: Templates,
    rng: random.Random | None,
    duplicates: float,
) -> list[Item]:
    """One call's events; with ``rng``, each attempt's notifications shuffled, some twice."""
    items: list[Item] = []
    for index in attempts:
        events = [event._replace(call_id=call_id) for event in templates[index]]
        if rng is not None:
            events += [event for event in events if rng.random() < duplicates]
            rng.shuffle(events)
        items.append((call_id, REQUEST))
        items += [(call_id, event) for event in events]
    return items


def interleave(per_call: list[list[_T]], rng: random.Random) -> list[_T]:
    """Merge the calls' streams at random, keeping each call's own order."""
    order = [index for index, items in enumerate(per_call) for _ in items]
    rng.shuffle(order)
    streams = [iter(items) for items in per_call]
    return [next(streams[index]) for index in order]


def build_stream(plan: Plan, templates: Templates, shuffled: bool, config: Config) -> list[Item]:
    """All the plan's calls interleaved; each attempt shuffled with duplicates if ``shuffled``."""
    rng = random.Random(RNG_SEED + shuffled)
    per_call = [
        call_items(call_id, attempts, templates, rng if shuffled else None, config.duplicates)
        for call_id, attempts in zip(plan.ids, plan.attempts, strict=True)
    ]
    return interleave(per_call, rng)


def in_order_views(plan: Plan, templates: Templates) -> dict[str, tf.Call]:
    """Each call's attempts reduced in production order, without duplicates."""
    views = {}
    for call_id, attempts in zip(plan.ids, plan.attempts, strict=True):
        call = tf.Call(call_id)
        for _, event in call_items(call_id, attempts, templates, None, 0.0):
            call = tf.reduce(call, event)
        views[call_id] = call
    return views


# -- bodies and ids for the parse, memory and scale sections ---------------------------


def distinct_bodies(flows: list[Flow]) -> list[bytes]:
    """The raw bytes of every distinct body of the flows."""
    return sorted({json.dumps(body).encode() for flow in flows for body in flow.bodies})


def live_ids(count: int) -> list[str]:
    """``count`` distinct call ids, made before anything is measured."""
    base = random.Random(RNG_SEED).getrandbits(128)
    return [str(uuid.UUID(int=base + index)) for index in range(count)]


def call_id_of(number: int) -> str:
    """A UUID-shaped call id (as Graph's are) made from a number: one id per number."""
    return f"{number:08x}-0000-4000-8000-{number:012x}"


def scale_body(flows: list[Flow], size: int) -> tuple[bytes, list[str]]:
    """One body of ``size`` notifications: the flows in turn, one call per flow instance."""
    items: list[Body] = []
    ids: list[str] = []
    instance = 0
    while len(items) < size:
        flow = flows[instance % len(flows)]
        call_id = call_id_of(instance)
        ids.append(call_id)
        for body in flow.bodies:
            for item in body["value"]:
                items.append({**item, "resourceUrl": f"/communications/calls/{call_id}"})
        instance += 1
    body = {"@odata.type": "#microsoft.graph.commsNotifications", "value": items[:size]}
    return json.dumps(body).encode(), ids
