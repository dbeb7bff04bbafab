#!/usr/bin/env python3
"""Mutation testing of transfer_fsm: run by hand, not by CI.

    python scripts/mutate.py                     # rules.py, reducer.py, report.py
    python scripts/mutate.py --module report.py --workers 2
    python scripts/mutate.py --module store/core.py   # a module of a subpackage
    python scripts/mutate.py --list              # the mutants, without running them
    python scripts/mutate.py --only 1a2b3c4d     # one mutant: its diff and its test run
    python scripts/mutate.py --module rules.py --fast  # FAST's tests first, then the rest

Each mutant (see ``mutants.py``) is written into a private copy of the
repository, one copy per worker, and the tests run there with
``python -m pytest -x -q -p no:cacheprovider``, ``PYTHONPATH`` at the copy,
``HYPOTHESIS_PROFILE=ci`` and no plugin but hypothesis'. The tests are every
test file but ``NOT_RUN``, the fastest killers first (``--tests`` to choose).
With ``--fast`` every mutant first runs only ``FAST``'s files (a few seconds);
the full suite then runs on their survivors that are not listed as equivalent,
and is the word on those (a listed survivor is left to ``mutation_diff.py``).
A guard plugin loaded into every run stops the whole mutation run if the
package was imported from anywhere but the copy, or if the module on disk is
not the mutant. The worktree is never written.

The test that compares docs/model.md with the tables generated from the rules
is deselected: a wrong rule plus a regenerated table passes it, so it must not
be what kills a mutant. A mutant is *killed* when the tests fail, *timeout*
when they run past the time limit (counted as killed), *survived* otherwise;
a survivor listed in ``mutation-equivalent.txt`` (``key || why``) is
*equivalent* and leaves the score: (killed + timeout) / (mutants - equivalent).
Exits 1 when a module scores below ``--threshold``, 2 when the tests fail
without a mutant or the guard trips.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

from mutants import Mutant, enum_members, mutants_of

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "transfer_fsm"
MODULES = ("rules.py", "reducer.py", "report.py")
EQUIVALENT = Path(__file__).resolve().parent / "mutation-equivalent.txt"
DESELECTED = ("tests/test_docs.py::test_the_model_tables_are_generated_from_the_rules",)
FIRST = (  # the tests that kill most mutants soonest run first; the others follow
    "test_rule_behaviour.py",
    "test_rules.py",
    "test_flows.py",
    "test_variants.py",
    "test_lifecycle.py",
    "test_request.py",
    "test_reference_model.py",
    "test_exhaustive.py",
    "test_properties.py",
)
FAST = (  # --fast: every mutant runs these (about 5 s in all); their survivors, the full suite
    "test_rule_behaviour.py",
    "test_abandoned_rules.py",
    "test_rules.py",
    "test_flows.py",
    "test_variants.py",
    "test_attempts.py",
    "test_reference_model.py",
    "test_bookkeeping.py",
    "test_honest_call.py",
    "test_request.py",
)
# Left out by default: the mutator's own test, and the tests of parse.py, of the
# request bodies and of the value types (msgraph interop included), which reach
# rules.py, reducer.py and report.py only through paths the tests above cover.
# --tests runs any of them.
NOT_RUN = (
    "test_mutate.py",
    "test_hostile_fields.py",
    "test_hostile_sizes.py",
    "test_hostile_values.py",
    "test_interop.py",
    "test_parse.py",
    "test_seed.py",
    "test_values.py",
)
GUARD_EXIT = 86
# pytest's plugins are not autoloaded (the anyio one the msgraph SDK installs costs a
# second per run, a third of a killed mutant's); the tests need hypothesis' alone.
PLUGINS = ("_hypothesis_pytestplugin", "_mutation_guard")
IGNORED = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", ".*cache", ".hypothesis", ".venv*", "build", "dist"
)
GUARD = """\
import hashlib, os, sys
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(os.environ["MUTATE_ROOT"])
PACKAGE = os.environ["MUTATE_PACKAGE"]


def _stop(why):
    print(f"mutate guard: {why}", flush=True)
    os._exit(86)


def pytest_configure(config):
    spec = find_spec(PACKAGE)
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    if origin != ROOT / PACKAGE / "__init__.py":
        _stop(f"{PACKAGE} would be imported from {origin}, not from {ROOT}")
    for item in filter(None, os.environ["MUTATE_SHA256"].split(",")):
        name, digest = item.split("=")
        if hashlib.sha256((ROOT / PACKAGE / name).read_bytes()).hexdigest() != digest:
            _stop(f"{name} on disk is not the source this run was given")


