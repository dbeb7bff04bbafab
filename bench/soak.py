"""The kill soak: writers and journal consumers over one store, ``kill -9``ed at random.

    python bench/soak.py --store sqlite --calls 10000
    python bench/soak.py --store redis --calls 10000 --kill-server
    python bench/soak.py --store cluster --calls 2000
    python bench/soak.py --store sqlite --calls 1000 --no-journal   # the baseline

What runs (every process started here is stopped here, on every path):

- the store: a SQLite file (``SQLiteStore(path, journal=True)``), or a
  ``redis-server`` (``RedisStore(client, journal=True)``) or a 3-primary Redis
  Cluster (``tests/cluster.py``) started on free 127.0.0.1 ports, both with
  ``appendonly yes`` / ``appendfsync always`` so a server restarted on its files
  keeps every acknowledged write;
- ``N`` calls, each a documented flow (``transfer_fsm.testing.documented_flows``)
  under its own call id (a consultative request names a consultation call of its
  own); each call's request is applied before the start, its notifications are the
  bodies to deliver;
- a dispatcher (this process) sending each body to a random writer (at most
  ``--window`` unacknowledged per writer) and sending again anything a writer did
  not acknowledge: the writer was killed, said its apply failed, or took over
  ``--redeliver-after`` seconds (at least once);
- ``--writers`` writer processes: ``store.apply_body(body)``, then ``--act-ms``
  milliseconds "acting", then the acknowledgement. With ``--no-journal`` the
  writer acts on its steps' milestones itself: it records each step's milestone
  keys (an append-only log, fsynced) after acting, before acknowledging: what a
  bot without a journal does, and what a kill in between loses;
- ``--consumers`` journal consumer processes: ``claim_journal(name, limit,
  idle=--idle)``, record each entry's ``id`` and ``key`` to an append-only log
  (fsynced), ``--act-ms`` "acting", then ``ack_journal``;
- every ``--kill-every`` seconds (on average) a random writer or consumer (with
  ``--kill-server``, one time in ``--server-share`` the server or a cluster node)
  gets ``SIGKILL`` and is started again. A cluster node restarted on its files
  takes about 2 s to say ``cluster_state:ok`` again (the dispatcher waits for it),
  and its clients retry meanwhile: node kills slow the cluster soak down a lot.

At the end: the writers are stopped, the consumers killed, and this process
drains the journal (``claim_journal("drain", idle=0)``) into its own log. Then:

- **lost**: every terminal milestone key the final views imply (the attempt's
  ``transferCompleted`` / ``transferFailed``, the call's ``callTerminated``)
  was recorded by some consumer (or, without a journal, by some writer);
- **doubled**: keys recorded from two different journal entries (the store
  reported a milestone twice); re-handed copies of one entry are the
  **duplicates removed** by deduplicating on the key;
- **wrong views**: each stored view is its flow's ``final``, or for an observed
  flow the view of ambiguity 1 (``docs/model.md``: the audio-active restore
  committed before anything that shows the transfer began).

It prints the figures (``--json``: one JSON object) and exits 1 when anything is
lost, doubled or wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import transfer_fsm as tf
from transfer_fsm.testing import documented_flows

HERE = Path(__file__).resolve().parent
TESTS_DIR = str(HERE.parent / "tests")
ROOT = str(Path(tf.__file__).resolve().parent.parent)
"""Where the children import ``transfer_fsm`` from: the same code as this process."""
HOST = "127.0.0.1"
TERMINAL = (
    tf.Milestone.TRANSFER_COMPLETED,
    tf.Milestone.TRANSFER_FAILED,
    tf.Milestone.CALL_TERMINATED,
)
AUDIO = (tf.Milestone.AUDIO_ACTIVE.value, tf.Milestone.AUDIO_INACTIVE.value)
AOF = ("--appendonly", "yes", "--appendfsync", "always")
STOP_TIMEOUT = 5.0
READY_TIMEOUT = 30.0
DRAIN_ROUNDS = 10_000
MAX_CRASHES = 200


# -- the calls -----------------------------------------------------------------------------


@dataclass
class Plan:
    """The calls: the requests to apply first, the bodies to deliver, the views to end in."""

    requests: list[tuple[str, tf.TransferRequested]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    expected: dict[str, tf.Call] = field(default_factory=dict)
    alternative: dict[str, tf.Call] = field(default_factory=dict)
    """An observed flow's view under ambiguity 1 (when it differs from ``expected``)."""


