#!/usr/bin/env python3
"""Check the equivalence list: is each listed mutant really unobservable?

    python scripts/mutation_diff.py                       # rules.py, reducer.py, report.py
    python scripts/mutation_diff.py --module report.py
    python scripts/mutation_diff.py --only 1a2b3c4d       # one entry, by id or key
    python scripts/mutation_diff.py --prune-stale         # drop entries matching no mutant

Run by hand, not by CI. For each entry of ``mutation-equivalent.txt`` it finds
the current mutant with that key (``mutants.py``; none: the entry is STALE),
loads the mutated package in this process (a copy of the package's modules in
a temporary directory, imported under a name of its own), and replays the
same seeded histories (``mutation_histories.py``) through the original and
the mutant: every documented flow in order and shuffled with copies, with and
without the bot's request first, and random histories of the flows'
notifications, notifications and ``GET`` answers in every state, the bot's
request, refusal and abandon, and Graph's 404, from a call that is up and
from a bare ``Call(id)``. After every event it compares what a user sees:
``reduce``, every field of ``step`` (``milestone_keys`` too where ``Step`` has
it), ``transfer_blockers``, ``can_transfer``, ``consultation_fate`` and
``transfer_overdue``, each by its ``repr`` (the two copies' classes differ).
An entry told apart (TOLD APART) is not equivalent. Exits 1 when an entry is
told apart or stale, naming the first history and the observable that differ.
Entries of modules whose behaviour these observables do not cover (the
stores, the diagram, the snapshot) are not checked.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType

import mutation_histories as mh
from mutants import Mutant
from mutate import EQUIVALENT, MODULES, PACKAGE, ROOT, load_equivalent, load_mutants

CHECKED = ("rules.py", "reducer.py", "report.py", "request.py", "values.py", "events.py")
"""The modules whose mutants the observables reach (``parse.py``'s are not drawn enough)."""
IGNORED = shutil.ignore_patterns("__pycache__")
LIMIT = 120
"""Seconds one mutant may take before it is called told apart (it hangs)."""


@dataclass(frozen=True)
class Verdict:
    """What the check found of one entry: ``equivalent``, ``told apart`` or ``stale``."""

    key: str
    ident: str
    status: str
    detail: str = ""


class RunTimeError(Exception):
    """The mutant ran past ``LIMIT``."""


class Copies:
    """Copies of the package, each importable under its own name, in one temporary directory."""

    def __init__(self, root: Path, package: str) -> None:
        self.source = root / package
        self.parent = Path(tempfile.mkdtemp(prefix="mutation-diff-"))
        sys.path.insert(0, str(self.parent))

    def load(self, name: str, sources: dict[str, str], *, kit: bool = False) -> ModuleType:
        """A fresh copy of the package's top-level modules, ``sources`` written over them,
        and with ``kit`` its test kit (``testing``)."""
        target = self.parent / name
        target.mkdir()
        for path in self.source.iterdir():
            if path.is_file():
                shutil.copyfile(path, target / path.name)
        if kit:
            shutil.copytree(self.source / "testing", target / "testing", ignore=IGNORED)
        for module, text in sources.items():
            (target / module).write_text(text, encoding="utf-8")
        importlib.invalidate_caches()
        return importlib.import_module(name)

    def forget(self, name: str) -> None:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        shutil.rmtree(self.parent / name, ignore_errors=True)

    def close(self) -> None:
        sys.path.remove(str(self.parent))
        shutil.rmtree(self.parent, ignore_errors=True)


class Checker:
    """The histories, the original's observations of them, and the check of one mutant."""

    def __init__(self, copies: Copies, originals: dict[str, str], count: int, seed: int) -> None:
        self.copies = copies
        self.original = copies.load("_mutdiff_original", originals, kit=True)
        kit = importlib.import_module(f"{self.original.__name__}.testing")
        flows = kit.documented_flows(call_id=mh.CALL)
        self.made = mh.build(self.original, flows, count, seed)
        self.expected = [seen for _, _, seen in mh.observations(self.original, self.made)]

    def check(self, mutant: Mutant) -> str:
        """How the mutant is told apart from the original; ``""`` when it is not."""
        name = f"_mutdiff_{mutant.ident}"
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(LIMIT)
        try:
            return self._compare(self.copies.load(name, {mutant.module: mutant.source}))
        except RunTimeError:
            return f"runs past {LIMIT}s"
        except Exception as error:  # the mutated package does not even import
            return f"import raises {type(error).__name__}: {error}"
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            self.copies.forget(name)

    def _compare(self, api: ModuleType) -> str:
        seen = mh.observations(api, self.made)
        for expected, (history, position, got) in zip(self.expected, seen, strict=True):
            if got != expected:
                return self._explain(history, position, expected, got)
        return ""

    def _explain(
        self, history: int, position: int, expected: mh.Observation, got: mh.Observation
    ) -> str:
        which = next(i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b)
        return (
            f"history: {self.made.label(self.made.histories[history], position)}\n"
            f"    {mh.OBSERVABLES[which]}, after event {position + 1}:\n"
            f"      original: {_short(expected[which])}\n"
            f"      mutant:   {_short(got[which])}"
        )


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RunTimeError


def _short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def judge(
    checker: Checker | None, mutants: dict[str, Mutant], entries: Sequence[str]
) -> Iterator[Verdict]:
    """A verdict for each listed key, in order."""
    for key in entries:
        mutant = mutants.get(key)
        ident = _ident(key)
        if mutant is None:
            yield Verdict(key, ident, "stale", "matches no current mutant")
            continue
        assert checker is not None
        how = checker.check(mutant)
        yield Verdict(key, ident, "told apart" if how else "equivalent", how)


def _ident(key: str) -> str:
    """The key's id, as ``mutate.py`` prints it (a stale key's too)."""
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def repeated(path: Path) -> list[str]:
    """The keys listed more than once (the list keeps the last line's reason)."""
    keys = [_key(line) for line in path.read_text("utf-8").splitlines() if _key(line)]
    return sorted({key for key in keys if keys.count(key) > 1})


def _key(line: str) -> str:
    return "" if line.lstrip().startswith("#") else line.partition(" || ")[0].strip()


def prune(path: Path, stale: set[str]) -> None:
    """Rewrite the list without the ``stale`` keys' lines and with each key's last line only;
    comments and order are kept."""
    lines = path.read_text("utf-8").splitlines()
    last = {_key(line): i for i, line in enumerate(lines)}
    kept = [
        line
        for i, line in enumerate(lines)
        if not _key(line) or (_key(line) not in stale and last[_key(line)] == i)
    ]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module", action="append", default=[], help=f"repeatable; default: {', '.join(MODULES)}"
    )
    parser.add_argument("--only", metavar="K", help="one entry, by its key or its id")
    parser.add_argument("--histories", type=int, default=3000, help="random histories (3000)")
    parser.add_argument("--seed", type=int, default=7, help="the histories' seed (7)")
    parser.add_argument("--prune-stale", action="store_true", help="drop stale entries")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT, help="the list")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    modules = [m if m.endswith(".py") else f"{m}.py" for m in args.module] or list(MODULES)
    unchecked = [m for m in modules if m not in CHECKED]
    if unchecked:
        print(f"not checked (no observable here reaches them): {', '.join(unchecked)}")
    modules = [m for m in modules if m in CHECKED]
    found, originals = load_mutants(args.root.resolve(), PACKAGE, modules)
    mutants = {mutant.key: mutant for mutant in found}
    entries = [k for k in load_equivalent(args.equivalent) if k.split(" | ")[0] in modules]
    if args.only:
        entries = [k for k in entries if args.only in (k, _ident(k))]
    started = time.monotonic()
    copies = Copies(args.root.resolve(), PACKAGE)
    try:
        checker = Checker(copies, originals, args.histories, args.seed) if entries else None
        if checker is not None:
            events = len(checker.expected)
            print(
                f"{len(entries)} entries; {len(checker.made.histories)} histories, {events} events"
            )
        verdicts = list(_reported(judge(checker, mutants, entries)))
    finally:
        copies.close()
    return summary(args, verdicts, time.monotonic() - started)


def _reported(verdicts: Iterator[Verdict]) -> Iterator[Verdict]:
    for verdict in verdicts:
        if verdict.status != "equivalent":
            print(f"{verdict.status.upper()}  {verdict.ident}  {verdict.key}", flush=True)
            print(f"    {verdict.detail}", flush=True)
        yield verdict


def summary(args: argparse.Namespace, verdicts: Sequence[Verdict], seconds: float) -> int:
    counts = {
        s: sum(v.status == s for v in verdicts) for s in ("equivalent", "told apart", "stale")
    }
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({seconds:.0f}s)")
    stale = {v.key for v in verdicts if v.status == "stale"}
    twice = repeated(args.equivalent)
    for key in twice:
        print(f"listed more than once (the last reason counts): {key}")
    if (stale or twice) and args.prune_stale:
        prune(args.equivalent, stale)
        print(f"removed {len(stale)} stale entries and the earlier lines of {len(twice)} repeats")
    return 1 if counts["told apart"] or counts["stale"] else 0


if __name__ == "__main__":
    sys.exit(main())
