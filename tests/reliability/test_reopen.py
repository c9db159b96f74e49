"""Reopening an embedded path in the same process always reads the disk.

chromadb caches one ``System`` per persist directory for the life of the process
(``SharedSystemClient._identifier_to_system``): without care, a store reopened after another process wrote to
the folder, or after the folder was restored from a backup or deleted, is served from the stale cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from personal_core import HashingEmbedder, UserModeler

WRITER = textwrap.dedent(
    """
    import json, sys
    from personal_core import HashingEmbedder, UserModeler
    path = sys.argv[1]
    for user, text, forget in json.loads(sys.argv[2]):  # one open and close of the store each
        with UserModeler(path, embedder=HashingEmbedder(), shards=2) as m:
            m.observe(user, [{"role": "user", "content": text}])
            if forget:
                m.forget(forget)
    """
)


def write_from_another_process(path: Path, *sessions: tuple[str, str, str | None]) -> None:
    """Another process opens the store once per ``(user, text, user to forget or None)``, writes, and closes it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), json.dumps(sessions)], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


def texts(m: UserModeler, user: str) -> list[str]:
    return [message.content for message in m.messages(user)]


def test_a_reopen_sees_what_another_process_wrote(store_path: Path) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=2) as m:
        m.observe("alice", [{"role": "user", "content": "I love tea."}])
        m.observe("bob", [{"role": "user", "content": "I love rowing."}])
    write_from_another_process(store_path, ("carol", "I love maps.", "bob"), ("alice", "I love jam too.", None))
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        assert texts(m, "carol") == ["I love maps."]
        assert texts(m, "alice") == ["I love tea.", "I love jam too."]
        assert texts(m, "bob") == []
        m.observe("carol", [{"role": "user", "content": "I love hiking."}])
        m.flush_writes()
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        assert texts(m, "carol") == ["I love maps.", "I love hiking."]


def test_a_reopen_after_restoring_a_backup_serves_the_backup(store_path: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=2) as m:
        m.observe("alice", [{"role": "user", "content": "I love tea."}])
    shutil.copytree(store_path, backup)
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        m.observe("alice", [{"role": "user", "content": "I love coffee now."}])
        m.observe("bob", [{"role": "user", "content": "I love rowing."}])
        m.forget("alice")
    shutil.rmtree(store_path)
    shutil.copytree(backup, store_path)
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        assert texts(m, "alice") == ["I love tea."]
        assert texts(m, "bob") == []
        m.observe("alice", [{"role": "user", "content": "I love scones."}])
        m.forget("bob")  # touches every record of a shard: no "Error finding id"
        m.flush_writes()
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        assert texts(m, "alice") == ["I love tea.", "I love scones."]


def test_a_reopen_after_the_folder_was_deleted_starts_empty(store_path: Path) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=2) as m:
        m.observe("alice", [{"role": "user", "content": "I love tea."}])
    shutil.rmtree(store_path)
    with UserModeler(store_path, embedder=HashingEmbedder(128), shards=2) as m:  # a new store: any embedder
        assert texts(m, "alice") == []
        m.observe("alice", [{"role": "user", "content": "I love a clean slate."}])
    with UserModeler(store_path, embedder=HashingEmbedder(128)) as m:
        assert texts(m, "alice") == ["I love a clean slate."]
