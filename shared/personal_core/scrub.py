"""On-disk scrub and scan tools for an embedded Chroma store (a leaf: imports nothing of Personal's).

Used by :mod:`.erasure` (after a user's records were deleted) and by :mod:`.store` (on close, after an erasure):
merging SQLite's FTS5 indexes and VACUUMing, removing segment folders no collection uses, zeroing the unused
capacity of HNSW files, and scanning files for byte strings (to verify an erasure).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

HNSW_FILES = frozenset({"header.bin", "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle"})
# header.bin of chromadb 1.x's hnswlib (version 1): version, offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, label_offset, offsetData, maxlevel, enterpoint, maxM, maxM0, M, mult, ef_construction.
_HNSW_HEADER = struct.Struct("<i6Qii3Qdq")
_LEVEL_BYTES = 4  # length.bin: one float32 per slot of capacity (the vector norm a cosine index keeps)


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
