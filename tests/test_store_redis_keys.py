"""RedisStore's keys, expiry, links, corrupt snapshots and options, on a real redis-server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
import redis.asyncio
from store_calls import CallCase, case_named, expected_link

import transfer_fsm as tf
from transfer_fsm import LegFate, SnapshotError
from transfer_fsm.store import BodyError, ConflictError, Link, encode
from transfer_fsm.store.redis import AsyncRedisStore, RedisStore


def events(body: dict[str, Any]) -> list[tf.Notification]:
    return tf.parse_notifications(body)


def play(store: RedisStore, case: CallCase) -> list[tf.Step]:
    """The request, then every body in production order; the steps."""
    steps = [store.apply(case.call_id, case.request)]
    for body in case.bodies:
        steps += store.apply_body(body)
    return steps


def test_key_prefixes_keep_two_stores_apart(redis_client: redis.Redis) -> None:
    success, failure = case_named("consultative success"), case_named("consultative failure")
    one = RedisStore(redis_client, prefix="one:")
    two = RedisStore(redis_client, prefix="two:")
    steps = play(one, success)
    two.apply(failure.call_id, failure.request)
    assert one.get(success.call_id) == success.replay()[0]
    assert two.get(success.call_id) is None
    assert one.get(failure.call_id) is None
    assert two.get(failure.call_id) == tf.reduce(tf.Call(failure.call_id), failure.request)
    assert success.consultation_id is not None
    assert two.link(success.consultation_id) is None
    assert one.link(success.consultation_id) == expected_link(success)
    keys = {key if isinstance(key, str) else key.decode() for key in redis_client.scan_iter()}
    tokens = {key for key in keys if ":written:" in key}
    assert all(key.startswith("{one:") for key in tokens)  # the success's steps only
    assert keys - tokens == {
        one.call_key(success.call_id),
        one.link_key(success.consultation_id),
        one.call_key(success.call_id).replace(":call:", ":legs:"),
        two.call_key(failure.call_id),
        two.link_key(failure.consultation_id or ""),
        two.call_key(failure.call_id).replace(":call:", ":legs:"),
        f"{{two:{two._options.keys.shard(failure.call_id)}}}:in_flight",
        f"{{two:{two._options.keys.shard(failure.call_id)}}}:heard",
    }
    assert len(tokens) == sum(1 for step in steps if step.milestones)  # one per such write


def test_keys_carry_their_shards_hash_tag_and_the_layout_is_stable(
    redis_client: redis.Redis,
) -> None:
    """The key names are data: a renamed key would strand every stored call."""
    store = RedisStore(redis_client)
    call = "341a0500-d4bf-4224-8b19-1581168d328b"
    shard = zlib.crc32(call.encode()) % 16
    assert store.call_key(call) == f"{{transfer_fsm:{shard}}}:call:{call}"
    assert store.link_key(call) == f"{{transfer_fsm:{shard}}}:link:{call}"
    assert RedisStore(redis_client, prefix="bot-a:", shards=3).call_key(call) == (
        f"{{bot-a:{zlib.crc32(call.encode()) % 3}}}:call:{call}"
    )


def wait_until_gone(client: redis.Redis, *keys: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while client.exists(*keys):
        assert time.monotonic() < deadline, f"{keys} still there after {timeout} s"
        time.sleep(0.05)


def test_an_ended_call_and_its_link_expire_a_live_one_does_not(redis_client: redis.Redis) -> None:
    ended, live = case_named("consultative success"), case_named("consultative failure")
    store = RedisStore(redis_client, ended_ttl=2)
    store.apply(ended.call_id, ended.request)
    assert redis_client.ttl(store.call_key(ended.call_id)) == -1  # live: no expiry
    play(store, live)
    for body in ended.bodies:
        store.apply_body(body)
    assert ended.consultation_id is not None
    assert live.consultation_id is not None
    for key in store.call_key(ended.call_id), store.link_key(ended.consultation_id):
        assert 0 < redis_client.pttl(key) <= 2000
    for key in store.call_key(live.call_id), store.link_key(live.consultation_id):
        assert redis_client.ttl(key) == -1
    wait_until_gone(
        redis_client, store.call_key(ended.call_id), store.link_key(ended.consultation_id)
    )
    assert store.get(ended.call_id) is None
    assert store.link(ended.consultation_id) is None
    # The bot's choice: once expired, a late notification starts the call over.
    late = events(ended.bodies[-1])[0]
    done = store.apply(ended.call_id, late)
    assert done == tf.step(tf.Call(ended.call_id), late)
    assert store.get(ended.call_id) == done.call
    assert done.call.transfer is None or done.call.transfer.request is None
    assert store.get(live.call_id) == live.replay()[0]
    assert store.link(live.consultation_id) == expected_link(live)


def test_without_ended_ttl_an_ended_call_stays_and_a_late_notification_finds_it_ended(
    redis_client: redis.Redis,
) -> None:
    case = case_named("direct success")
    store = RedisStore(redis_client)
    play(store, case)
    final, _ = case.replay()
    assert final.state is tf.CallState.TERMINATED
    assert redis_client.ttl(store.call_key(case.call_id)) == -1
    for body in case.bodies:
        for event in events(body):
            assert store.apply(case.call_id, event) == tf.step(final, event)
    assert store.get(case.call_id) == final


def test_a_late_notification_does_not_extend_an_ended_calls_life(
    redis_client: redis.Redis,
) -> None:
    """A redelivery that changes nothing writes nothing: the expiry keeps counting down."""
    case = case_named("direct success")
    store = RedisStore(redis_client, ended_ttl=3600)
    play(store, case)
    key = store.call_key(case.call_id)
    stored = redis_client.get(key)
    redis_client.expire(key, 60)  # as if the call had ended an hour ago, nearly
    for body in case.bodies:
        store.apply_body(body)
    assert 0 < redis_client.ttl(key) <= 60
    assert redis_client.get(key) == stored


@pytest.mark.parametrize(
    ("words", "fate"),
    [("consultative success", LegFate.REPLACED), ("consultative failure", LegFate.KEPT)],
)
def test_a_link_answers_from_either_call_pending_then_the_fate(
    redis_client: redis.Redis, words: str, fate: LegFate
) -> None:
    case = case_named(words)
    leg = case.consultation_id
    assert leg is not None
    store = RedisStore(redis_client)
    assert store.link(leg) is None
    assert store.link(case.call_id) is None
    store.apply(leg, tf.CallNotification(leg, tf.ChangeType.UPDATED, tf.CallState.ESTABLISHED))
    store.apply(case.call_id, case.request)
    pending = Link(case.call_id, leg, LegFate.PENDING)
    assert store.link(leg) == store.link(case.call_id) == pending
    for body in case.bodies:
        store.apply_body(body)
    assert store.link(leg) == store.link(case.call_id) == Link(case.call_id, leg, fate)


CORRUPT = {
    "not JSON": b"\xff{not json",
    "a list": b"[1, 2]",
    "wrong shape": b'{"version": 1, "call_id": "%s", "state": 42}',
    "a newer version": b'{"version": 99, "call_id": "%s"}',
    "another call's snapshot": encode(tf.Call("someone-else")),
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_a_corrupt_snapshot_fails_that_call_only(redis_client: redis.Redis, kind: str) -> None:
    bad, good = case_named("direct success", "bad"), case_named("direct failure", "good")
    store = RedisStore(redis_client, ended_ttl=60)
    raw = CORRUPT[kind].replace(b"%s", bad.call_id.encode())
    redis_client.set(store.call_key(bad.call_id), raw)
    store.apply(good.call_id, good.request)
    event = events(bad.bodies[0])[0]
    for attempt in (lambda: store.apply(bad.call_id, event), lambda: store.get(bad.call_id)):
        with pytest.raises(SnapshotError) as caught:
            attempt()
        assert caught.value.call_id == bad.call_id
    with pytest.raises(SnapshotError):
        store.link(bad.call_id)
    # One body with both calls' notifications: the good call's are applied.
    body = {"value": [n for b in bad.bodies + good.bodies for n in b["value"]]}
    expected, call = [], tf.reduce(tf.Call(good.call_id), good.request)
    for item in events({"value": [n for b in good.bodies for n in b["value"]]}):
        expected.append(tf.step(call, item))
        call = expected[-1].call
    with pytest.raises(BodyError) as failed:
        store.apply_body(body)
    assert [error.call_id for error in failed.value.errors] == [bad.call_id]
    assert failed.value.steps == expected
    assert store.get(good.call_id) == call == good.replay()[0]
    assert redis_client.get(store.call_key(bad.call_id)) == raw
    assert redis_client.ttl(store.call_key(bad.call_id)) == -1


def test_the_async_store_fails_a_corrupt_call_only(redis_url: str) -> None:
    bad, good = case_named("direct success", "bad"), case_named("direct failure", "good")
    raw = CORRUPT["a newer version"].replace(b"%s", bad.call_id.encode())

    async def main() -> tuple[BodyError, tf.Call | None]:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            store = AsyncRedisStore(client, prefix="async-corrupt:")
            await client.set(store.call_key(bad.call_id), raw)
            await store.apply(good.call_id, good.request)
            body = {"value": [n for b in bad.bodies + good.bodies for n in b["value"]]}
            with pytest.raises(BodyError) as failed:
                await store.apply_body(body)
            assert await client.get(store.call_key(bad.call_id)) == raw
            return failed.value, await store.get(good.call_id)
        finally:
            await client.aclose()

    error, stored = asyncio.run(main())
    assert [(each.call_id, each.path) for each in error.errors] == [(bad.call_id, "$.version")]
    assert stored == good.replay()[0]
    assert error.steps[-1].call == stored


def try_apply(store: RedisStore, call_id: str, event: tf.Event) -> tf.Step | ConflictError:
    try:
        return store.apply(call_id, event)
    except ConflictError as error:
        return error


HAMMER = """
import sys, time, redis
client = redis.Redis.from_url(sys.argv[1])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    client.set(sys.argv[2], sys.argv[3])
    client.set(sys.argv[2], sys.argv[3] + " ")
