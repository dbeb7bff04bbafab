"""A real 3-primary Redis Cluster for the tests: started on free 127.0.0.1 ports, stopped after.

``running_redis_cluster()`` starts ``redis-server --cluster-enabled yes`` once per
primary, each on a free loopback port whose cluster bus port (the port + 10000) is
free too, in a temporary directory; joins them with ``redis-cli --cluster create
... --cluster-replicas 0 --cluster-yes``; waits (bounded) until every node says
``cluster_state:ok`` with all 16384 slots assigned and every primary known; and on
exit stops every process it started, on the failure paths too (SIGTERM, then
SIGKILL after a bounded wait).

The ``redis_cluster_url`` fixture (one cluster for the whole session) and the
``redis_cluster_client`` fixture (a ``redis.cluster.RedisCluster`` on a cluster whose
every primary is flushed before the test) are registered by ``tests/conftest.py``.

``redis-server`` is found as ``tests/servers.py`` finds it; ``redis-cli`` is
``$TRANSFER_FSM_REDIS_CLI`` when that is set (and then only that), else the one next
to that ``redis-server``, on ``PATH``, or in ``/usr/bin``. Without either, the tests
that use the fixtures skip, saying why, or fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from servers import HOST, STOP_TIMEOUT, find_binary, require_binary, require_redis_server

ENV_CLI = "TRANSFER_FSM_REDIS_CLI"
FALLBACK_CLIS = (Path("/usr/bin/redis-cli"),)
SLOTS = 16384
BUS_OFFSET = 10000
"""A cluster node's bus port is its port + 10000."""
PORT_RANGE = (20000, 55000)
"""Where the ports are chosen: their bus ports (+ 10000) stay below 65536."""
PORT_TRIES = 200  # random ports tried for each node before giving up
START_TIMEOUT = 10.0  # seconds for each node to answer PING
CREATE_TIMEOUT = 30.0  # seconds for redis-cli --cluster create
CONVERGE_TIMEOUT = 20.0  # seconds for every node to say cluster_state:ok
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the bind


class ClusterStartError(RuntimeError):
    """The cluster did not come up in time; the message says where it stopped, with logs."""


@dataclass(frozen=True)
class ClusterNode:
    """One running primary: its process, port and log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"


@dataclass(frozen=True)
class RunningCluster:
    """A running cluster: its primaries and the directory they keep their files in."""

    nodes: tuple[ClusterNode, ...]
    directory: Path

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(node.port for node in self.nodes)

    @property
    def url(self) -> str:
        """A startup node's URL, for ``redis.cluster.RedisCluster.from_url``."""
        return self.nodes[0].url

    def client(self, **options: object) -> RedisCluster:
        """A new cluster client (close it)."""
        return RedisCluster.from_url(self.url, **options)


def find_redis_cli(server: str | None = None) -> str | None:
    """The ``redis-cli`` to run, or None if there is none (see the module docstring)."""
    return find_binary("redis-cli", ENV_CLI, FALLBACK_CLIS, beside=server)


def require_redis_cli(server: str | None = None) -> str:
    """The binary; else skip the test, or fail it when ``CI`` is set."""
    binary = find_redis_cli(server)
    return require_binary(binary, "redis-cli", ENV_CLI, "the Redis Cluster tests", "redis-tools")


def cluster_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """``count`` distinct free loopback ports whose bus ports (+ 10000) are free too.

    Free when chosen: another process may still take one before the server binds it
    (the start is retried on new ports then)."""
    rng = rng or random.Random()
    chosen: list[int] = []
    for _ in range(PORT_TRIES * count):
        if len(chosen) == count:
            break
        port = rng.randrange(*PORT_RANGE)
        taken = {*chosen, *(p + BUS_OFFSET for p in chosen)}
        if port in taken or port + BUS_OFFSET in taken:
            continue
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            chosen.append(port)
    if len(chosen) < count:
        raise ClusterStartError(f"found only {len(chosen)} of {count} free port pairs")
    return chosen


@contextmanager
def running_redis_cluster(
    primaries: int = 3,
    *,
    server: str | None = None,
    cli: str | None = None,
    directory: Path | None = None,
    extra: Sequence[str] = (),
) -> Iterator[RunningCluster]:
    """Run a throwaway Redis Cluster of ``primaries`` primaries (no replicas); stop it on exit.

    Its files go to a new temporary directory, removed after (or to ``directory``,
    kept); ``extra`` arguments go to every ``redis-server`` (for example
    ``("--appendonly", "yes", "--appendfsync", "always")``; the defaults persist
    nothing). Raises :class:`ClusterStartError` when no attempt came up, every
    process of each attempt stopped.
    """
    server = server or require_redis_server()
    cli = cli or require_redis_cli(server)
    with ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfsm-rc-")))
        failures: list[str] = []
        for attempt in range(START_ATTEMPTS):
            nodes: list[ClusterNode] = []
            try:
                try:
                    for port in cluster_ports(primaries):
                        nodes.append(start_node(server, port, directory, extra, f"{attempt}"))
                    problem = _form(cli, nodes)
                except ClusterStartError as error:  # a port taken meanwhile: new ports
                    problem = str(error)
                if problem is None:
                    yield RunningCluster(tuple(nodes), directory)
                    return
                failures.append(f"attempt {attempt + 1}: {problem}")
            finally:
                for node in nodes:
                    stop_process(node.process)
        raise ClusterStartError(
            f"the Redis Cluster did not come up in {START_ATTEMPTS} attempts:\n"
            + "\n".join(failures)
        )


