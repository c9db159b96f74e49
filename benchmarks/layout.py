"""Re-measure the storage-layout choice of ``personal_core.store`` on raw chromadb.

Run from the repository root::

    python -m benchmarks.layout [--users N] [--per-user 250] [--dim 256] [--out DIR]

Cases (all reads ``include=[embeddings, documents, metadatas]``):

(a) one shared collection, ``get(where={"user_id": u})``;
(b) the same records over 32 shard collections picked by a hash of the user id, where-get on the user's shard;
(c) ``get(ids=[...])`` of the user's records on the shared collection;
(d) one collection per user: ``get_collection`` + first ``get()`` in a fresh process (cold), then a second get;
(e) one-record ``upsert`` on the shared collection and on one shard (and a 500-record batch, per batch);
(f) a stdlib sqlite3 WAL insert (``synchronous=NORMAL``, autocommit) of a journal-sized row.

Every build and every measurement runs in its own spawned process, so "fresh process" really means nothing of
Chroma is loaded yet (the OS page cache is warm, though: this is process-cold, not disk-cold). Reads of (a)-(c)
first warm the process up on other users (that pass is reported as the fresh-process figures), then time users
not read before. Embeddings are always passed in; Chroma never embeds. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._util import (
    RESULTS_DIR,
    dir_size,
    environment,
    in_fresh_process,
    log,
    markdown_table,
    summarise,
    write_json,
)

SHARDS = 32
SHARED = "bench-shared"
INCLUDE = ["embeddings", "documents", "metadatas"]
COSINE = {"hnsw:space": "cosine"}
KINDS = ("fact", "preference", "goal", "belief", "knowledge", "emotion", "trait", "relationship")
TOPICS = ("hiking", "jazz", "chess", "sushi", "gardening", "cycling", "poetry", "climbing", "baking", "opera")
PLACES = ("Paris", "Lisbon", "Kyoto", "Oslo", "Lima", "Cairo", "Austin", "Hanoi", "Quebec", "Dakar")
FLUSH_AT = 4000  # records buffered per collection before an add()


# --------------------------------------------------------------------------------------------- synthetic records
@dataclass
class Batch:
    """Records in the column form Chroma's ``add`` takes."""

    ids: list[str] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.ids += other.ids
        self.embeddings += other.embeddings
        self.documents += other.documents
        self.metadatas += other.metadatas

    def __len__(self) -> int:
        return len(self.ids)


def user_id(index: int) -> str:
    return f"user-{index:06d}"


def record_id(user: str, j: int) -> str:
    """Hashed ids that do not contain the user id (like the library's record ids)."""
    return "r_" + hashlib.sha256(f"{user}\x1f{j}".encode()).hexdigest()[:32]


def shard_of(user: str, shards: int = SHARDS) -> int:
    """The shard rule of ``ChromaStore.shard_of``, kept here on purpose: this benchmark builds and reads raw
    chromadb collections (no ``ChromaStore``, whose ``shard_of`` needs an opened store), to compare layouts."""
    return int.from_bytes(hashlib.sha256(user.encode("utf-8")).digest()[:8], "big") % shards


def shard_name(shard: int) -> str:
    return f"bench-shard-{shard:04d}"


def user_collection_name(index: int) -> str:
    return f"bench-user-{index:06d}"


