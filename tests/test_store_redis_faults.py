"""RedisStore faults on a real redis-server: a connection cut before or during EXEC, a
consultation call another primary took over, a key of another type.

The connection cuts go through :class:`CuttingProxy`, a TCP proxy on 127.0.0.1 in front
of the real server that cuts the client off at one chosen command.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

import transfer_fsm as tf
from transfer_fsm import SnapshotError
from transfer_fsm.store import BodyError
from transfer_fsm.store.redis import AsyncRedisStore, RedisStore, UnknownOutcomeError

HOST = "127.0.0.1"
POLL = 0.05  # seconds the proxy's threads wait before looking at the stop flag again


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to the server; once armed, cuts the client off at the
    first command named ``command``.

    ``forward=True``: the command reaches the server and has run (its reply and a PING's
    came back) before the client is cut off, so the client never sees the reply.
    ``forward=False``: the client is cut off before the server sees the command.
    """

    def __init__(self, upstream_port: int, command: bytes, *, forward: bool) -> None:
        self.upstream_port = upstream_port
        self.marker = b"$%d\r\n%s\r\n" % (len(command), command)  # the name, as RESP sends it
        self.forward = forward
        self.armed = threading.Event()
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(POLL)
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept)]
        self._threads[0].start()

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()
        assert not any(thread.is_alive() for thread in self._threads)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(client,))
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection((HOST, self.upstream_port)) as upstream:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, upstream], [], [], POLL)
                if client in ready:
                    data = client.recv(65536)
                    if not data or self._cuts(data, upstream):
                        return
                    upstream.sendall(data)
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        return
                    client.sendall(data)

    def _cuts(self, data: bytes, upstream: socket.socket) -> bool:
        """Whether this chunk from the client is where the connection is cut."""
        if not self.armed.is_set() or self.marker not in data:
            return False
        self.armed.clear()
        if self.forward:
            upstream.sendall(data + b"*1\r\n$4\r\nPING\r\n")
            replies = b""
            while not replies.endswith(b"+PONG\r\n"):  # the server answers in order
                chunk = upstream.recv(65536)
                assert chunk, "the server closed the connection"
                replies += chunk
        self.cut.set()
        return True


@contextmanager
def cutting_proxy(redis_url: str, command: bytes, *, forward: bool) -> Iterator[CuttingProxy]:
    port = urlsplit(redis_url).port
    assert port is not None
    proxy = CuttingProxy(port, command, forward=forward)
    try:
        yield proxy
    finally:
        proxy.stop()


CALL = "faulty"
ACCEPTED = {
    "value": [
        {
            "changeType": "updated",
            "resourceUrl": f"/communications/calls/{CALL}",
            "resourceData": {"state": "transferAccepted"},
        }
    ]
}
(ACCEPT,) = tf.parse_notifications(ACCEPTED)
REQUESTED = tf.reduce(
    tf.reduce(tf.Call(CALL), tf.CallNotification(CALL, state=tf.CallState.ESTABLISHED)),
    tf.TransferRequested(),
)
EXPECTED = tf.step(REQUESTED, ACCEPT)  # what the write reports when it lands


def test_the_expected_step_has_a_milestone_to_lose() -> None:
    assert EXPECTED.outcome is tf.Outcome.APPLIED
    assert EXPECTED.milestones != ()


def start(store: RedisStore) -> None:
    store.apply(CALL, tf.CallNotification(CALL, state=tf.CallState.ESTABLISHED))
    store.apply(CALL, tf.TransferRequested())
    assert store.get(CALL) == REQUESTED


def check_unknown_outcome(error: UnknownOutcomeError, stored: tf.Call | None, landed: bool) -> None:
    assert isinstance(error, redis.exceptions.ConnectionError)
    assert (error.call_id, error.step) == (CALL, EXPECTED)
    assert "may or may not have landed" in str(error)
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)
    assert stored == (EXPECTED.call if landed else REQUESTED)


NO_RETRY = Retry(NoBackoff(), 0)  # the client gives up at the first cut: the store must say so


@contextmanager
def store_behind(
    redis_url: str, command: bytes, *, forward: bool, retry: Retry = NO_RETRY
) -> Iterator[tuple[CuttingProxy, RedisStore]]:
    """A RedisStore whose connection goes through a cutting proxy, the call requested."""
    with cutting_proxy(redis_url, command, forward=forward) as proxy:
        client = redis.Redis(host=HOST, port=proxy.port, retry=retry)
        try:
            store = RedisStore(client)
            start(store)
            yield proxy, store
        finally:
            client.close()


def recover(store: RedisStore, error: UnknownOutcomeError) -> tf.Step:
    """The docs' recipe: ask whether the write landed; act on its step, or apply again."""
    if store.landed(error.call_id, error.token) == error.step.milestone_keys:
        return error.step
    return store.apply(error.call_id, ACCEPT)