def _replay(call_id: str, events: Sequence[tf.Event]) -> tf.Call:
    call = tf.Call(call_id)
    for event in events:
        call = tf.reduce(call, event)
    return call


def _is_restore(body: bytes) -> bool:
    return any(
        isinstance(event, tf.CallNotification)
        and event.audio is tf.Audio.ACTIVE
        and event.state is tf.CallState.ESTABLISHED
        for event in tf.parse_notifications(body)
    )


def make_plan(calls: int, seed: int, shuffled: bool = False) -> Plan:
    """``calls`` calls of the documented flows, each under its own id.

    The bodies go out as Graph sends them: each call's in its documented order, the
    calls overlapping (each starts at a random moment, its bodies a random while
    apart), so only the writers' parallel commits and the redeliveries reorder a
    call's bodies. ``shuffled``: every body at a random place instead."""
    rng = random.Random(seed)
    flows = documented_flows()
    plan = Plan()
    timed: list[tuple[float, bytes]] = []
    for _ in range(calls):
        call_id = str(uuid.UUID(int=rng.getrandbits(128)))
        flow = rng.choice(flows).about(call_id)
        bodies = [json.dumps(body, separators=(",", ":")).encode() for body in flow.bodies]
        events: list[tf.Event] = []
        if flow.request is not None:
            request = flow.request.event
            if request.replaces_call_id is not None:  # a consultation call of its own
                leg = str(uuid.UUID(int=rng.getrandbits(128)))
                request = request._replace(replaces_call_id=leg)
            plan.requests.append((call_id, request))
            events.append(request)
        notifications = [event for body in bodies for event in tf.parse_notifications(body)]
        plan.expected[call_id] = _replay(call_id, [*events, *notifications])
        if flow.request is None:
            restores = [body for body in bodies if _is_restore(body)]
            others = [body for body in bodies if not _is_restore(body)]
            first = [e for body in [*restores, *others] for e in tf.parse_notifications(body)]
            view = _replay(call_id, first)
            if view != plan.expected[call_id]:
                plan.alternative[call_id] = view
        moment = rng.uniform(0, calls)
        for body in bodies:
            timed.append((moment, body))
            moment += rng.uniform(0.5, 2.0)
    timed.sort(key=lambda item: item[0])
    plan.bodies = [body for _, body in timed]
    if shuffled:
        rng.shuffle(plan.bodies)
    return plan


def terminal_keys(view: tf.Call) -> set[str]:
    """The keys of the terminal milestones ``view`` implies were reported."""
    keys = set()
    attempt = view.transfer
    if attempt is not None and attempt.status is tf.TransferStatus.COMPLETED:
        keys.add(f"{view.call_id}:{attempt.attempt}:{tf.Milestone.TRANSFER_COMPLETED.value}")
    if attempt is not None and attempt.status is tf.TransferStatus.FAILED:
        keys.add(f"{view.call_id}:{attempt.attempt}:{tf.Milestone.TRANSFER_FAILED.value}")
    if view.state is tf.CallState.TERMINATED:
        keys.add(f"{view.call_id}:{tf.Milestone.CALL_TERMINATED.value}")
    return keys


# -- the store -----------------------------------------------------------------------------


