"""The real redis-server the Redis store tests run against (tests/servers.py)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from cluster import ENV_CLI, find_redis_cli, require_redis_cli
from servers import ENV_BINARY, find_redis_server, require_redis_server, running_redis


def test_the_server_answers_ping_on_loopback(redis_client: redis.Redis) -> None:
    assert redis_client.ping() is True
    assert redis_client.connection_pool.connection_kwargs["host"] == "127.0.0.1"


def test_the_url_names_database_0_on_127_0_0_1(redis_url: str) -> None:
    url = urlsplit(redis_url)
    assert (url.scheme, url.hostname, url.path) == ("redis", "127.0.0.1", "/0")
    assert url.port is not None
    assert url.port > 0


def test_a_value_set_is_read_back(redis_client: redis.Redis) -> None:
    assert redis_client.set("transfer:341a0500", b"\x00transferAccepted\xff") is True
    assert redis_client.get("transfer:341a0500") == b"\x00transferAccepted\xff"


def test_each_test_starts_on_an_empty_database(redis_url: str, redis_client: redis.Redis) -> None:
    with redis.Redis.from_url(redis_url) as other:
        other.set("left-over", "from an earlier test")
    assert redis_client.dbsize() == 1
    redis_client.flushdb()
    assert redis_client.dbsize() == 0


def test_the_server_persists_nothing_and_listens_on_loopback_only(
    redis_client: redis.Redis,
) -> None:
    config = redis_client.config_get("*")
    assert (config["bind"], config["save"], config["appendonly"]) == ("127.0.0.1", "", "no")
    assert config["protected-mode"] == "yes"
    assert config["daemonize"] == "no"


def test_the_process_exits_and_the_port_closes_when_the_context_ends() -> None:
    with running_redis() as server:
        process, port = server.process, server.port
        with redis.Redis.from_url(server.url) as client:
            assert client.ping() is True
            assert client.info("server")["process_id"] == process.pid
            workdir = Path(client.config_get("dir")["dir"])
        assert process.poll() is None
        assert workdir.is_dir()
    assert process.returncode is not None
    assert not workdir.exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_the_process_is_stopped_when_the_test_body_raises() -> None:
    started: list[subprocess.Popen[bytes]] = []

    def failing_test() -> None:
        with running_redis() as server:
            started.append(server.process)
            raise KeyError("the test failed")

    with pytest.raises(KeyError):
        failing_test()
    assert len(started) == 1
    assert started[0].returncode is not None


def test_two_servers_run_side_by_side_on_their_own_ports() -> None:
    with running_redis() as first, running_redis() as second:
        assert first.port != second.port
        with redis.Redis.from_url(first.url) as a, redis.Redis.from_url(second.url) as b:
            a.set("which", "first")
            assert b.get("which") is None


# The binaries the tests start: redis-server (the store tests), redis-cli (the Cluster's).
BINARIES = [
    ("redis-server", ENV_BINARY, find_redis_server, require_redis_server, "redis-server"),
    ("redis-cli", ENV_CLI, find_redis_cli, require_redis_cli, "redis-tools"),
]
Binary = tuple[str, str, Callable[[], "str | None"], Callable[[], str], str]


@pytest.mark.parametrize("binary", BINARIES, ids=[entry[0] for entry in BINARIES])
def test_the_variable_names_the_only_binary_looked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, binary: Binary
) -> None:
    name, variable, find, _, _ = binary
    monkeypatch.setenv(variable, str(tmp_path / name))
    assert find() is None
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    assert find() is None  # not executable
    path.chmod(0o755)
    assert find() == str(path)


@pytest.mark.parametrize("binary", BINARIES, ids=[entry[0] for entry in BINARIES])
def test_without_a_binary_the_tests_skip_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, binary: Binary
) -> None:
    name, variable, _, require, package = binary
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require()
    message = str(skipped.value)
    assert message.startswith(f"{name} not found at {variable}=")
    assert f"tests were skipped; install it with `apt-get install -y {package}`" in message


@pytest.mark.parametrize("binary", BINARIES, ids=[entry[0] for entry in BINARIES])
def test_without_a_binary_under_ci_the_tests_fail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, binary: Binary
) -> None:
    _, variable, _, require, _ = binary
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        require()