def user_records(index: int, per_user: int, dim: int, seed: int) -> Batch:
    """``per_user`` insight-shaped records of one user, deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index])
    vectors = rng.standard_normal((per_user, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    user = user_id(index)
    batch = Batch()
    now = 1_700_000_000.0
    for j in range(per_user):
        kind = KINDS[j % len(KINDS)]
        stamp = now + index * 1000 + j
        batch.ids.append(record_id(user, j))
        batch.embeddings.append(vectors[j])
        batch.documents.append(f"Likes {TOPICS[(index + j) % 10]} in {PLACES[(index * 7 + j) % 10]} ({j})")
        batch.metadatas.append(
            {
                "user_id": user,
                "type": "ins",
                "kind": kind,
                "confidence": 0.8,
                "evidence_json": "[]",
                "level": "explicit",
                "times_seen": 1,
                "created_at": stamp,
                "updated_at": stamp,
                "valid_from": stamp,
                "valid_to": 0.0,
                "superseded_by": "",
            }
        )
    return batch


# --------------------------------------------------------------------------------------------- chroma helpers
def open_client(path: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


def add(collection: Any, batch: Batch, chunk: int) -> None:
    for start in range(0, len(batch), chunk):
        end = start + chunk
        collection.add(
            ids=batch.ids[start:end],
            embeddings=np.stack(batch.embeddings[start:end]),
            documents=batch.documents[start:end],
            metadatas=batch.metadatas[start:end],
        )


def chunk_size(client: Any) -> int:
    try:
        return max(1, min(5000, int(client.get_max_batch_size())))
    except Exception:  # noqa: BLE001 - older clients
        return 1000


# --------------------------------------------------------------------------------------------- builds (child)
def build_shared(path: str, users: int, per_user: int, dim: int, seed: int) -> dict[str, Any]:
    """(a)/(c) store: every record in one collection."""
    client = open_client(path)
    collection = client.create_collection(SHARED, metadata=COSINE, embedding_function=None)
    chunk = chunk_size(client)
    started = time.perf_counter()
    pending = Batch()
    for index in range(users):
        pending.extend(user_records(index, per_user, dim, seed))
        if len(pending) >= FLUSH_AT:
            add(collection, pending, chunk)
            pending = Batch()
    add(collection, pending, chunk)
    seconds = time.perf_counter() - started
    return {
        "records": collection.count(),
        "seconds": round(seconds, 2),
        "records_per_s": round(users * per_user / seconds),
    }


def build_sharded(path: str, users: int, per_user: int, dim: int, seed: int) -> dict[str, Any]:
    """(b) store: records over ``SHARDS`` collections by user hash."""
    client = open_client(path)
    collections = [
        client.create_collection(shard_name(s), metadata=COSINE, embedding_function=None) for s in range(SHARDS)
    ]
    chunk = chunk_size(client)
    buffers = [Batch() for _ in range(SHARDS)]
    started = time.perf_counter()
    for index in range(users):
        shard = shard_of(user_id(index))
        buffers[shard].extend(user_records(index, per_user, dim, seed))
        if len(buffers[shard]) >= FLUSH_AT:
            add(collections[shard], buffers[shard], chunk)
            buffers[shard] = Batch()
    for shard, buffer in enumerate(buffers):
        add(collections[shard], buffer, chunk)
    seconds = time.perf_counter() - started
    total = sum(c.count() for c in collections)
    return {"records": total, "seconds": round(seconds, 2), "records_per_s": round(users * per_user / seconds)}


def build_per_user(path: str, users: int, per_user: int, dim: int, seed: int) -> dict[str, Any]:
    """(d) store: one collection per user."""
    client = open_client(path)
    chunk = chunk_size(client)
    started = time.perf_counter()
    for index in range(users):
        collection = client.create_collection(user_collection_name(index), metadata=COSINE, embedding_function=None)
        add(collection, user_records(index, per_user, dim, seed), chunk)
    seconds = time.perf_counter() - started
    return {
        "records": users * per_user,
        "collections": users,
        "seconds": round(seconds, 2),
        "records_per_s": round(users * per_user / seconds),
        "ms_per_collection": round(seconds / users * 1000, 1),
    }


# --------------------------------------------------------------------------------------------- reads (child)
def _timed_get(collection: Any, **kwargs: Any) -> tuple[float, int, bool]:
    started = time.perf_counter()
    got = collection.get(include=INCLUDE, **kwargs)
    elapsed = time.perf_counter() - started
    embeddings = got.get("embeddings")
    return elapsed, len(got["ids"]), embeddings is not None and len(embeddings) == len(got["ids"])


def _read_pass(client: Any, layout: str, users: Sequence[int], per_user: int) -> tuple[list[float], list[int], bool]:
    handles: dict[str, Any] = {}
    times: list[float] = []
    rows: list[int] = []
    complete = True
    for index in users:
        user = user_id(index)
        name = shard_name(shard_of(user)) if layout == "sharded" else SHARED
        collection = handles.get(name)
        if collection is None:  # handles are cached (as the library does); only the get is timed
            collection = handles[name] = client.get_collection(name, embedding_function=None)
        if layout == "ids":
            elapsed, count, ok = _timed_get(collection, ids=[record_id(user, j) for j in range(per_user)])
        else:
            elapsed, count, ok = _timed_get(collection, where={"user_id": user})
        times.append(elapsed)
        rows.append(count)
        complete = complete and ok
    return times, rows, complete


def measure_reads(path: str, layout: str, warmup: list[int], measured: list[int], per_user: int) -> dict[str, Any]:
    """(a)/(b)/(c) in a fresh process: a warm-up pass over some users, then users not read before."""
    client = open_client(path)
    cold_times, cold_rows, cold_ok = _read_pass(client, layout, warmup, per_user)
    times, rows, ok = _read_pass(client, layout, measured, per_user)
    return {
        "fresh_process": {**summarise(cold_times), "first_ms": round(cold_times[0] * 1000, 3) if cold_times else None},
        "steady": summarise(times),
        "rows_min": min(rows + cold_rows),
        "rows_max": max(rows + cold_rows),
        "embeddings_returned": ok and cold_ok,
    }


def measure_per_user(path: str, users: list[int], per_user: int) -> dict[str, Any]:
    """(d) in a fresh process: get_collection + first get per user (cold), then a second get (warm)."""
    client = open_client(path)
    handle_times: list[float] = []
    cold: list[float] = []
    first_get: list[float] = []
    warm: list[float] = []
    rows: list[int] = []
    for index in users:
        started = time.perf_counter()
        collection = client.get_collection(user_collection_name(index), embedding_function=None)
        handle_times.append(time.perf_counter() - started)
        elapsed, count, _ = _timed_get(collection)
        first_get.append(elapsed)
        cold.append(time.perf_counter() - started)
        rows.append(count)
        elapsed, _, _ = _timed_get(collection)
        warm.append(elapsed)
    return {
        "cold": {**summarise(cold), "first_ms": round(cold[0] * 1000, 3)},
        "cold_get_only": summarise(first_get),
        "get_collection": summarise(handle_times),
        "warm": summarise(warm),
        "rows_min": min(rows),
        "rows_max": max(rows),
    }


# --------------------------------------------------------------------------------------------- writes (child)
def _upserts(collection: Any, prefix: str, count: int, dim: int, rng: np.random.Generator) -> list[float]:
    times: list[float] = []
    for i in range(count):
        vector = rng.standard_normal((1, dim)).astype(np.float32)
        started = time.perf_counter()
        collection.upsert(
            ids=[f"{prefix}-{i}"],
            embeddings=vector,
            documents=[f"Upserted note {i}"],
            metadatas=[{"user_id": user_id(i % 50), "type": "ins", "kind": "fact", "confidence": 0.9}],
        )
        times.append(time.perf_counter() - started)
    return times


def measure_upserts(shared_path: str, sharded_path: str, count: int, dim: int, seed: int) -> dict[str, Any]:
    """(e): one-record upserts on the big shared collection and on one shard; 500-record batches on a shard."""
    rng = np.random.default_rng(seed + 1)
    shared = open_client(shared_path).get_collection(SHARED, embedding_function=None)
    shard = open_client(sharded_path).get_collection(shard_name(0), embedding_function=None)
    one_shared = _upserts(shared, "one-shared", count, dim, rng)
    one_shard = _upserts(shard, "one-shard", count, dim, rng)
    batch_times: list[float] = []
    for b in range(10):
        vectors = rng.standard_normal((500, dim)).astype(np.float32)
        started = time.perf_counter()
        shard.upsert(
            ids=[f"batch-{b}-{i}" for i in range(500)],
            embeddings=vectors,
            documents=[f"Batch note {i}" for i in range(500)],
            metadatas=[{"user_id": user_id(i % 50), "type": "ins"} for i in range(500)],
        )
        batch_times.append(time.perf_counter() - started)
    return {"one_shared": summarise(one_shared), "one_shard": summarise(one_shard), "batch_500": summarise(batch_times)}


def measure_sqlite(path: str, count: int, dim: int, synchronous: str) -> dict[str, Any]:
    """(f): autocommit inserts of a journal-sized row into a WAL-mode SQLite file."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, payload TEXT)")
    rng = np.random.default_rng(7)
    times: list[float] = []
    for i in range(count):
        vector = rng.standard_normal(dim).astype(np.float32)
        payload = json.dumps(
            {
                "upserts": [
                    {
                        "id": record_id("u", i),
                        "document": f"Likes {TOPICS[i % 10]} in {PLACES[i % 10]}",
                        "metadata": {"user_id": user_id(i % 50), "type": "ins", "kind": "preference"},
                        "embedding": base64.b64encode(vector.tobytes()).decode(),
                    }
                ],
                "deletes": [],
            }
        )
        started = time.perf_counter()
        db.execute("INSERT INTO entries(user_id, payload) VALUES (?, ?)", (user_id(i % 50), payload))
        times.append(time.perf_counter() - started)
    db.close()
    return {**summarise(times), "payload_bytes": len(payload)}


