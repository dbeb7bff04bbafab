"""The mutation-testing script checks itself: the mutants it makes, and how it runs them.

The full mutation run (``python scripts/mutate.py``) is run by hand; here the
mutator works on small modules, and the runner on a tiny repository of its own.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from textwrap import dedent
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    """A module of ``scripts/`` (not a package: the scripts import each other by name)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module(name)


mutants = _script("mutants")
mutate = _script("mutate")

SAMPLE = dedent(
    '''
    from enum import Enum
    from typing import NamedTuple


    class Color(str, Enum):
        RED = "red"
        GREEN = "green"


    class Rule(NamedTuple):
        rank: int
        color: Color | None = None


    TABLE: dict[str, Rule] = {"a": Rule(1, Color.RED)}


    def f(x: int, y: bool) -> bool:
        """Not mutated."""
        if x < 2 and not y:
            x = 3
        return x == 3
    '''
)


def keys_of(source: str, module: str = "m.py") -> list[str]:
    return [m.key for m in mutants.mutants_of(module, source, mutants.enum_members([source]))]


def test_a_small_module_gets_exactly_the_expected_mutants() -> None:
    assert sorted(keys_of(SAMPLE)) == sorted(
        [
            "m.py | TABLE['a'] | Rule(1, Color.RED) -> <deleted>",
            "m.py | TABLE['a'] | Rule(1, Color.RED) -> Rule(2, Color.RED)",
            "m.py | TABLE['a'] | Rule(1, Color.RED) -> Rule(0, Color.RED)",
            "m.py | TABLE['a'] | Rule(1, Color.RED) -> Rule(1, Color.GREEN)",
            "m.py | TABLE['a'] | Rule(1, Color.RED) -> Rule(1)",
            "m.py | f | if x < 2 and (not y) -> if not (x < 2 and (not y))",
            "m.py | f | x < 2 and (not y) -> x < 2 or not y",
            "m.py | f | x < 2 -> x <= 2",
            "m.py | f | x < 2 -> x >= 2",
            "m.py | f | x < 2 -> x < 3",
            "m.py | f | x < 2 -> x < 1",
            "m.py | f | not y -> y",
            "m.py | f | x = 3 -> <deleted>",
            "m.py | f | x = 3 -> x = 4",
            "m.py | f | x = 3 -> x = 2",
            "m.py | f | return x == 3 -> return None",
            "m.py | f | x == 3 -> x != 3",
            "m.py | f | x == 3 -> x == 4",
            "m.py | f | x == 3 -> x == 2",
        ]
    )


def test_every_mutant_is_valid_python_and_differs_from_the_module_and_the_others() -> None:
    found = mutants.mutants_of("m.py", SAMPLE, mutants.enum_members([SAMPLE]))
    sources = {mutant.source for mutant in found}
    assert len(sources) == len(found) == len({mutant.ident for mutant in found})
    for mutant in found:
        compile(mutant.source, mutant.key, "exec")
    assert ast.unparse(ast.parse(SAMPLE)) not in sources


def test_a_key_holds_no_line_number_so_it_survives_code_moving() -> None:
    moved = SAMPLE.replace("def f(", "def g() -> None:\n    pass\n\n\ndef f(")
    assert set(keys_of(SAMPLE)) <= set(keys_of(moved))


def test_the_same_edit_twice_in_one_scope_is_numbered() -> None:
    source = "def g(a):\n    b = a is None\n    return a is None\n"
    assert keys_of(source) == [
        "m.py | g | a is None -> a is not None",
        "m.py | g | return a is None -> return None",
        "m.py | g | a is None -> a is not None #2",
    ]


def test_a_negated_condition_is_written_as_its_parts_mutants_would_be() -> None:
    source = "def g(a, b):\n    if a is None:\n        pass\n    while not b:\n        pass\n"
    assert keys_of(source) == [
        "m.py | g | if a is None -> if a is not None",
        "m.py | g | while not b -> while b",
    ]


def test_a_large_enum_member_becomes_its_neighbours_and_a_small_one_every_other() -> None:
    big = "".join(f"    M{i} = {i}\n" for i in range(8))
    source = f"from enum import Enum\nclass Big(Enum):\n{big}"
    source += "class Small(Enum):\n    A = 1\n    B = 2\n    C = 3\n"
    source += "WHICH = (Big.M0, Small.A)\n"
    assert keys_of(source) == [
        "m.py | WHICH | (Big.M0, Small.A) -> (Big.M7, Small.A)",
        "m.py | WHICH | (Big.M0, Small.A) -> (Big.M1, Small.A)",
        "m.py | WHICH | (Big.M0, Small.A) -> (Big.M0, Small.B)",
        "m.py | WHICH | (Big.M0, Small.A) -> (Big.M0, Small.C)",
    ]


