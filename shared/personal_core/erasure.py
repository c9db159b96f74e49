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
import shutil
import sqlite3
import struct
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import UserCache
from .errors import StoreError
from .journal import Journal
from .queue import DeriveQueue
from .store import ChromaStore
from .text import _stem

logger = logging.getLogger(__name__)

HNSW_FILES = frozenset({"header.bin", "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle"})
# header.bin of chromadb 1.x's hnswlib (version 1): version, offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, label_offset, offsetData, maxlevel, enterpoint, maxM, maxM0, M, mult, ef_construction.
_HNSW_HEADER = struct.Struct("<i6Qii3Qdq")
_LEVEL_BYTES = 4  # length.bin: one int (the element's level) per slot of capacity


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


def scrub_sqlite(file: Path, *, timeout: float = 60.0) -> None:
    """Rewrite a SQLite file so deleted content is gone: merge every FTS5 index, VACUUM, truncate a WAL.

    Safe while another connection (Chroma's) is open but idle; waits up to ``timeout`` seconds for locks.
    """
    db = sqlite3.connect(str(file), isolation_level=None, timeout=timeout)
    try:
        for table in fts5_tables(db):
            # FTS5 deletes only add tombstones; 'optimize' merges the segments and drops deleted terms.
            db.execute(f'INSERT INTO "{table}"("{table}") VALUES (\'optimize\')')
        db.execute("VACUUM")
        if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise sqlite3.OperationalError(f"{file} is busy: its WAL could not be truncated")
    finally:
        db.close()


def fts5_tables(db: sqlite3.Connection) -> list[str]:
    """Names of the FTS5 virtual tables of a database."""
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
    return [name for name, sql in rows if "using fts5" in " ".join(str(sql).lower().split())]


def orphan_segment_folders(directory: Path, sqlite_file: Path) -> list[Path]:
    """Chroma segment folders (UUID-named, HNSW files only) that no segment of ``sqlite_file`` refers to."""
    db = sqlite3.connect(f"{sqlite_file.resolve().as_uri()}?mode=ro", uri=True)
    try:
        live = {str(row[0]) for row in db.execute("SELECT id FROM segments")}
    finally:
        db.close()
    orphans: list[Path] = []
    for folder in directory.iterdir():
        if not folder.is_dir() or folder.name in live or not _is_uuid(folder.name):
            continue
        names = {f.name for f in folder.iterdir()}
        if names <= HNSW_FILES:
            orphans.append(folder)
        else:
            logger.warning("left %s in place: unexpected files %s", folder, sorted(names - HNSW_FILES))
    return orphans


def zero_unused_hnsw_capacity(directory: Path) -> int:
    """Overwrite with zeros the slots past ``cur_element_count`` in every HNSW segment under ``directory``.

    Those slots were never written by hnswlib: they hold the writing process's freed heap memory (any data it
    had touched). Used slots are zeroed by hnswlib before use, so only the tail is garbage. Chroma keeps no
    handle on these files; it rewrites them whole from memory when it next persists an index. Returns the
    number of bytes overwritten. A header in an unknown layout is logged and left alone.
    """
    zeroed = 0
    for header in directory.glob("*/header.bin"):
        raw = header.read_bytes()
        if len(raw) != _HNSW_HEADER.size:
            logger.warning("unknown HNSW header layout in %s: its unused capacity was not zeroed", header.parent)
            continue
        version, _, capacity, count, per_element, *_ = _HNSW_HEADER.unpack(raw)
        if version != 1 or not 0 <= count <= capacity or per_element <= 0:
            logger.warning("unknown HNSW header in %s: its unused capacity was not zeroed", header.parent)
            continue
        for name, used in (("data_level0.bin", count * per_element), ("length.bin", count * _LEVEL_BYTES)):
            zeroed += _zero_tail(header.parent / name, used)
    return zeroed


def _zero_tail(file: Path, keep: int) -> int:
    """Zero ``file`` from byte ``keep`` to its end (in place, same size); returns the bytes overwritten."""
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        return 0
    if size <= keep:
        return 0
    with file.open("r+b") as handle:
        handle.seek(keep)
        remaining = size - keep
        block = bytes(min(remaining, 1 << 20))
        while remaining:
            handle.write(block[: min(remaining, len(block))])
            remaining -= min(remaining, len(block))
        handle.flush()
    return size - keep


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def remove_folders(folders: Iterable[Path]) -> None:
    """Delete folders and their files (Chroma no longer uses them)."""
    for folder in folders:
        shutil.rmtree(folder)
        logger.info("removed unused Chroma segment folder %s", folder.name)


def clear_process_caches() -> None:
    """Drop process-wide memo caches that may hold words of a forgotten user (the stemmer's)."""
    _stem.cache_clear()


@dataclass
class ScanResult:
    """Files and bytes read by :func:`scan`, and the hits: file -> needle label -> count."""

    files: int = 0
    bytes: int = 0
    hits: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total_hits(self) -> int:
        return sum(sum(found.values()) for found in self.hits.values())


def scan(roots: Sequence[Path], needles: dict[str, bytes]) -> ScanResult:
    """Count occurrences of each byte string in every file under ``roots`` (for verifying an erasure)."""
    result = ScanResult()
    for root in roots:
        for file in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            try:
                data = file.read_bytes()
            except OSError as exc:  # a file removed while scanning
                logger.debug("skipped %s: %s", file, exc)
                continue
            result.files += 1
            result.bytes += len(data)
            found = {label: data.count(needle) for label, needle in needles.items() if needle in data}
            if found:
                result.hits[str(file)] = found
    return result


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
            raise StoreError(
                f"the user was deleted, but scrubbing the files failed ({exc}); call forget() again to finish"
            ) from exc
    phases = {k: round(v, 3) for k, v in report.seconds.items()}
    if report.on_disk:
        logger.info("forgot a user (shard %d rebuilt, %d records): %s", report.shard, report.kept_records, phases)
    else:
        logger.info("forgot a user through the Chroma API (the server's files are not scrubbed): %s", phases)
    return report
