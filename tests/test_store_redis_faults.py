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
from redis.exceptions import WatchError

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


@contextmanager
def store_behind(
    redis_url: str, command: bytes, *, forward: bool
) -> Iterator[tuple[CuttingProxy, RedisStore]]:
    """A RedisStore whose connection goes through a cutting proxy, the call requested."""
    with cutting_proxy(redis_url, command, forward=forward) as proxy:
        client = redis.Redis(host=HOST, port=proxy.port)
        try:
            store = RedisStore(client)
            start(store)
            yield proxy, store
        finally:
            client.close()


@pytest.mark.parametrize("landed", [True, False], ids=["exec ran", "exec never sent"])
def test_a_connection_cut_during_exec_is_an_unknown_outcome_not_a_lost_race(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    with store_behind(redis_url, b"EXEC", forward=landed) as (proxy, store):
        proxy.armed.set()
        with pytest.raises(UnknownOutcomeError) as caught:
            store.apply_body(ACCEPTED)
        assert proxy.cut.is_set()
        check_unknown_outcome(caught.value, store.get(CALL), landed)
        assert store.conflicts == 0  # not retried as a lost race
        # Graph redelivers: a landed write makes it a duplicate, else it applies now.
        again = store.apply(CALL, ACCEPT)
        assert again == (tf.step(EXPECTED.call, ACCEPT) if landed else EXPECTED)


@pytest.mark.parametrize("landed", [True, False], ids=["exec ran", "exec never sent"])
def test_an_async_connection_cut_during_exec_is_an_unknown_outcome(
    redis_url: str, redis_client: redis.Redis, landed: bool
) -> None:
    start(RedisStore(redis_client))

    async def main(port: int, proxy: CuttingProxy) -> tuple[UnknownOutcomeError, Any, int]:
        client = redis.asyncio.Redis(host=HOST, port=port)
        try:
            store = AsyncRedisStore(client)
            proxy.armed.set()
            with pytest.raises(UnknownOutcomeError) as caught:
                await store.apply(CALL, ACCEPT)
            return caught.value, await store.get(CALL), store.conflicts
        finally:
            await client.aclose()

    with cutting_proxy(redis_url, b"EXEC", forward=landed) as proxy:
        error, stored, conflicts = asyncio.run(main(proxy.port, proxy))
    assert proxy.cut.is_set()
    check_unknown_outcome(error, stored, landed)
    assert conflicts == 0


def test_a_connection_cut_before_exec_is_the_clients_connection_error(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Cut at the GET after WATCH: redis-py says WatchError; nothing was written."""
    with store_behind(redis_url, b"GET", forward=False) as (proxy, store):
        proxy.armed.set()
        with pytest.raises(redis.exceptions.ConnectionError) as caught:
            store.apply(CALL, ACCEPT)
        assert proxy.cut.is_set()
        assert not isinstance(caught.value, (WatchError, UnknownOutcomeError))
        assert (store.get(CALL), store.conflicts) == (REQUESTED, 0)
        assert store.apply(CALL, ACCEPT) == EXPECTED  # the milestone is not lost


def test_an_async_connection_cut_before_exec_is_the_clients_connection_error(
    redis_url: str, redis_client: redis.Redis
) -> None:
    start(RedisStore(redis_client))

    async def main(port: int, proxy: CuttingProxy) -> tuple[BaseException, Any, tf.Step]:
        client = redis.asyncio.Redis(host=HOST, port=port)
        try:
            store = AsyncRedisStore(client)
            proxy.armed.set()
            with pytest.raises(redis.exceptions.ConnectionError) as caught:
                await store.apply(CALL, ACCEPT)
            return caught.value, await store.get(CALL), await store.apply(CALL, ACCEPT)
        finally:
            await client.aclose()

    with cutting_proxy(redis_url, b"GET", forward=False) as proxy:
        error, stored, retried = asyncio.run(main(proxy.port, proxy))
    assert proxy.cut.is_set()
    assert not isinstance(error, (WatchError, UnknownOutcomeError))
    assert (stored, retried) == (REQUESTED, EXPECTED)


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
