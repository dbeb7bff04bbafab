"""RedisStore and AsyncRedisStore against a real redis-server (tests/servers.py).

The reference is always a single-process replay with ``transfer_fsm.reduce``.
Run with ``pytest -s`` to see the figures of the concurrent runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from redis_worker import run_writers
from store_calls import (
    ORDER_FREE,
    CallCase,
    call_cases,
    delivery,
    delivery_windows,
    expected_link,
    milestone_counts,
)

import transfer_fsm as tf
from transfer_fsm import TransferStatus
from transfer_fsm.store.redis import AsyncRedisStore, RedisStore

ENDED = (TransferStatus.COMPLETED, TransferStatus.FAILED)


def start(store: RedisStore, cases: list[CallCase]) -> None:
    """Apply each call's request (the bot reduces it before it POSTs /transfer)."""
    for case in cases:
        store.apply(case.call_id, case.request)


def events(body: dict[str, Any]) -> list[tf.Notification]:
    return tf.parse_notifications(body)


def check_concurrent_run(
    store: RedisStore, cases: list[CallCase], fired: list[tuple[str, list[str]]]
) -> None:
    """Views equal the replay; each milestone at most once per call across every writer,
    and the ones every order fires exactly as the replay fires them."""
    counts = milestone_counts(fired)
    attempts_ended = 0
    for case in cases:
        final, reference = case.replay()
        assert store.get(case.call_id) == final, case.flow.name
        if case.consultation_id is not None:
            assert store.link(case.consultation_id) == expected_link(case)
        got = counts.get(case.call_id, Counter())
        assert max(got.values(), default=0) <= 1, (case.flow.name, got)
        assert {m: got[m.value] for m in ORDER_FREE} == {m: reference[m] for m in ORDER_FREE}
        assert final.transfer is not None
        attempts_ended += final.transfer.status in ENDED
    ends = Counter[str]()
    for got in counts.values():
        ends.update({m: got[m] for m in ("transferCompleted", "transferFailed")})
    assert ends.total() == attempts_ended == len(cases)


def test_many_calls_shuffled_and_duplicated_deliveries_equal_a_replay(
    redis_client: redis.Redis,
) -> None:
    cases = call_cases(180)
    store = RedisStore(redis_client)
    start(store, cases)
    replayed = {case.call_id: tf.reduce(tf.Call(case.call_id), case.request) for case in cases}
    order = delivery(cases, seed=11, window=len(cases))
    assert len(order) > sum(len(case.bodies) for case in cases)  # duplicates delivered
    for body in order:
        expected = []
        for event in events(body):
            done = tf.step(replayed[event.call_id], event)
            replayed[event.call_id] = done.call
            expected.append(done)
        assert store.apply_body(body) == expected
    for case in cases:
        final, _ = case.replay()
        assert store.get(case.call_id) == replayed[case.call_id] == final, case.flow.name
        if case.consultation_id is not None:
            assert store.link(case.consultation_id) == expected_link(case)
            assert store.link(case.call_id) == expected_link(case)
    assert store.conflicts == 0
    assert any(case.consultation_id for case in cases)


def test_four_processes_end_in_the_same_views_with_each_milestone_once(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    prefix = "four:"
    cases = call_cases(120, tag="p")
    store = RedisStore(redis_client, prefix=prefix)
    start(store, cases)
    orders = [delivery_windows(cases, seed=index) for index in range(4)]
    reports, wall = run_writers(redis_url, prefix, orders, tmp_path)
    conflicts = sum(report.conflicts for report in reports)
    bodies = sum(report.bodies for report in reports)
    print(
        f"\nRedisStore, four writers: {len(cases)} calls, {bodies} bodies applied "
        f"({', '.join(str(report.bodies) for report in reports)} per writer), "
        f"{conflicts} conflicts retried "
        f"({', '.join(str(report.conflicts) for report in reports)}), "
        f"{wall:.2f} s wall (writers {max(report.seconds for report in reports):.2f} s)"
    )
    check_concurrent_run(store, cases, [item for report in reports for item in report.fired])
    assert conflicts > 0  # the writers did race on the same calls


def test_threads_each_with_its_own_client_race_and_retry(redis_url: str) -> None:
    cases = call_cases(60, tag="t")
    clients = [redis.Redis.from_url(redis_url) for _ in range(4)]
    try:
        stores = [RedisStore(client, prefix="threads:") for client in clients]
        start(stores[0], cases)
        fired: list[tuple[str, list[str]]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(stores))
        errors: list[BaseException] = []

        def write(store: RedisStore, seed: int) -> None:
            try:
                for window in delivery_windows(cases, seed=seed, window=1):
                    barrier.wait(timeout=10)  # the threads start each window together
                    for body in window:
                        steps = store.apply_body(body)
                        with lock:
                            fired.extend(
                                (s.call.call_id, [str(m.value) for m in s.milestones])
                                for s in steps
                            )
            except BaseException as error:  # reported below, in the test's thread
                barrier.abort()
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(store, 100 + index))
            for index, store in enumerate(stores)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        check_concurrent_run(stores[0], cases, fired)
        conflicts = sum(store.conflicts for store in stores)
        print(f"\nRedisStore, four threads: {len(cases)} calls, {conflicts} conflicts retried")
        assert conflicts > 0
    finally:
        for client in clients:
            client.close()


def test_async_store_many_concurrent_tasks_equal_a_replay(redis_url: str) -> None:
    cases = call_cases(90, tag="a")

    async def run() -> int:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            store = AsyncRedisStore(client, prefix="async:")
            for case in cases:
                await store.apply(case.call_id, case.request)
            fired: list[tuple[str, list[str]]] = []

            async def write(window: list[dict[str, Any]]) -> None:
                for body in window:
                    for done in await store.apply_body(body):
                        fired.append((done.call.call_id, [str(m.value) for m in done.milestones]))

            orders = [delivery_windows(cases, seed=200 + n, window=1) for n in range(4)]
            for windows in zip(*orders, strict=True):  # the tasks start each window together
                await asyncio.wait_for(asyncio.gather(*map(write, windows)), 10)
            for case in cases:
                final, _ = case.replay()
                assert await store.get(case.call_id) == final
                if case.consultation_id is not None:
                    assert await store.link(case.consultation_id) == expected_link(case)
                    assert await store.link(case.call_id) == expected_link(case)
        finally:
            await client.aclose()
        sync_client = redis.Redis.from_url(redis_url)
        try:
            check_concurrent_run(RedisStore(sync_client, prefix="async:"), cases, fired)
        finally:
            sync_client.close()
        return store.conflicts

    conflicts = asyncio.run(run())
    # One store orders its own tasks' applies of a call (one per call per pipeline, each
    # stepped from the one before): they never race each other, so nothing is retried.
    assert conflicts == 0
