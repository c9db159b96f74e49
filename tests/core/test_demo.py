"""``python -m personal_core.demo`` runs offline and shows both users' models and their context blocks."""

from __future__ import annotations

from pathlib import Path

from support.examples import ExampleRunner, run_module


def test_demo_prints_both_models_and_context(tmp_path: Path, example_runner: ExampleRunner) -> None:
    result = example_runner.run(run_module("personal_core.demo"), tmp_path)  # python -m personal_core.demo
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "=== User model of 'ann' (2 sessions, 6 messages) ===" in out
    assert "=== User model of 'bob' (2 sessions, 5 messages) ===" in out
    assert "Card: Name: Ann; Lives in Porto; Allergic to peanuts; Is vegetarian" in out
    assert "[preference 0.85, seen 2x] Loves hiking" in out
    assert "Card: Name: Bob; Works as a nurse" in out
    assert out.count("<user_context>") == 2 and out.count("</user_context>") == 2
    ann_block = out.split("<user_context>")[1].split("</user_context>")[0]
    assert "- Allergic to peanuts" in ann_block and "Bob" not in ann_block
    bob_block = out.split("<user_context>")[2].split("</user_context>")[0]
    assert "Wants to visit Mexico next summer" in bob_block and "Ann" not in bob_block
    assert list(tmp_path.iterdir()) == []  # the default store is a temp dir, removed afterwards


def test_demo_keeps_the_store_given_with_path(tmp_path: Path, example_runner: ExampleRunner) -> None:
    store = tmp_path / "demo-store"
    result = example_runner.run(run_module("personal_core.demo"), tmp_path, args=("--path", str(store)))
    assert result.returncode == 0, result.stderr
    assert (store / "chroma.sqlite3").is_file()
