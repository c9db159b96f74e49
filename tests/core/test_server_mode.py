"""Server mode: the same API over a real `chroma run` server through HttpClient."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from personal_core import EmbedderMismatchError, HashingEmbedder, UserModeler

WRITER = """
import os, signal, sys
import chromadb
from chromadb.config import Settings
from personal_core import HashingEmbedder, UserModeler
client = chromadb.HttpClient(host=sys.argv[1], port=int(sys.argv[2]), settings=Settings(anonymized_telemetry=False))
m = UserModeler(client=client, embedder=HashingEmbedder(), namespace=sys.argv[3], flush_interval=3600)
for i in range(10):
    m.observe("ann", [{"id": f"k{i}", "role": "user", "content": f"I love crashfruit{i}."}])
print("OBSERVED", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # die before anything reached the server
"""


def _namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_observe_context_forget_through_a_server(http_client: object) -> None:
    ns = _namespace()
    with UserModeler(client=http_client, embedder=HashingEmbedder(), namespace=ns, shards=4) as m:
        m.observe("ann", [{"id": "s1", "role": "user", "content": "I'm allergic to peanuts and I love jazz."}])
        m.observe("bob", [{"id": "s2", "role": "user", "content": "I love cycling."}])
        m.flush_writes()
        assert "peanuts" in m.context("ann", "snacks").text.lower()
    with UserModeler(client=http_client, namespace=ns) as m:  # a new process-like instance: loads from the server
        model = m.user_model("ann")
        assert {e for i in model.insights for e in i.evidence} == {"s1"}
        assert "cycling" not in m.context("ann", "cycling").text.lower()
        m.forget("ann")
        assert m.export("ann")["messages"] == [] and m.internals.store.load_user("ann") == []
        assert m.user_model("bob").insights


def test_embedder_pin_is_checked_on_the_server(http_client: object) -> None:
    ns = _namespace()
    with UserModeler(client=http_client, embedder=HashingEmbedder(256), namespace=ns):
        pass
    with pytest.raises(EmbedderMismatchError):
        UserModeler(client=http_client, embedder=HashingEmbedder(64), namespace=ns)


def test_journal_of_a_killed_client_process_is_replayed(
    chroma_server: tuple[str, int], http_client: object, personal_home: Path
) -> None:
    ns = _namespace()
    host, port = chroma_server
    result = subprocess.run(
        [sys.executable, "-c", WRITER, host, str(port), ns], capture_output=True, text=True, timeout=120
    )
    assert "OBSERVED" in result.stdout and result.returncode == -9, result.stderr
    assert list((personal_home / "journals").rglob("*.sqlite3")), "the killed process left its journal"
    with UserModeler(client=http_client, embedder=HashingEmbedder(), namespace=ns) as m:
        assert [x.id for x in m.messages("ann")] == [f"k{i}" for i in range(10)]
        assert len(m.user_model("ann").insights) == 10
    assert not list((personal_home / "journals").rglob("*.sqlite3")), "replayed journals are removed"


def test_transient_load_errors_are_retried_then_typed(http_client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from personal_core import StoreError
    from personal_core import store_load as store_module  # where the load retries (and sleeps)

    monkeypatch.setattr(store_module.time, "sleep", lambda s: None)
    with UserModeler(client=http_client, embedder=HashingEmbedder(), namespace=_namespace(), shards=2) as m:
        collection = m.internals.store._collection(m.internals.store.shard_of("ann"))
        real_get = type(collection).get
        failures = iter([True, True])

        def flaky_get(self: object, *args: object, **kwargs: object) -> object:
            if next(failures, False):
                raise RuntimeError("Error creating hnsw segment reader: Nothing found on disk")
            return real_get(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(type(collection), "get", flaky_get)
        assert m.observe("ann", [{"role": "user", "content": "I love tea."}])  # loaded after two retries
        m.internals.cache.clear()
        failures = iter([True] * 10)
        with pytest.raises(StoreError, match="after 4 tries"):
            m.context("ann", "tea")


def test_a_process_sees_what_another_wrote_after_refresh_after(http_client: object, tmp_path: Path) -> None:
    """Two modelers on one server (as two processes would be): a user's model held in memory is read again once
    it is older than ``refresh_after``; with ``None`` it is served from memory until evicted."""
    ns = _namespace()

    def opened(name: str, refresh: float | None) -> UserModeler:
        return UserModeler(
            client=http_client,
            embedder=HashingEmbedder(),
            namespace=ns,
            shards=4,
            journal_path=tmp_path / f"{name}.sqlite3",
            refresh_after=refresh,
        )

    with opened("a", 0.0) as fresh, opened("b", None) as cached, opened("c", None) as writer:
        writer.observe("ann", [{"id": "w1", "role": "user", "content": "I love kayaking."}])
        writer.flush_writes()
        assert "kayaking" in fresh.context("ann", "hobbies").text.lower()
        assert "kayaking" in cached.context("ann", "hobbies").text.lower()
        writer.observe("ann", [{"id": "w2", "role": "user", "content": "I'm allergic to peanuts."}])
        writer.flush_writes()
        assert "peanuts" in fresh.context("ann", "snacks").text.lower(), "refresh_after=0 reads the server again"
        assert "peanuts" not in cached.context("ann", "snacks").text.lower(), "refresh_after=None keeps its copy"
        # the refreshing modeler's own unflushed writes survive a refresh (the journal overlays the server)
        fresh.observe("ann", [{"id": "f1", "role": "user", "content": "I want to learn Italian."}])
        assert {m.id for m in fresh.messages("ann")} == {"w1", "w2", "f1"}


@pytest.mark.parametrize("bad", [-1, "soon", True, float("nan")])
def test_refresh_after_is_checked(bad: object, store_path: Path) -> None:
    from personal_core import InvalidInputError

    with pytest.raises(InvalidInputError, match="refresh_after"):
        UserModeler(store_path, embedder=HashingEmbedder(), refresh_after=bad)  # type: ignore[arg-type]