def pytest_unconfigure(config):
    for name, module in list(sys.modules.items()):
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            file = getattr(module, "__file__", None)
            if file and ROOT not in Path(file).resolve().parents:
                _stop(f"{name} was imported from {file}")
"""


class GuardError(RuntimeError):
    """The tests did not run against the copy they were meant to, or not at all."""


@dataclass(frozen=True)
class Result:
    """What the tests did with one mutant."""

    mutant: Mutant
    status: str  # killed, timeout or survived
    seconds: float
    killed_by: str
    output: str


class Workspace:
    """One private copy of the repository, holding at most one mutant at a time."""

    def __init__(self, root: Path, package: str, parent: Path, modules: Sequence[str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="copy-", dir=parent)).resolve()
        shutil.copytree(root, self.root, ignore=IGNORED, dirs_exist_ok=True)
        (self.root / "_mutation_guard.py").write_text(GUARD, encoding="utf-8")
        self.name = package
        self.package = self.root / package
        self.originals = {name: (self.package / name).read_text("utf-8") for name in modules}
        self.process: subprocess.Popen[str] | None = None
        self.stopped = False

    def stop(self) -> None:
        """Stop the test run in progress, if any, and refuse to start another."""
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def run(self, sources: dict[str, str], tests: Sequence[str], timeout: float) -> tuple[str, str]:
        """Run the tests with ``sources`` in place of the modules; (status, output)."""
        digests = []
        for name, original in self.originals.items():
            text = sources.get(name, original)
            (self.package / name).write_text(text, encoding="utf-8")
            digests.append(f"{name}={hashlib.sha256(text.encode()).hexdigest()}")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.root), os.environ.get("PYTHONPATH", "")]),
            "PYTHONDONTWRITEBYTECODE": "1",  # no stale .pyc of an earlier mutant of equal size
            "HYPOTHESIS_PROFILE": "ci",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "MUTATE_ROOT": str(self.root),
            "MUTATE_PACKAGE": self.name,
            "MUTATE_SHA256": ",".join(digests),
        }
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        command += [option for plugin in PLUGINS for option in ("-p", plugin)]
        command += [f"--deselect={test}" for test in DESELECTED]
        for cache in list(self.package.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        if self.stopped:
            raise GuardError("stopped")
        with subprocess.Popen(
            [*command, *tests],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a timeout stops its children too
        ) as process:
            self.process = process
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
                return "timeout", output
        if process.returncode == GUARD_EXIT:
            raise GuardError(output)
        return ("survived" if process.returncode == 0 else "killed"), output


def default_tests(root: Path) -> list[str]:
    """Every test file but ``NOT_RUN``, the fastest killers first."""
    found = sorted(path.name for path in (root / "tests").glob("test_*.py"))
    ordered = [name for name in FIRST if name in found]
    ordered += [name for name in found if name not in FIRST and name not in NOT_RUN]
    return [f"tests/{name}" for name in ordered]


def load_mutants(
    root: Path, package: str, modules: Iterable[str]
) -> tuple[list[Mutant], dict[str, str]]:
    """The mutants of ``modules`` and each module's source as ``ast.unparse`` writes it."""
    package_dir = root / package
    sources = {  # by path in the package: "reducer.py", "store/core.py"
        path.relative_to(package_dir).as_posix(): path.read_text("utf-8")
        for path in sorted(package_dir.rglob("*.py"))
    }
    enums = enum_members(sources.values())
    found: list[Mutant] = []
    for name in modules:
        found += mutants_of(name, sources[name], enums)
    return found, {name: ast.unparse(ast.parse(sources[name])) for name in modules}


def load_equivalent(path: Path) -> dict[str, str]:
    """``key || why`` lines; ``#`` starts a comment line."""
    listed: dict[str, str] = {}
    if not path.exists():
        return listed
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, why = line.partition(" || ")
        if not sep or not why.strip():
            raise SystemExit(f"{path}:{number}: expected 'key || why it is equivalent'")
        listed[key.strip()] = why.strip()
    return listed


def killed_by(output: str) -> str:
    """The first failing test (or error) pytest names in its summary."""
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0]
    return ""


