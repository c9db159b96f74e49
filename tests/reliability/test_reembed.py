"""Re-embedding a store with another embedder: same answers after, and a kill midway loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from personal_core import HashingEmbedder, UserModeler
from personal_core.errors import EmbedderMismatchError
from personal_core.reembed import reembed_store
from personal_core.store import ChromaStore

USERS = [f"user-{i:03d}" for i in range(200)]
OLD, NEW = HashingEmbedder(256), HashingEmbedder(128)


def texts(user: str) -> tuple[str, str, str]:
    n = int(user.split("-")[1])
    return (f"I keep {n} tortoises named alpha{n}", f"My bike is painted colour{n} blue", f"Owns garden{n} sheds")


def build(path: Path) -> None:
    with UserModeler(path, embedder=OLD, shards=4) as m:
        for user in USERS:
            first, second, insight = texts(user)
            m.observe(
                user, [{"id": "a", "role": "user", "content": first}, {"id": "b", "role": "user", "content": second}]
            )
            m.add_insight(user, insight, "fact", evidence=["a"])


def contents(m: UserModeler, user: str) -> tuple[list[str], list[str]]:
    return [x.content for x in m.messages(user)], sorted(i.text for i in m.user_model(user).insights)


def top_hits(m: UserModeler) -> dict[str, str]:
    return {user: m.search(user, texts(user)[2], k=1)[0].insight.text for user in USERS}


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from personal_core import HashingEmbedder
    from personal_core.reembed import reembed_store
    from personal_core.store import ChromaStore

    def progress(done, total):
        if done >= int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    store = ChromaStore(sys.argv[1])
    reembed_store(store, None, HashingEmbedder(128), batch=50, progress=progress)
    """
)


def kill_midway(path: Path, after: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", KILLER, str(path), str(after)], env=env, capture_output=True)
    assert done.returncode == -9, done.stderr.decode(errors="replace")[-3000:]


@pytest.mark.slow
def test_reembed_keeps_every_record_and_the_same_answers(store_path: Path) -> None:
    build(store_path)
    with UserModeler(store_path, embedder=OLD) as m:
        before = {user: contents(m, user) for user in USERS}
        hits = top_hits(m)
    assert all(hits[user] == texts(user)[2] for user in USERS)
    seen: list[tuple[int, int]] = []
    store = ChromaStore(store_path)
    try:
        report = reembed_store(store, None, NEW, batch=64, progress=lambda done, total: seen.append((done, total)))
    finally:
        store.close()
    assert report.records == seen[-1][0] == seen[-1][1] >= len(USERS) * 4
    with pytest.raises(EmbedderMismatchError):
        UserModeler(store_path, embedder=OLD)
    with UserModeler(store_path, embedder=NEW) as m:
        assert {user: contents(m, user) for user in USERS} == before
        assert top_hits(m) == hits
        assert len(m.internals.store.load_user(USERS[0])[0].embedding) == NEW.dimension
        names = m.internals.store.collection_names()
    assert all(".g1-shard-" in name for name in names if "shard" in name) and not any("reembed" in n for n in names)


@pytest.mark.slow
def test_a_kill_midway_then_a_rerun_loses_nothing(store_path: Path) -> None:
    build(store_path)
    with UserModeler(store_path, embedder=OLD) as m:
        before = {user: contents(m, user) for user in USERS}
    kill_midway(store_path, 300)  # resume: the next run starts at the first unfinished shard
    store = ChromaStore(store_path)
    try:
        report = reembed_store(store, None, NEW)
    finally:
        store.close()
    assert report.resumed_at_shard > 0
    with UserModeler(store_path, embedder=NEW) as m:
        assert {user: contents(m, user) for user in USERS} == before


@pytest.mark.slow
def test_after_a_kill_the_old_store_is_usable_and_a_rerun_restarts(store_path: Path) -> None:
    build(store_path)
    kill_midway(store_path, 500)
    with UserModeler(store_path, embedder=OLD) as m:  # untouched: the old pin and collections
        before = {user: contents(m, user) for user in USERS}
        assert before[USERS[7]] == ([texts(USERS[7])[0], texts(USERS[7])[1]], [texts(USERS[7])[2]])
        m.observe(USERS[0], [{"role": "user", "content": "I love late additions."}])
        before[USERS[0]] = contents(m, USERS[0])
        assert "I love late additions." in before[USERS[0]][0]
    store = ChromaStore(store_path)
    try:
        report = reembed_store(store, None, NEW)
    finally:
        store.close()
    assert report.resumed_at_shard == 0  # opening with the old embedder abandoned the partial run
    with UserModeler(store_path, embedder=NEW) as m:
        assert {user: contents(m, user) for user in USERS} == before
