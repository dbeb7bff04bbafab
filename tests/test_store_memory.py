"""MemoryStore and the sans-IO core every store is built on (``transfer_fsm.store.core``).

A store applies each event to its own call atomically, reports what
``step`` reports, remembers calls (ended ones as tombstones, within its bound),
links the two calls of a consultative transfer, and keeps one corrupt call
from stopping the others.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

import pytest
from flows import FAILURE, FLOW, FLOWS, SUCCESS, VARIANT_FLOWS, Flow, request_of
from hypothesis import given
from hypothesis import strategies as st
from store_workload import (
    Workload,
    apply_all,
    count_milestones,
    delivery_order,
    ended_attempts,
    flow_as,
    milestone_problems,
    run_flow,
    steps_through,
    store_problems,
    workload,
)

import transfer_fsm as tf
from transfer_fsm import Call, CallState, LegFate, SnapshotError
from transfer_fsm.store import BodyError, IncompleteBodyError, Link, MemoryStore, decode, encode
from transfer_fsm.store.core import (
    Body,
    Change,
    SnapshotCache,
    advance,
    apply_each,
    apply_each_async,
)

CONSULTATIVE_SUCCESS = FLOW["consultative success, accepted after audio inactive"]
CONSULTATIVE_FAILURE = FLOW[
    "consultative failure, accepted after audio inactive, established before audio active"
]
NOTHING = tf.CallNotification("call-a", tf.ChangeType.UPDATED, None, None)
"""A notification about ``call-a`` that changes nothing in any view."""


def test_an_unknown_call_starts_as_an_empty_call_and_is_remembered() -> None:
    store = MemoryStore()
    assert store.get("call-a") is None
    assert store.apply("call-a", NOTHING) == tf.step(Call("call-a"), NOTHING)
    assert store.get("call-a") == Call("call-a")
    assert store.get("call-b") is None
    assert len(store) == 1


@pytest.mark.parametrize("flow", [*FLOWS, *VARIANT_FLOWS], ids=lambda flow: flow.name)
def test_apply_reports_the_step_of_each_event(flow: Flow) -> None:
    store = MemoryStore()
    call_id = flow.final.call_id
    events = [request_of(flow), *flow.events()]
    assert [store.apply(call_id, event) for event in events] == steps_through(call_id, events)
    assert store.get(call_id) == flow.final


def test_each_milestone_once_in_one_process_when_every_body_comes_twice() -> None:
    work = workload(60, seed=11)
    store = MemoryStore()
    counts = count_milestones(apply_all(store, work, delivery_order(len(work.bodies), 5, 1.0)))
    assert store_problems(store, work) == []
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended


def test_the_oldest_ended_calls_are_forgotten_beyond_max_ended_with_their_links() -> None:
    store = MemoryStore(max_ended=2)
    live = run_flow(store, FAILURE, "live")
    first = run_flow(store, CONSULTATIVE_SUCCESS, "ended-1", tf.TransferRequested("consult-1"))
    assert store.link("consult-1") == Link("ended-1", "consult-1", LegFate.REPLACED)
    second = run_flow(store, SUCCESS, "ended-2")
    third = run_flow(store, SUCCESS, "ended-3")
    assert first.state is CallState.TERMINATED
    assert (store.get("ended-1"), store.link("consult-1"), store.link("ended-1")) == (None,) * 3
    store.apply("ended-1", NOTHING._replace(call_id="ended-1"))
    assert (store.get("ended-1"), store.link("consult-1")) == (Call("ended-1"), None)
    assert [store.get(call_id) for call_id in ("live", "ended-2", "ended-3")] == [
        live,
        second,
        third,
    ]
    assert len(store) == 4


def test_a_live_call_is_never_forgotten_even_when_no_ended_call_is_kept() -> None:
    store = MemoryStore(max_ended=0)
    live = run_flow(store, FAILURE, "live")
    run_flow(store, SUCCESS, "ended")
    assert (store.get("live"), store.get("ended"), len(store)) == (live, None, 1)


def test_a_call_that_ended_without_a_transfer_is_forgotten_like_any_other() -> None:
    store = MemoryStore(max_ended=0)
    for state in ("established", "terminated"):
        store.apply("plain", tf.CallNotification("plain", tf.ChangeType.UPDATED, state))
    assert (store.get("plain"), store.link("plain"), len(store)) == (None, None, 0)


def test_forgetting_a_primary_leaves_the_link_a_later_request_took_over() -> None:
    """Two calls' requests named the same consultation call: the link is the later
    one's, and stays when the earlier call ends and is forgotten."""
    store = MemoryStore(max_ended=0)
    store.apply("primary-a", tf.TransferRequested("consult"))
    store.apply("primary-b", tf.TransferRequested("consult"))
    ended = tf.CallNotification("primary-a", tf.ChangeType.DELETED, tf.CallState.TERMINATED)
    assert store.apply("primary-a", ended).call.state is CallState.TERMINATED
    pending = Link("primary-b", "consult", LegFate.PENDING)
    assert (store.get("primary-a"), store.link("consult"), store.link("primary-b")) == (
        None,
        pending,
        pending,
    )
    assert len(store) == 1


