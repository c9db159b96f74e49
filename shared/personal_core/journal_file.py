"""A durable local write-ahead journal in front of Chroma.

A Chroma upsert costs 5-10 ms here while a SQLite WAL insert costs microseconds (``benchmarks/layout.py``),
so writes are first committed to this journal and a :class:`Flusher` thread moves them to Chroma in
coalesced batches. Journal rows are removed only after Chroma accepted them, and every row is an absolute
record state (never an increment), so replaying a row after a crash is harmless.

One process at a time: the journal file itself is locked for the life of a :class:`Journal` (a second opener,
in this process or another, gets :class:`StoreLockedError`). An entry Chroma keeps refusing while it accepts
the others, or a row that cannot be read back, is moved to a quarantine table (kept, counted, logged, and
re-queued by :meth:`Journal.retry_quarantined`) instead of blocking every later write.

Deleted rows are overwritten (``secure_delete``), so erased users' text does not linger in free pages;
:meth:`Journal.scrub` also truncates the SQLite WAL file, which still holds old page images until a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import JournalCorruptError, StoreFullError, StoreLockedError
from .locks import HeldLock, try_lock_file
from .records import Record

logger = logging.getLogger(__name__)

JOURNAL_FILE = "personal-journal.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_user ON entries(user_id, seq);
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY, user_id TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL,
    error TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS adopted (journal_id TEXT PRIMARY KEY);
"""

_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26

#: Copies rows of an adopted journal's other tables (``(live, orphan)`` connections) inside the adoption.
AlsoAdopt = Callable[[sqlite3.Connection, sqlite3.Connection], object]


def user_hash(user_id: str) -> str:
    """A short, stable digest of a user id for logs (the id itself may be personal data)."""
    return hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def salvage_hint(file: Path) -> str:
    """How to run the salvage of a damaged journal (for error messages)."""
    return (
        f'run `python -c "from personal_core.journal import salvage; print(salvage({str(file)!r}))"` '
        "to move it aside and keep every readable entry in a fresh journal"
    )


