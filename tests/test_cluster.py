"""The real 3-primary Redis Cluster the Redis Cluster tests run against (tests/cluster.py)."""

from __future__ import annotations

import itertools
import socket
import subprocess
from pathlib import Path
from typing import Any

import cluster
import pytest
import redis
from cluster import (
    BUS_OFFSET,
    SLOTS,
    ClusterNode,
    ClusterStartError,
    cluster_info,
    cluster_ports,
    running_redis_cluster,
)
from redis.cluster import RedisCluster


def _closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return False
    except OSError:
        return True


def test_every_node_says_the_cluster_is_ok(redis_cluster_client: RedisCluster) -> None:
    client: Any = redis_cluster_client  # redis-py's cluster methods are untyped
    primaries = client.get_primaries()
    assert len(primaries) == 3
    assert {node.host for node in primaries} == {"127.0.0.1"}
    for node in primaries:
        info = cluster_info(int(node.port))
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == str(SLOTS)
        assert info["cluster_known_nodes"] == "3"
        assert info["cluster_size"] == "3"


def test_three_primaries_own_every_slot_between_them(redis_cluster_client: RedisCluster) -> None:
    client: Any = redis_cluster_client  # redis-py's cluster methods are untyped
    owned: list[tuple[int, int]] = []
    for start, end, *_ in client.execute_command("CLUSTER SLOTS"):
        owned.append((int(start), int(end)))
    owned.sort()
    assert owned[0][0] == 0
    assert owned[-1][1] == SLOTS - 1
    assert sum(end - start + 1 for start, end in owned) == SLOTS
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(owned))  # no gap, no overlap
    assert len({node.name for node in client.get_primaries()}) == 3
    assert client.get_replicas() == []


def test_keys_of_different_hash_tags_land_on_different_nodes(
    redis_cluster_client: RedisCluster,
) -> None:
    client: Any = redis_cluster_client  # redis-py's cluster methods are untyped
    owners: dict[str, str] = {}
    for tag in ("call-a", "call-b", "call-c", "call-d", "call-e", "call-f"):
        key = f"transfer:{{{tag}}}:snapshot"
        client.set(key, tag)
        owners[tag] = client.get_node_from_key(key).name
        assert client.get(key) == tag.encode()
    assert len(set(owners.values())) > 1
    # Keys that share a tag share a slot, so one MULTI may write them together.
    tag = "{341a0500}"
    pipe = client.pipeline(transaction=True)
    pipe.set(f"call:{tag}", b"1").set(f"link:{tag}:x", b"2")
    assert len(pipe.execute()) == 2
    assert client.mget(f"call:{tag}", f"link:{tag}:x") == [b"1", b"2"]
    slots = {client.keyslot(key) for key in (f"call:{tag}", f"link:{tag}:x")}
    assert len(slots) == 1


def test_each_test_starts_on_empty_primaries(
    redis_cluster_url: str, redis_cluster_client: RedisCluster
) -> None:
    with RedisCluster.from_url(redis_cluster_url) as other:
        for tag in "abcdef":
            other.set(f"left-over:{{{tag}}}", "from an earlier test")
    assert redis_cluster_client.dbsize(target_nodes=RedisCluster.PRIMARIES) == 6
    redis_cluster_client.flushall(target_nodes=RedisCluster.PRIMARIES)
    assert redis_cluster_client.dbsize(target_nodes=RedisCluster.PRIMARIES) == 0


def test_the_nodes_persist_nothing_and_listen_on_loopback_only(
    redis_cluster_client: RedisCluster,
) -> None:
    client: Any = redis_cluster_client  # redis-py's cluster methods are untyped
    for node in client.get_primaries():
        with redis.Redis(host=node.host, port=node.port) as one:
            config = one.config_get("*")
        assert (config["bind"], config["save"], config["appendonly"]) == ("127.0.0.1", "", "no")
        assert (config["cluster-enabled"], config["protected-mode"]) == ("yes", "yes")


def test_every_process_is_gone_and_every_port_closed_after_the_context() -> None:
    with running_redis_cluster() as cluster:
        processes = [node.process for node in cluster.nodes]
        directory = cluster.directory
        assert len(processes) == 3
        assert all(process.poll() is None for process in processes)
        assert directory.is_dir()
        with cluster.client() as client:
            client.set("{x}:alive", b"1")
            assert client.get("{x}:alive") == b"1"
    assert all(process.returncode is not None for process in processes)
    assert not directory.exists()
    for port in cluster.ports:
        assert _closed(port)
        assert _closed(port + BUS_OFFSET)


def test_every_process_is_stopped_when_the_test_body_raises() -> None:
    started: list[subprocess.Popen[bytes]] = []

    def failing_test() -> None:
        with running_redis_cluster() as cluster:
            started.extend(node.process for node in cluster.nodes)
            raise KeyError("the test failed")

    with pytest.raises(KeyError):
        failing_test()
    assert len(started) == 3
    assert all(process.returncode is not None for process in started)


def test_a_cluster_that_does_not_form_stops_every_node_it_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[ClusterNode] = []
    start_node = cluster.start_node

    def recording(*args: Any) -> ClusterNode:
        started.append(start_node(*args))
        return started[-1]

    monkeypatch.setattr(cluster, "start_node", recording)
    cli = tmp_path / "redis-cli"
    cli.write_text("#!/bin/sh\necho 'no cluster today' >&2\nexit 3\n")
    cli.chmod(0o755)
    with (
        pytest.raises(ClusterStartError, match="exited 3: no cluster today"),
        running_redis_cluster(cli=str(cli), directory=tmp_path),
    ):
        pytest.fail("the cluster formed")
    assert len(started) == 3 * cluster.START_ATTEMPTS
    assert all(node.process.returncode is not None for node in started)
    assert all(_closed(node.port) for node in started)


def test_ports_come_with_free_bus_ports_below_65536() -> None:
    ports = cluster_ports(3)
    assert len(set(ports)) == 3
    assert not {port + BUS_OFFSET for port in ports} & set(ports)
    assert all(port + BUS_OFFSET < 65536 for port in ports)
