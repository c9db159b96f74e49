"""Real erasure: after forget(), no file of an embedded store holds the user's texts, id or vectors.

Every file under the store path (chroma.sqlite3, HNSW segment files, pickles, our journal and its -wal/-shm, ...)
is scanned for the user's distinctive strings (UTF-8, JSON-escaped and UTF-16 forms), for the exact float32 bytes
of their embeddings (and their base64 and int8 text forms, as the journal and Chroma's metadata store them) and,
inside Chroma's full-text index, for trigrams only they used. The scans must find everything before forget() and
nothing after.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.chroma_server import start_chroma, stop
from support.scripted import ScriptedLLM

from personal_core import CallableEmbedder, StoreError, UserModeler, vector_codec
from personal_core.records import Record
from personal_core.scrub import ScanResult, scan
from personal_core.store import ChromaStore

VICTIM = "victim-q7xk"
# Words only the victim uses. "жqz" is the only trigram starting with "ж": FTS5 stores it uncompressed.
SECRETS = ["zorblaxжqzfruit", "quuxberrypie", "glimmerwomp", "flumpfjord", "krazzlebay", "smørrebrødxqv"]
VICTIM_TEXTS = [
    "I love zorblaxжqzfruit and I hate flumpfjord weather.",
    "I'm allergic to quuxberrypie.",
    "My favourite dish is smørrebrødxqv.",
]
UNFLUSHED_TEXT = "I want to visit krazzlebay next year."
INSIGHT_TEXT = "Has a glimmerwomp tattoo on the left arm"
LLM_TEXTS = ["I love plinkwhistle music.", "I'm moving to nibblethorp soon."]
TRIGRAMS = ["жqz".encode()]
DIM = 256


def _exact_vectors(texts: list[str]) -> np.ndarray:
    """16 distinct coordinates of +-0.25 per text: unit norm exactly, so normalising (ours, hnswlib's) keeps
    the float32 bytes, and a scan can look for them verbatim."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        out[row, rng.choice(DIM, 16, replace=False)] = rng.choice(np.array([-0.25, 0.25], dtype=np.float32), 16)
    return out


def exact_embedder() -> CallableEmbedder:
    return CallableEmbedder(_exact_vectors, name="exact-16-of-256", dimension=DIM)


def needles(extra_vectors: Sequence[np.ndarray] = ()) -> dict[str, bytes]:
    """``"item | encoding" -> bytes``. Chroma and the journal store text as UTF-8 (measured); the JSON-escaped
    and UTF-16 forms are scanned for too, to be sure. Vectors: raw float32 (Chroma's index in shards of the old
    layout), base64 (our journal; an insight's in a record's metadata) and a message's int8 text (its metadata)."""
    out: dict[str, bytes] = {"user id | utf-8": VICTIM.encode(), "user id | utf-16": VICTIM.encode("utf-16-le")}
    for word in [*SECRETS, "plinkwhistle", "nibblethorp"]:
        out[f"{word} | utf-8"] = word.encode()
        if not word.isascii():
            out[f"{word} | json"] = json.dumps(word)[1:-1].encode()
            out[f"{word} | utf-16"] = word.encode("utf-16-le")
    texts = [*VICTIM_TEXTS, UNFLUSHED_TEXT, INSIGHT_TEXT, *LLM_TEXTS]
    for i, vector in enumerate([*_exact_vectors(texts), *extra_vectors]):
        raw = np.asarray(vector, dtype=np.float32).tobytes()
        out[f"vector {i} | float32"] = raw
        out[f"vector {i} | base64"] = base64.b64encode(raw)
        out[f"vector {i} | int8 text"] = vector_codec.encode(vector, as_int8=True).encode()  # a message's in Chroma
    return out


def items_found(result: ScanResult) -> set[str]:
    return {label.split(" | ")[0] for hits in result.hits.values() for label in hits}


def items(wanted: dict[str, bytes]) -> set[str]:
    return {label.split(" | ")[0] for label in wanted}


def fts_trigram_hits(store: Path) -> int:
    """Occurrences of the victim's unique trigrams in the raw segments of Chroma's FTS5 index."""
    db = sqlite3.connect(f"{(store / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        blocks = [bytes(b) for (b,) in db.execute("SELECT block FROM embedding_fulltext_search_data")]
    finally:
        db.close()
    return sum(block.count(t) for block in blocks for t in TRIGRAMS)


def garbage_in_hnsw_capacity(store: Path) -> int:
    """Non-zero bytes in the never-used slots of the HNSW files (chromadb persists malloc'd, uninitialised
    capacity). Header layout of chromadb 1.x's hnswlib: version, offsetLevel0, max_elements, cur_element_count,
    size_data_per_element, ..."""
    found = 0
    for header in store.glob("*/header.bin"):
        _, _, _, count, per_element = struct.unpack("<i4Q", header.read_bytes()[:36])
        for name, used in (("data_level0.bin", count * per_element), ("length.bin", count * 4)):
            found += int(np.count_nonzero(np.frombuffer((header.parent / name).read_bytes()[used:], dtype=np.uint8)))
    return found


def report(tag: str, result: ScanResult) -> None:
    print(f"[{tag}] scanned {result.files} files, {result.bytes} bytes: {result.total_hits} hits")
    for file, found in sorted(result.hits.items()):
        print(f"    {file}: {found}")


def users_in_shards(m: UserModeler) -> tuple[list[str], list[str]]:
    """Other users sharing the victim's shard, and users in other shards."""
    shard = m.internals.store.shard_of(VICTIM)
    names = [f"user-{i}" for i in range(40)]
    same = [u for u in names if m.internals.store.shard_of(u) == shard][:2]
    other = [u for u in names if m.internals.store.shard_of(u) != shard][:2]
    assert len(same) == 2 and len(other) == 2
    return same, other


def filler(m: UserModeler, count: int) -> list[Record]:
    """Records of a bulk user in the victim's shard: enough writes for Chroma to persist its HNSW files."""
    owner = next(
        u
        for u in (f"bulk-{i}" for i in range(100))
        if m.internals.store.shard_of(u) == m.internals.store.shard_of(VICTIM)
    )
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        Record(f"bulk_{i:05d}", owner, "msg", f"bulk note {i}", {"user_id": owner, "type": "msg", "data": "{}"}, v)
        for i, v in enumerate(vectors)
    ]


def snapshot(m: UserModeler, users: list[str]) -> dict[str, Any]:
    return {
        u: (m.user_model(u).model_dump(mode="json"), m.context(u, "what do they love?", 400).text, len(m.messages(u)))
        for u in users
    }


def never_answers(chat: list[dict[str, str]]) -> str:
    raise TimeoutError(f"no answer; the prompt was: {chat[-1]['content'][-300:]}")


def old_layout(path: Path, shards: int) -> None:
    """Create the store's shards the way earlier versions did: vectors in chromadb's HNSW index."""
    store = ChromaStore(path)
    try:
        store.ensure_pin(exact_embedder().name, DIM, shards=shards)
        for shard in range(shards):
            store.client.get_or_create_collection(
                store.shard_name(shard), metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
    finally:
        store.close()


@pytest.mark.parametrize("layout", ["vectors in metadata", "vectors in the index"])
def test_forget_leaves_no_trace_on_disk(store_path: Path, layout: str) -> None:
    if layout == "vectors in the index":
        old_layout(store_path, shards=2)
    # 1. An LLM that never answers: the victim's messages wait in the derivation queue, a failed attempt quoting
    #    them is recorded, and more messages are pending.
    llm = ScriptedLLM(responder=never_answers)
    with UserModeler(store_path, llm=llm, embedder=exact_embedder(), shards=2, background=False) as m:
        same, other = users_in_shards(m)
        m.observe(VICTIM, [{"id": "vq1", "role": "user", "content": LLM_TEXTS[0]}])
        m.flush(VICTIM)
        m.observe(VICTIM, [{"id": "vq2", "role": "user", "content": LLM_TEXTS[1]}])
        m.observe(same[0], [{"role": "user", "content": "I love plain tea."}])
        sizes = m.stats(VICTIM)
        assert llm.calls and sizes["pending_batches"] + sizes["failed_batches"] >= 1, sizes
        assert sizes["pending_messages"] + sizes["pending_batches"] >= 2, sizes  # vq2 waits too
        bulk = filler(m, 1200)
        m.internals.store.apply(bulk[:100])

    # 2. The heuristic reasoner, add_insight, and writes still in the journal when forget() runs.
    m = UserModeler(store_path, embedder=exact_embedder(), flush_interval=3600)
    try:
        for i, text in enumerate(VICTIM_TEXTS):
            m.observe(VICTIM, [{"id": f"v{i}", "role": "user", "content": text}], session_id="s1")
        m.add_insight(VICTIM, INSIGHT_TEXT, "fact", evidence=["v0"])
        for i, user in enumerate(same + other):
            m.observe(user, [{"id": f"o{i}", "role": "user", "content": f"I love sailing number {i} and green tea."}])
            m.add_insight(user, f"Plays chess at level {i}", "fact")
        m.flush_writes()
        # the shard passes Chroma's HNSW sync threshold: vectors land in data_level0.bin
        m.internals.store.apply(bulk[100:])
        m.observe(VICTIM, [{"id": "v9", "role": "user", "content": UNFLUSHED_TEXT}])
        m.observe(same[1], [{"id": "late", "role": "user", "content": "I love late night jazz."}])
        assert m.stats()["journal_pending"] >= 2

        victim_vectors = [r.embedding for r in m.internals.store.load_user(VICTIM)]
        wanted = needles(victim_vectors)
        before = scan([store_path], wanted)
        report("before forget", before)
        missing = items(wanted) - items_found(before)
        assert not missing, f"the scan must find every item before forget (in some encoding): missing {missing}"
        if layout == "vectors in the index":
            assert any(name.endswith("data_level0.bin") for name in before.hits), "vectors should be in HNSW files"
        else:
            in_sqlite = {
                label for name, found in before.hits.items() if name.endswith("chroma.sqlite3") for label in found
            }
            assert any(label.endswith("| int8 text") for label in in_sqlite), "message vectors in the metadata"
        assert any("journal" in name for name in before.hits)
        assert fts_trigram_hits(store_path) > 0
        garbage = garbage_in_hnsw_capacity(store_path)

        users = same + other
        expected = snapshot(m, users)
        m.forget(VICTIM)

        after = scan([store_path], wanted)
        report("after forget, store open", after)
        assert after.total_hits == 0 and after.bytes > 0
        assert fts_trigram_hits(store_path) == 0
        print(f"non-zero bytes in unused HNSW capacity: {garbage} before forget, 0 after")
        assert garbage_in_hnsw_capacity(store_path) == 0
        assert snapshot(m, users) == expected
        assert len(m.internals.store.load_user(bulk[0].user_id)) == len(bulk)
        assert m.export(VICTIM)["messages"] == [] and m.stats(VICTIM)["pending_messages"] == 0
        assert m.stats(VICTIM)["pending_batches"] == 0 and m.stats(VICTIM)["messages_observed"] == 0
        m.observe(other[0], [{"role": "user", "content": "I love rowing."}])  # still usable
        assert "rowing" in m.context(other[0], "rowing").text
        expected = snapshot(m, users)
    finally:
        m.close()

    closed = scan([store_path], wanted)
    report("after forget, store closed", closed)
    assert closed.total_hits == 0 and garbage_in_hnsw_capacity(store_path) == 0
    with UserModeler(store_path, embedder=exact_embedder()) as again:
        assert snapshot(again, users) == expected
        assert again.export(VICTIM)["insights"] == [] and again.messages(VICTIM) == []
        again.observe(VICTIM, [{"role": "user", "content": "I love a fresh start."}])
        assert "fresh start" in again.context(VICTIM, "start").text


async def test_aforget_after_reopen_data_only_in_chroma(store_path: Path) -> None:
    with UserModeler(store_path, embedder=exact_embedder(), shards=2) as m:
        same, other = users_in_shards(m)
        for i, text in enumerate(VICTIM_TEXTS):
            m.observe(VICTIM, [{"id": f"v{i}", "role": "user", "content": text}])
        m.add_insight(VICTIM, INSIGHT_TEXT, "fact")
        for user in same + other:
            m.observe(user, [{"role": "user", "content": f"I love kayaking, says {user}."}])
    wanted = {k: v for k, v in needles().items() if not k.startswith(("plink", "nibble", "krazzle", "vector 3"))}
    wanted = {k: v for k, v in wanted.items() if not k.startswith(("vector 5", "vector 6"))}
    before = scan([store_path], wanted)
    report("before forget", before)
    assert items_found(before) == items(wanted)
    # Chroma's HNSW files may also hold them: hnswlib persists its buffers' unused capacity, uninitialised heap
    # memory that can hold any text the process handled (seen under load); only the journal is ours to check here
    journal = {
        label for f, hits in before.hits.items() if Path(f).name.startswith("personal-journal") for label in hits
    }
    assert journal == {"user id | utf-8"}, "texts and vectors only in Chroma; the journal keeps the user's counters"
    async with UserModeler(store_path, embedder=exact_embedder()) as m:
        expected = snapshot(m, same + other)
        await m.aforget(VICTIM)
        after = scan([store_path], wanted)
        report("forget after reopen", after)
        assert after.total_hits == 0 and snapshot(m, same + other) == expected
    with UserModeler(store_path, embedder=exact_embedder()) as m:
        assert snapshot(m, same + other) == expected


def test_a_plain_delete_leaves_traces_the_scan_finds(store_path: Path) -> None:
    """What forget() has to deal with (chromadb 1.5.9): records deleted through the API stay readable on disk."""
    with UserModeler(store_path, embedder=exact_embedder(), shards=2) as m:
        for i, text in enumerate(VICTIM_TEXTS):
            m.observe(VICTIM, [{"id": f"v{i}", "role": "user", "content": text}])
        m.flush_writes()
        m.internals.store.delete_user(VICTIM)
        assert m.internals.store.load_user(VICTIM) == []
    left = scan([store_path], {"zorblax": "zorblaxжqzfruit".encode(), "user id": VICTIM.encode()})
    report("after a plain Chroma delete", left)
    assert left.hits[str(store_path / "chroma.sqlite3")]["zorblax"] > 0


def test_loads_during_a_forget_never_see_a_half_rebuilt_shard(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with UserModeler(store_path, embedder=exact_embedder(), shards=1) as m:
        bulk = filler(m, 300)
        m.internals.store.apply(bulk)
        m.observe(VICTIM, [{"role": "user", "content": VICTIM_TEXTS[0]}])
        m.flush_writes()
        seen: list[int] = []
        stop = threading.Event()
        upsert = m.internals.store._upsert

        def slow_upsert(collection: Any, records: Any) -> None:
            time.sleep(0.2)  # widen the window between dropping the shard and re-adding its records
            upsert(collection, records)

        def load() -> None:
            while not stop.is_set():
                seen.append(len(m.internals.store.load_user(bulk[0].user_id)))

        monkeypatch.setattr(m.internals.store, "_upsert", slow_upsert)
        reader = threading.Thread(target=load)
        reader.start()
        try:
            m.forget(VICTIM)
        finally:
            stop.set()
            reader.join()
        assert seen and set(seen) == {len(bulk)}


def test_a_crash_during_the_rebuild_loses_no_other_user(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = UserModeler(store_path, embedder=exact_embedder(), shards=1)
    m.observe("keeper", [{"id": "k1", "role": "user", "content": "I love long walks."}])
    m.observe(VICTIM, [{"role": "user", "content": VICTIM_TEXTS[0]}])
    m.flush_writes()
    expected = snapshot(m, ["keeper"])

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(m.internals.store, "_upsert", crash)  # the shard is dropped, re-adding its records fails
    with pytest.raises(StoreError, match="call forget"):
        m.forget(VICTIM)
    monkeypatch.undo()
    m.internals.cache.clear()  # a fresh load: Chroma's shard is empty, the journal holds the kept records
    assert snapshot(m, ["keeper"]) == expected and m.internals.store.load_user("keeper") == []
    m.internals.flusher.stop()
    m.internals.journal.close()  # "crash": nothing flushed, the lock released
    m.internals.store.close()
    with UserModeler(store_path, embedder=exact_embedder()) as again:
        again.flush_writes()
        assert snapshot(again, ["keeper"]) == expected and len(again.internals.store.load_user("keeper")) == 3
        again.forget(VICTIM)  # finishing the interrupted erasure
        assert scan([store_path], {"zorblax": "zorblaxжqzfruit".encode()}).total_hits == 0


# ----------------------------------------------------------------- server mode: the documented limits
@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Path, int, subprocess.Popen[bytes]]]:
    """A `chroma run` server this test may stop (to scrub its directory as an operator would)."""
    data = tmp_path / "server-data"
    proc, port = start_chroma(data, tmp_path / "server.log")
    try:
        yield data, port, proc
    finally:
        if proc.poll() is None:
            stop(proc)


def test_server_mode_deletes_and_the_operator_scrubs_offline(
    own_server: tuple[Path, int, subprocess.Popen[bytes]], personal_home: Path
) -> None:
    import chromadb
    from chromadb.config import Settings

    data, port, proc = own_server
    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False))
    wanted = {"zorblax": "zorblaxжqzfruit".encode(), "user id": VICTIM.encode(), "krazzlebay": b"krazzlebay"}
    with UserModeler(client=client, embedder=exact_embedder(), shards=2, flush_interval=3600) as m:
        same, _ = users_in_shards(m)
        m.observe(VICTIM, [{"role": "user", "content": VICTIM_TEXTS[0]}])
        m.observe(same[0], [{"role": "user", "content": "I love cycling."}])
        m.flush_writes()
        m.observe(VICTIM, [{"role": "user", "content": UNFLUSHED_TEXT}])  # only in this process's journal
        assert scan([personal_home], wanted).total_hits > 0
        expected = snapshot(m, [same[0]])
        m.forget(VICTIM)
        assert m.internals.store.load_user(VICTIM) == [] and m.export(VICTIM)["messages"] == []
        journals = scan([personal_home], wanted)
        report("server mode: this process's journal", journals)
        assert journals.total_hits == 0 and journals.files > 0
    # The server's files still hold traces (documented): the operator stops it and scrubs the directory offline.
    proc.terminate()
    proc.wait(timeout=10)
    left = scan([data], wanted)
    report("server directory after forget() over HTTP", left)
    assert left.total_hits > 0, "chromadb now erases on delete: update docs/privacy.md"
    with UserModeler(data, embedder=exact_embedder()) as offline:
        offline.forget(VICTIM)
        assert snapshot(offline, [same[0]]) == expected
    scrubbed = scan([data], wanted)
    report("server directory after the offline forget()", scrubbed)
    assert scrubbed.total_hits == 0 and garbage_in_hnsw_capacity(data) == 0