@contextmanager
def typed_sqlite_errors(file: Path) -> Iterator[None]:
    """Turn a full disk into :class:`StoreFullError` and a damaged file into :class:`JournalCorruptError`."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        code = int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF
        text = str(exc).lower()
        if code == _SQLITE_FULL or "disk is full" in text:
            raise StoreFullError(f"the disk holding the journal {file} is full: {exc}") from exc
        corrupt = code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text or "not a database" in text
        if corrupt and not isinstance(exc, sqlite3.IntegrityError):
            raise JournalCorruptError(f"the journal {file} is damaged ({exc}); {salvage_hint(file)}") from exc
        raise


@dataclass
class Entry:
    """One journal row: records to upsert and record ids to delete, for one user."""

    seq: int
    user_id: str
    upserts: list[Record] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def record_ids(self) -> list[str]:
        """Ids of the records this entry writes or deletes."""
        return [r.id for r in self.upserts] + list(self.deletes)


class Journal:
    """Append-only log of pending Chroma writes in a SQLite file (WAL mode, thread-safe, one process)."""

    # Journals open in this process: a second opener is refused before it opens a descriptor of the file (closing
    # one would drop this process's fcntl locks on it, which SQLite relies on).
    _held: ClassVar[set[str]] = set()
    _held_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, file: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.file = Path(file)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._key = str(self.file.resolve())
        with self._held_guard:
            if self._key in self._held:
                raise StoreLockedError(
                    f"the journal {self.file} is already open in this process: share that UserModeler, or give "
                    "each one its own journal_path="
                )
            lock = try_lock_file(self.file)
            if lock is None:
                raise StoreLockedError(
                    f"the journal {self.file} is in use by another process: two processes cannot share one "
                    "journal (their derivations would be lost); give each its own journal_path=, or none"
                )
            self._held.add(self._key)
        self._file_lock: HeldLock = lock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.file), isolation_level=None, check_same_thread=False)
        except BaseException:
            self._release()
            raise
        try:
            with typed_sqlite_errors(self.file):
                self._setup(durable)
        except BaseException:
            self._db.close()
            self._release()
            raise

    def _setup(self, durable: bool) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("PRAGMA secure_delete=ON")
        problems = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise JournalCorruptError(
                f"the journal {self.file} is damaged ({'; '.join(problems[:3])}); {salvage_hint(self.file)}"
            )
        db.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        columns = {r[1] for r in db.execute("PRAGMA table_info(entries)")}
        if "attempts" not in columns:
            db.execute("ALTER TABLE entries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('journal_id', ?)", (uuid.uuid4().hex,))
        db.execute("COMMIT")
        self.journal_id = str(db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0])

    def _release(self) -> None:
        self._file_lock.close()
        with self._held_guard:
            self._held.discard(self._key)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, typed_sqlite_errors(self.file):
            yield self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic SQLite transaction on the journal's file (other tables may join it).

        A full disk raises :class:`StoreFullError`, a damaged file :class:`JournalCorruptError`.
        """
        with self._lock, typed_sqlite_errors(self.file):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (e.g. on a full disk)
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def append(
        self,
        user_id: str,
        upserts: Iterable[Record] = (),
        deletes: Iterable[str] = (),
        *,
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Commit one entry (and ``also``'s statements, atomically). Durable against a process crash on return."""
        payload = json.dumps({"upserts": [r.to_json() for r in upserts], "deletes": list(deletes)}, ensure_ascii=False)
        with self.transaction() as db:
            cursor = db.execute("INSERT INTO entries(user_id, payload) VALUES (?, ?)", (user_id, payload))
            if also is not None:
                also(db)
            return int(cursor.lastrowid or 0)

    @staticmethod
    def _entry(seq: int, user_id: str, payload: str) -> Entry:
        data = json.loads(payload)
        return Entry(
            seq=seq,
            user_id=user_id,
            upserts=[Record.from_json(r) for r in data.get("upserts", [])],
            deletes=list(data.get("deletes", [])),
        )

    def _parsed(self, rows: Iterable[tuple[int, str, str]]) -> list[Entry]:
        """Entries of ``rows``; a row that cannot be read back is quarantined (logged) instead of raising."""
        entries: list[Entry] = []
        for seq, user_id, payload in rows:
            try:
                entries.append(self._entry(seq, user_id, payload))
            except Exception as exc:  # noqa: BLE001 - JSONDecodeError, KeyError, bad base64...: one row only
                self.quarantine([seq], f"unreadable journal row: {type(exc).__name__}: {exc}")
        return entries

    def for_user(self, user_id: str) -> list[Entry]:
        """Pending entries of one user, oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT seq, user_id, payload FROM entries WHERE user_id = ? ORDER BY seq", (user_id,)
            ).fetchall()
        return self._parsed(rows)

    def head(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` pending entries."""
        with self._read() as db:
            rows = db.execute("SELECT seq, user_id, payload FROM entries ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return self._parsed(rows)

    def prepend(self, records: Sequence[Record], *, chunk: int = 500) -> list[int]:
        """Journal ``records`` as upserts ordered *before* every pending entry (one transaction); returns seqs.

        Used to keep a durable copy of records that are about to be rewritten in Chroma: replayed after a crash,
        they come first, so newer pending writes of the same records still win.
        """
        by_user: dict[str, list[Record]] = {}
        for record in records:
            by_user.setdefault(record.user_id, []).append(record)
        rows = [
            (user_id, json.dumps({"upserts": [r.to_json() for r in group[i : i + chunk]]}, ensure_ascii=False))
            for user_id, group in by_user.items()
            for i in range(0, len(group), chunk)
        ]
        with self.transaction() as db:
            lowest = int(
                db.execute(
                    "SELECT MIN(COALESCE((SELECT MIN(seq) FROM entries), 1), COALESCE((SELECT MIN(seq) FROM "
                    "quarantine), 1))"
                ).fetchone()[0]
            )
            first = min(lowest, 1) - len(rows)
            seqs = [first + i for i in range(len(rows))]
            db.executemany(
                "INSERT INTO entries(seq, user_id, payload) VALUES (?, ?, ?)",
                [(seq, user_id, payload) for seq, (user_id, payload) in zip(seqs, rows, strict=True)],
            )
        return seqs

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove entries that reached Chroma."""
        with self.transaction() as db:
            db.executemany("DELETE FROM entries WHERE seq = ?", [(s,) for s in seqs])

    def drop_user(self, user_id: str, *, also: Callable[[sqlite3.Connection], None] | None = None) -> int:
        """Remove every pending (and quarantined) entry of ``user_id`` (and run ``also`` in the same transaction)."""
        with self.transaction() as db:
            count = int(db.execute("DELETE FROM entries WHERE user_id = ?", (user_id,)).rowcount)
            db.execute("DELETE FROM quarantine WHERE user_id = ?", (user_id,))
            if also is not None:
                also(db)
            return count

    # -- poison entries
    def record_failure(self, seq: int) -> int:
        """Count one more refusal of entry ``seq`` by the store; returns its refusals so far (0 if it is gone)."""
        with self.transaction() as db:
            db.execute("UPDATE entries SET attempts = attempts + 1 WHERE seq = ?", (seq,))
            row = db.execute("SELECT attempts FROM entries WHERE seq = ?", (seq,)).fetchone()
        return int(row[0]) if row else 0

    def quarantine(self, seqs: Iterable[int], error: str) -> int:
        """Move entries out of the flush queue into the quarantine table (kept for :meth:`retry_quarantined`).

        Logged at WARNING with the user id's hash and the entries' record ids; returns how many moved.
        """
        moved: list[tuple[int, str, str]] = []
        with self.transaction() as db:
            for seq in seqs:
                row = db.execute("SELECT user_id, payload FROM entries WHERE seq = ?", (seq,)).fetchone()
                if row is None:
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO quarantine(seq, user_id, payload, attempts, error, at) "
                    "SELECT seq, user_id, payload, attempts, ?, ? FROM entries WHERE seq = ?",
                    (error[:2000], time.time(), seq),
                )
                db.execute("DELETE FROM entries WHERE seq = ?", (seq,))
                moved.append((seq, str(row[0]), str(row[1])))
        for seq, user_id, payload in moved:
            try:
                ids: list[str] | str = self._entry(seq, user_id, payload).record_ids()[:10]
            except Exception:  # noqa: BLE001 - an unreadable row has no readable ids
                ids = "unreadable"
            logger.warning(
                "quarantined journal entry %d of user %s (records %s): %s. It is kept; "
                "retry_quarantined() puts it back in the flush queue",
                seq,
                user_hash(user_id),
                ids,
                error[:300],
            )
        return len(moved)

    def quarantined(self, user_id: str | None = None) -> int:
        """How many entries are quarantined (all users, or one)."""
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        with self._read() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM quarantine {where}", params).fetchone()[0])

    def retry_quarantined(self, user_id: str | None = None) -> int:
        """Put quarantined entries back in the flush queue, at their old place; returns how many.

        A retried entry is applied as it was: if a later write of the same record reached the store meanwhile,
        the retried (older) state replaces it.
        """
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        with self.transaction() as db:
            rows = db.execute(f"SELECT seq, user_id, payload FROM quarantine {where} ORDER BY seq", params).fetchall()
            for seq, uid, payload in rows:
                taken = db.execute("SELECT 1 FROM entries WHERE seq = ?", (seq,)).fetchone() is not None
                if taken:  # its place was reused (prepend): append it instead
                    db.execute("INSERT INTO entries(user_id, payload) VALUES (?, ?)", (uid, payload))
                else:
                    db.execute("INSERT INTO entries(seq, user_id, payload) VALUES (?, ?, ?)", (seq, uid, payload))
                db.execute("DELETE FROM quarantine WHERE seq = ?", (seq,))
        return len(rows)

    # -- adoption of another (dead) process's journal
    def adopted_ids(self) -> set[str]:
        """Ids of the journals whose content was moved into this one."""
        with self._read() as db:
            return {str(r[0]) for r in db.execute("SELECT journal_id FROM adopted")}

    def absorb(self, other: Journal, *, also: AlsoAdopt | None = None) -> int:
        """Move ``other``'s entries (and, through ``also``, its other tables) into this journal in ONE transaction.

        The entries go after this journal's own, in their order; they reach the store through this journal's
        flusher. ``other``'s id is recorded in the same transaction, so absorbing it again (a crash before its
        file was removed) moves nothing twice. Returns how many entries moved.
        """
        with other._lock, typed_sqlite_errors(other.file):
            src = other._db
            entries = src.execute("SELECT user_id, payload FROM entries ORDER BY seq").fetchall()
            quarantined = src.execute("SELECT user_id, payload, attempts, error, at FROM quarantine").fetchall()
            markers = [(other.journal_id,), *src.execute("SELECT journal_id FROM adopted").fetchall()]
            with self.transaction() as db:
                if db.execute("SELECT 1 FROM adopted WHERE journal_id = ?", (other.journal_id,)).fetchone():
                    return 0
                db.executemany("INSERT INTO entries(user_id, payload) VALUES (?, ?)", entries)
                db.executemany(
                    "INSERT INTO quarantine(user_id, payload, attempts, error, at) VALUES (?, ?, ?, ?, ?)", quarantined
                )
                if also is not None:
                    also(db, src)
                db.executemany("INSERT OR IGNORE INTO adopted(journal_id) VALUES (?)", markers)
        return len(entries)

    # -- maintenance
    def scrub(self) -> None:
        """Rewrite the file without free space and truncate the WAL: no deleted row survives on disk.

        ``secure_delete`` zeroes deleted rows in the pages it writes, but the WAL still holds earlier images
        of those pages until it is checkpointed; VACUUM also drops the (zeroed) free pages. Cost grows with the
        pending entries, normally few.
        """
        with self._read() as db:
            db.execute("VACUUM")
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError(f"the journal {self.file} is in use elsewhere: its WAL was not truncated")

    def pending(self) -> int:
        """Number of entries not yet in Chroma (quarantined ones not included)."""
        with self._read() as db:
            return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        """Close the file and release its lock."""
        with self._lock:
            if self._file_lock.closed:
                return
            self._db.close()
            self._release()


def coalesce(entries: Iterable[Entry]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Final state per record id over ``entries`` in order: records to upsert, ``(user, id)`` to delete."""
    final: dict[str, Record | tuple[str, str]] = {}
    for entry in entries:
        for record in entry.upserts:
            final[record.id] = record
        for record_id in entry.deletes:
            final[record_id] = (entry.user_id, record_id)
    upserts = [v for v in final.values() if isinstance(v, Record)]
    deletes = [v for v in final.values() if isinstance(v, tuple)]
    return upserts, deletes
