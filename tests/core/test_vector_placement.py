"""Where a shard keeps its records' vectors: in their metadata (a one-number placeholder in chromadb's index, so
the index chromadb loads into memory stays small), or, in shards created before that layout, in the index itself.
Both read back the exact vectors; an erasure's shard rebuild and a re-embedding move a shard to the new layout."""

from __future__ import annotations

import base64
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from personal_core import HashingEmbedder, UserModeler, vector_codec
from personal_core.records import VECTOR_KEY, VECTORS_AT, Record
from personal_core.reembed import reembed_store
from personal_core.store import ChromaStore
from personal_core.vector_codec import quantize

EMB = HashingEmbedder(dimension=64)


def raw_shard(path: Path, name: str) -> tuple[dict[str, object], np.ndarray, list[dict[str, object]]]:
    """A shard collection as chromadb holds it: its metadata, its index's embeddings, its records' metadata."""
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    try:
        got = client.get_collection(name).get(include=["embeddings", "metadatas"])
        return dict(client.get_collection(name).metadata or {}), np.asarray(got["embeddings"]), got["metadatas"]
    finally:
        client.close()


def records(user: str, n: int) -> list[Record]:
    rng = np.random.default_rng(len(user))
    return [
        Record(
            f"{user}-{i}",
            user,
            "msg" if i % 2 else "ins",
            f"text {i}",
            {"user_id": user, "type": "msg" if i % 2 else "ins", "seq": i},
            rng.standard_normal(EMB.dimension).astype(np.float32),
        )
        for i in range(n)
    ]


def test_a_new_store_keeps_vectors_in_metadata_and_placeholders_in_chromas_index(tmp_path: Path) -> None:
    written = records("ann", 7)
    store = ChromaStore(tmp_path / "s")
    try:
        store.ensure_pin(EMB.name, EMB.dimension, shards=1)
        store.apply(written)
        loaded = {r.id: r for r in store.load_user("ann")}
        name = store.shard_name(0)
    finally:
        store.close()
    assert set(loaded) == {r.id for r in written}
    for record in written:  # stored as int8 codes with a scale: the same codes come back
        vector = loaded[record.id].embedding
        assert np.array_equal(quantize(vector)[0], quantize(record.embedding)[0])
        assert np.abs(vector - record.embedding).max() <= np.abs(record.embedding).max() / 254 + 1e-6
        assert loaded[record.id].metadata == record.metadata  # the stored vector is not part of the metadata
    collection_metadata, index_vectors, stored_metadata = raw_shard(tmp_path / "s", name)
    assert collection_metadata[VECTORS_AT] == "metadata"
    assert index_vectors.shape == (7, 2) and len({tuple(v) for v in index_vectors.tolist()}) == 7  # distinct
    assert all(VECTOR_KEY in m for m in stored_metadata)


def old_layout_store(path: Path) -> str:
    """A store whose only shard was created the way earlier versions did (vectors in chromadb's index)."""
    store = ChromaStore(path)
    try:
        store.ensure_pin(EMB.name, EMB.dimension, shards=1)
        name = store.shard_name(0)
        store.client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    finally:
        store.close()
    return name


def test_a_shard_of_the_old_layout_reads_and_writes_and_an_erasure_moves_it(tmp_path: Path) -> None:
    path = tmp_path / "old"
    name = old_layout_store(path)
    with UserModeler(path, embedder=EMB, background=False) as modeler:
        modeler.observe("ann", [{"id": "a1", "role": "user", "content": "I keep bees on my roof in Leeds."}])
        modeler.observe("bob", [{"id": "b1", "role": "user", "content": "I play the cello every evening."}])
        modeler.flush_writes()
    metadata, index_vectors, stored = raw_shard(path, name)
    assert VECTORS_AT not in metadata and index_vectors.shape[1] == EMB.dimension
    assert not any(VECTOR_KEY in m for m in stored)
    with UserModeler(path, embedder=EMB, background=False) as modeler:  # reads the old layout after a reopen
        before = modeler.context("ann", "Tell me about my bees").text
        assert "bees" in before
        modeler.forget("bob")  # the erasure rebuilds the shard: in the new layout
        assert modeler.context("ann", "Tell me about my bees").text == before
    metadata, index_vectors, stored = raw_shard(path, name)
    assert metadata[VECTORS_AT] == "metadata" and index_vectors.shape[1] == 2
    assert stored and all(VECTOR_KEY in m for m in stored)
    with UserModeler(path, embedder=EMB, background=False) as modeler:
        assert modeler.context("ann", "Tell me about my bees").text == before
        assert [m.content for m in modeler.messages("ann")] == ["I keep bees on my roof in Leeds."]
        assert modeler.messages("bob") == []


