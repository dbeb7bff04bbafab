"""Sections 1 to 5 of the report, and the timing helpers every section uses.

Each section returns its rows; section 6 (scale) is in ``scale.py``.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import NamedTuple, TypeVar

from rivals import Factory, run_floor, run_library, statemachine_factory, transitions_factory
from workload import (
    REQUEST,
    Config,
    Flow,
    Item,
    Plan,
    Templates,
    build_stream,
    distinct_bodies,
    in_order_views,
    live_ids,
)

import transfer_fsm as tf

_K = TypeVar("_K")

LIBRARY_RATIO = 10
"""Target: each state-machine library (two machines per call) is at least this many
times slower than ``tf.reduce`` on the same in-order stream."""


class Row(NamedTuple):
    """One line of the report; ``ok`` is ``None`` for a figure without a target."""

    metric: str
    measured: str
    target: str = ""
    ok: bool | None = None


def ns_text(value: float) -> str:
    return f"{value:,.0f} ns"


def ratio_text(value: float) -> str:
    return f"{value:.2f}x"


# -- timing ------------------------------------------------------------------------


def medians(measures: dict[_K, Callable[[], int]], rounds: int) -> dict[_K, float]:
    """The median ns of each measure (which times itself) over ``rounds`` rounds.

    One warm-up round first; within a round the measures take turns, so a slow
    spell of a noisy machine hits all of them alike.
    """
    for measure in measures.values():
        measure()
    runs: dict[_K, list[int]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            gc.collect()
            runs[name].append(measure())
    return {name: statistics.median(values) for name, values in runs.items()}


def run_reduce(stream: list[Item], ids: list[str]) -> tuple[int, dict[str, tf.Call]]:
    """ns to push ``stream`` through ``tf.reduce``, one ``dict`` call id -> ``Call``."""
    calls = {call_id: tf.Call(call_id) for call_id in ids}
    reduce = tf.reduce
    start = time.perf_counter_ns()
    for call_id, event in stream:
        calls[call_id] = reduce(calls[call_id], event)
    return time.perf_counter_ns() - start, calls


# -- sections 1 and 2: reduce and the floor ---------------------------------------------


def bench_reduce(plan: Plan, templates: Templates, config: Config) -> list[Row]:
    """Sections 1 and 2: reduce and the floor on the shuffled stream; the order check."""
    stream = build_stream(plan, templates, True, config)
    count = len(stream)
    ns = medians(
        {
            "reduce": lambda: run_reduce(stream, plan.ids)[0],
            "floor": lambda: run_floor(stream, plan.ids),
        },
        config.rounds,
    )
    reduce_ns, floor_ns = ns["reduce"] / count, ns["floor"] / count
    views = run_reduce(stream, plan.ids)[1]
    expected = in_order_views(plan, templates)
    same = sum(views[call_id] == expected[call_id] for call_id in plan.ids)
    label = f"{count:,} events, {len(plan.ids):,} calls, shuffled + duplicates"
    return [
        Row(f"reduce ({label})", ns_text(reduce_ns) + "/event"),
        Row(
            "floor: nested-dict tables, `__slots__` objects, same stream",
            ns_text(floor_ns) + "/event",
        ),
        Row(
            "reduce / floor", ratio_text(reduce_ns / floor_ns), "<= 2.0", reduce_ns <= 2 * floor_ns
        ),
        Row(
            "calls whose shuffled view = their in-order view",
            f"{same:,} / {len(plan.ids):,}",
            "all",
            same == len(plan.ids),
        ),
    ]


# -- section 3: the state-machine libraries ------------------------------------------


def bench_libraries(plan: Plan, templates: Templates, config: Config) -> list[Row]:
    """Section 3: the libraries, reduce and the floor on one in-order stream."""
    factories: dict[str, Factory] = {
        "transitions": transitions_factory(),
        "python-statemachine": statemachine_factory(),
    }
    subset = Plan(plan.ids[: config.library_calls], plan.attempts[: config.library_calls])
    stream = build_stream(subset, templates, False, config)
    count = len(stream)
    measures: dict[str, Callable[[], int]] = {
        "reduce": lambda: run_reduce(stream, subset.ids)[0],
        "floor": lambda: run_floor(stream, subset.ids),
    }
    for name, new in factories.items():
        measures[name] = partial(run_library, stream, subset.ids, new)
    ns = {name: total / count for name, total in medians(measures, config.rounds).items()}
    label = f"{count:,} events, {len(subset.ids)} calls"
    rows = [
        Row(
            f"reduce, production order, no duplicates ({label}): the base of the ratios below",
            ns_text(ns["reduce"]) + "/event",
        ),
        Row("floor, same in-order stream", ns_text(ns["floor"]) + "/event"),
    ]
    for name in factories:
        ratio = ns[name] / ns["reduce"]
        rows.append(Row(f"{name}, 2 machines per call, same stream", ns_text(ns[name]) + "/event"))
        rows.append(
            Row(
                f"{name} / reduce (in order)",
                ratio_text(ratio),
                f">= {LIBRARY_RATIO}",
                ratio >= LIBRARY_RATIO,
            )
        )
    rows.append(
        Row(
            "transitions / floor (in order): the ceiling for any reducer at least as costly "
            "as the floor",
            ratio_text(ns["transitions"] / ns["floor"]),
        )
    )
    return rows


# -- section 4: parse ---------------------------------------------------------------


def _time_each(function: Callable[[bytes], object], bodies: list[bytes]) -> int:
    start = time.perf_counter_ns()
    for body in bodies:
        function(body)
    return time.perf_counter_ns() - start


def bench_parse(flows: list[Flow], config: Config) -> list[Row]:
    """Section 4: parse_notifications vs json.loads on real-sized bodies."""
    raws = distinct_bodies(flows)
    bodies = (raws * (config.parse_bodies // len(raws) + 1))[: config.parse_bodies]
    ns = medians(
        {
            "parse": lambda: _time_each(tf.parse_notifications, bodies),
            "loads": lambda: _time_each(json.loads, bodies),
        },
        config.rounds,
    )
    sizes = sorted(len(raw) for raw in raws)
    label = f"{len(raws)} distinct bodies of {sizes[0]}-{sizes[-1]} bytes"
    ratio = ns["parse"] / ns["loads"]
    return [
        Row(f"parse_notifications ({label})", ns_text(ns["parse"] / len(bodies)) + "/body"),
        Row("json.loads, same bytes", ns_text(ns["loads"] / len(bodies)) + "/body"),
        Row("parse_notifications / json.loads", ratio_text(ratio), "<= 2.0", ratio <= 2.0),
    ]


# -- section 5: memory --------------------------------------------------------------


def _mid_transfer(templates: Templates) -> list[tf.Notification]:
    """What leaves a call mid-transfer after ``TransferRequested``: transferring, audio inactive.

    Every documented flow starts so; ``live_call_bytes`` checks the transfer is open.
    """
    first = templates[0]
    return [first[0], first[1]]


def live_call_bytes(ids: list[str], notifications: list[tf.Notification]) -> tuple[float, float]:
    """Traced bytes per live Call, alone and with a dict id -> Call (ids not counted)."""
    calls: list[tf.Call | None] = [None] * len(ids)
    reduce = tf.reduce
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index, call_id in enumerate(ids):
            call = reduce(tf.Call(call_id), REQUEST)
            for notification in notifications:
                call = reduce(call, notification._replace(call_id=call_id))
            calls[index] = call
        alone = tracemalloc.get_traced_memory()[0] - before
        table = dict(zip(ids, calls, strict=True))
        with_dict = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(call is not None and call.transfer is not None for call in table.values())
    return alone / len(ids), with_dict / len(ids)


def _time_create(ids: list[str]) -> int:
    new = tf.Call
    start = time.perf_counter_ns()
    calls = [new(call_id) for call_id in ids]
    elapsed = time.perf_counter_ns() - start
    del calls
    return elapsed


LIVE_CALL_BYTES = 208
"""The target: 200, and one pointer slot for ``Transfer.attempt`` (small ints are shared)."""


def bench_memory(templates: Templates, config: Config) -> list[Row]:
    """Section 5: bytes per live Call and the time to create them."""
    n = config.live_calls
    ids = live_ids(n)
    alone, with_dict = live_call_bytes(ids, _mid_transfer(templates))
    create_ms = medians({"create": lambda: _time_create(ids)}, config.rounds)["create"] / 1e6
    label = f"{n:,} calls mid-transfer, call ids excluded"
    return [
        Row(
            f"bytes per live Call + its Transfer ({label})",
            f"{alone:,.0f} B",
            f"<= {LIVE_CALL_BYTES}",
            alone <= LIVE_CALL_BYTES,
        ),
        Row("bytes per live Call, with a dict id -> Call", f"{with_dict:,.0f} B"),
        Row(f"create {n:,} Call(call_id)", f"{create_ms:,.1f} ms", "< 1,000 ms", create_ms < 1000),
    ]
