"""Benchmark ``transfer-fsm conform`` over every case against the Python harness.

Runs ``python -m transfer_fsm conform -- python examples/harness/reference.py``
over every shipped case and delivery (the harness answers the whole snapshot
and its milestones, so everything is compared), ``--rounds`` times, and prints
the number of cases and deliveries per tier, and the wall-clock seconds of each
run (the runner and the harness, both started fresh, included). Target: the
slowest run < 30 s. Exits 1 when it is missed or a run does not conform.

    python bench/conform.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 30.0


def main() -> int:
    """Time the runs; 0 when every run conforms within the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="how many runs (default 3)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from transfer_fsm.testing.vectors import load_cases

    cases = load_cases()
    tiers, deliveries = Counter[str](), Counter[str]()
    for case in cases:
        tiers[case["tier"]] += 1
        deliveries[case["tier"]] += len(case["deliveries"])
    for tier in tiers:
        print(f"{tier}: {tiers[tier]} cases, {deliveries[tier]} deliveries")
    total = sum(deliveries.values())
    print(f"total: {len(cases)} cases, {total} deliveries")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    harness = [sys.executable, str(ROOT / "examples" / "harness" / "reference.py")]
    command = [sys.executable, "-m", "transfer_fsm", "conform", "--", *harness]
    times = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        times.append(time.perf_counter() - began)
        last = done.stdout.splitlines()[-1] if done.stdout else ""
        if done.returncode != 0 or last != f"{total} passed, 0 failed":
            print(f"conform did not pass: exit {done.returncode}, {last!r}\n{done.stderr}")
            return 1
    slowest = max(times)
    runs = ", ".join(f"{seconds:.2f}" for seconds in times)
    print(
        f"conform, every case, Python harness: {runs} s ({total / slowest:,.0f} deliveries/s "
        f"in the slowest); target < {TARGET:g} s: {'met' if slowest < TARGET else 'MISSED'}"
    )
    return 0 if slowest < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