def node_command(server: str, port: int, directory: Path, extra: Sequence[str] = ()) -> list[str]:
    """The ``redis-server`` command line of one cluster node on ``port``."""
    return [
        server,
        "--port", str(port),
        "--bind", HOST,
        "--dir", str(directory),
        "--cluster-enabled", "yes",
        "--cluster-config-file", f"nodes-{port}.conf",
        "--cluster-node-timeout", "5000",
        "--save", "",
        "--appendonly", "no",
        "--appendfilename", f"appendonly-{port}.aof",
        "--appenddirname", f"aof-{port}",
        "--dbfilename", f"dump-{port}.rdb",
        "--protected-mode", "yes",
        "--daemonize", "no",
        *extra,
    ]  # fmt: skip


def start_node(
    server: str, port: int, directory: Path, extra: Sequence[str] = (), tag: str = ""
) -> ClusterNode:
    """Start one node and wait until it answers PING (its process stopped if it does not)."""
    log = directory / f"node-{port}{'-' + tag if tag else ''}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            node_command(server, port, directory, extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    node = ClusterNode(process, port, log)
    if not _answers(node):
        stop_process(process)
        raise ClusterStartError(f"node {port} did not answer: {_tail(log)}")
    return node


def cluster_info(port: int) -> dict[str, str]:
    """``CLUSTER INFO`` of the node on ``port``, as a dict of strings."""
    with redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2) as client:
        raw = client.execute_command("CLUSTER INFO")
    if isinstance(raw, dict):  # redis-py parses it
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def healthy(ports: Sequence[int]) -> bool:
    """Every node says ``cluster_state:ok``, all slots assigned and ok, every node known."""
    for port in ports:
        try:
            info = cluster_info(port)
        except redis.RedisError:
            return False
        if (
            info.get("cluster_state") != "ok"
            or info.get("cluster_slots_assigned") != str(SLOTS)
            or info.get("cluster_slots_ok") != str(SLOTS)
            or info.get("cluster_known_nodes") != str(len(ports))
        ):
            return False
    return True


def wait_healthy(ports: Sequence[int], timeout: float = CONVERGE_TIMEOUT) -> bool:
    """:func:`healthy`, waited for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(ports):
            return True
        time.sleep(0.05)
    return healthy(ports)


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _form(cli: str, nodes: list[ClusterNode]) -> str | None:
    """Join the nodes into one cluster; ``None`` when it is healthy, else what went wrong."""
    command = [
        cli,
        "--cluster", "create",
        *(f"{HOST}:{node.port}" for node in nodes),
        "--cluster-replicas", "0",
        "--cluster-yes",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CREATE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"redis-cli --cluster create took over {CREATE_TIMEOUT} s"
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        return f"redis-cli --cluster create exited {done.returncode}: {output[-2000:]}"
    if not wait_healthy([node.port for node in nodes]):
        logs = "\n".join(f"{node.port}: {_tail(node.log)}" for node in nodes)
        return f"not cluster_state:ok within {CONVERGE_TIMEOUT} s\n{logs}"
    return None


def _answers(node: ClusterNode) -> bool:
    """True once this process answers PING on its port; False if it exits or times out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and node.process.poll() is None:
        client = redis.Redis(host=HOST, port=node.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            if client.ping() and client.info("server")["process_id"] == node.process.pid:
                return True
        except redis.RedisError:
            pass
        finally:
            client.close()
        time.sleep(0.05)
    return False


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _tail(log: Path, size: int = 1500) -> str:
    try:
        return log.read_text(errors="replace")[-size:].strip()
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A startup node's URL of a 3-primary cluster that runs for the whole session."""
    with running_redis_cluster() as cluster:
        yield cluster.url


@pytest.fixture
def redis_cluster_client(redis_cluster_url: str) -> Iterator[RedisCluster]:
    """A cluster client, every primary flushed before the test; closed after."""
    client = RedisCluster.from_url(redis_cluster_url)
    try:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        yield client
    finally:
        client.close()
