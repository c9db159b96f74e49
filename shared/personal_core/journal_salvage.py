"""Salvage of a damaged journal file: keep every row that can still be read (see :meth:`Journal.salvage`).

The damaged file is moved aside (never modified); a scratch copy is read with SQLite. A file cut short (a
full disk, a copy interrupted) declares more pages than it has, which makes SQLite refuse even its schema:
the copy's header is set to the pages really there, then each table is read in rowid order, and past a
damaged page row by row, so the rows on intact pages are kept.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import struct
import time
from pathlib import Path

from .errors import StoreLockedError
from .journal_file import Journal
from .locks import try_lock_file

logger = logging.getLogger(__name__)

#: Most rowids probed one by one past a damaged page, per table.
MAX_PROBES = 1_000_000
_SIDE_FILES = ("-wal", "-shm")


def _fix_page_count(file: Path) -> None:
    """Make the header's page count match the file's size (a truncated file declares more pages than it has)."""
    with open(file, "r+b") as handle:
        header = handle.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            return
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512:
            return
        pages = file.stat().st_size // page_size
        if struct.unpack(">I", header[28:32])[0] > pages:
            handle.seek(28)
            handle.write(struct.pack(">I", pages))


def _read_table(db: sqlite3.Connection, table: str, columns: str) -> tuple[list[tuple[object, ...]], int]:
    """Readable rows of ``table`` (by rowid) and how many rowids could not be read."""
    rows: dict[int, tuple[object, ...]] = {}
    query = f'SELECT rowid, {columns} FROM "{table}" ORDER BY rowid'
    try:
        for row in db.execute(query):
            rows[int(row[0])] = tuple(row[1:])
        return list(rows.values()), 0
    except sqlite3.DatabaseError:
        pass
    low = max(rows) + 1 if rows else None
    high: int | None = None
    try:
        for row in db.execute(f'SELECT rowid, {columns} FROM "{table}" ORDER BY rowid DESC'):
            rows[int(row[0])] = tuple(row[1:])
            high = int(row[0]) if high is None else min(high, int(row[0]))
    except sqlite3.DatabaseError:
        pass
    lost = 0
    if low is None or high is None:
        return [rows[k] for k in sorted(rows)], 1  # no bound to probe between: at least one row unreadable
    for rowid in range(low, min(high, low + MAX_PROBES)):
        try:
            row = db.execute(f'SELECT {columns} FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            lost += 1
            continue
        if row is not None:
            rows[rowid] = tuple(row)
    return [rows[k] for k in sorted(rows)], lost


def salvage_journal(file: Path) -> tuple[int, int]:
    """Move ``file`` aside and copy its readable rows into a fresh journal there; ``(entries kept, lost)``."""
    if str(file.resolve()) in Journal._held:  # checked first: a second descriptor would drop SQLite's locks
        raise StoreLockedError(f"the journal {file} is open in this process: close it before salvaging")
    lock = try_lock_file(file)
    if lock is None:
        raise StoreLockedError(f"the journal {file} is open in another process: close it before salvaging")
    aside = file.with_name(f"{file.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        file.rename(aside)
        for suffix in _SIDE_FILES:
            side = file.with_name(file.name + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
    finally:
        lock.close()
    scratch = file.with_name(f"{file.name}.salvage")
    shutil.copyfile(aside, scratch)
    if aside.with_name(aside.name + "-wal").exists():
        shutil.copyfile(aside.with_name(aside.name + "-wal"), scratch.with_name(scratch.name + "-wal"))
    try:
        _fix_page_count(scratch)
        kept, lost = _copy_rows(scratch, file)
    finally:
        for leftover in (scratch, *(scratch.with_name(scratch.name + s) for s in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)
    logger.warning(
        "salvaged the journal %s: %d entries kept, %s lost; the damaged file is %s (it holds users' texts: "
        "delete it once the salvage is checked)",
        file,
        kept,
        "unknown" if lost < 0 else lost,
        aside,
    )
    return kept, lost


def _copy_rows(source: Path, target: Path) -> tuple[int, int]:
    fresh = Journal(target)
    db = sqlite3.connect(str(source), isolation_level=None)
    try:
        try:
            schema = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        except sqlite3.DatabaseError as exc:
            logger.warning("nothing of the journal %s can be read: %s", source, exc)
            return 0, -1
        kept = lost = 0
        with fresh.transaction() as out:
            for kind, name, sql in schema:  # the derivation queue's tables and indexes too
                if kind in ("table", "index") and not name.startswith("sqlite_"):
                    out.execute(sql.replace(f"CREATE {kind.upper()} ", f"CREATE {kind.upper()} IF NOT EXISTS ", 1))
            for kind, name, _ in schema:
                if kind != "table" or name.startswith("sqlite_") or name in ("meta", "adopted"):
                    continue  # a salvaged journal is a new journal: fresh id, nothing adopted
                try:
                    columns = [str(r[1]) for r in db.execute(f'PRAGMA table_info("{name}")')]
                except sqlite3.DatabaseError:
                    lost += 1
                    continue
                wanted = {str(r[1]) for r in out.execute(f'PRAGMA table_info("{name}")')}
                columns = [c for c in columns if c in wanted]
                quoted = ", ".join(f'"{c}"' for c in columns)
                rows, missing = _read_table(db, name, quoted)
                out.executemany(
                    f'INSERT OR IGNORE INTO "{name}" ({quoted}) VALUES ({", ".join("?" for _ in columns)})', rows
                )
                if name == "entries":
                    kept, lost = len(rows), lost + missing
        return kept, lost
    finally:
        db.close()
        fresh.close()