def test_a_late_notification_for_a_kept_ended_call_finds_it_ended() -> None:
    store = MemoryStore()
    final = run_flow(store, SUCCESS, "ended")
    _, bodies = flow_as(SUCCESS, "ended", request_of(SUCCESS))
    late = store.apply_body(bodies[0])
    assert [done.call for done in late] == [final]
    assert [done.milestones for done in late] == [()]
    assert store.get("ended") == final


@pytest.mark.parametrize(
    ("flow", "fate"),
    [(CONSULTATIVE_SUCCESS, LegFate.REPLACED), (CONSULTATIVE_FAILURE, LegFate.KEPT)],
    ids=["completed", "failed"],
)
@pytest.mark.parametrize("asked_first", ["consult", "primary"])
def test_a_link_is_found_from_either_call_whichever_is_asked_first(
    flow: Flow, fate: LegFate, asked_first: str
) -> None:
    store = MemoryStore()
    first, then = ("consult", "primary") if asked_first == "consult" else ("primary", "consult")
    store.apply("consult", tf.CallNotification("consult", tf.ChangeType.UPDATED, "established"))
    assert (store.link(first), store.link(then)) == (None, None)
    request = tf.TransferRequested(replaces_call_id="consult")
    store.apply("primary", request)
    pending = Link("primary", "consult", LegFate.PENDING)
    assert (store.link(first), store.link(then)) == (pending, pending)
    run_flow(store, flow, "primary", request)
    ended = Link("primary", "consult", fate)
    assert (store.link(first), store.link(then)) == (ended, ended)


def test_a_link_follows_the_latest_request_that_named_the_consultation_call() -> None:
    """Only a request makes a link: the first primary's later notifications leave it be."""
    store = MemoryStore()
    up = {"state": "established", "mediaState": {"audio": "active"}}
    for primary in ("primary-a", "primary-b"):
        store.apply(primary, tf.parse_call_resource({"id": primary, **up}))
    first = tf.consultative_transfer(tf.User("u"), "consult").event
    store.apply("primary-a", first)
    store.apply("primary-b", tf.consultative_transfer(tf.User("u"), "consult").event)
    moving = tf.CallNotification("primary-a", tf.ChangeType.UPDATED, tf.CallState.TRANSFERRING)
    assert store.apply("primary-a", moving).outcome is tf.Outcome.APPLIED
    assert store.link("consult") == Link("primary-b", "consult", tf.LegFate.PENDING)
    assert store.link("primary-a") == Link("primary-a", "consult", tf.LegFate.PENDING)


def test_an_event_about_another_call_raises_and_changes_nothing() -> None:
    store = MemoryStore()
    final = run_flow(store, FAILURE, "call-a")
    _, bodies = flow_as(SUCCESS, "call-b", request_of(SUCCESS))
    event = tf.parse_notifications(bodies[0])[0]
    for call_id in ("call-a", "call-c"):
        with pytest.raises(tf.WrongCallError):
            store.apply(call_id, event)
    assert [store.get(call_id) for call_id in ("call-a", "call-b", "call-c")] == [final, None, None]
    assert len(store) == 1


