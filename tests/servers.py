"""A real ``redis-server`` for the tests: started on a free loopback port, stopped after.

``running_redis()`` starts one and stops it on exit; the ``redis_url`` fixture (one
server for the whole session) and the ``redis_client`` fixture (a client on a flushed
database, per test) are built on it and registered by ``tests/conftest.py``.

The binary is ``$TRANSFER_FSM_REDIS_SERVER`` when that is set (and then only that), or
else ``redis-server`` on ``PATH``, ``/usr/bin`` or ``/usr/sbin``. Without one, the tests
that use the fixtures skip, saying why, or fail when ``CI`` is set: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

HOST = "127.0.0.1"
ENV_BINARY = "TRANSFER_FSM_REDIS_SERVER"
FALLBACK_BINARIES = (Path("/usr/bin/redis-server"), Path("/usr/sbin/redis-server"))
START_TIMEOUT = 10.0  # seconds for the server to answer PING
STOP_TIMEOUT = 5.0  # seconds for it to exit on SIGTERM before it is killed
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the bind


class RedisStartError(RuntimeError):
    """The server exited or did not answer in time; the message holds its log."""


@dataclass(frozen=True)
class RedisServer:
    """A running server: its process and where it listens."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """The URL of its database 0, for ``redis.Redis.from_url``."""
        return f"redis://{HOST}:{self.port}/0"


def find_binary(
    name: str, variable: str, fallbacks: Sequence[Path] = (), beside: str | None = None
) -> str | None:
    """The ``name`` binary to run, or None if there is none: ``$variable`` when that is set
    (and then only that), else ``name`` beside the binary ``beside``, on ``PATH``, or at
    one of ``fallbacks``."""
    override = os.environ.get(variable)
    if override is not None:
        return override if _executable(Path(override)) else None
    if beside is not None and _executable(Path(beside).with_name(name)):
        return str(Path(beside).with_name(name))
    found = shutil.which(name)
    if found is not None:
        return found
    return next((str(path) for path in fallbacks if _executable(path)), None)


def require_binary(
    binary: str | None, name: str, variable: str, needed_by: str, package: str
) -> str:
    """``binary`` (found by :func:`find_binary`); else skip the test saying how to install
    ``package``, or fail it when ``CI`` is set (CI must run the tests ``needed_by``)."""
    if binary is not None:
        return binary
    where = f" at {variable}={os.environ[variable]!r}" if variable in os.environ else ""
    install = f"`apt-get install -y {package}`"
    if os.environ.get("CI"):
        pytest.fail(
            f"{name} not found{where}: it is required under CI (CI is set), "
            f"where {needed_by} must run, not skip; install it with {install}"
        )
    pytest.skip(
        f"{name} not found{where}: {needed_by} were skipped; install it with {install}"
        " (Debian/Ubuntu) or your system's package"
    )


def find_redis_server() -> str | None:
    """The ``redis-server`` to run, or None if there is none (see the module docstring)."""
    return find_binary("redis-server", ENV_BINARY, FALLBACK_BINARIES)


def require_redis_server() -> str:
    """The binary; else skip the test, or fail it when ``CI`` is set."""
    return require_binary(
        find_redis_server(), "redis-server", ENV_BINARY, "the Redis store tests", "redis-server"
    )


@contextmanager
def running_redis(binary: str | None = None) -> Iterator[RedisServer]:
    """Run a throwaway ``redis-server`` on a free 127.0.0.1 port; stop it on exit.

    No persistence (its directory is a temporary one, removed after). Raises
    ``RedisStartError`` if no attempt came up, each attempt's process stopped.
    """
    binary = binary or require_redis_server()
    with tempfile.TemporaryDirectory(prefix="transfer-fsm-redis-") as workdir:
        failures: list[str] = []
        for attempt in range(START_ATTEMPTS):
            port = _free_port()
            log_path = Path(workdir) / f"redis-{attempt}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    _command(binary, port, workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                if _wait_until_ready(process, port):
                    yield RedisServer(process, port)
                    return
            finally:
                _stop(process)
            failures.append(f"port {port}: {log_path.read_text(errors='replace').strip()}")
        raise RedisStartError(
            f"redis-server ({binary}) did not start in {START_ATTEMPTS} attempts:\n"
            + "\n".join(failures)
        )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of database 0 of a server that runs for the whole session."""
    with running_redis() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on that server, its database flushed before the test; closed after."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
        yield client
    finally:
        client.close()


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _command(binary: str, port: int, workdir: str) -> list[str]:
    return [
        binary,
        "--port", str(port),
        "--bind", HOST,
        "--dir", workdir,
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--daemonize", "no",
    ]  # fmt: skip


def _wait_until_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    """True once this process answers PING on the port; False if it exits or times out.

    The answer must come from this process (its ``process_id``): if another server
    took the port first, this one exits and the other's answer does not count.
    """
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        client = redis.Redis(host=HOST, port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            if client.ping() and client.info("server")["process_id"] == process.pid:
                return True
        except redis.RedisError:  # not up yet, or not a Redis server that answers
            pass
        finally:
            client.close()
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