def run_all(
    mutants: Sequence[Mutant],
    workspaces: Sequence[Workspace],
    tests: Sequence[str],
    timeout: float,
    report: Callable[[Result, int], None],
) -> list[Result]:
    """Run every mutant, one per free workspace, in parallel."""
    free: Queue[Workspace] = Queue()
    for workspace in workspaces:
        free.put(workspace)

    def one(mutant: Mutant) -> Result:
        workspace = free.get()
        try:
            start = time.monotonic()
            status, output = workspace.run({mutant.module: mutant.source}, tests, timeout)
            return Result(mutant, status, time.monotonic() - start, killed_by(output), output)
        finally:
            free.put(workspace)

    results = []
    pool = ThreadPoolExecutor(max_workers=len(workspaces))
    try:
        futures = [pool.submit(one, mutant) for mutant in mutants]
        for done, future in enumerate(as_completed(futures), 1):
            results.append(future.result())
            report(results[-1], done)
    except BaseException:  # a guard stop, ^C or SIGTERM: no test run outlives the script
        pool.shutdown(wait=False, cancel_futures=True)
        for workspace in workspaces:
            workspace.stop()
        raise
    pool.shutdown()
    order = {mutant.key: i for i, mutant in enumerate(mutants)}
    return sorted(results, key=lambda result: order[result.mutant.key])


def score_table(
    results: Sequence[Result], modules: Sequence[str], equivalent: dict[str, str]
) -> tuple[list[str], dict[str, float]]:
    """The per-module table's lines and each module's score (a fraction)."""
    lines = [
        f"{'module':<12}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}"
        f"{'equivalent':>11}{'score':>8}"
    ]
    scores = {}
    for module in modules:
        mine = [result for result in results if result.mutant.module == module]
        count = {status: 0 for status in ("killed", "timeout", "survived", "equivalent")}
        for result in mine:
            listed = result.status == "survived" and result.mutant.key in equivalent
            count["equivalent" if listed else result.status] += 1
        judged = len(mine) - count["equivalent"]
        scores[module] = (count["killed"] + count["timeout"]) / judged if judged else 1.0
        lines.append(
            f"{module:<12}{len(mine):>8}{count['killed']:>8}{count['timeout']:>8}"
            f"{count['survived']:>9}{count['equivalent']:>11}{scores[module]:>8.1%}"
        )
    return lines, scores


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help=f"a module, by its path in the package, such as store/core.py (repeatable;"
        f" default: {', '.join(MODULES)})",
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel test runs (default 2)")
    parser.add_argument("--list", action="store_true", help="list the mutants; run nothing")
    parser.add_argument("--only", metavar="K", help="run one mutant, by id or key; show its diff")
    parser.add_argument(
        "--tests",
        help="pytest arguments instead of the default test files, "
        "e.g. 'tests/test_rules.py tests/test_flows.py'",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="run FAST's tests on every mutant, then the full suite on their survivors"
        " (those not listed as equivalent: mutation_diff.py checks the listed ones)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per mutant (default: five times the run without a mutant, at least 60)",
    )
    parser.add_argument("--threshold", type=float, default=95.0, help="minimum score, in %%")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT, help="the allow-list")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository")
    parser.add_argument("--package", default=PACKAGE, help="the package directory in it")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up copies and test runs
    root = args.root.resolve()
    modules = [name if name.endswith(".py") else f"{name}.py" for name in args.module]
    modules = modules or list(MODULES)
    mutants, originals = load_mutants(root, args.package, modules)
    equivalent = load_equivalent(args.equivalent)
    if args.list:
        for mutant in mutants:
            print(f"{mutant.ident}  {mutant.key}")
        print(f"{len(mutants)} mutants of {', '.join(modules)}")
        return 0
    if args.only:
        mutants = [mutant for mutant in mutants if args.only in (mutant.ident, mutant.key)]
        if not mutants:
            print(f"no mutant {args.only!r} (see --list)", file=sys.stderr)
            return 2
        print(diff(originals[mutants[0].module], mutants[0]))
    tests = shlex.split(args.tests) if args.tests else default_tests(root)
    workers = max(1, min(args.workers, len(mutants)))
    try:
        stages = (_fast(tests), tests) if args.fast and not args.tests else (tests,)
        results = run_stages(root, args, modules, mutants, originals, stages, workers, equivalent)
    except GuardError as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 2
    if args.only:
        print(results[0].output)
        print(f"{results[0].status}: {results[0].mutant.key}")
        return 0 if results[0].status != "survived" else 1
    if args.json:
        args.json.write_text(json.dumps([as_json(result) for result in results], indent=1))
    lines, scores = score_table(results, modules, equivalent)
    print("\n".join(lines))
    print("\n".join(findings(results, modules, equivalent)))
    low = [module for module, score in scores.items() if score * 100 < args.threshold]
    if low:
        print(f"below {args.threshold}%: {', '.join(low)}")
    return 1 if low else 0


