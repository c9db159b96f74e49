"""docs/llamaindex.md's examples run as written (each in a fresh temp dir, offline, in a process of its own)."""

from __future__ import annotations

import re
from pathlib import Path

from support.examples import ExampleRunner

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "llamaindex.md"
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def block_after(marker: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(f"<!-- test: {marker}")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after the {marker!r} marker"
    return match.group(1)


def run(runner: ExampleRunner, code: str, cwd: Path) -> str:
    result = runner.run(code, cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_is_the_first_python_block_and_runs_as_written(
    tmp_path: Path, example_runner: ExampleRunner
) -> None:
    code = python_blocks(DOCS.read_text(encoding="utf-8"))[0]
    assert code == block_after("quickstart")
    out = run(example_runner, code, tmp_path)
    lines = out.splitlines()
    assert lines[0] == "system: <user_context>"
    assert "- Name: Ann" in lines and "- Allergic to peanuts" in lines
    assert "- Loves hiking" in lines
    assert lines[-3:] == [
        "user: Hi, I'm Ann. I'm allergic to peanuts and I love hiking.",
        "assistant: text text text text text",
        "user: Any snack ideas for my hike?",
    ]
    assert (tmp_path / "personal-store" / "chroma.sqlite3").exists()
    # the documented output matches (dates aside)
    documented = re.search(r"```text\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert documented
    date = re.compile(r"\d{4}-\d{2}-\d{2}")
    assert date.sub("DATE", out.strip()) == date.sub("DATE", documented.group(1).strip())


def test_memory_block_example_runs_as_written(tmp_path: Path, example_runner: ExampleRunner) -> None:
    out = run(example_runner, block_after("memory block"), tmp_path)
    assert "<personal_context>" in out and "<user_context>" in out
    assert "Is vegetarian" in out and "Loves jazz" not in out  # jazz does not bear on "What should I cook?"


def test_retriever_example_runs_as_written(tmp_path: Path, example_runner: ExampleRunner) -> None:
    out = run(example_runner, block_after("retriever"), tmp_path)
    texts = [" ".join(line.split(" ")[1:]) for line in out.splitlines()]
    assert any(t.startswith("Wants to run a marathon goal ") for t in texts), out
    assert any(t.startswith("Loves hiking preference ") for t in texts), out


def test_readme_llamaindex_quickstart_is_the_docs_quickstart() -> None:
    """README shows the very block the quickstart test above runs and checks line by line (so it is not run twice;
    CI also runs README's copy alone in the `.[llamaindex]` install)."""
    blocks = [b for b in python_blocks(README.read_text(encoding="utf-8")) if "llamaindex_personal" in b]
    assert blocks, "README.md must show the LlamaIndex quickstart"
    assert blocks[0] == block_after("quickstart"), "README and docs/llamaindex.md show the same quickstart"