@contextlib.contextmanager
def open_store(spec: str, journal: bool) -> Iterator[Any]:
    """``sqlite:PATH``, ``redis:URL`` or ``cluster:PORT,PORT,...`` (127.0.0.1's nodes)."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from transfer_fsm.store.sqlite import SQLiteStore

        sqlite_store = SQLiteStore(where, timeout=60.0, journal=journal)
        try:
            yield sqlite_store
        finally:
            sqlite_store.close()
        return
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    from transfer_fsm.store.redis import RedisStore

    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2}
    client: Any
    if kind == "redis":
        client = redis.Redis.from_url(where, **options)
    else:  # every node a startup node: a client started while one is down still starts
        nodes = [ClusterNode(HOST, int(port)) for port in where.split(",")]
        client = RedisCluster(startup_nodes=nodes, **options)
    try:
        yield RedisStore(client, journal=journal) if journal else RedisStore(client)
    finally:
        client.close()


def has_journal(store: Any) -> bool:
    return callable(getattr(store, "claim_journal", None)) and callable(
        getattr(store, "ack_journal", None)
    )


class Record:
    """An append-only log, each line written and fsynced before the caller goes on."""

    def __init__(self, path: Path) -> None:
        self.file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, lines: list[str]) -> None:
        if lines:
            self.file.write("".join(line + "\n" for line in lines))
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


# -- the children ----------------------------------------------------------------------------


def writer(spec: str, bodies_file: str, log: str, act: float, journal: bool) -> None:
    """Read body numbers on stdin; apply, act, (record,) acknowledge each on stdout."""
    bodies = Path(bodies_file).read_bytes().splitlines()
    record = Record(Path(log)) if not journal else None
    with open_store(spec, journal) as store:
        print("ready", flush=True)
        for line in sys.stdin:
            index = int(line)
            try:
                steps = store.apply_body(bodies[index])
            except Exception as error:  # the server went away, a conflict, ...
                print(f"nack {index} {type(error).__name__}", flush=True)
                time.sleep(0.05)
                continue
            time.sleep(act)  # acting on the milestones
            if record is not None:
                record.write([key for step in steps for key in step.milestone_keys])
            print(f"ack {index}", flush=True)


def consumer(spec: str, name: str, log: str, act: float, idle: float, limit: int) -> None:
    """Claim, record (fsync), act, acknowledge; until killed."""
    record = Record(Path(log))
    with open_store(spec, True) as store:
        print("ready", flush=True)
        while True:
            try:
                entries = store.claim_journal(name, limit, idle)
                if not entries:
                    time.sleep(0.02)
                    continue
                record.write([f"{entry.id}\t{entry.key}" for entry in entries])
                time.sleep(act)
                store.ack_journal(entries)
            except Exception:  # the server went away: try again
                time.sleep(0.05)


# -- the servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A server or cluster node this soak runs, killed and restarted on its files."""

    def __init__(
        self, command: list[str], port: int, log: Path, settle: Callable[[], bool] | None = None
    ) -> None:
        self.command, self.port, self.log = command, port, log
        self.settle = settle
        """Waits, after a restart, until the server serves again (a cluster: healthy)."""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_ready()
        if self.settle is not None and not self.settle():
            raise RuntimeError(f"the cluster was not healthy again after node {self.port}")

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited: {self.log.read_text()[-800:]}")
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis(host=HOST, port=self.port, socket_timeout=1)
                try:
                    if client.ping() and client.info("persistence")["loading"] == 0:
                        return
                finally:
                    client.close()
            time.sleep(0.05)
        raise RuntimeError(f"server on {self.port} did not answer in {READY_TIMEOUT} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def backend(kind: str, directory: Path) -> Iterator[tuple[str, list[Server]]]:
    """The store's spec and the servers behind it (none for SQLite), stopped on exit."""
    if kind == "sqlite":
        yield f"sqlite:{directory / 'soak.db'}", []
        return
    if TESTS_DIR not in sys.path:
        sys.path.insert(0, TESTS_DIR)
    if kind == "redis":
        from servers import require_redis_server

        port = _free_port()
        command = [
            require_redis_server(),
            "--port", str(port), "--bind", HOST, "--dir", str(directory),
            "--save", "", *AOF, "--protected-mode", "yes", "--daemonize", "no",
        ]  # fmt: skip
        server = Server(command, port, directory / "redis.log")
        try:
            server.start()
            yield f"redis:redis://{HOST}:{port}/0", [server]
        finally:
            server.stop()
        return
    from cluster import node_command, running_redis_cluster, wait_healthy
    from servers import require_redis_server

    binary = require_redis_server()
    with running_redis_cluster(directory=directory, extra=AOF, server=binary) as cluster:
        nodes = []
        ports = cluster.ports
        for node in cluster.nodes:
            command = node_command(binary, node.port, directory, AOF)
            restart = Server(command, node.port, node.log, functools.partial(wait_healthy, ports))
            restart.process = node.process
            nodes.append(restart)
        try:
            yield "cluster:" + ",".join(str(port) for port in cluster.ports), nodes
        finally:
            for node_server in nodes:
                node_server.stop()


# -- the dispatcher ----------------------------------------------------------------------------


@dataclass
class Child:
    """A writer or consumer slot and its current process."""

    role: str
    slot: int
    command: list[str]
    process: subprocess.Popen[str] | None = None
    generation: int = 0
    pending: dict[int, float] = field(default_factory=dict)  # body index -> sent at


@dataclass
class Figures:
    calls: int = 0
    bodies: int = 0
    applies: int = 0
    redeliveries: int = 0
    nacks: int = 0
    crashes: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    entries: int = 0
    distinct_keys: int = 0
    duplicates_removed: int = 0
    redelivered_entries: int = 0
    doubled: list[str] = field(default_factory=list)
    doubled_audio: int = 0
    drained: int = 0
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    ambiguity_1: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "bodies": self.bodies,
            "applies": self.applies,
            "applies_per_s": round(self.applies / self.seconds, 1) if self.seconds else 0.0,
            "seconds": round(self.seconds, 2),
            "kills": dict(self.kills),
            "redeliveries": self.redeliveries,
            "nacks": self.nacks,
            "crashes": self.crashes,
            "entries": self.entries,
            "distinct_keys": self.distinct_keys,
            "duplicates_removed": self.duplicates_removed,
            "redelivered_entries": self.redelivered_entries,
            "drained_at_end": self.drained,
            "doubled": len(self.doubled),
            "doubled_audio": self.doubled_audio,
            "lost": len(self.lost),
            "wrong_views": len(self.wrong),
            "ambiguity_1_views": self.ambiguity_1,
            "examples": {
                "lost": self.lost[:5],
                "doubled": self.doubled[:5],
                "wrong": self.wrong[:3],
            },
        }