def _fast(tests: Sequence[str]) -> list[str]:
    return [test for test in tests if Path(test).name in FAST]


def run_stages(
    root: Path,
    args: argparse.Namespace,
    modules: Sequence[str],
    mutants: Sequence[Mutant],
    originals: dict[str, str],
    stages: Sequence[Sequence[str]],
    workers: int,
    equivalent: dict[str, str],
) -> list[Result]:
    """Each stage's tests on the previous stage's survivors not listed as equivalent.

    The last stage (the full suite) is the word on every mutant that reaches it.
    """
    final: dict[str, Result] = {}
    todo = list(mutants)
    for tests in stages:
        if not todo:
            break
        done = run(root, args, modules, todo, originals, tests, min(workers, len(todo)), equivalent)
        final.update((result.mutant.key, result) for result in done)
        todo = [r.mutant for r in done if r.status == "survived" and r.mutant.key not in equivalent]
        if tests is not stages[-1]:
            print(f"{len(todo)} unlisted survivors go on to the next stage", flush=True)
    return [final[mutant.key] for mutant in mutants]


def run(
    root: Path,
    args: argparse.Namespace,
    modules: Sequence[str],
    mutants: Sequence[Mutant],
    originals: dict[str, str],
    tests: Sequence[str],
    workers: int,
    equivalent: dict[str, str],
) -> list[Result]:
    """The baseline (every module round-tripped through ``ast.unparse``), then every mutant."""
    with tempfile.TemporaryDirectory(prefix="mutate-") as parent:
        spaces = [Workspace(root, args.package, Path(parent), modules) for _ in range(workers)]
        start = time.monotonic()
        status, output = spaces[0].run(originals, tests, 3600)
        baseline = time.monotonic() - start
        if status != "survived":
            raise GuardError(f"the tests fail without a mutant:\n{output}")
        timeout = args.timeout or max(60.0, 5 * baseline)
        print(
            f"baseline {baseline:.1f}s; {len(mutants)} mutants, {workers} workers, "
            f"timeout {timeout:.0f}s; tests: {' '.join(tests)}",
            flush=True,
        )
        started = time.monotonic()

        def progress(result: Result, done: int) -> None:
            status = result.status
            if status == "survived" and result.mutant.key in equivalent:
                status = "equivalent"
            if status != "killed":
                print(f"  {status:<11}{result.mutant.ident}  {result.mutant.key}", flush=True)
            if done % 50 == 0 or done == len(mutants):
                minutes = (time.monotonic() - started) / 60
                print(f"[{done}/{len(mutants)}] {minutes:.1f} min", flush=True)

        return run_all(mutants, spaces, tests, timeout, progress)


def findings(
    results: Sequence[Result], modules: Sequence[str], equivalent: dict[str, str]
) -> list[str]:
    """The survivors, the accepted equivalents with why, and allow-list entries gone wrong."""
    lines = []
    keys = {result.mutant.key: result for result in results}
    survivors = [r for r in results if r.status == "survived" and r.mutant.key not in equivalent]
    accepted = [r for r in results if r.status == "survived" and r.mutant.key in equivalent]
    if survivors:
        lines.append("survivors (a missing test, or an equivalent to list with why):")
        lines += [f"  {r.mutant.ident}  {r.mutant.key}" for r in survivors]
    if accepted:
        lines.append("equivalent (mutation-equivalent.txt):")
        for result in accepted:
            lines += [
                f"  {result.mutant.ident}  {result.mutant.key}",
                f"            {equivalent[result.mutant.key]}",
            ]
    for key in equivalent:
        if key.split(" | ")[0] not in modules:
            continue
        if key not in keys:
            lines.append(f"warning: listed as equivalent, but no such mutant: {key}")
        elif keys[key].status != "survived":
            lines.append(f"warning: listed as equivalent, but {keys[key].status}: {key}")
    return lines


def diff(original: str, mutant: Mutant) -> str:
    """The mutant as a unified diff of the module (both sides as ``ast.unparse`` writes them)."""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        mutant.source.splitlines(keepends=True),
        f"a/{mutant.module}",
        f"b/{mutant.module}  ({mutant.ident})",
    )
    return "".join(lines)


def as_json(result: Result) -> dict[str, object]:
    return {
        "id": result.mutant.ident,
        "key": result.mutant.key,
        "status": result.status,
        "seconds": round(result.seconds, 2),
        "killed_by": result.killed_by,
    }


if __name__ == "__main__":
    sys.exit(main())
