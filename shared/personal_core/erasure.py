"""Erasure on disk: after ``forget()``, no file of an embedded store holds the user's texts, ids or vectors.

Deleting records through Chroma (chromadb 1.5.9) is not enough, measured in ``tests/reliability/test_erasure.py``:

- ``chroma.sqlite3`` keeps deleted rows' bytes in free pages and in-page free blocks;
- its full-text index (FTS5, trigram) keeps a deleted document's terms until its segments are merged;
- ``embeddings_queue`` (Chroma's log, vectors and documents) is purged only up to what the HNSW index has
  persisted, so small collections keep every write there;
- the HNSW files (``data_level0.bin``) keep the vectors of deleted labels, and ``delete_collection`` leaves the
  segment folder on disk;
- Chroma's hnswlib allocates an index's capacity with ``malloc`` and persists all of it: the unused slots of
  ``data_level0.bin`` and ``length.bin`` hold whatever the writing process had freed, seen holding SQLite pages
  with a deleted user's text and other users' vectors.

So :func:`erase_user` rebuilds the user's shard without them (the other users' records are journaled first, so
a crash loses nothing), merges the FTS5 indexes, VACUUMs ``chroma.sqlite3``, removes segment folders no
collection uses, zeroes the unused capacity of every HNSW file, then VACUUMs our journal and truncates its WAL.
A Chroma server's files are out of reach: there only the API delete happens (see ``docs/privacy.md``).
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from .cache import UserCache
from .errors import StoreError
from .journal import Journal
from .queue import DeriveQueue
from .scrub import (
    ScanResult,
    orphan_segment_folders,
    remove_folders,
    scan,
    scrub_sqlite,
    zero_unused_hnsw_capacity,
)
from .store import ChromaStore
from .text import _stem

__all__ = ["ErasureReport", "ScanResult", "clear_process_caches", "erase_user", "scan"]

logger = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    """What one erasure did: the shard rebuilt, records kept, folders removed, seconds per phase."""

    on_disk: bool
    shard: int = -1
    kept_records: int = 0
    removed_folders: int = 0
    zeroed_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def erase_user(store: ChromaStore, journal: Journal, user_id: str) -> ErasureReport:
    """Remove every on-disk trace of ``user_id`` from an embedded store and from ``journal``.

    Call it after the user's records were deleted from Chroma and from the journal, while no journal entry can
    be flushed (hold the flusher's lock). With a server only the journal is scrubbed (``on_disk=False``).
    """
    report = ErasureReport(on_disk=store.sqlite_file is not None)
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[phase] = now - clock
        clock = now

    sqlite_file = store.sqlite_file
    if sqlite_file is not None and store.path is not None:
        report.shard = store.shard_of(user_id)
        with store.exclusive():
            kept = [r for r in store.shard_records(report.shard) if r.user_id != user_id]
            report.kept_records = len(kept)
            lap("read")
            seqs = journal.prepend(kept)  # a crash from here on replays them into the shard
            lap("journal")
            store.recreate_shard(report.shard, kept)
            journal.ack(seqs)
            lap("rebuild")
            scrub_sqlite(sqlite_file)
            lap("vacuum")
            orphans = orphan_segment_folders(store.path, sqlite_file)
            remove_folders(orphans)
            report.removed_folders = len(orphans)
            report.zeroed_bytes = zero_unused_hnsw_capacity(store.path)
            store.scrub_on_close = True  # indexes persisted later may carry this process's heap again
            lap("hnsw_files")
    journal.scrub()
    lap("journal_scrub")
    clear_process_caches()
    return report


def clear_process_caches() -> None:
    """Drop process-wide memo caches that may hold words of a forgotten user (the stemmer's)."""
    _stem.cache_clear()


def forget_user(
    store: ChromaStore, journal: Journal, cache: UserCache, flusher_lock: AbstractContextManager[Any], user_id: str
) -> ErasureReport:
    """Erase ``user_id`` everywhere: cached model, journal and derivation queue, Chroma, and on disk.

    The flusher is held off meanwhile (nothing of the user can be moved to Chroma mid-erasure). Raises
    :class:`~personal_core.errors.StoreError` if the on-disk scrub failed after the user was already deleted
    from every read: calling it again finishes the scrub.
    """
    with flusher_lock:
        with cache.user(user_id) as state:
            journal.drop_user(user_id, also=lambda db: DeriveQueue.drop_user(db, user_id))
            try:
                store.delete_user(user_id)
            finally:
                cache.drop(state)
        try:
            report = erase_user(store, journal, user_id)
        except Exception as exc:
            kind = type(exc) if isinstance(exc, StoreError) else StoreError  # keep StoreFullError & co.
            raise kind(
                f"the user was deleted, but scrubbing the files failed ({exc}); call forget() again to finish"
            ) from exc
    phases = {k: round(v, 3) for k, v in report.seconds.items()}
    if report.on_disk:
        logger.info("forgot a user (shard %d rebuilt, %d records): %s", report.shard, report.kept_records, phases)
    else:
        logger.info("forgot a user through the Chroma API (the server's files are not scrubbed): %s", phases)
    return report
