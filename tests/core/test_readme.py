"""The README's core quickstart runs as written (in a temp dir, offline)."""

from __future__ import annotations

import re
from pathlib import Path

from support.examples import ExampleRunner

README = Path(__file__).resolve().parents[2] / "README.md"


def _block_after(marker: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(marker)
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after {marker!r}"
    return match.group(1)


def test_readme_quickstart_runs_as_written(tmp_path: Path, example_runner: ExampleRunner) -> None:
    code = _block_after("<!-- quickstart")
    result = example_runner.run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "<user_context>" in out and "Allergic to peanuts" in out
    assert "['Name: Ann', 'Lives in Porto', 'Allergic to peanuts']" in out
    assert (tmp_path / "personal-store" / "chroma.sqlite3").exists()


def test_readme_llm_example_runs_as_written(tmp_path: Path, example_runner: ExampleRunner) -> None:
    code = _block_after("<!-- llm-example")
    result = example_runner.run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["['Is vegetarian']", "1"]
