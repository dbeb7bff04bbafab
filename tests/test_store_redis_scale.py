"""RedisStore at scale, on a real redis-server and on a real 3-primary Redis Cluster:
the journal's claim/ack across consumers, the in-flight and heard indexes, delete, and
the asyncio store's pipelined batches.

Each test runs on both: ``any_redis`` gives a client of either kind (``redis.Redis`` or
``redis.cluster.RedisCluster``), each flushed before the test.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from store_calls import CallCase, call_cases, case_named, expected_link

import transfer_fsm as tf
from transfer_fsm.store.interface import JournalEntry
from transfer_fsm.store.redis import AsyncRedisStore, RedisStore

FLAVOURS = ["server", "cluster"]


@pytest.fixture(params=FLAVOURS)
def any_redis(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A flushed client of a single server, or of the test Cluster."""
    if request.param == "server":
        yield request.getfixturevalue("redis_client")
    else:
        yield request.getfixturevalue("redis_cluster_client")


def async_client(client: Any) -> Any:
    """An asyncio client of the same server or Cluster as ``client``."""
    if isinstance(client, redis.cluster.RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        return redis.asyncio.cluster.RedisCluster(host=node.host, port=node.port)
    kwargs = client.connection_pool.connection_kwargs
    return redis.asyncio.Redis(host=kwargs["host"], port=kwargs["port"])


def pause_writes(client: Any, milliseconds: int) -> None:
    """Have the server (every primary of a Cluster) hold writes back for a while."""
    if isinstance(client, redis.cluster.RedisCluster):
        nodes = client.get_primaries()  # type: ignore[no-untyped-call]
        for node in nodes:
            node.redis_connection.execute_command("CLIENT", "PAUSE", milliseconds, "WRITE")
    else:
        client.execute_command("CLIENT", "PAUSE", milliseconds, "WRITE")


def play(store: RedisStore, case: CallCase) -> list[tf.Step]:
    """The request, then every body in production order; the steps."""
    steps = [store.apply(case.call_id, case.request)]
    for body in case.bodies:
        steps += store.apply_body(body)
    return steps


def keys_of(steps: list[tf.Step]) -> Counter[str]:
    return Counter(key for step in steps for key in step.milestone_keys)


def test_every_documented_flow_lands_with_its_journal_on_either_kind(any_redis: Any) -> None:
    cases = call_cases(40)
    store = RedisStore(any_redis, journal=True)
    fired: Counter[str] = Counter()
    for case in cases:
        fired += keys_of(play(store, case))
        assert store.get(case.call_id) == case.replay()[0]
        assert store.link(case.call_id) == (
            None if case.consultation_id is None else expected_link(case)
        )
        if case.consultation_id is not None:
            assert store.link(case.consultation_id) == expected_link(case)
    entries = store.claim_journal("one", limit=10_000)
    assert Counter(entry.key for entry in entries) == fired
    assert all(isinstance(entry, JournalEntry) for entry in entries)
    assert {(e.call_id, e.milestone.value) for e in entries} == {
        (key.split(":")[0], key.rsplit(":", 1)[1]) for key in fired
    }
    assert store.claim_journal("two", limit=10_000) == []  # held by "one"
    assert store.ack_journal(entries) == len(entries)
    assert store.ack_journal(entries) == 0  # already gone
    assert store.claim_journal("one", limit=10_000, idle=0) == []


def test_a_consumer_that_does_not_ack_has_its_entries_handed_to_another(any_redis: Any) -> None:
    store = RedisStore(any_redis, journal=True)
    case = case_named("direct success")
    fired = keys_of(play(store, case))
    first = store.claim_journal("crashed", limit=2)
    assert len(first) == 2  # the limit holds
    held = store.claim_journal("crashed", limit=100)  # restarted under its name: its own first
    assert held[:2] == first
    assert Counter(e.key for e in held) == fired
    assert store.claim_journal("survivor", limit=100, idle=5.0) == []  # not idle yet
    time.sleep(0.05)
    handed = store.claim_journal("survivor", limit=100, idle=0.01)
    assert sorted(handed) == sorted(held)  # the same entries, the same ids
    assert store.claim_journal("crashed", limit=100, idle=5.0) == []  # no longer its own
    assert store.ack_journal(handed) == len(handed)
    assert store.ack_journal(first) == 0  # the crashed consumer's late ack finds them gone


def test_no_journal_records_nothing_and_claims_nothing(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    play(store, case_named("direct success"))
    assert store.claim_journal("c") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "consumer"),
        (("c", 0), "limit"),
        (("c", True), "limit"),
        (("c", 10, -1.0), "idle"),
        (("c", 10, float("nan")), "idle"),
        (("c", 10, 1e9), "idle"),
        (("c" * 201,), "consumer"),
    ],
)
def test_claim_arguments_are_checked(any_redis: Any, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStore(any_redis, journal=True).claim_journal(*args)


def test_ack_refuses_what_is_not_an_entry_of_the_store(any_redis: Any) -> None:
    store = RedisStore(any_redis, journal=True)
    with pytest.raises(TypeError):
        store.ack_journal(["0:1-0"])  # type: ignore[list-item]
    stray = JournalEntry("99:1-0", "c", tf.Milestone.TRANSFER_FAILED, "c:1:transferFailed")
    with pytest.raises(ValueError, match="not an entry id of this store"):
        store.ack_journal([stray])


def test_in_flight_lists_the_calls_a_timer_must_watch(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    waiting, done = "waiting-call", "done-call"
    for call_id in waiting, done:
        store.apply(call_id, tf.parse_call_resource({"id": call_id, "state": "established"}))
        store.apply(call_id, tf.TransferRequested(at=100.0))
    assert sorted(c.call_id for c in store.in_flight()) == [done, waiting]
    store.apply(done, tf.call_gone(done))
    assert store.in_flight() == [store.get(waiting)]
    overdue = [tf.transfer_overdue(call, 200.0, 30.0) for call in store.in_flight()]
    assert overdue == [1]
    store.apply(waiting, tf.TransferAbandoned(attempt=1))
    assert store.in_flight() == []
    assert len(store.in_flight(limit=1)) == 0


def test_in_flight_is_bounded_by_its_limit(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    for n in range(5):
        store.apply(f"c{n}", tf.TransferRequested())
    assert len(store.in_flight()) == 5
    assert len(store.in_flight(limit=2)) == 2
    with pytest.raises(ValueError, match="limit"):
        store.in_flight(limit=0)


def test_unheard_lists_live_calls_by_the_servers_clock_oldest_first(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    up = {"state": "established"}
    for call_id in "old", "ended":
        store.apply(call_id, tf.parse_call_resource({"id": call_id, **up}))
    time.sleep(0.3)
    store.apply("new", tf.parse_call_resource({"id": "new", **up}))
    store.apply("ended", tf.call_gone("ended"))
    assert [c.call_id for c in store.unheard(0.2)] == ["old"]
    assert [c.call_id for c in store.unheard(0.0)] == ["old", "new"]
    # A redelivery that changes nothing still counts as hearing from the call.
    store.apply("old", tf.parse_call_resource({"id": "old", **up}))
    assert [c.call_id for c in store.unheard(0.0)] == ["new", "old"]
    assert store.unheard(0.2) == []
    assert store.unheard(0.0, limit=1) == [store.get("new")]


def test_delete_forgets_the_call_its_links_and_its_index_entries(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    primary = "primary"
    store.apply(primary, tf.parse_call_resource({"id": primary, "state": "established"}))
    store.apply(primary, tf.TransferRequested(replaces_call_id="leg-1"))
    store.apply(primary, tf.TransferRejected(tf.ResultInfo(403, 0, "no")))
    store.apply(primary, tf.TransferRequested(replaces_call_id="leg-2"))
    assert store.link("leg-1") is not None
    assert store.link("leg-2") is not None
    assert store.in_flight() == [store.get(primary)]
    assert store.delete(primary) is True
    assert (store.get(primary), store.link("leg-1"), store.link("leg-2")) == (None, None, None)
    assert (store.in_flight(), store.unheard(0.0)) == ([], [])
    assert store.delete(primary) is False
    # A notification after the delete starts the call over.
    again = store.apply(primary, tf.parse_call_resource({"id": primary, "state": "established"}))
    assert again.call == tf.reduce(
        tf.Call(primary), tf.CallNotification(primary, state=tf.CallState.ESTABLISHED)
    )
    assert store.conflicts == 0  # what the store believed of the call went with it


def test_a_link_another_primary_took_over_survives_the_delete(any_redis: Any) -> None:
    store = RedisStore(any_redis)
    for primary in "p1", "p2":
        store.apply(primary, tf.TransferRequested(replaces_call_id="leg"))
    store.delete("p1")
    link = store.link("leg")
    assert link is not None
    assert link.primary_id == "p2"


def test_the_async_store_pipelines_concurrent_applies_each_reported_once(any_redis: Any) -> None:
    """64 applies in flight over many calls: every view right, every milestone once, and
    far fewer round trips than applies."""
    cases = call_cases(64, tag="a")
    events = [
        [(c.call_id, c.request)]
        + [(c.call_id, e) for b in c.bodies for e in tf.parse_notifications(b)]
        for c in cases
    ]

    async def run() -> tuple[list[tf.Step], int]:
        client = async_client(any_redis)
        store = AsyncRedisStore(client, journal=True)
        sent = 0
        original = store._send

        async def counting(commands: list[Any]) -> list[Any]:
            nonlocal sent
            sent += 1
            return await original(commands)

        store._send = counting  # type: ignore[method-assign]
        try:

            async def one_call(items: Sequence[tuple[str, tf.Event]]) -> list[tf.Step]:
                return [await store.apply(call_id, event) for call_id, event in items]

            done = await asyncio.gather(*(one_call(items) for items in events))
            return [step for steps in done for step in steps], sent
        finally:
            await client.aclose()

    steps, round_trips = asyncio.run(run())
    store = RedisStore(any_redis, journal=True)
    for case in cases:
        assert store.get(case.call_id) == case.replay()[0]
    fired = keys_of(steps)
    assert all(count == 1 for count in fired.values())
    assert Counter(e.key for e in store.claim_journal("c", limit=10_000)) == fired
    applies = sum(len(items) for items in events)
    assert round_trips * 4 < applies, (round_trips, applies)


def test_a_cancelled_async_apply_is_settled_by_its_token(any_redis: Any) -> None:
    case = case_named("direct success")

    async def run() -> tuple[tuple[str, ...], tf.Call | None]:
        client = async_client(any_redis)
        store = AsyncRedisStore(client)
        try:
            await store.apply(
                case.call_id, tf.parse_call_resource({"id": case.call_id, "state": "established"})
            )
            await store.apply(case.call_id, tf.TransferRequested())
            gone = tf.call_gone(case.call_id)
            task = asyncio.ensure_future(store.apply(case.call_id, gone, token="my-write"))
            await asyncio.sleep(0)  # the apply is on its way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):  # bounded: the pipeline it went in finishes
                keys = await store.landed(case.call_id, "my-write")
                if keys:
                    break
                await asyncio.sleep(0.01)
            return keys, await store.get(case.call_id)
        finally:
            await client.aclose()

    keys, stored = asyncio.run(run())
    assert stored is not None
    assert stored.state is tf.CallState.TERMINATED
    assert keys == (f"{case.call_id}:1:transferFailed", f"{case.call_id}:callTerminated")


def test_apply_many_pipelines_a_list_each_item_its_own_step_or_error(any_redis: Any) -> None:
    """Several events of one call keep their order; an event about another call is that
    item's error only."""
    store = RedisStore(any_redis)
    cases = call_cases(6, tag="m")
    items: list[tuple[str, tf.Event]] = []
    for case in cases:
        items.append((case.call_id, case.request))
        items += [(case.call_id, e) for body in case.bodies for e in tf.parse_notifications(body)]
    wrong = (cases[0].call_id, tf.call_gone("another-call"))
    results = store.apply_many([*items[:3], wrong, *items[3:]])
    assert isinstance(results[3], tf.WrongCallError)
    steps = [r for r in results if isinstance(r, tf.Step)]
    assert len(steps) == len(items)
    for case in cases:
        assert store.get(case.call_id) == case.replay()[0]
    reference: list[tf.Step] = []
    calls: dict[str, tf.Call] = {}
    for call_id, event in items:
        done = tf.step(calls.get(call_id, tf.Call(call_id)), event)
        calls[call_id] = done.call
        reference.append(done)
    assert steps == reference


def test_in_flight_answers_the_longest_in_flight_first_across_shards(any_redis: Any) -> None:
    """A timer that reads a page at a time must reach the overdue attempts first."""
    store = RedisStore(any_redis)
    order = [f"call-{n}" for n in range(8)]  # over several shards
    for call_id in order:
        store.apply(call_id, tf.TransferRequested())
        time.sleep(0.002)
    assert [call.call_id for call in store.in_flight(limit=3)] == order[:3]
    store.apply(order[0], tf.TransferAbandoned(attempt=1))
    store.apply(order[0], tf.TransferRequested())  # a new attempt: in flight since now
    assert [call.call_id for call in store.in_flight()] == [*order[1:], order[0]]


def test_several_applies_of_one_call_in_one_batch_never_conflict(any_redis: Any) -> None:
    store = RedisStore(any_redis, max_retries=0)
    call_id = "one-call"
    items: list[tuple[str, tf.Event]] = [
        (call_id, tf.parse_call_resource({"id": call_id, "state": "established"})),
        (call_id, tf.TransferRequested()),
        (call_id, tf.call_gone(call_id)),
    ]
    results = store.apply_many(items)
    assert all(isinstance(result, tf.Step) for result in results)
    assert store.conflicts == 0
    assert store.get(call_id) == tf.reduce(
        tf.reduce(tf.reduce(tf.Call(call_id), items[0][1]), items[1][1]), items[2][1]
    )


def test_a_token_reused_by_a_writer_with_a_stale_view_reports_no_milestone_twice(
    any_redis: Any,
) -> None:
    """Two instances name the same notification's write alike (a token from the body):
    only the write that landed reports its milestone."""
    call_id = "reused-token"
    up = tf.parse_call_resource({"id": call_id, "state": "established"})
    first, second = RedisStore(any_redis), RedisStore(any_redis)
    first.apply(call_id, up)
    first.apply(call_id, tf.TransferRequested())
    assert second.get(call_id) == first.get(call_id)  # both believe it requested
    accepted = tf.CallNotification(call_id, state=tf.CallState.TRANSFER_ACCEPTED)
    won = first.apply(call_id, accepted, token="notification-42")
    again = second.apply(call_id, accepted, token="notification-42")  # a stale belief
    assert won.milestones == (tf.Milestone.TRANSFER_ACCEPTED,)
    assert (again.outcome, again.milestones) == (tf.Outcome.DUPLICATE, ())
    assert second.landed(call_id, "notification-42") == won.milestone_keys


def test_a_cancelled_apply_is_final_when_landed_answers(any_redis: Any) -> None:
    """landed() waits for the store's own pending write of the token: its answer is final,
    even while the server holds the write back."""
    call_id = "paused-call"

    async def run() -> tuple[tuple[str, ...], tf.Step]:
        client = async_client(any_redis)
        store = AsyncRedisStore(client)
        try:
            await store.apply(call_id, tf.TransferRequested())
            pause_writes(any_redis, 300)
            task = asyncio.ensure_future(store.apply(call_id, tf.call_gone(call_id), token="t1"))
            await asyncio.sleep(0.05)  # sent, held by the server
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            keys = await store.landed(call_id, "t1")  # once: no polling
            again = await store.apply(call_id, tf.call_gone(call_id))
            return keys, again
        finally:
            await client.aclose()

    keys, again = asyncio.run(run())
    assert keys == (f"{call_id}:1:transferFailed", f"{call_id}:callTerminated")
    assert (again.outcome, again.milestones) == (tf.Outcome.DUPLICATE, ())


def test_claiming_works_for_a_resp3_client(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(redis_client, journal=True)
    fired = keys_of(play(store, case_named("direct success")))
    resp3 = redis.Redis.from_url(redis_url, protocol=3)
    try:
        entries = RedisStore(resp3, journal=True).claim_journal("c", limit=100)
    finally:
        resp3.close()
    assert Counter(entry.key for entry in entries) == fired
    assert len(fired) == 4  # the direct success: accepted, audio inactive, completed, ended


def test_the_least_claim_arguments_are_accepted(any_redis: Any) -> None:
    store = RedisStore(any_redis, journal=True)
    assert store.claim_journal("c", 1, 0) == []
    assert store.claim_journal("c" * 200, 10_000, 999_999_999.0) == []
    assert store.unheard(0) == []
    with pytest.raises(ValueError, match="seconds"):
        store.unheard(1e12)


def test_a_call_the_store_has_read_takes_one_round_trip(any_redis: Any) -> None:
    """The store steps the call as it last read or wrote it: one script, no read first."""
    call_id = "known-call"
    writer = RedisStore(any_redis)
    writer.apply(call_id, tf.TransferRequested())
    store = RedisStore(any_redis)
    sent: list[list[Any]] = []
    original = store._send

    def counting(commands: list[Any]) -> list[Any]:
        sent.append(commands)
        return original(commands)

    store._send = counting  # type: ignore[method-assign]
    assert store.get(call_id) == writer.get(call_id)
    accepted = tf.CallNotification(call_id, state=tf.CallState.TRANSFER_ACCEPTED)
    store.apply(call_id, accepted)
    assert [len(commands) for commands in sent] == [1, 1]  # the GET, then one script
    assert store.conflicts == 0


def test_a_call_another_instance_deleted_is_believed_absent_once_read(any_redis: Any) -> None:
    call_id = "deleted-elsewhere"
    mine, other = RedisStore(any_redis), RedisStore(any_redis)
    mine.apply(call_id, tf.TransferRequested())
    assert other.delete(call_id) is True
    assert mine.get(call_id) is None  # read: the call is gone
    again = mine.apply(call_id, tf.TransferRequested())
    assert again.call == tf.reduce(tf.Call(call_id), tf.TransferRequested())
    assert mine.conflicts == 0  # it stepped from what it read, not from what it wrote before


def test_a_server_that_forgot_the_scripts_is_sent_their_text(any_redis: Any) -> None:
    """A restarted server has no script cache: every apply, read and query still works,
    each script sent once as text, then by its SHA-1 again."""
    store = RedisStore(any_redis, journal=True)
    case = case_named("direct success")
    steps = [store.apply(case.call_id, case.request), *store.apply_body(case.bodies[0])]
    nodes = (
        [node.redis_connection for node in any_redis.get_primaries()]  # type: ignore[no-untyped-call]
        if isinstance(any_redis, redis.cluster.RedisCluster)
        else [any_redis]
    )
    for node in nodes:
        node.script_flush()
    for body in case.bodies[1:]:
        steps += store.apply_body(body)
    assert store.get(case.call_id) == case.replay()[0]
    assert store.in_flight() == []
    assert store.unheard(0.0) == []
    fired = keys_of(steps)
    assert len(fired) == 4  # accepted, audio inactive, completed, ended: each once
    assert Counter(e.key for e in store.claim_journal("c", limit=100)) == fired
    assert store.delete(case.call_id) is True
