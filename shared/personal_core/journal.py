"""A durable local write-ahead journal in front of Chroma.

A Chroma upsert costs 5-10 ms here while a SQLite WAL insert costs microseconds (``benchmarks/layout.py``),
so writes are first committed to this journal and a :class:`Flusher` thread moves them to Chroma in
coalesced batches. Journal rows are removed only after Chroma accepted them, and every row is an absolute
record state (never an increment), so replaying a row after a crash is harmless.

Deleted rows are overwritten (``secure_delete``), so erased users' text does not linger in free pages;
:meth:`Journal.scrub` also truncates the SQLite WAL file, which still holds old page images until a checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .locks import try_lock
from .records import Record
from .worker import BackgroundThread

logger = logging.getLogger(__name__)

JOURNAL_FILE = "personal-journal.sqlite3"


@dataclass
class Entry:
    """One journal row: records to upsert and record ids to delete, for one user."""

    seq: int
    user_id: str
    upserts: list[Record] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


class Journal:
    """Append-only log of pending Chroma writes in a SQLite file (WAL mode, thread-safe)."""

    def __init__(self, file: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.file = Path(file)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.file), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "user_id TEXT NOT NULL, payload TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS entries_user ON entries(user_id, seq)")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic SQLite transaction on the journal's file (other tables may join it)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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

    def for_user(self, user_id: str) -> list[Entry]:
        """Pending entries of one user, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, user_id, payload FROM entries WHERE user_id = ? ORDER BY seq", (user_id,)
            ).fetchall()
        return [self._entry(*row) for row in rows]

    def head(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` pending entries."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, user_id, payload FROM entries ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [self._entry(*row) for row in rows]

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
            lowest = int(db.execute("SELECT COALESCE(MIN(seq), 1) FROM entries").fetchone()[0])
            first = min(lowest, 1) - len(rows)
            seqs = [first + i for i in range(len(rows))]
            db.executemany(
                "INSERT INTO entries(seq, user_id, payload) VALUES (?, ?, ?)",
                [(seq, user_id, payload) for seq, (user_id, payload) in zip(seqs, rows, strict=True)],
            )
        return seqs

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove entries that reached Chroma."""
        with self._lock:
            self._db.executemany("DELETE FROM entries WHERE seq = ?", [(s,) for s in seqs])

    def drop_user(self, user_id: str, *, also: Callable[[sqlite3.Connection], None] | None = None) -> int:
        """Remove every pending entry of ``user_id`` (and run ``also`` in the same transaction)."""
        with self.transaction() as db:
            count = int(db.execute("DELETE FROM entries WHERE user_id = ?", (user_id,)).rowcount)
            if also is not None:
                also(db)
            return count

    def scrub(self) -> None:
        """Rewrite the file without free space and truncate the WAL: no deleted row survives on disk.

        ``secure_delete`` zeroes deleted rows in the pages it writes, but the WAL still holds earlier images
        of those pages until it is checkpointed; VACUUM also drops the (zeroed) free pages. Cost grows with the
        pending entries, normally few.
        """
        with self._lock:
            self._db.execute("VACUUM")
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError(f"the journal {self.file} is in use elsewhere: its WAL was not truncated")

    def pending(self) -> int:
        """Number of entries not yet in Chroma."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


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


class Flusher(BackgroundThread):
    """Background thread that drains a :class:`Journal` into a store's ``apply``.

    chromadb's embedded client holds the GIL during a write (a 200-record upsert stalls every other thread
    ~45 ms here), so writes are batched about once a second: few, bounded stalls instead of many.

    Failures are logged at WARNING and retried with exponential backoff; nothing is dropped. ``lock`` is
    held while a batch is applied, so callers can exclude the flusher (``forget`` does).
    """

    thread_name = "personal-flusher"

    def __init__(
        self,
        journal: Journal,
        apply: Callable[[list[Record], list[tuple[str, str]]], None],
        *,
        interval: float = 1.0,
        batch_entries: int = 1024,
        max_backoff: float = 30.0,
        pause: float = 0.02,
    ) -> None:
        super().__init__()
        self.journal = journal
        self._apply = apply
        self.interval = interval
        self.batch_entries = batch_entries
        self.max_backoff = max_backoff
        self.pause = pause
        self.lock = threading.RLock()
        self.failures = 0
        self._backoff = interval

    def drain_once(self) -> int:
        """Move one batch to the store; returns how many entries moved. Raises what the store raised."""
        with self.lock:
            entries = self.journal.head(self.batch_entries)
            if not entries:
                return 0
            upserts, deletes = coalesce(entries)
            self._apply(upserts, deletes)
            self.journal.ack(e.seq for e in entries)
            return len(entries)

    def flush(self) -> None:
        """Drain everything now, in the calling thread (raises if the store keeps failing)."""
        while self.drain_once():
            pass

    def _delay(self) -> float:
        return self._backoff

    def _step(self) -> None:
        try:
            # chromadb holds the GIL while it writes: drain in bounded batches, let other threads run between
            # them, and keep going only while there is a backlog (a full batch), not for every trickle.
            while self.drain_once() >= self.batch_entries and not self.stopping:
                self._stop.wait(self.pause)
            self._backoff = self.interval
        except Exception as exc:  # noqa: BLE001 - the flusher must survive any store failure
            self.failures += 1
            self._backoff = min(self.max_backoff, max(self.interval, self._backoff * 2))
            logger.warning("writing the journal to Chroma failed (retrying in %.1fs): %s", self._backoff, exc)


class ClientJournals:
    """Journals for a shared (client/server) store: one per process, in a folder per server and namespace.

    Each process holds a lock on its own journal. On open, journals whose owner died (their lock is free)
    are drained into the store and removed, so a crash in server mode loses nothing either.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = f"{uuid.uuid4().hex}.sqlite3"
        handle = try_lock(directory / f"{self.name}.lock")
        if handle is None:  # pragma: no cover - a fresh random name cannot be held
            raise RuntimeError("could not lock a new journal")
        self._handle = handle
        self.journal = Journal(directory / self.name)

    def adopt_orphans(
        self,
        apply: Callable[[list[Record], list[tuple[str, str]]], None],
        on_orphan: Callable[[Journal], object] | None = None,
    ) -> int:
        """Drain journals of dead processes into ``apply``; returns how many entries moved.

        ``on_orphan`` sees each orphaned journal first (to take over other state kept in its file).
        """
        moved = 0
        for file in sorted(self.directory.glob("*.sqlite3")):
            if file.name == self.name:
                continue
            lock = try_lock(file.with_name(f"{file.name}.lock"))
            if lock is None:
                continue  # its process is alive
            try:
                orphan = Journal(file)
                try:
                    if on_orphan is not None:
                        on_orphan(orphan)
                    flusher = Flusher(orphan, apply)
                    before = orphan.pending()
                    flusher.flush()
                    moved += before
                finally:
                    orphan.close()
                for leftover in (file, file.with_name(f"{file.name}-wal"), file.with_name(f"{file.name}-shm")):
                    leftover.unlink(missing_ok=True)
                file.with_name(f"{file.name}.lock").unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - leave it for the next open
                logger.warning("could not replay the orphaned journal %s: %s", file, exc)
            finally:
                lock.close()
        return moved

    def close(self) -> None:
        """Close the journal; remove it if it is empty (else it stays for the next process to adopt)."""
        empty = self.journal.pending() == 0
        self.journal.close()
        if empty:
            for leftover in (self.name, f"{self.name}-wal", f"{self.name}-shm", f"{self.name}.lock"):
                (self.directory / leftover).unlink(missing_ok=True)
        self._handle.close()