# -- snapshots as stored: encode, decode, and a corrupt one --------------------------------

CORRUPT: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{not json", "$"),
    ("JSON of another shape", b'["a", "list"]', "$"),
    (
        "a newer snapshot version",
        json.dumps({**Call("call-a").to_dict(), "version": 99}).encode(),
        "$.version",
    ),
    ("a snapshot of another call", encode(Call("call-z")), "$.call_id"),
]


def test_advance_writes_a_new_or_changed_call_and_marks_only_the_step_that_ends_it() -> None:
    seen = Call("call-a")
    assert advance("call-a", None, NOTHING) == Change(tf.step(seen, NOTHING), seen, None, False)
    assert advance("call-a", seen, NOTHING) == Change(tf.step(seen, NOTHING), None, None, False)
    request = tf.TransferRequested("consult")
    requested = tf.step(seen, request)
    assert advance("call-a", seen, request) == Change(requested, requested.call, "consult", False)
    end = tf.CallNotification("call-a", tf.ChangeType.DELETED, tf.CallState.TERMINATED)
    ending = tf.step(requested.call, end)
    assert advance("call-a", requested.call, end) == Change(ending, ending.call, None, True)
    late = tf.step(ending.call, end)
    assert late.call is ending.call
    assert advance("call-a", ending.call, end) == Change(late, None, None, False)


def test_graphs_word_on_an_abandoned_attempt_after_the_end_is_written_not_a_second_end() -> None:
    """The bot gave up, the call ended (a 404), then Graph's ``AppTransferred`` settles the
    abandoned attempt: the settled call is written, but only the 404 ended the call, so a
    store bounded to one ended call keeps it (it is not counted as ended twice)."""
    up = Call("call-a", CallState.ESTABLISHED, tf.Audio.ACTIVE)
    abandoned = tf.reduce(tf.reduce(up, tf.TransferRequested()), tf.TransferAbandoned(1))
    gone = tf.call_gone("call-a")
    ending = tf.step(abandoned, gone)
    assert advance("call-a", abandoned, gone) == Change(ending, ending.call, None, True)
    proof = tf.CallNotification(
        "call-a", tf.ChangeType.DELETED, CallState.TERMINATED, termination_reason="AppTransferred"
    )
    settled = tf.step(ending.call, proof)
    assert settled.call == ending.call._replace(
        transfer=ending.call.transfer._replace(status=tf.TransferStatus.COMPLETED),  # type: ignore[union-attr]
        termination_reason="AppTransferred",
    )
    assert advance("call-a", ending.call, proof) == Change(settled, settled.call, None, False)
    store = MemoryStore(max_ended=1)
    for event in (tf.TransferRequested(), tf.TransferAbandoned(1), gone, proof):
        store.apply("call-a", event)
    assert store.get("call-a") == Call("call-a")._replace(
        state=CallState.TERMINATED,
        audio=tf.Audio.INACTIVE,
        transfer=settled.call.transfer,
        termination_reason="AppTransferred",
    )


def test_a_stored_snapshot_decodes_to_the_call_encoded() -> None:
    final = SUCCESS.final
    assert decode(final.call_id, encode(final)) == final
    assert decode(final.call_id, encode(final).decode()) == final
    assert decode(final.call_id, None) is None


