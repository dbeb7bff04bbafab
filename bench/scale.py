"""Section 6 of the report: the cost per notification as one body grows.

Flatness is judged on the library's own work: parse minus ``json.loads`` of the
same bytes, per notification, since ``json.loads`` itself is not flat (it builds
every dict of the body before the library sees one). Linear time is judged on
parse and on parse + reduce whole. The targets are measured with the garbage
collector enabled as normal. The same figures are also measured with the
collector paused around the timed loop only (no target): the difference is the
interpreter's collector, which scans more live objects the larger the body,
rather than the library's own work.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from sections import Row, medians, ratio_text
from workload import REQUEST, Config, Flow, scale_body

import transfer_fsm as tf

PAUSED = ", GC paused in the timed loop"
"""Suffix of the measures (and rows) taken with ``gc.disable()``."""
FLAT = 1.5
"""Target: per notification, parse's own work (parse - json.loads) on the largest body
costs at most this much more than on a body of 100."""
LINEAR = 1.5
"""Target: per notification, the largest body costs at most this much more than the one
ten times smaller: the total time grows linearly once bodies are large."""
TEN_MB = 10 * 1024 * 1024
BIG_BODY = 2.0
"""Target: parse of one 10 MB body costs at most this many times ``json.loads`` of it."""


@contextmanager
def gc_paused(pause: bool) -> Iterator[None]:
    """``gc.disable()`` for the block if ``pause``; the collector is re-enabled in a finally."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _time_parse(parse: Callable[[bytes], object], raw: bytes, repeat: int, pause: bool) -> int:
    with gc_paused(pause):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            parse(raw)
        return time.perf_counter_ns() - start


def _time_parse_reduce(raw: bytes, views: dict[str, tf.Call], repeat: int, pause: bool) -> int:
    parse, reduce = tf.parse_notifications, tf.reduce
    with gc_paused(pause):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            calls = dict(views)
            for event in parse(raw):
                calls[event.call_id] = reduce(calls[event.call_id], event)
        return time.perf_counter_ns() - start


def _per_body(measure: Callable[[], int], repeat: int) -> Callable[[], int]:
    return lambda: measure() // repeat


def _scale_measures(flows: list[Flow], size: int, config: Config) -> dict[str, Callable[[], int]]:
    """Timers (ns per body) of json.loads, parse and parse + reduce on ``size`` notifications."""
    raw, ids = scale_body(flows, size)
    views = {call_id: tf.reduce(tf.Call(call_id), REQUEST) for call_id in ids}
    repeat = max(1, config.scale_items // size)
    measures: dict[str, Callable[[], int]] = {
        "json.loads": partial(_time_parse, json.loads, raw, repeat, False)
    }
    for pause, suffix in ((False, ""), (True, PAUSED)):
        measures["parse" + suffix] = partial(
            _time_parse, tf.parse_notifications, raw, repeat, pause
        )
        measures["parse + reduce" + suffix] = partial(_time_parse_reduce, raw, views, repeat, pause)
    return {name: _per_body(measure, repeat) for name, measure in measures.items()}


def _linearity(name: str, per_item: dict[int, float]) -> Row:
    """The largest body against the next size down, per notification."""
    smaller, largest = sorted(per_item)[-2:]
    ratio = per_item[largest] / per_item[smaller]
    return Row(
        f"{name}: per notification, {largest:,} vs {smaller:,} (linear time)",
        ratio_text(ratio),
        f"<= {LINEAR}",
        ratio <= LINEAR,
    )


def _ten_mb_body() -> bytes:
    """One notification whose call carries a 10 MB field the library does not know."""
    data = {"state": "established", "transcript": 'Übergabe \\ "x" ' * (TEN_MB // 16)}
    item = {
        "changeType": "updated",
        "resourceUrl": "/communications/calls/big",
        "resourceData": data,
    }
    return json.dumps({"value": [item]}).encode()


def bench_big_body(config: Config) -> list[Row]:
    """A 10 MB body: parse against json.loads on the same bytes."""
    raw = _ten_mb_body()
    times = medians(
        {
            "parse": partial(_time_parse, tf.parse_notifications, raw, 1, False),
            "json.loads": partial(_time_parse, json.loads, raw, 1, False),
        },
        config.rounds,
    )
    ratio = times["parse"] / times["json.loads"]
    mb = len(raw) / 1024 / 1024
    return [
        Row(f"parse one {mb:.1f} MB body", f"{times['parse'] / 1e6:,.1f} ms"),
        Row("json.loads, same bytes", f"{times['json.loads'] / 1e6:,.1f} ms"),
        Row(
            f"parse / json.loads, {mb:.1f} MB body",
            ratio_text(ratio),
            f"<= {BIG_BODY}",
            ratio <= BIG_BODY,
        ),
    ]


def _flatness(name: str, per_item: dict[int, float], target: bool) -> list[Row]:
    sizes = sorted(per_item)
    base = 100 if 100 in per_item else sizes[0]
    largest = sizes[-1]
    ratio = per_item[largest] / per_item[base]
    spread = (
        f"max/min over all N: {max(per_item.values()) / min(per_item.values()):.2f}"
        if min(per_item.values()) > 0
        else "N = 1 below zero: one notification costs json.loads more than parse's own work"
    )
    cells = ", ".join(f"{size:,}: {per_item[size]:,.0f}" for size in sizes)
    return [
        Row(f"{name}: ns/notification for a body of N notifications", cells),
        Row(
            f"{name}: per notification, {largest:,} vs {base:,} ({spread})",
            ratio_text(ratio),
            f"<= {FLAT}" if target else "",
            ratio <= FLAT if target else None,
        ),
    ]


def bench_scale(flows: list[Flow], config: Config) -> list[Row]:
    """Section 6: per-notification cost of one body of 1 ... 100,000 notifications.

    Every size and GC mode is timed in every round, so a slow spell cannot
    favour one of them.
    """
    measures = {
        (name, size): measure
        for size in config.sizes
        for name, measure in _scale_measures(flows, size, config).items()
    }
    per_item: dict[str, dict[int, float]] = {}
    for (name, size), ns in medians(measures, config.rounds).items():
        per_item.setdefault(name, {})[size] = ns / size
    loads = per_item["json.loads"]
    own = {size: ns - loads[size] for size, ns in per_item["parse"].items()}
    return [
        *_flatness("parse's own work (parse - json.loads)", own, True),
        *_flatness("parse", per_item["parse"], False),
        _linearity("parse", per_item["parse"]),
        *_flatness("parse + reduce", per_item["parse + reduce"], False),
        _linearity("parse + reduce", per_item["parse + reduce"]),
        *_flatness("parse" + PAUSED, per_item["parse" + PAUSED], False),
        *_flatness("parse + reduce" + PAUSED, per_item["parse + reduce" + PAUSED], False),
        *_flatness("json.loads alone, for comparison", loads, False),
    ]