TINY_MODULE = """\
def small(x: int) -> bool:
    return x < 10


def count(n: int) -> int:
    found = 0
    for _ in range(n):
        found += 1
    return found
"""
TINY_TESTS = """\
from tinypkg.mod import count, small


def test_small() -> None:
    assert small(1)
    assert not small(20)


def test_count() -> None:
    assert count(3) == 3
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of one package module and its tests; the package is installed nowhere."""
    repo = tmp_path / "repo"
    (repo / "tinypkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "tinypkg" / "__init__.py").write_text("")
    (repo / "tinypkg" / "mod.py").write_text(TINY_MODULE)
    (repo / "tests" / "test_mod.py").write_text(TINY_TESTS)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # its tests need no plugin
    return repo


def test_the_runner_runs_each_mutant_in_a_copy_and_scores_it(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "equivalent.txt"
    listed.write_text("# key || why\nmod.py | small | x < 10 -> x < 11 || not equivalent\n")
    results = tmp_path / "results.json"
    argv = ["--root", str(tiny), "--package", "tinypkg", "--module", "mod.py"]
    argv += ["--equivalent", str(listed), "--json", str(results)]
    assert mutate.main(argv) == 1
    assert {r["key"]: r["status"] for r in json.loads(results.read_text())} == {
        "mod.py | small | return x < 10 -> return None": "killed",
        "mod.py | small | x < 10 -> x <= 10": "survived",
        "mod.py | small | x < 10 -> x >= 10": "killed",
        "mod.py | small | x < 10 -> x < 11": "survived",
        "mod.py | small | x < 10 -> x < 9": "survived",
        "mod.py | count | found = 0 -> found = 1": "killed",
        "mod.py | count | found = 0 -> found = -1": "killed",
        "mod.py | count | found += 1 -> <deleted>": "killed",
        "mod.py | count | found += 1 -> found += 2": "killed",
        "mod.py | count | found += 1 -> found += 0": "killed",
        "mod.py | count | return found -> return None": "killed",
    }
    lines = capsys.readouterr().out.splitlines()
    assert "mod.py            11       8       0        2          1   80.0%" in lines
    assert "below 95.0%: mod.py" in lines
    assert (tiny / "tinypkg" / "mod.py").read_text() == TINY_MODULE, "the repository is untouched"


def test_a_mutant_that_hangs_is_stopped_at_the_time_limit(tiny: Path, tmp_path: Path) -> None:
    space = mutate.Workspace(tiny, "tinypkg", tmp_path, ["mod.py"])
    hangs = TINY_MODULE.replace("found += 1", "found += 1\n        while True:\n            pass")
    status, _ = space.run({"mod.py": hangs}, ["tests"], 2)
    assert status == "timeout"
    assert space.process is not None
    assert space.process.returncode == -9, "killed, not left running"


def test_a_run_that_would_import_the_package_from_outside_its_copy_stops(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = mutate.Workspace(tiny, "tinypkg", tmp_path, ["mod.py"])
    (space.package / "__init__.py").unlink()  # the copy's package is now only a namespace portion
    monkeypatch.setenv("PYTHONPATH", str(tiny))
    with pytest.raises(mutate.GuardError, match="would be imported from"):
        space.run({}, ["tests"], 60)


# The differential check of the equivalence list (scripts/mutation_diff.py) ----------

OBSERVABLE = "rules.py | NO_ATTEMPT[Fact.TRANSFERRING] | Rule(4, _S.TRANSFERRING, Attempt.OPEN) -> Rule(4, _S.TRANSFERRING)"  # noqa: E501
EQUIVALENT = "rules.py | PLAIN_FACT[None] | Fact.NO_STATE -> Fact.UNKNOWN_STATE"


def test_the_differential_check_tells_an_observable_mutant_apart_and_passes_an_equivalent() -> None:
    """A mutant that does not open the attempt a transferring call shows is told apart on
    the first documented flow; reading no state as an unknown one is not."""
    diff = _script("mutation_diff")
    package = ROOT / "transfer_fsm"
    sources = {path.name: path.read_text("utf-8") for path in package.glob("*.py")}
    found = mutants.mutants_of(
        "rules.py", sources["rules.py"], mutants.enum_members(sources.values())
    )
    chosen = {mutant.key: mutant for mutant in found if mutant.key in (OBSERVABLE, EQUIVALENT)}
    copies = diff.Copies(ROOT, "transfer_fsm")
    try:
        checker = diff.Checker(
            copies, {"rules.py": ast.unparse(ast.parse(sources["rules.py"]))}, 200, 7
        )
        told = checker.check(chosen[OBSERVABLE])
        assert checker.check(chosen[EQUIVALENT]) == ""
    finally:
        copies.close()
    # Not opening the attempt leaves it unnumbered: the view itself differs at once.
    assert "reduce, after event 1:" in told
    assert "attempt=1)" in told.split("mutant:")[0]
    assert "attempt=0)" in told.split("mutant:")[1]