# --------------------------------------------------------------------------------------------- orchestration
@dataclass(frozen=True)
class Config:
    users: int
    per_user: int
    dim: int
    per_user_collections: int
    sample: int
    upserts: int
    sqlite_inserts: int
    seed: int
    out: Path


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=400, help="users in the shared and sharded stores (default 400)")
    parser.add_argument("--per-user", type=int, default=250, help="records per user (default 250)")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimension (default 256)")
    parser.add_argument(
        "--per-user-collections", type=int, default=None, help="users given their own collection (default min(N, 300))"
    )
    parser.add_argument("--sample", type=int, default=200, help="users read per measured pass (default 200)")
    parser.add_argument("--upserts", type=int, default=200, help="one-record upserts per case (default 200)")
    parser.add_argument("--sqlite-inserts", type=int, default=2000, help="SQLite inserts per case (default 2000)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder of layout.json (default benchmarks/results)"
    )
    a = parser.parse_args(argv)
    if a.users < 2 or a.per_user < 1 or a.dim < 2:
        parser.error("need --users >= 2, --per-user >= 1, --dim >= 2")
    per_user_collections = a.per_user_collections if a.per_user_collections is not None else min(a.users, 300)
    return Config(
        users=a.users,
        per_user=a.per_user,
        dim=a.dim,
        per_user_collections=max(1, min(per_user_collections, a.users)),
        sample=max(1, a.sample),
        upserts=max(1, a.upserts),
        sqlite_inserts=max(1, a.sqlite_inserts),
        seed=a.seed,
        out=a.out,
    )


