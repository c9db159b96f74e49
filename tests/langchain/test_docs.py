"""docs/langchain.md: the LangChain quickstart runs as written (offline, in a temp dir); every block compiles."""

from __future__ import annotations

import re
from pathlib import Path

from support.examples import ExampleRunner

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "langchain.md"
README = ROOT / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def first_python_block(path: Path, marker: str | None = None) -> str:
    """The first python block of ``path`` (after ``marker`` when given)."""
    text = path.read_text(encoding="utf-8")
    match = BLOCK.search(text, text.index(marker) if marker else 0)
    assert match, f"no python block in {path}"
    return match.group(1)


def test_readme_shows_the_same_quickstart() -> None:
    marker = "<!-- langchain-quickstart"
    assert first_python_block(README, marker) == first_python_block(DOC, marker) == first_python_block(DOC)


def test_quickstart_runs_as_written(tmp_path: Path, example_runner: ExampleRunner) -> None:
    code = first_python_block(README, "<!-- langchain-quickstart")
    result = example_runner.run(code, tmp_path, env={"PERSONAL_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("--- system prompt ---")[1:]
    assert "<user_context>" not in first  # nothing known before the first turn
    assert "<user_context>" in second and "Loves hiking" in second and "Allergic to peanuts" in second
    assert result.stdout.rstrip().endswith("--- reply ---\nApple slices with almond butter.")
    assert (tmp_path / "personal-store" / "chroma.sqlite3").exists()


def test_every_python_block_compiles() -> None:
    blocks = python_blocks(DOC)
    assert len(blocks) >= 3
    for block in blocks:
        compile(block, str(DOC), "exec")