"""
# The same snapshot in two spellings (a trailing space): every rewrite changes the bytes,
# so a compare-and-set that read one spelling loses to the other.

HAMMERED = "hammered"
ABANDON = tf.TransferAbandoned()
REQUESTED = tf.reduce(tf.Call(HAMMERED), tf.TransferRequested())
# A win read the other writer's snapshot (and failed the attempt), or read its own
# win before that writer's next rewrite (and changed nothing).
WINS = [tf.step(REQUESTED, ABANDON), tf.step(tf.reduce(REQUESTED, ABANDON), ABANDON)]


@contextmanager
def hammering(redis_url: str, client: redis.Redis, key: str) -> Iterator[None]:
    """Another process rewrites ``key`` (the requested call) as fast as it can, so many
    of a store's attempts lose; stopped on exit."""
    command = [sys.executable, "-c", HAMMER, redis_url, key, encode(REQUESTED).decode()]
    hammer = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while not client.exists(key):
            assert time.monotonic() < deadline
            assert hammer.poll() is None
            time.sleep(0.01)
        yield
    finally:
        hammer.kill()
        hammer.wait()


Outcome = tuple[tf.Step | ConflictError, int]
"""What one apply returned or raised, and how many conflicts it added to the store's count."""


def retry_problems(outcomes: list[Outcome], max_retries: int) -> list[str]:
    """Each apply that gave up did so after exactly ``max_retries`` counted retries;
    each that won retried at most that often and reported a winner's step."""
    problems = []
    for done, retried in outcomes:
        if isinstance(done, ConflictError):
            if (done.call_id, done.attempts, retried) != (HAMMERED, max_retries + 1, max_retries):
                problems.append(f"gave up after {done.attempts} attempts, {retried} retries")
        elif done not in WINS or retried > max_retries:
            problems.append(f"won after {retried} retries: {done}")
    return problems


