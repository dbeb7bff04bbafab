"""The docs are tested: their code blocks run, and their tables are the generated ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transfer_fsm.cli import BEGIN, END
from transfer_fsm.render import generated_markdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


BLOCKS = [(path, block) for path in DOCS for block in _python_blocks(path)]


@pytest.mark.parametrize(
    ("path", "block"), BLOCKS, ids=[f"{p.name}-{i}" for i, (p, _) in enumerate(BLOCKS)]
)
def test_every_python_block_in_the_docs_runs(
    path: Path, block: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    if "REDIS_URL" in block:  # the reader's own server: here a real one, started for the tests
        namespace["REDIS_URL"] = request.getfixturevalue("redis_url")
    # Run from a file of its own, so that inspect.getsource (which hypothesis uses to
    # derandomize a @given test) reads the block's lines, not the Markdown around it.
    source = tmp_path / f"{path.stem}_block.py"
    source.write_text(block, encoding="utf-8")
    exec(compile(block, str(source), "exec"), namespace)


def test_the_readme_has_a_usage_example() -> None:
    assert any(path.name == "README.md" for path, _ in BLOCKS)


def test_the_model_tables_are_generated_from_the_rules() -> None:
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    embedded = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert embedded == generated_markdown(), "python -m transfer_fsm table --write docs/model.md"


def test_every_test_the_docs_name_exists() -> None:
    """Each ambiguity the docs pin names its test; a renamed test must not orphan it."""
    named = set(re.findall(r"`(test_\w+)`", (ROOT / "docs" / "model.md").read_text("utf-8")))
    defined = {
        name
        for path in (ROOT / "tests").glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text("utf-8"), re.M)
    }
    assert named, "docs/model.md names the tests that pin its claims"
    assert named - defined == set()
