"""Section 8 of the report: the stores, each against its own floor measured in the same run.

Every ratio here takes the store and its floor in turns, round by round, and
compares their medians (``sections.medians``), so a slow spell of a loaded
machine hits both alike. This module has the in-process rows (``MemoryStore``
and the snapshot round trip); ``backends.py`` has ``SQLiteStore`` and
``RedisStore``.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable

from backends import bench_backends
from cluster_floor import bench_redis_cluster
from sections import Row, medians, ns_text, ratio_text
from workload import (
    CALL_ID,
    RNG_SEED,
    Config,
    Flow,
    call_id_of,
    ends_call,
    interleave,
    request_of,
)

import transfer_fsm as tf
from transfer_fsm.store import MemoryStore

APPLY_BODY = 2.5
"""Target: ``MemoryStore.apply_body`` per notification <= this times ``json.loads`` of it."""
ROUND_TRIP = 3.0
"""Target: ``Call.from_dict(call.to_dict())`` <= this times ``json.loads(json.dumps(...))``."""
TRACKED_BYTES = 300
"""Target: bytes a ``MemoryStore`` holds per tracked call."""


def _re_id(text: str, call_id: str) -> bytes:
    """A documented body (JSON text about ``CALL_ID``) about ``call_id`` instead, as bytes."""
    return text.replace(CALL_ID, call_id).encode()


# -- MemoryStore.apply_body -----------------------------------------------------------


class BodyStream:
    """The bodies a bot receives for many calls: each call follows a documented flow.

    ``requests`` is each call's ``TransferRequested`` (applied before timing);
    ``raws`` the calls' bodies (one notification each), each call's shuffled
    with some delivered twice, the calls interleaved at random.
    """

    def __init__(self, flows: list[Flow], calls: int, duplicates: float) -> None:
        rng = random.Random(RNG_SEED + 8)
        texts = [[json.dumps(body) for body in flow.bodies] for flow in flows]
        self.requests: list[tuple[str, tf.TransferRequested]] = []
        self.finals: dict[str, tf.Call] = {}
        per_call: list[list[bytes]] = []
        for number in range(calls):
            call_id = call_id_of(number)
            flow = flows[number % len(flows)]
            raws = [_re_id(text, call_id) for text in texts[number % len(flows)]]
            raws += [raw for raw in raws if rng.random() < duplicates]
            rng.shuffle(raws)
            per_call.append(raws)
            self.requests.append((call_id, request_of(flow)))
            self.finals[call_id] = flow.final._replace(call_id=call_id)
        self.raws = interleave(per_call, rng)

    def store(self) -> MemoryStore:
        """A new store holding every call's request, as the bot's POST left it."""
        store = MemoryStore()
        for call_id, request in self.requests:
            store.apply(call_id, request)
        return store


def _time_apply_body(stream: BodyStream, kept: list[MemoryStore]) -> int:
    store = stream.store()
    apply_body = store.apply_body
    start = time.perf_counter_ns()
    for raw in stream.raws:
        apply_body(raw)
    elapsed = time.perf_counter_ns() - start
    kept[:] = [store]
    return elapsed


def _time_loads(raws: list[bytes]) -> int:
    loads = json.loads
    start = time.perf_counter_ns()
    for raw in raws:
        loads(raw)
    return time.perf_counter_ns() - start


def bench_apply_body(flows: list[Flow], config: Config) -> list[Row]:
    """``MemoryStore.apply_body`` per notification against ``json.loads`` of the same bytes."""
    stream = BodyStream(flows, config.store_calls, config.duplicates)
    kept: list[MemoryStore] = []
    ns = medians(
        {
            "apply_body": lambda: _time_apply_body(stream, kept),
            "loads": lambda: _time_loads(stream.raws),
        },
        config.rounds,
    )
    count = len(stream.raws)
    store = kept[0]
    same = sum(store.get(call_id) == final for call_id, final in stream.finals.items())
    ratio = ns["apply_body"] / ns["loads"]
    label = (
        f"{count:,} bodies of one notification, {config.store_calls:,} calls, shuffled + duplicates"
    )
    return [
        Row(
            f"MemoryStore.apply_body ({label})", ns_text(ns["apply_body"] / count) + "/notification"
        ),
        Row("json.loads, same bytes", ns_text(ns["loads"] / count) + "/body"),
        Row(
            "MemoryStore.apply_body / json.loads",
            ratio_text(ratio),
            f"<= {APPLY_BODY}",
            ratio <= APPLY_BODY,
        ),
        Row(
            "calls whose stored view = their documented final view",
            f"{same:,} / {len(stream.finals):,}",
            "all",
            same == len(stream.finals),
        ),
    ]


# -- to_dict + from_dict ---------------------------------------------------------------


def _replay(call_id: str, events: list[tf.Event]) -> tf.Call:
    """``Call(call_id)`` after ``events`` (notifications re-addressed to ``call_id``)."""
    call = tf.Call(call_id)
    for event in events:
        if isinstance(event, tf.TransferRequested):
            call = tf.reduce(call, event)
        else:
            call = tf.reduce(call, event._replace(call_id=call_id))
    return call


def snapshot_mix(flows: list[Flow], count: int) -> list[tf.Call]:
    """``count`` calls in the states a store holds, in turn (each kind checked as it is made).

    No attempt (only the call's established, audio-active notification);
    mid-transfer; completed; failed after an earlier failed attempt
    (``earlier_failures``); mid-transfer after a blind transfer to a user;
    failed after a consultative transfer to a phone, with a client context and
    a request time.
    """
    success = next(flow for flow in flows if ends_call(flow))
    failures = [flow for flow in flows if not ends_call(flow)]
    failure = failures[0]
    other = next(flow for flow in failures if flow.final.result != failure.final.result)
    user = tf.blind_transfer(tf.User("8b0b4c2a-71f4-4a5e-9d0e-2b1c4e0f7a11", "Ada", "tenant-1"))
    phone = tf.consultative_transfer(
        tf.Phone("+12345678901"), call_id_of(10**9), client_context="bench", at=1718000000.25
    )
    failed, succeeded = failure.events(), success.events()
    kinds: list[list[tf.Event]] = [
        failed[-1:],
        [request_of(success), *succeeded[:2]],
        [request_of(success), *succeeded],
        [request_of(failure), *failed, request_of(other), *other.events()],
        [user.event, *succeeded[:2]],
        [phone.event, *failed],
    ]
    made = [_replay(CALL_ID, events) for events in kinds]
    assert made[0].state is tf.CallState.ESTABLISHED
    assert made[0].transfer is None
    assert made[1].transfer is not None
    assert made[1].transfer.status is tf.TransferStatus.TRANSFERRING
    assert made[2].state is tf.CallState.TERMINATED
    assert made[3].earlier_failures
    assert made[3].state is tf.CallState.ESTABLISHED
    assert made[4].transfer is not None
    assert made[4].transfer.request == user.event
    assert made[5].transfer is not None
    assert made[5].transfer.request == phone.event
    return [_replay(call_id_of(index), kinds[index % len(kinds)]) for index in range(count)]


def _time_round_trip(calls: list[tf.Call]) -> int:
    from_dict = tf.Call.from_dict
    start = time.perf_counter_ns()
    for call in calls:
        from_dict(call.to_dict())
    return time.perf_counter_ns() - start


def _time_json(snapshots: list[dict[str, object]]) -> int:
    dumps, loads = json.dumps, json.loads
    start = time.perf_counter_ns()
    for snapshot in snapshots:
        loads(dumps(snapshot))
    return time.perf_counter_ns() - start


def bench_round_trip(flows: list[Flow], config: Config) -> list[Row]:
    """``Call.from_dict(call.to_dict())`` against ``json.loads(json.dumps(snapshot))``."""
    calls = snapshot_mix(flows, config.snapshot_calls)
    snapshots = [call.to_dict() for call in calls]
    assert all(tf.Call.from_dict(call.to_dict()) == call for call in calls)
    ns = medians(
        {"round trip": lambda: _time_round_trip(calls), "json": lambda: _time_json(snapshots)},
        config.rounds,
    )
    count = len(calls)
    ratio = ns["round trip"] / ns["json"]
    label = f"{count:,} calls: no attempt, mid-transfer, completed, failed twice, user, phone"
    return [
        Row(
            f"Call.from_dict(call.to_dict()) ({label})", ns_text(ns["round trip"] / count) + "/call"
        ),
        Row(
            "json.loads(json.dumps(snapshot)), same snapshots",
            ns_text(ns["json"] / count) + "/call",
        ),
        Row(
            "to_dict + from_dict / json.dumps + json.loads",
            ratio_text(ratio),
            f"<= {ROUND_TRIP:g}",
            ratio <= ROUND_TRIP,
        ),
    ]


# -- memory per tracked call -----------------------------------------------------------


def tracked_bytes(
    ids: list[str],
    request: tf.TransferRequested,
    notifications: list[tf.Notification],
    max_ended: int,
) -> float:
    """Traced bytes a ``MemoryStore`` holds per call after ``request`` and ``notifications``.

    The call id strings are made before tracing, as the memory section does
    for ``Call``: they are the bot's ids, the same size whatever tracks them
    (the row below gives their size). Everything the store adds is counted:
    each ``Call`` and ``Transfer``, the dict entry, the ended-call
    bookkeeping; the notifications are made inside the traced loop, counted
    only as far as the store keeps them.
    """
    store = MemoryStore(max_ended=max_ended)
    apply = store.apply
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for call_id in ids:
            apply(call_id, request)
            for notification in notifications:
                apply(call_id, notification._replace(call_id=call_id))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(store) == len(ids)
    return held / len(ids)


def bench_tracked(flows: list[Flow], config: Config) -> list[Row]:
    """Bytes per call a ``MemoryStore`` holds: mid-transfer, and ended (kept as a tombstone)."""
    count = config.tracked_calls
    ids = [call_id_of(number) for number in range(count)]
    success = next(flow for flow in flows if ends_call(flow))
    notifications = success.events()
    mid = tracked_bytes(ids, request_of(success), notifications[:2], 0)
    ended = tracked_bytes(ids, request_of(success), notifications, count)
    id_bytes = sys.getsizeof(ids[0])
    rows = []
    for label, held in (
        ("mid-transfer (request, transferring, audio inactive)", mid),
        ("ended after a completed transfer, kept as a tombstone", ended),
    ):
        rows.append(
            Row(
                f"bytes per call in a MemoryStore, {count:,} calls {label}, call ids excluded",
                f"{held:,.0f} B",
                f"<= {TRACKED_BYTES}",
                held <= TRACKED_BYTES,
            )
        )
    rows.append(
        Row(
            "the call id string itself (a 36-character Graph id, not counted above)",
            f"{id_bytes} B",
        )
    )
    return rows


def bench_stores(flows: list[Flow], config: Config) -> list[Row]:
    """Section 8: every store row, the in-process ones first."""
    sections: list[Callable[[list[Flow], Config], list[Row]]] = [
        bench_apply_body,
        bench_round_trip,
        bench_tracked,
        bench_backends,
        bench_redis_cluster,
    ]
    return [row for section in sections for row in section(flows, config)]