class Soak:
    def __init__(self, args: argparse.Namespace, spec: str, servers: list[Server], work: Path):
        self.args, self.spec, self.servers, self.work = args, spec, servers, work
        self.rng = random.Random(args.seed + 1)
        self.events: queue.Queue[tuple[Child, int, str]] = queue.Queue()
        self.figures = Figures()
        self.children: list[Child] = []

    def child_command(self, role: str, slot: int, bodies_file: Path) -> list[str]:
        base = [sys.executable, str(Path(__file__).resolve()), "--role", role]
        common = ["--spec", self.spec, "--act-ms", str(self.args.act_ms)]
        if role == "writer":
            extra = ["--bodies-file", str(bodies_file)]
            extra += ["--no-journal"] if self.args.no_journal else []
        else:
            extra = ["--name", f"consumer-{slot}", "--idle", str(self.args.idle)]
            extra += ["--limit", str(self.args.limit)]
        return base + common + extra

    def start(self, child: Child) -> None:
        child.generation += 1
        log = self.work / f"log-{child.role}-{child.slot}-{child.generation}.txt"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, TESTS_DIR])}
        child.process = subprocess.Popen(
            [*child.command, "--log", str(log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        threading.Thread(
            target=self._read, args=(child, child.generation, child.process), daemon=True
        ).start()

    def _read(self, child: Child, generation: int, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.events.put((child, generation, line.strip()))

    def kill(self, child: Child) -> None:
        """``kill -9``; anything it held unacknowledged goes back to the queue."""
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGKILL)
            child.process.wait(timeout=STOP_TIMEOUT)
        if child.process is not None:
            for stream in (child.process.stdin, child.process.stdout):
                with contextlib.suppress(OSError):
                    assert stream is not None
                    stream.close()

    def respawn(self, child: Child, todo: list[int], done: set[int]) -> None:
        """Kill (if alive) and start again; what it held unacknowledged is sent again."""
        self.kill(child)
        for index in child.pending:
            if index not in done:
                todo.append(index)
                self.figures.redeliveries += 1
        child.pending.clear()
        self.start(child)

    def run(self) -> Figures:
        args, figures = self.args, self.figures
        plan = make_plan(args.calls, args.seed, args.shuffled)
        figures.calls, figures.bodies = args.calls, len(plan.bodies)
        bodies_file = self.work / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(plan.bodies) + b"\n")
        with open_store(self.spec, not args.no_journal) as store:
            if not args.no_journal and not has_journal(store):
                raise SystemExit(
                    f"{type(store).__name__} has no claim_journal / ack_journal yet: "
                    "run with --no-journal, or after the store grows its journal"
                )
            for call_id, request in plan.requests:
                store.apply(call_id, request)
        writers = [
            Child("writer", n, self.child_command("writer", n, bodies_file))
            for n in range(args.writers)
        ]
        consumers = [
            Child("consumer", n, self.child_command("consumer", n, bodies_file))
            for n in range(0 if args.no_journal else args.consumers)
        ]
        self.children = writers + consumers
        try:
            for child in self.children:
                self.start(child)
            self._dispatch(plan, writers, consumers)
        finally:
            for child in self.children:
                self.kill(child)
        self._check(plan)
        return figures

    def _dispatch(self, plan: Plan, writers: list[Child], consumers: list[Child]) -> None:
        args, figures, rng = self.args, self.figures, self.rng
        todo = list(range(len(plan.bodies)))
        todo.reverse()
        done: set[int] = set()
        ready: set[tuple[int, int]] = set()
        started = time.monotonic()
        deadline = started + args.timeout
        next_kill = started + rng.uniform(0.5, 1.5) * args.kill_every
        kill_turns = 0
        next_report = started + args.progress
        while len(done) < len(plan.bodies) or kill_turns < args.min_kills:
            now = time.monotonic()
            if args.progress and now >= next_report:
                next_report = now + args.progress
                print(
                    f"soak: {now - started:.0f} s, {len(done):,} of {len(plan.bodies):,} bodies, "
                    f"kills {dict(figures.kills)}, redeliveries {figures.redeliveries}",
                    file=sys.stderr,
                    flush=True,
                )
            if now > deadline:
                raise SystemExit(f"timed out: {len(done)} of {len(plan.bodies)} bodies acked")
            # Resend what a writer held too long (it may still acknowledge it: harmless).
            for child in writers:
                for index, sent in list(child.pending.items()):
                    if now - sent > args.redeliver_after:
                        del child.pending[index]
                        todo.append(index)
                        figures.redeliveries += 1
            # Send to writers that have room, each body to a random one.
            live = [w for w in writers if (w.slot, w.generation) in ready]
            while todo and live:
                room = [w for w in live if len(w.pending) < args.window]
                if not room:
                    break
                index = todo.pop()
                if index in done:
                    continue
                child = rng.choice(room)
                assert child.process is not None
                assert child.process.stdin is not None
                try:
                    child.process.stdin.write(f"{index}\n")
                    child.process.stdin.flush()
                    child.pending[index] = now
                except OSError:  # it died: the kill below requeues
                    todo.append(index)
                    break
            # A kill now and then.
            if args.kill_every > 0 and now >= next_kill:
                next_kill = now + rng.uniform(0.5, 1.5) * args.kill_every
                kill_turns += 1
                if self.servers and args.kill_server and kill_turns % args.server_share == 0:
                    server = rng.choice(self.servers)
                    server.kill()
                    figures.kills["server"] += 1
                    server.start()
                else:
                    victim = rng.choice(writers + consumers)
                    figures.kills[victim.role] += 1
                    self.respawn(victim, todo, done)
            # What the children said.
            try:
                child, generation, line = self.events.get(timeout=0.005)
            except queue.Empty:
                for child in writers + consumers:
                    if child.process is not None and child.process.poll() is not None:
                        figures.crashes += 1  # exited by itself (its server was down?)
                        if figures.crashes > MAX_CRASHES:
                            why = f"{figures.crashes} children exited by themselves"
                            raise SystemExit(why) from None
                        self.respawn(child, todo, done)
                continue
            if generation != child.generation:
                continue  # from a process killed since
            word, _, rest = line.partition(" ")
            if word == "ready":
                ready.add((child.slot if child.role == "writer" else -1 - child.slot, generation))
            elif word in ("ack", "nack"):
                index = int(rest.split()[0])
                child.pending.pop(index, None)
                if word == "ack":
                    figures.applies += 1
                    done.add(index)
                else:
                    figures.nacks += 1
                    if index not in done:
                        todo.append(index)
                        figures.redeliveries += 1
        figures.seconds = time.monotonic() - started

    def _check(self, plan: Plan) -> None:
        args, figures = self.args, self.figures
        journal = not args.no_journal
        drain_log = self.work / "log-drain.txt"
        with open_store(self.spec, journal) as store:
            if journal:
                record = Record(drain_log)
                for _ in range(DRAIN_ROUNDS):
                    entries = store.claim_journal("drain", 1000, 0.0)
                    if not entries:
                        break
                    record.write([f"{entry.id}\t{entry.key}" for entry in entries])
                    figures.drained += len(entries)
                    store.ack_journal(entries)
                record.close()
            views = {call_id: store.get(call_id) for call_id in plan.expected}
        raw: list[tuple[str, str]] = []  # (entry id, key)
        for path in sorted(self.work.glob("log-*.txt")):
            for line in path.read_text(encoding="utf-8").splitlines():
                entry, _, key = line.rpartition("\t")
                raw.append((entry, key))
        figures.entries = len(raw)
        by_key: dict[str, set[str]] = {}
        for entry, key in raw:
            by_key.setdefault(key, set()).add(entry)
        figures.distinct_keys = len(by_key)
        figures.duplicates_removed = len(raw) - len(by_key)
        figures.redelivered_entries = len(raw) - len(set(raw))
        times = Counter(key for _, key in raw)
        for key, entries in by_key.items():
            if len(entries) > 1 or (not journal and times[key] > 1):
                if key.rsplit(":", 1)[-1] in AUDIO:
                    figures.doubled_audio += 1
                else:
                    figures.doubled.append(key)
        if not journal:  # no entry ids: a key recorded twice was acted on twice
            figures.redelivered_entries = 0
        for call_id, expected in plan.expected.items():
            view = views[call_id]
            if view == expected:
                pass
            elif call_id in plan.alternative and view == plan.alternative[call_id]:
                figures.ambiguity_1 += 1
            else:
                figures.wrong.append(f"{call_id}: stored {view}, expected {expected}")
            for key in terminal_keys(view if view is not None else expected):
                if key not in by_key:
                    figures.lost.append(key)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", choices=("sqlite", "redis", "cluster"), default="sqlite")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--act-ms", type=float, default=5.0, help="ms each writer acts")
    parser.add_argument("--kill-every", type=float, default=0.5, help="seconds; 0: no kills")
    parser.add_argument("--kill-server", action="store_true", help="kill the server too")
    parser.add_argument("--server-share", type=int, default=10, help="1 kill in N: the server")
    parser.add_argument(
        "--min-kills", type=int, default=0, help="go on (idle) until this many kills"
    )
    parser.add_argument("--idle", type=float, default=1.0, help="claim_journal's idle")
    parser.add_argument("--limit", type=int, default=50, help="claim_journal's limit")
    parser.add_argument("--window", type=int, default=4, help="unacked bodies per writer")
    parser.add_argument("--redeliver-after", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the run")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--shuffled", action="store_true", help="bodies in random order, not documented order"
    )
    parser.add_argument("--progress", type=float, default=10.0, help="seconds; 0: silent")
    parser.add_argument("--no-journal", action="store_true", help="writers act themselves")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    # The children's own arguments.
    parser.add_argument("--role", choices=("soak", "writer", "consumer"), default="soak")
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--bodies-file", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    act = args.act_ms / 1000
    if args.role == "writer":
        writer(args.spec, args.bodies_file, args.log, act, not args.no_journal)
        return 0
    if args.role == "consumer":
        consumer(args.spec, args.name, args.log, act, args.idle, args.limit)
        return 0
    # SIGTERM stops the soak as an exception does: every process it started is stopped.
    signal.signal(signal.SIGTERM, _terminated)
    with tempfile.TemporaryDirectory(prefix="transfer-fsm-soak-") as directory:
        work = Path(directory)
        with backend(args.store, work) as (spec, servers):
            figures = Soak(args, spec, servers, work).run()
    result = {"store": args.store, "journal": not args.no_journal, **figures.as_dict()}
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")
    bad = figures.lost or figures.doubled or figures.wrong
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
