"""Single-writer locks: one journal per process, one process per embedded store, even if the lock file goes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.examples import ExampleRunner, Ran

from personal_core import HashingEmbedder, StoreLockedError, UserModeler
from personal_core.journal import Journal

OPEN_JOURNAL = """
import sys
from personal_core import StoreLockedError
from personal_core.journal import Journal
try:
    Journal(sys.argv[1]).close()
except StoreLockedError as exc:
    print("LOCKED", exc)
    sys.exit(3)
print("OPENED")
"""

OPEN_STORE = """
import sys
from personal_core import HashingEmbedder, StoreLockedError, UserModeler
try:
    UserModeler(sys.argv[1], embedder=HashingEmbedder()).close()
except StoreLockedError as exc:
    print("LOCKED", exc)
    sys.exit(3)
print("OPENED")
"""


@pytest.fixture
def run(example_runner: ExampleRunner) -> Callable[[str, Path], Ran]:
    """Run ``script`` with ``path`` as its argument in another process (a fresh child of the example runner)."""
    return lambda script, path: example_runner.run(script, path.parent, args=(str(path),))


def test_a_journal_is_locked_for_its_whole_life(tmp_path: Path, run: Callable[[str, Path], Ran]) -> None:
    path = tmp_path / "shared.sqlite3"
    first = Journal(path)
    with pytest.raises(StoreLockedError, match=r"shared\.sqlite3"):
        Journal(path)  # another UserModeler of this process given the same journal_path=
    other = run(OPEN_JOURNAL, path)  # another process given the same journal_path=
    assert other.returncode == 3, other.stdout + other.stderr
    assert str(path) in other.stdout and "another process" in other.stdout
    first.append("ann")
    first.close()
    assert run(OPEN_JOURNAL, path).returncode == 0
    again = Journal(path)
    assert again.pending() == 1
    again.close()


def test_two_server_mode_modelers_cannot_share_a_journal_path(http_client: object, tmp_path: Path) -> None:
    journal = tmp_path / "one-journal.sqlite3"
    options = {"client": http_client, "embedder": HashingEmbedder(), "namespace": "tjournal", "journal_path": journal}
    with UserModeler(**options), pytest.raises(StoreLockedError, match=r"one-journal\.sqlite3"):
        UserModeler(**options)


def test_deleting_the_lock_file_does_not_let_a_second_process_in(
    store_path: Path, run: Callable[[str, Path], Ran]
) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        m.observe("ann", [{"role": "user", "content": "I love hiking."}])
        (store_path / ".personal.lock").unlink()
        second = run(OPEN_STORE, store_path)
        assert second.returncode == 3, second.stdout + second.stderr
        assert "already open in another process" in second.stdout
        m.observe("ann", [{"role": "user", "content": "I live in Oslo."}])
    assert run(OPEN_STORE, store_path).returncode == 0  # released on close