def test_a_reembedding_writes_the_new_layout(tmp_path: Path) -> None:
    path = tmp_path / "old"
    old_layout_store(path)
    with UserModeler(path, embedder=EMB, background=False) as modeler:
        modeler.observe("ann", [{"id": "a1", "role": "user", "content": "I keep bees on my roof in Leeds."}])
        modeler.flush_writes()
    new = HashingEmbedder(dimension=32)
    store = ChromaStore(path)
    try:
        reembed_store(store, None, new)
        name = store.shard_name(0)
    finally:
        store.close()
    metadata, index_vectors, _ = raw_shard(path, name)
    assert metadata[VECTORS_AT] == "metadata" and index_vectors.shape[1] == 2
    with UserModeler(path, embedder=new, background=False) as modeler:
        loaded = modeler.internals.store.load_user("ann")
        assert loaded and all(len(r.embedding) == new.dimension for r in loaded)
        assert "bees" in modeler.context("ann", "my bees").text


def test_the_text_form_of_a_vector() -> None:
    vector = np.array([0.5, -1.0, 0.25, 0.0], dtype=np.float32)
    assert np.array_equal(vector_codec.decode(vector_codec.encode(vector, as_int8=False)), vector)
    small = vector_codec.decode(vector_codec.encode(vector, as_int8=True))
    assert np.array_equal(quantize(small)[0], quantize(vector)[0]) and small[1] == -1.0
    assert not vector_codec.decode(vector_codec.encode(np.zeros(4), as_int8=True)).any()
    with pytest.raises(ValueError):
        vector_codec.decode("AAAA")


def test_records_are_built_with_the_vector_the_store_keeps(tmp_path: Path) -> None:
    """A process that wrote a record and one that reads it back rank with the same vector."""
    with UserModeler(tmp_path / "s", embedder=EMB, background=False) as modeler:
        modeler.observe("ann", [{"id": "a1", "role": "user", "content": "I keep bees on my roof in Leeds."}])
        modeler.add_insight("ann", "Keeps bees", "fact", evidence=["a1"])
        modeler.flush_writes()
        with modeler.internals.cache.user("ann") as state:
            live = dict(state.insight_vectors)
        stored = {r.id: r.embedding for r in modeler.internals.store.load_user("ann") if r.type == "ins"}
    assert stored
    raw = EMB.embed_documents(["Keeps bees"])[0]
    for vector in stored.values():
        assert np.array_equal(vector, vector_codec.as_stored(raw))
    assert set(live) == set(stored)
    for insight_id, vector in live.items():
        assert np.array_equal(vector, stored[insight_id])


_NAN_SCALE = "i8:" + base64.b64encode(np.array([np.nan], dtype=np.float32).tobytes() + bytes(64)).decode()


@pytest.mark.parametrize("damage", ["i8:not base64!", "i8:", "f32:AAAA", "i8:" + "A" * 8, "something else", _NAN_SCALE])
def test_a_damaged_vector_is_read_as_zeros_and_its_user_still_loads(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import personal_core.records as records_module

    monkeypatch.setattr(records_module, "_DAMAGE_LOGGED", set())  # logged once per record and process
    written = records("ann", 4)
    store = ChromaStore(tmp_path / "s")
    try:
        store.ensure_pin(EMB.name, EMB.dimension, shards=1)
        store.apply(written)
        name = store.shard_name(0)
    finally:
        store.close()
    client = chromadb.PersistentClient(path=str(tmp_path / "s"), settings=Settings(anonymized_telemetry=False))
    try:  # damage one record's stored vector behind the library's back
        collection = client.get_collection(name)
        metadata = dict(collection.get(ids=["ann-1"], include=["metadatas"])["metadatas"][0])
        metadata[VECTOR_KEY] = damage
        collection.update(ids=["ann-1"], metadatas=[metadata])
    finally:
        client.close()
    store = ChromaStore(tmp_path / "s")
    try:
        store.ensure_pin(EMB.name, EMB.dimension, shards=1)
        with caplog.at_level("ERROR", logger="personal_core.records"):
            loaded = {r.id: r for r in store.load_user("ann")}
    finally:
        store.close()
    assert set(loaded) == {r.id for r in written}  # nothing lost
    assert not loaded["ann-1"].embedding.any()
    assert loaded["ann-1"].document == "text 1"
    assert "ann-1" in caplog.text and "damaged vector" in caplog.text
    for record in written:
        if record.id != "ann-1":
            np.testing.assert_allclose(loaded[record.id].embedding, vector_codec.as_stored(record.embedding))