@pytest.mark.parametrize(
    ("raw", "path"), [item[1:] for item in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_a_corrupt_snapshot_names_its_call_and_the_path(raw: bytes, path: str) -> None:
    with pytest.raises(SnapshotError) as raised:
        decode("call-a", raw)
    assert (raised.value.call_id, raised.value.path) == ("call-a", path)
    assert "'call-a'" in str(raised.value)


class BytesStore:
    """The smallest store over the core: each call's snapshot bytes in a dict."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}

    def apply(self, call_id: str, event: tf.Event) -> tf.Step:
        change = advance(call_id, decode(call_id, self.raw.get(call_id)), event)
        if change.write is not None:
            self.raw[call_id] = encode(change.write)
        return change.step

    def apply_body(self, body: Body) -> list[tf.Step]:
        return apply_each(body, self.apply)


def _together(*bodies: dict[str, Any]) -> dict[str, Any]:
    """One callback body carrying every notification of ``bodies``."""
    return {"value": [item for body in bodies for item in body["value"]]}


@pytest.mark.parametrize(
    ("raw", "path"), [item[1:] for item in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_a_corrupt_call_in_a_body_does_not_stop_the_other_calls(raw: bytes, path: str) -> None:
    store = BytesStore()
    _, good = flow_as(SUCCESS, "good", request_of(SUCCESS))
    _, bad = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    store.apply("good", request_of(SUCCESS))
    store.raw["call-a"] = raw
    before = store.raw["good"]
    with pytest.raises(BodyError) as raised:
        store.apply_body(_together(bad[0], good[0], bad[1], good[1]))
    expected = steps_through(
        "good", [request_of(SUCCESS), *tf.parse_notifications(_together(*good[:2]))]
    )
    assert raised.value.steps == expected[1:]
    assert [(error.call_id, error.path) for error in raised.value.errors] == [("call-a", path)]
    assert (raised.value.call_id, raised.value.path) == ("call-a", path)
    assert store.raw == {"good": encode(expected[-1].call), "call-a": raw}
    assert before != store.raw["good"]


def test_a_body_with_two_corrupt_calls_names_the_first_and_lists_both() -> None:
    store = BytesStore()
    store.raw["call-a"] = b"{not json"
    store.raw["call-b"] = b"[]"
    _, a = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    _, b = flow_as(SUCCESS, "call-b", request_of(SUCCESS))
    with pytest.raises(BodyError) as raised:
        store.apply_body(_together(b[0], a[0], b[1]))
    assert [(error.call_id, error.path) for error in raised.value.errors] == [
        ("call-b", "$"),
        ("call-a", "$"),
    ]
    assert raised.value.call_id == "call-b"
    assert str(raised.value) == str(raised.value.errors[0])
    assert raised.value.steps == []


# -- threads ------------------------------------------------------------------------------


def _hammer(work: Workload, threads: int) -> list[str]:
    """Every problem after ``threads`` threads applied every body (each in its own order)."""
    store = MemoryStore()
    requests = [store.apply(call_id, request) for call_id, request in work.requests]
    steps: list[list[tf.Step]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def deliver(worker: int) -> None:
        start.wait()
        for index in delivery_order(len(work.bodies), seed=worker, duplicates=1.0):
            steps[worker] += store.apply_body(work.bodies[index])

    running = [threading.Thread(target=deliver, args=(worker,)) for worker in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in running)
    counts = count_milestones([*requests, *(done for each in steps for done in each)])
    problems = store_problems(store, work) + milestone_problems(work, counts)
    if ended_attempts(counts) != work.attempts_ended:
        problems.append(f"{ended_attempts(counts)} attempts ended, not {work.attempts_ended}")
    return problems


def test_threads_sharing_one_store_end_as_one_thread_does() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
    try:
        for seed in range(20):
            assert _hammer(workload(6, seed), threads=4) == []
    finally:
        sys.setswitchinterval(interval)


@given(
    calls=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    duplicates=st.floats(0.0, 1.0),
)
def test_shuffled_duplicated_deliveries_end_as_the_single_process_replay(
    calls: int, seed: int, duplicates: float
) -> None:
    work = workload(calls, seed)
    store = MemoryStore()
    order = delivery_order(len(work.bodies), seed, duplicates)
    counts = count_milestones(apply_all(store, work, order))
    assert store_problems(store, work) == []
    assert milestone_problems(work, counts) == []
    assert ended_attempts(counts) == work.attempts_ended


def test_max_ended_is_zero_or_more() -> None:
    with pytest.raises(ValueError, match="max_ended must be 0 or more, not -1"):
        MemoryStore(max_ended=-1)
    assert MemoryStore(max_ended=0).max_ended == 0


def test_the_snapshot_cache_answers_only_for_the_very_bytes_it_kept() -> None:
    cache = SnapshotCache(size=2)
    first = tf.Call("call-a", tf.CallState.ESTABLISHED)
    raw = cache.encode("call-a", first)
    assert raw == encode(first)
    assert cache.decode("call-a", raw) is first  # read back what was written: no decoding
    other = tf.Call("call-a", tf.CallState.HOLD)
    assert cache.decode("call-a", encode(other)) == other  # another writer's bytes: decoded
    assert cache.decode("call-a", encode(other)) is cache.decode("call-a", encode(other))
    with pytest.raises(SnapshotError) as raised:
        cache.decode("call-a", b"{not json")
    assert raised.value.call_id == "call-a"
    assert cache.decode("call-a", None) is None
    kept = cache.decode("call-a", encode(other))
    cache.encode("call-b", tf.Call("call-b"))
    assert cache.decode("call-a", encode(other)) is kept  # two calls: within the size
    cache.encode("call-c", tf.Call("call-c"))  # past the size: call-a, the oldest, goes
    assert cache.decode("call-a", encode(other)) is not kept
    assert cache.decode("call-a", encode(other)) == kept


def test_a_body_stopped_by_a_failing_store_hands_over_the_steps_already_applied() -> None:
    """A store's I/O may fail mid-body (a locked database, a lost connection): the events
    applied before it have committed, and their milestones must not be lost."""
    store = MemoryStore()
    _, a = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    _, b = flow_as(SUCCESS, "call-b", request_of(SUCCESS))
    store.apply("call-a", request_of(SUCCESS))

    def apply(call_id: str, event: tf.Event) -> tf.Step:
        if call_id == "call-b":
            raise OSError("the store is gone")
        return store.apply(call_id, event)

    with pytest.raises(IncompleteBodyError) as raised:
        apply_each(_together(a[0], b[0], a[1]), apply)
    (done,) = raised.value.steps
    (first,) = tf.parse_notifications(a[0])
    assert done == tf.step(tf.reduce(Call("call-a"), request_of(SUCCESS)), first)
    assert isinstance(raised.value.__cause__, OSError)
    assert raised.value.errors == []
    with pytest.raises(OSError, match="the store is gone"):  # nothing applied: the error itself
        apply_each(_together(b[0], a[1]), apply)


def test_a_stored_value_that_is_not_bytes_or_text_is_a_corrupt_snapshot() -> None:
    for raw, found in ((5, "5"), (b"[" * 100_000, "JSON nested too deeply")):
        with pytest.raises(SnapshotError) as raised:
            decode("call-a", raw)  # type: ignore[arg-type]
        assert (raised.value.call_id, raised.value.path) == ("call-a", "$")
        assert found in raised.value.found


def test_the_snapshot_cache_forgets_the_call_least_recently_kept() -> None:
    cache = SnapshotCache(size=2)
    calls = {name: tf.Call(name) for name in ("call-a", "call-b", "call-c")}
    raws = {name: cache.encode(name, call) for name, call in calls.items() if name != "call-c"}
    cache.encode("call-a", calls["call-a"])  # kept again: now the newest
    cache.encode("call-c", calls["call-c"])  # past the size: call-b, least recently kept, goes
    assert cache.decode("call-a", raws["call-a"]) is calls["call-a"]
    assert cache.decode("call-b", raws["call-b"]) is not calls["call-b"]


def test_an_async_body_stopped_by_a_failing_store_hands_over_the_steps_already_applied() -> None:
    store = MemoryStore()
    _, a = flow_as(SUCCESS, "call-a", request_of(SUCCESS))
    _, b = flow_as(SUCCESS, "call-b", request_of(SUCCESS))
    store.apply("call-a", request_of(SUCCESS))

    async def apply(call_id: str, event: tf.Event) -> tf.Step:
        if call_id == "call-b":
            raise OSError("the store is gone")
        return store.apply(call_id, event)

    with pytest.raises(IncompleteBodyError) as raised:
        asyncio.run(apply_each_async(_together(a[0], b[0], a[1]), apply))
    assert [done.call.call_id for done in raised.value.steps] == ["call-a"]
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(OSError, match="the store is gone"):
        asyncio.run(apply_each_async(_together(b[0]), apply))
