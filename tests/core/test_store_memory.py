"""Memory of a big user: chromadb's cached index dropped after a large load (and loaded again by the next
write), deletes by record id found without a map of record ids, the C heap trimmed."""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from benchmarks.big_user import _turns
from personal_core import HashingEmbedder, Message, Role, UserModeler
from personal_core.heap import trim_heap
from personal_core.records import Record, StoredMessage, message_record_id, message_to_record
from personal_core.state import UserState
from personal_core.store import ChromaStore

EMB = HashingEmbedder(dimension=32)
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_a_large_load_releases_chromas_memory_and_everything_still_works(tmp_path: Path) -> None:
    rng = random.Random(3)
    with UserModeler(tmp_path / "s", embedder=HashingEmbedder()) as modeler:
        modeler.observe("big", _turns(rng, 0, 300, T0))
        modeler.observe("small", _turns(rng, 0, 10, T0))
        modeler.flush_writes()
        live = modeler.context("big", "trip to Lisbon").text
    with UserModeler(tmp_path / "s", embedder=HashingEmbedder()) as modeler:
        store = modeler.internals.store
        modeler.internals.cache.release_after = 100  # 300 messages count as large here
        client = store.client
        assert modeler.context("big", "trip to Lisbon").text == live
        assert store.client is not client  # reopened: chromadb's caches of the old client are gone
        modeler.context("small", "x")  # fewer records than release_after: no release
        reopened = store.client
        assert modeler.context("small", "hiking") is not None and store.client is reopened
        modeler.observe("big", _turns(rng, 300, 4, T0))  # the next write loads the shard's index again
        modeler.flush_writes()
        assert len(modeler.messages("big")) == 304
    with UserModeler(tmp_path / "s", embedder=HashingEmbedder()) as modeler:
        assert len(modeler.messages("big")) == 304 and len(modeler.messages("small")) == 10


def test_release_memory_only_for_a_client_the_store_opened(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "c"), settings=Settings(anonymized_telemetry=False))
    store = ChromaStore(client=client)
    try:
        assert store.release_memory() is False and store.client is client
    finally:
        store.close()
    own = ChromaStore(tmp_path / "own")
    try:
        own.ensure_pin("hashing", 32)
        assert own.release_memory() is True
        assert own.read_pin() is not None  # the reopened client reads the same store
    finally:
        own.close()


def _record(mid: str, seq: int) -> tuple[str, Record]:
    message = Message(
        id=mid,
        user_id="ann",
        session_id="s",
        role=Role.USER,
        content=f"tea {mid}",
        created_at=T0 + timedelta(minutes=seq),
    )
    return message_record_id("ann", mid), message_to_record(
        StoredMessage(message, seq), EMB.embed_documents(["tea"])[0]
    )


def test_deletes_by_record_id_without_a_map_of_record_ids() -> None:
    state = UserState(user_id="ann", dimension=32)
    records = [_record(f"m{i}", i) for i in range(200)]
    state.apply([r for _, r in records])
    assert not hasattr(state, "record_of_message")
    state.apply([], [records[5][0], records[5][0], "m_not_a_record", message_record_id("bob", "m7")])
    assert "m5" not in state.messages and "m7" in state.messages and len(state.messages) == 199
    state.apply([], [rid for rid, _ in records[:150]])  # past half dead: the keys are compacted
    assert sorted(state.messages, key=lambda m: int(m[1:])) == [f"m{i}" for i in range(150, 200)]
    state.apply([records[3][1]])  # a deleted message written again
    state.apply([], [records[3][0]])
    assert "m3" not in state.messages and len(state.messages) == 50
    assert state.message_corpus()[1] == [f"m{i}" for i in range(150, 200)]


def test_a_hash_collision_cannot_delete_another_message(monkeypatch: pytest.MonkeyPatch) -> None:
    state = UserState(user_id="ann", dimension=32)
    records = [_record(f"m{i}", i) for i in range(3)]
    keys = state._record_keys
    state.apply([r for _, r in records])
    keys._keys[:3] = 42  # every record id "hashes" alike: only the confirmed one goes
    rid = records[1][0]
    real_hash = builtins.hash
    monkeypatch.setattr(builtins, "hash", lambda x: 42 if isinstance(x, str) and x.startswith("m_") else real_hash(x))
    state.apply([], [rid])
    monkeypatch.setattr(builtins, "hash", real_hash)
    assert sorted(state.messages) == ["m0", "m2"]