def split_sample(population: int, sample: int, seed: int) -> tuple[list[int], list[int]]:
    """A warm-up set and a disjoint measured set of user indices (halves when there are too few users).

    The warm-up set is topped up so it touches every shard, so the measured pass of (b) pays no first touch.
    """
    order = list(range(population))
    random.Random(seed).shuffle(order)
    size = min(sample, population // 2) if population < 2 * sample else sample
    warmup, measured, rest = order[:size], order[size : 2 * size], order[2 * size :]
    touched = {shard_of(user_id(i)) for i in warmup}
    for index in rest:
        shard = shard_of(user_id(index))
        if shard not in touched:
            warmup.append(index)
            touched.add(shard)
    return warmup, measured


def isolated(label: str, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` in a fresh process, with progress on stderr."""
    log(f"[layout] {label} ...")
    started = time.perf_counter()
    result = in_fresh_process(fn, *args)
    log(f"[layout] {label}: {time.perf_counter() - started:.1f}s")
    return result


def build_all(config: Config, paths: dict[str, str]) -> dict[str, Any]:
    shape = (config.per_user, config.dim, config.seed)
    return {
        "shared": isolated("build shared", build_shared, paths["shared"], config.users, *shape),
        "sharded": isolated("build sharded", build_sharded, paths["sharded"], config.users, *shape),
        "per_user": isolated("build per-user", build_per_user, paths["per_user"], config.per_user_collections, *shape),
    }


def read_all(config: Config, paths: dict[str, str]) -> dict[str, Any]:
    warmup, measured = split_sample(config.users, config.sample, config.seed)
    sample = (warmup, measured, config.per_user)
    per_user_sample = list(range(config.per_user_collections))
    random.Random(config.seed).shuffle(per_user_sample)
    return {
        "a_shared_where": isolated("read (a)", measure_reads, paths["shared"], "shared", *sample),
        "b_sharded_where": isolated("read (b)", measure_reads, paths["sharded"], "sharded", *sample),
        "c_shared_ids": isolated("read (c)", measure_reads, paths["shared"], "ids", *sample),
        "d_per_user_collection": isolated(
            "read (d)", measure_per_user, paths["per_user"], per_user_sample[: config.sample], config.per_user
        ),
    }


def write_all(config: Config, paths: dict[str, str], root: Path) -> dict[str, Any]:
    upserts = (config.upserts, config.dim, config.seed)
    inserts = (config.sqlite_inserts, config.dim)
    return {
        "e_upsert": isolated("upserts (e)", measure_upserts, paths["shared"], paths["sharded"], *upserts),
        "f_sqlite_wal_normal": isolated(
            "sqlite (f)", measure_sqlite, str(root / "wal-normal.sqlite3"), *inserts, "NORMAL"
        ),
        "f_sqlite_wal_full": isolated(
            "sqlite (f, FULL)", measure_sqlite, str(root / "wal-full.sqlite3"), *inserts, "FULL"
        ),
    }


def run(config: Config) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="personal-layout-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        paths = {name: str(root / name) for name in ("shared", "sharded", "per_user")}
        builds = build_all(config, paths)
        disk = {name: dir_size(Path(path)) for name, path in paths.items()}
        reads = read_all(config, paths)
        writes = write_all(config, paths, root)  # last: it adds records to the built stores
    return {"builds": builds, "disk_bytes": disk, "reads": reads, "writes": writes}


def latency_row(case: str, what: str, stats: dict[str, Any], notes: str = "") -> list[object]:
    return [case, what, stats["n"], stats["p50_ms"], stats["p95_ms"], stats["max_ms"], notes]


def read_rows(config: Config, reads: dict[str, Any]) -> Iterator[list[object]]:
    size = f"{config.users} users x {config.per_user}"
    for case, key, what in (
        ("a", "a_shared_where", f"1 shared collection, where-get ({size})"),
        ("b", "b_sharded_where", f"{SHARDS} shard collections, where-get on the user's shard ({size})"),
        ("c", "c_shared_ids", f"1 shared collection, get by {config.per_user} explicit ids"),
    ):
        r = reads[key]
        fresh = r["fresh_process"]
        notes = (
            f"fresh process: first {fresh['first_ms']:.1f} ms, p50 {fresh['p50_ms']:.1f}, p95 {fresh['p95_ms']:.1f}; "
            f"rows {r['rows_min']}-{r['rows_max']}"
        )
        yield latency_row(case, what, r["steady"], notes)
    d = reads["d_per_user_collection"]
    what = f"1 collection per user ({config.per_user_collections} built): get_collection + first get, fresh process"
    notes = (
        f"get alone p50 {d['cold_get_only']['p50_ms']:.1f} / p95 {d['cold_get_only']['p95_ms']:.1f}; "
        f"2nd get p50 {d['warm']['p50_ms']:.1f} / p95 {d['warm']['p95_ms']:.1f}; rows {d['rows_min']}-{d['rows_max']}"
    )
    yield latency_row("d", what, d["cold"], notes)


def write_rows(config: Config, writes: dict[str, Any]) -> Iterator[list[object]]:
    e = writes["e_upsert"]
    yield latency_row("e", f"one-record upsert, shared collection ({config.users} users)", e["one_shared"])
    yield latency_row("e", "one-record upsert, one shard collection", e["one_shard"])
    per_record = f"{e['batch_500']['p50_ms'] / 500:.3f} ms/record at p50"
    yield latency_row("e", "500-record upsert batch, one shard (per batch)", e["batch_500"], per_record)
    for key, label in (("f_sqlite_wal_normal", "NORMAL"), ("f_sqlite_wal_full", "FULL")):
        f = writes[key]
        what = f"sqlite3 WAL autocommit insert, synchronous={label}"
        yield latency_row("f", what, f, f"{f['payload_bytes']} B payload")


def table_rows(config: Config, results: dict[str, Any]) -> list[list[object]]:
    return [*read_rows(config, results["reads"]), *write_rows(config, results["writes"])]


def build_table(results: dict[str, Any]) -> str:
    rows = [
        [name, b["records"], b["seconds"], b["records_per_s"], round(results["disk_bytes"][name] / 2**20, 1)]
        for name, b in results["builds"].items()
    ]
    return markdown_table(["store", "records", "build s", "records/s", "disk MiB"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    results = run(config)
    headers = ["case", "what", "n", "p50 ms", "p95 ms", "max ms", "notes"]
    print(f"## Storage layout ({config.users} users x {config.per_user} records, dim {config.dim})\n")
    print(markdown_table(headers, table_rows(config, results)))
    print("\n" + build_table(results))
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f}s")
    payload = {
        "benchmark": "layout",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in config.__dict__.items()},
        "environment": environment(),
        "total_seconds": round(total, 1),
        **results,
    }
    print(f"wrote {write_json(config.out, 'layout.json', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
