"""Section 8, continued: ``RedisStore.apply`` on a real Redis Cluster against its floor.

The floor is the least a store could do on a Cluster for one event: in one
transactional cluster pipeline on the slot of the call, ``WATCH`` / ``GET`` /
``MULTI`` / ``SET`` / ``EXEC`` of the snapshot bytes the store writes for that
step (``encode`` of the step's call, computed before timing), every key of one
apply under one hash tag (the call id), so the whole transaction goes to the one
primary that owns that slot. The applies are ``backends.py``'s: calls never seen
before going through the documented flows in production order, interleaved.

The cluster (3 primaries, no replicas, nothing persisted) is started on free
127.0.0.1 ports by ``tests/cluster.py``'s ``running_redis_cluster`` and stopped
after. Target: the store <= 1.5x the floor. A check row confirms the store's
stored view of every call decodes to the same bytes the floor wrote.

``bench/bench.py`` calls :func:`bench_redis_cluster` once ``RedisStore`` runs on
``redis.cluster.RedisCluster``; until then (or without ``redis-server`` /
``redis-cli``) it returns a row saying why the store was not measured, with the
floor's own figure. Run alone::

    python bench/cluster_floor.py            # the full size
    python bench/cluster_floor.py --quick    # a smaller run
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from backends import (
    BACKEND,
    FLOOR_PREFIX,
    STORE_PREFIX,
    Batch,
    _each_round,
    _missing,
    _ratio_rows,
    _same_rows,
    _store_class,
    _time_apply,
    make_batches,
    watch_floor,
)
from sections import Row, medians, ns_text
from workload import Config, Flow

from transfer_fsm.store import encode

NAME = "RedisStore on a 3-primary Cluster"
FLOOR_TEXT = "one slot: WATCH / GET / MULTI / SET / EXEC in a cluster pipeline"


def floor_key(call_id: str, prefix: str = FLOOR_PREFIX) -> str:
    """The floor's key for ``call_id``: its hash tag is the call id (one slot per call)."""
    return f"{prefix}call:{{{call_id}}}"


def cluster_floor(client: Any, prefix: str = FLOOR_PREFIX) -> Callable[[Batch], int]:
    """The floor on a ``redis.cluster.RedisCluster``: a measure of one batch, in ns."""
    return watch_floor(client, lambda call_id: floor_key(call_id, prefix))


@contextmanager
def running_bench_cluster() -> Iterator[Any]:
    """A 3-primary cluster for the bench (``tests/cluster.py``), stopped on exit.

    Raises ``LookupError`` naming what is missing (redis-py, pytest, ``redis-server``
    or ``redis-cli``) instead of skipping as a test would."""
    try:
        from cluster import find_redis_cli, running_redis_cluster
        from servers import find_redis_server
    except ModuleNotFoundError as error:
        raise LookupError(f"{error.name} is not installed (pip install -e '.[test]')") from None
    server = find_redis_server()
    if server is None:
        raise LookupError("redis-server not found (apt-get install -y redis-server)")
    cli = find_redis_cli(server)
    if cli is None:
        raise LookupError("redis-cli not found (apt-get install -y redis-tools)")
    with running_redis_cluster(server=server, cli=cli) as cluster:
        yield cluster


def _floor_only(ns: float, count: int, why: str) -> list[Row]:
    return [
        Row(f"{NAME} floor: {FLOOR_TEXT}", ns_text(ns / count) + "/apply"),
        *_missing(NAME, why),
    ]


def bench_redis_cluster(flows: list[Flow], config: Config) -> list[Row]:
    """``RedisStore.apply`` on a 3-primary Cluster against the one-slot floor there."""
    name = NAME
    store_class, rows = _store_class("redis", "RedisStore")
    if store_class is None:
        return rows
    batches = make_batches(flows, config)
    count = config.store_applies
    try:
        with running_bench_cluster() as cluster:
            client = cluster.client()
            try:
                try:
                    store = store_class(client, prefix=STORE_PREFIX)
                    store.apply(batches[0][0].call_id, batches[0][0].event)  # runs at all?
                except Exception as error:  # today: RedisClusterException on WATCH
                    floor = medians({"floor": _each_round(batches, cluster_floor(client))}, 1)
                    why = f"the store raised {type(error).__name__}: {error}"
                    return _floor_only(floor["floor"], count, why)
                client.flushall(target_nodes=client.PRIMARIES)
                ns = medians(
                    {
                        "store": _each_round(batches, lambda b: _time_apply(store.apply, b)),
                        "floor": _each_round(batches, cluster_floor(client)),
                    },
                    config.rounds,
                )
                expected = {item.call_id: item.snapshot for b in batches for item in b}
                same = 0
                for call_id, raw in expected.items():
                    stored = store.get(call_id)
                    floored = client.get(floor_key(call_id))
                    same += stored is not None and encode(stored) == raw == floored
            finally:
                client.close()
    except LookupError as error:
        return _missing(name, str(error))
    rows = _ratio_rows(name, FLOOR_TEXT, ns, count)
    assert rows[-1].target == f"<= {BACKEND}"
    return [*rows, _same_rows(name, same, len(expected))]


def main(argv: list[str] | None = None) -> int:
    from workload import FLOWS

    from bench import FULL, QUICK, machine, table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    rows = bench_redis_cluster(list(FLOWS), config)
    print(table(rows))
    print()
    print(machine())
    return 1 if any(row.ok is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