def test_trim_heap_is_safe_to_call() -> None:
    assert trim_heap() in (True, False)


def test_the_flusher_gives_chromas_memory_back_once_writes_pause(tmp_path: Path) -> None:
    rng = random.Random(5)
    with UserModeler(tmp_path / "s", embedder=HashingEmbedder(), flush_interval=0.05) as modeler:
        store, flusher = modeler.internals.store, modeler.internals.flusher
        assert flusher.on_idle == store.release_idle_memory  # the backend wires it (default threshold)
        released: list[bool] = []
        flusher.on_idle = lambda: released.append(store.release_idle_memory(min_records=100))
        flusher.idle_after = 0.2
        client = store.client
        modeler.observe("big", _turns(rng, 0, 150, T0))
        deadline = time.monotonic() + 30
        while not released and time.monotonic() < deadline:
            time.sleep(0.05)
        assert released == [True] and store.client is not client  # once, after the burst, then reopened
        time.sleep(0.5)
        assert released == [True]  # nothing written since: not again
        assert store.held_records() == 0  # no shard opened since the release
        modeler.observe("big", _turns(rng, 150, 2, T0))
        modeler.flush_writes()
        assert store.held_records() >= 152 and store.release_idle_memory(min_records=10**6) is False
        assert len(modeler.messages("big")) == 152


def _records(start: int, count: int) -> list[Record]:
    return [
        message_to_record(
            StoredMessage(Message(id=f"m{i}", user_id="ann", role=Role.USER, content=f"turn {i}"), i),
            EMB.embed_documents([f"turn {i}"])[0],
        )
        for i in range(start, start + count)
    ]


@pytest.fixture
def small_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChromaStore]:
    """A one-shard store whose writer gives chromadb's memory back every 50 records once it holds 100."""
    import personal_core.store as store_module

    monkeypatch.setattr(store_module, "RELEASE_EVERY", 50)
    monkeypatch.setattr(store_module, "RELEASE_MIN_RECORDS", 100)
    store = ChromaStore(tmp_path / "s")
    try:
        store.ensure_pin(EMB.name, EMB.dimension, shards=1)
        yield store
    finally:
        store.close()


def test_a_long_stream_of_writes_gives_chromas_memory_back_on_the_way(small_store: ChromaStore) -> None:
    store, rng = small_store, random.Random(4)

    def write(start: int, count: int) -> None:
        batch = _records(start, count)
        rng.shuffle(batch)
        store.apply(batch)

    client = store.client
    write(0, 60)  # 60 written, but the shard holds fewer than RELEASE_MIN_RECORDS: only a trim
    assert store.client is client
    write(60, 60)  # 120 held, 120 written since the store opened: given back
    assert store.client is not client
    client = store.client
    write(120, 30)  # 30 since the release: nothing yet
    assert store.client is client
    write(150, 30)
    assert store.client is not client
    assert len(store.load_user("ann")) == 180  # every write landed


def test_a_failed_release_between_writes_never_fails_the_write(
    small_store: ChromaStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from personal_core.errors import StoreUnavailableError

    def broken(wait: bool = True) -> bool:
        raise StoreUnavailableError("Chroma did not answer")

    monkeypatch.setattr(small_store, "release_memory", broken)
    with caplog.at_level("WARNING", logger="personal_core.store"):
        small_store.apply(_records(0, 120))  # no exception: the records landed
    assert "could not give chromadb's memory back" in caplog.text
    assert len(small_store.load_user("ann")) == 120


def test_a_release_between_writes_does_not_wait_for_a_busy_store(small_store: ChromaStore) -> None:
    import threading

    store = small_store
    holding, done = threading.Event(), threading.Event()

    def reader() -> None:  # another call (a load, say) using the store meanwhile
        with store._access.shared():
            holding.set()
            done.wait(30)

    thread = threading.Thread(target=reader)
    thread.start()
    assert holding.wait(10)
    client = store.client
    store.apply(_records(0, 120))  # would wait for the reader if the release waited
    assert store.client is client  # skipped: someone was using the store
    done.set()
    thread.join(10)
    store.apply(_records(120, 10))  # the next crossing releases
    assert store.client is not client
    assert len(store.load_user("ann")) == 130