def test_a_writer_that_keeps_losing_gives_up_after_max_retries(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Not deterministic: the store applies until it has given up (at least 20 applies,
    for 10 s at most); a loss needs only one rewrite in its WATCH..EXEC window."""
    impatient = RedisStore(redis_client, max_retries=0)
    patient = RedisStore(redis_client, max_retries=2)
    with hammering(redis_url, redis_client, impatient.call_key(HAMMERED)):
        deadline = time.monotonic() + 10
        for store in impatient, patient:
            outcomes: list[Outcome] = []
            while len(outcomes) < 20 or all(type(done) is tf.Step for done, _ in outcomes):
                assert time.monotonic() < deadline, f"no give-up in {len(outcomes)} applies"
                before = store.conflicts
                done = try_apply(store, HAMMERED, ABANDON)
                outcomes.append((done, store.conflicts - before))
            assert retry_problems(outcomes, store.max_retries) == []
    assert impatient.conflicts == 0  # none retried


def test_an_async_writer_that_keeps_losing_gives_up_after_max_retries(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The same as the synchronous store, with AsyncRedisStore."""

    async def run(store: AsyncRedisStore, deadline: float) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while len(outcomes) < 20 or all(type(done) is tf.Step for done, _ in outcomes):
            assert time.monotonic() < deadline, f"no give-up in {len(outcomes)} applies"
            before = store.conflicts
            try:
                done: tf.Step | ConflictError = await store.apply(HAMMERED, ABANDON)
            except ConflictError as error:
                done = error
            outcomes.append((done, store.conflicts - before))
        return outcomes

    async def main() -> dict[int, list[Outcome]]:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + 10
            stores = [AsyncRedisStore(client, max_retries=n) for n in (0, 2)]
            return {store.max_retries: await run(store, deadline) for store in stores}
        finally:
            await client.aclose()

    with hammering(redis_url, redis_client, RedisStore(redis_client).call_key(HAMMERED)):
        found = asyncio.run(main())
    assert {n: retry_problems(outcomes, n) for n, outcomes in found.items()} == {0: [], 2: []}


def test_importing_without_redis_py_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import transfer_fsm.store\n"
        "assert transfer_fsm.store.MemoryStore\n"
        "from transfer_fsm.store import RedisStore\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "ImportError: transfer_fsm.store.redis needs redis-py" in run.stderr
    assert "pip install 'transfer-fsm[redis]'" in run.stderr


@pytest.mark.parametrize(
    "options",
    [
        {"ended_ttl": 0},
        {"ended_ttl": 1.5},
        {"max_retries": -1},
        {"max_retries": True},
        {"shards": 0},
        {"shards": 16385},
        {"shards": True},
        {"prefix": "a{b"},
        {"prefix": "a}"},
        {"token_ttl": 0},
        {"journal": 1},
        {"group": ""},
    ],
)
def test_options_are_checked(redis_client: redis.Redis, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        RedisStore(redis_client, **options)


def test_the_least_options_are_accepted_and_an_ended_call_lives_one_second(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client, ended_ttl=1, max_retries=0)
    assert (store.ended_ttl, store.max_retries, store.conflicts) == (1, 0, 0)
    ended = tf.CallNotification("ended", tf.ChangeType.DELETED, tf.CallState.TERMINATED)
    assert store.apply("ended", ended) == tf.step(tf.Call("ended"), ended)
    assert 0 < redis_client.pttl(store.call_key("ended")) <= 1000


def test_the_store_leaves_the_client_open(redis_client: redis.Redis) -> None:
    store = RedisStore(redis_client)
    store.apply("x", tf.TransferRequested())
    del store
    assert redis_client.ping()


def test_a_client_that_decodes_responses_works_the_same(redis_url: str) -> None:
    case = case_named("consultative success")
    assert case.consultation_id is not None
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = RedisStore(client, prefix="text:")
        play(store, case)
        assert store.get(case.call_id) == case.replay()[0]
        assert store.link(case.consultation_id) == expected_link(case)
        assert store.link(case.call_id) == expected_link(case)
    finally:
        client.close()
