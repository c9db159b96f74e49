"""What ``forget()`` costs in an embedded store, and what a scan of every file finds before and after it.

Run from the repository root::

    python -m benchmarks.erasure [--sizes 500,5000,20000] [--shards 4] [--dim 384] [--out DIR]

For each size N, a fresh process builds a store of ``shards`` shard collections holding N records each (users
of 50 records, written straight to Chroma), adds a victim (messages through the heuristic reasoner, a manual
insight, one write left in the journal), then times ``forget(victim)`` and, separately, what a plain Chroma
``delete(where=...)`` of the same records costs. Every file under the store is scanned for the victim's id,
texts and the exact float32 bytes of their vectors, before and after. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._util import RESULTS_DIR, dir_size, environment, in_fresh_process, log, markdown_table, write_json

VICTIM = "victim-bench-7f3a"
TEXTS = [
    "I love zorblaxfruit and I hate flumpfjord weather.",
    "I'm allergic to quuxberrypie.",
    "My favourite dish is smørrebrødxqv.",
    "I want to visit krazzlebay next year.",
]
INSIGHT = "Has a glimmerwomp tattoo"
WORDS = ["zorblaxfruit", "flumpfjord", "quuxberrypie", "smørrebrødxqv", "krazzlebay", "glimmerwomp"]


def exact_vectors(texts: list[str], dim: int) -> np.ndarray:
    """Unit vectors of 16 coordinates +-0.25: normalising keeps their bytes, so a scan finds them verbatim."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
        out[row, rng.choice(dim, 16, replace=False)] = rng.choice(np.array([-0.25, 0.25], dtype=np.float32), 16)
    return out


class _Phases(logging.Handler):
    """Catches the phase timings forget() logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.phases: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("forgot a user (shard") and isinstance(record.args, tuple):
            self.phases = dict(record.args[-1])


def run_size(per_shard: int, shards: int, dim: int) -> dict[str, Any]:
    from personal_core import CallableEmbedder, UserModeler
    from personal_core.records import Record
    from personal_core.scrub import scan

    embedder = CallableEmbedder(lambda texts: exact_vectors(texts, dim), name=f"exact-16-of-{dim}", dimension=dim)
    handler = _Phases()
    logging.getLogger("personal_core.modeler").addHandler(handler)
    logging.getLogger("personal_core.modeler").setLevel(logging.INFO)
    out: dict[str, Any] = {"records_per_shard": per_shard, "shards": shards, "dim": dim}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        m = UserModeler(path, embedder=embedder, shards=shards, flush_interval=3600)
        rng = np.random.default_rng(0)
        filled = [0] * shards
        records: list[Record] = []
        user = 0
        while min(filled) < per_shard:
            uid = f"user-{user:06d}"
            user += 1
            shard = m.internals.store.shard_of(uid)
            if filled[shard] >= per_shard:
                continue
            count = min(50, per_shard - filled[shard])
            filled[shard] += count
            vectors = rng.standard_normal((count, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            records += [
                Record(
                    f"r{user}_{i}", uid, "msg", f"note {i} of {uid}", {"user_id": uid, "type": "msg", "data": "{}"}, v
                )
                for i, v in enumerate(vectors)
            ]
        started = time.perf_counter()
        for start in range(0, len(records), 4000):
            m.internals.store.apply(records[start : start + 4000])
        out["build_seconds"] = round(time.perf_counter() - started, 1)
        for i, text in enumerate(TEXTS[:3]):
            m.observe(VICTIM, [{"id": f"v{i}", "role": "user", "content": text}])
        m.add_insight(VICTIM, INSIGHT, "fact", evidence=["v0"])
        m.flush_writes()
        m.observe(VICTIM, [{"id": "v3", "role": "user", "content": TEXTS[3]}])  # left in the journal
        needles = {"user id": VICTIM.encode(), **{w: w.encode() for w in WORDS}}
        for i, vector in enumerate(exact_vectors([*TEXTS, INSIGHT], dim)):
            needles[f"vector {i}"] = vector.tobytes()
        out["store_bytes"] = dir_size(path)
        out["chroma_sqlite_bytes"] = (path / "chroma.sqlite3").stat().st_size
        before = scan([path], needles)
        out.update(files_scanned_before=before.files, bytes_scanned_before=before.bytes, hits_before=before.total_hits)
        started = time.perf_counter()
        m.forget(VICTIM)
        out["forget_seconds"] = round(time.perf_counter() - started, 3)
        out["phases_seconds"] = handler.phases
        after = scan([path], needles)
        out.update(files_scanned_after=after.files, bytes_scanned_after=after.bytes, hits_after=after.total_hits)
        out["hit_files_after"] = sorted(Path(f).name for f in after.hits)
        # For comparison: what Chroma's own delete of the same records costs (it leaves every trace on disk).
        for i, text in enumerate(TEXTS[:3]):
            m.observe(VICTIM, [{"id": f"v{i}", "role": "user", "content": text}])
        m.flush_writes()
        started = time.perf_counter()
        m.internals.store.delete_user(VICTIM)
        out["plain_delete_seconds"] = round(time.perf_counter() - started, 3)
        m.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000,20000", help="records per shard, comma-separated")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        log(f"forget with {size} records per shard x {args.shards} shards ...")
        results.append(in_fresh_process(run_size, size, args.shards, args.dim))
    rows = [
        [
            r["records_per_shard"],
            r["records_per_shard"] * r["shards"],
            round(r["chroma_sqlite_bytes"] / 2**20, 1),
            r["files_scanned_before"],
            r["bytes_scanned_before"],
            r["hits_before"],
            r["files_scanned_after"],
            r["bytes_scanned_after"],
            r["hits_after"],
            r["forget_seconds"],
            " ".join(f"{k}={v}" for k, v in r["phases_seconds"].items()),
            r["plain_delete_seconds"],
        ]
        for r in results
    ]
    print(
        markdown_table(
            [
                "records in shard",
                "records in store",
                "chroma.sqlite3 MiB",
                "files before",
                "bytes before",
                "hits before",
                "files after",
                "bytes after",
                "hits after",
                "forget s",
                "phases s",
                "plain delete s",
            ],
            rows,
        )
    )
    target = write_json(args.out, "erasure.json", {"environment": environment(), "results": results})
    log(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