@pytest.mark.parametrize("landed", [True, False], ids=["script ran", "script never sent"])
def test_a_connection_cut_during_the_write_is_an_unknown_outcome_the_token_settles(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    with store_behind(redis_url, b"EVALSHA", forward=landed) as (proxy, store):
        proxy.armed.set()
        with pytest.raises(UnknownOutcomeError) as caught:
            store.apply_body(ACCEPTED)
        assert proxy.cut.is_set()
        error = caught.value
        check_unknown_outcome(error, store.get(CALL), landed)
        assert store.conflicts == 0  # not retried as a lost race
        expected = EXPECTED.milestone_keys if landed else ()
        assert store.landed(CALL, error.token) == expected
        assert recover(store, error) == EXPECTED  # the milestone, once, either way
        assert store.get(CALL) == EXPECTED.call


@pytest.mark.parametrize("landed", [True, False], ids=["script ran", "script never sent"])
def test_the_recipe_is_sound_when_another_writer_steps_the_call_meanwhile(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    """Issue 18: comparing the stored call with error.step.call said "not landed" for a
    write that landed and was stepped again, and "landed" for one that did not land
    while a redelivered copy landed through another writer. The token tells the truth."""
    other = RedisStore(redis_client)
    with store_behind(redis_url, b"EVALSHA", forward=landed) as (proxy, store):
        proxy.armed.set()
        with pytest.raises(UnknownOutcomeError) as caught:
            store.apply(CALL, ACCEPT)
        error = caught.value
        again = other.apply(CALL, ACCEPT)  # Graph's redelivery, through another instance
        assert again == (tf.step(EXPECTED.call, ACCEPT) if landed else EXPECTED)
        gone = tf.call_gone(CALL)
        other.apply(CALL, gone)  # and the call moves on
        assert store.get(CALL) != error.step.call  # the old recipe's answer: "not landed"
        ours = store.landed(CALL, error.token)
        assert ours == (EXPECTED.milestone_keys if landed else ())
        # Exactly one writer reports transferAccepted of attempt 1:
        reported = [step for step in (again, recover(store, error)) if step.milestones]
        assert [step.milestone_keys for step in reported] == [EXPECTED.milestone_keys]


@pytest.mark.parametrize("landed", [True, False], ids=["script ran", "script never sent"])
def test_a_client_that_resends_after_a_cut_reports_the_step_once(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    """redis-py's default retries resend the script after a cut: the token makes that
    resend find its own write (no duplicate, no lost milestone)."""
    retry = Retry(NoBackoff(), 2)
    with store_behind(redis_url, b"EVALSHA", forward=landed, retry=retry) as (proxy, store):
        proxy.armed.set()
        assert store.apply(CALL, ACCEPT) == EXPECTED
        assert proxy.cut.is_set()
        assert store.get(CALL) == EXPECTED.call


@pytest.mark.parametrize("landed", [True, False], ids=["script ran", "script never sent"])
def test_an_async_connection_cut_during_the_write_is_an_unknown_outcome(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    start(RedisStore(redis_client))

    async def main(port: int, proxy: CuttingProxy) -> tuple[UnknownOutcomeError, Any, Any]:
        client = redis.asyncio.Redis(host=HOST, port=port, retry=AsyncRetry(NoBackoff(), 0))
        try:
            store = AsyncRedisStore(client)
            assert await store.get(CALL) == REQUESTED  # what it steps from: the call as read
            proxy.armed.set()
            with pytest.raises(UnknownOutcomeError) as caught:
                await store.apply(CALL, ACCEPT)
            error = caught.value
            return error, await store.get(CALL), await store.landed(CALL, error.token)
        finally:
            await client.aclose()

    with cutting_proxy(redis_url, b"EVALSHA", forward=landed) as proxy:
        error, stored, keys = asyncio.run(main(proxy.port, proxy))
    assert proxy.cut.is_set()
    check_unknown_outcome(error, stored, landed)
    assert keys == (EXPECTED.milestone_keys if landed else ())


def test_a_connection_cut_before_the_write_is_the_clients_connection_error(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Cut at the GET of a store that has not read the call: nothing was written."""
    with cutting_proxy(redis_url, b"GET", forward=False) as proxy:
        client = redis.Redis(host=HOST, port=proxy.port, retry=NO_RETRY)
        try:
            start(RedisStore(redis_client))
            store = RedisStore(client)
            proxy.armed.set()
            with pytest.raises(redis.exceptions.ConnectionError) as caught:
                store.get(CALL)
            assert proxy.cut.is_set()
            assert not isinstance(caught.value, UnknownOutcomeError)
            assert (store.get(CALL), store.conflicts) == (REQUESTED, 0)
            assert store.apply(CALL, ACCEPT) == EXPECTED  # the milestone is not lost
        finally:
            client.close()


def test_an_ended_primary_leaves_the_link_another_primary_took_over_live(
    redis_client: redis.Redis,
) -> None:
    """P1 consulted the leg, then P2 named the same leg; P1 ends: P2's link must not expire."""
    store = RedisStore(redis_client, ended_ttl=60)
    leg, first, second = "leg", "primary-1", "primary-2"
    for primary in first, second:
        store.apply(primary, tf.CallNotification(primary, state=tf.CallState.ESTABLISHED))
        store.apply(primary, tf.TransferRequested(replaces_call_id=leg))
    link = store.link_key(leg)
    assert redis_client.get(link) == second.encode()
    store.apply(first, tf.CallNotification(first, state=tf.CallState.TERMINATED))
    assert 0 < redis_client.ttl(store.call_key(first)) <= 60
    assert (redis_client.get(link), redis_client.ttl(link)) == (second.encode(), -1)
    # The link's own primary ending still gives the link the expiry.
    store.apply(second, tf.CallNotification(second, state=tf.CallState.TERMINATED))
    assert 0 < redis_client.ttl(link) <= 60


def test_a_key_of_another_type_is_a_corrupt_snapshot_of_that_call(
    redis_client: redis.Redis,
) -> None:
    store = RedisStore(redis_client)
    bad, good = "a-list", "fine"
    redis_client.rpush(store.call_key(bad), b"x")
    established = tf.CallNotification(bad, state=tf.CallState.ESTABLISHED)
    for attempt in (lambda: store.apply(bad, established), lambda: store.get(bad)):
        with pytest.raises(SnapshotError) as caught:
            attempt()
        error = caught.value
        assert (error.call_id, error.path) == (bad, "$")
        assert (error.expected, error.found) == (
            "a snapshot (a Redis string)",
            "a Redis value of another type",
        )
    body = {
        "value": [
            {
                "changeType": "updated",
                "resourceUrl": f"/communications/calls/{call_id}",
                "resourceData": {"state": "established"},
            }
            for call_id in (bad, good)
        ]
    }
    with pytest.raises(BodyError) as failed:
        store.apply_body(body)
    assert [(each.call_id, each.path) for each in failed.value.errors] == [(bad, "$")]
    (done,) = failed.value.steps
    assert done == tf.step(tf.Call(good), tf.parse_notifications(body)[1])
    assert store.get(good) == done.call
    assert redis_client.lrange(store.call_key(bad), 0, -1) == [b"x"]


def test_the_async_store_reads_a_key_of_another_type_as_a_corrupt_snapshot(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.rpush(RedisStore(redis_client).call_key("a-list"), b"x")

    async def main() -> list[SnapshotError]:
        client = redis.asyncio.Redis.from_url(redis_url)
        store, errors = AsyncRedisStore(client), []
        try:
            for attempt in (
                lambda: store.apply("a-list", tf.TransferAbandoned()),
                lambda: store.get("a-list"),
            ):
                with pytest.raises(SnapshotError) as caught:
                    await attempt()
                errors.append(caught.value)
            return errors
        finally:
            await client.aclose()

    found = [(error.call_id, error.path, error.found) for error in asyncio.run(main())]
    assert found == [("a-list", "$", "a Redis value of another type")] * 2


def test_a_cut_write_without_milestones_is_an_unknown_outcome_too(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Every write is named, so a cut is never an AssertionError; landed() answers () for
    a write with no milestone, and applying again is then right either way."""
    call_id = "quiet"
    up = tf.CallNotification(call_id, state=tf.CallState.ESTABLISHED)
    for landed in True, False:
        redis_client.flushdb()
        with cutting_proxy(redis_url, b"EVALSHA", forward=landed) as proxy:
            client = redis.Redis(host=HOST, port=proxy.port, retry=NO_RETRY)
            try:
                store = RedisStore(client)
                proxy.armed.set()
                with pytest.raises(UnknownOutcomeError) as caught:
                    store.apply(call_id, up)
                error = caught.value
                assert (error.call_id, error.step.milestones) == (call_id, ())
                assert store.landed(call_id, error.token) == ()
                again = store.apply(call_id, up)
                assert again.outcome is (tf.Outcome.DUPLICATE if landed else tf.Outcome.APPLIED)
                assert store.get(call_id) == tf.reduce(tf.Call(call_id), up)
            finally:
                client.close()


def test_a_cut_in_a_later_round_keeps_the_steps_that_landed_before(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """apply_many: the first round lands A's acceptance; the cut at the second round's
    link is that round's error only, so A's milestone is not lost."""
    start(RedisStore(redis_client))
    primary = "primary"
    items: list[tuple[str, tf.Event]] = [
        (CALL, ACCEPT),
        (primary, tf.CallNotification(primary, state=tf.CallState.ESTABLISHED)),
        (primary, tf.TransferRequested(replaces_call_id="leg")),
    ]
    with cutting_proxy(redis_url, b"SET", forward=False) as proxy:
        client = redis.Redis(host=HOST, port=proxy.port, retry=NO_RETRY)
        try:
            store = RedisStore(client)
            assert store.get(CALL) == REQUESTED
            proxy.armed.set()
            first, second, third = store.apply_many(items)
        finally:
            client.close()
    assert proxy.cut.is_set()
    assert first == EXPECTED
    assert isinstance(second, tf.Step)
    assert isinstance(third, redis.exceptions.ConnectionError)
    assert not isinstance(third, UnknownOutcomeError)  # its script was never sent
    after = RedisStore(redis_client)
    assert after.get(CALL) == EXPECTED.call
    assert after.get(primary) == second.call
