"""Embedded mode is single-process: a second process gets a clear error and the store stays intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.examples import ExampleRunner

from personal_core import HashingEmbedder, StoreLockedError, UserModeler

SECOND = """
import sys
from personal_core import HashingEmbedder, StoreLockedError, UserModeler
try:
    UserModeler(sys.argv[1], embedder=HashingEmbedder())
except StoreLockedError as exc:
    print("LOCKED", exc)
    sys.exit(3)
print("OPENED")
"""


def test_second_process_is_refused_and_store_stays_intact(store_path: Path, example_runner: ExampleRunner) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        m.observe("ann", [{"role": "user", "content": "I love hiking and I live in Oslo."}])
        m.flush_writes()
        before = m.user_model("ann")
        result = example_runner.run(SECOND, store_path.parent, args=(str(store_path),))
        assert result.returncode == 3, result.stdout + result.stderr
        assert "already open in another process" in result.stdout
        assert "chroma run" in result.stdout and "HttpClient" in result.stdout
        m.observe("ann", [{"role": "user", "content": "I want to learn Norwegian."}])
        assert len(m.user_model("ann").insights) == len(before.insights) + 1
    # after close, another process may open it, and sees everything
    ok = example_runner.run(SECOND, store_path.parent, args=(str(store_path),))
    assert ok.returncode == 0 and "OPENED" in ok.stdout
    with UserModeler(store_path) as m:
        assert len(m.user_model("ann").insights) == len(before.insights) + 1


def test_same_process_second_open_is_refused_until_closed(store_path: Path) -> None:
    first = UserModeler(store_path, embedder=HashingEmbedder())
    with pytest.raises(StoreLockedError, match="already open in this process"):
        UserModeler(store_path, embedder=HashingEmbedder())
    first.close()
    with UserModeler(store_path) as again:
        assert again.embedder.name == "hashing-v1-256"
