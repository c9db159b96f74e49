"""The durable derivation queue: pending messages, batches, attempts and counters, in the journal's SQLite file.

Messages waiting for the LLM reasoner are rows of ``pending``; :func:`plan_batches` (pure) decides when they
become a batch (enough new user text, old enough, or a flush). A batch is done in the same transaction that
journals its result, so a crash at any point leaves it either pending (derived again later) or done (never
applied twice). Failed attempts back off exponentially; after ``max_attempts`` a batch is ``failed``: kept,
counted, and re-runnable with :meth:`DeriveQueue.retry_failed`.

``forget()`` wins over work in flight: a write about a batch whose row is gone (:meth:`DeriveQueue.fail`,
:meth:`DeriveQueue.count` with ``batch_id=``), or about a user the queue no longer knows, writes nothing, so an
LLM call that ends after the user was erased cannot put their id back into the file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ids import new_id
from .journal_file import Journal, user_hash
from .stats import Counters

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    user_id TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL, tokens INTEGER NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (user_id, message_id));
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, message_ids TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS batches_due ON batches(status, next_attempt);
CREATE TABLE IF NOT EXISTS counters (
    user_id TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (user_id, name));
"""

PENDING = "pending"
FAILED = "failed"
#: Status of a batch returned by :meth:`DeriveQueue.fail` when its row was gone (forgotten meanwhile).
GONE = "gone"
#: Counter of batches that found none of their messages (completed without deriving anything).


@dataclass(frozen=True)
class PendingMessage:
    """A message waiting to be derived: its id, order, user-text tokens and arrival time (epoch seconds)."""

    message_id: str
    seq: int
    tokens: int
    created: float


@dataclass(frozen=True)
class Batch:
    """Messages of one user derived together by one reasoner call."""

    batch_id: str
    user_id: str
    message_ids: tuple[str, ...]
    status: str
    attempts: int
    next_attempt: float
    last_error: str
    created: float


def plan_batches(
    pending: Sequence[PendingMessage], *, batch_tokens: int, max_age: float, now: float, force: bool
) -> tuple[list[list[str]], list[str]]:
    """Group a user's pending messages (in order) into batches of about ``batch_tokens`` tokens of user text.

    Full groups are always emitted; the trailing partial group only when ``force`` or when its oldest message
    waited at least ``max_age`` seconds. A trailing group without any user text (an assistant reply after the
    last batch) is not worth an LLM call: it is returned second, as ids to let go of without deriving.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    tokens = 0
    oldest = now
    for item in sorted(pending, key=lambda p: (p.seq, p.message_id)):
        if not current:
            oldest = item.created
        current.append(item.message_id)
        tokens += item.tokens
        if tokens >= batch_tokens:
            groups.append(current)
            current, tokens = [], 0
    if current and (force or now - oldest >= max_age):
        if tokens > 0:
            groups.append(current)
        else:
            return groups, current
    return groups, []


def backoff_seconds(attempts: int, base: float, cap: float = 3600.0) -> float:
    """Delay before attempt ``attempts + 1``: ``base * 2**(attempts-1)``, capped."""
    return float(min(cap, base * (2 ** max(attempts - 1, 0))))


class DeriveQueue:
    """Pending messages and batches of the derivation queue (shares the journal's SQLite file and lock)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        with journal.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # -- statements that join a journal transaction (``Journal.append(..., also=...)``)
    @staticmethod
    def add_pending(db: sqlite3.Connection, user_id: str, items: Iterable[PendingMessage]) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO pending(user_id, message_id, seq, tokens, created) VALUES (?, ?, ?, ?, ?)",
            [(user_id, p.message_id, p.seq, p.tokens, p.created) for p in items],
        )

    @staticmethod
    def complete(db: sqlite3.Connection, batch_id: str) -> None:
        db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))

    @staticmethod
    def add_counters(db: sqlite3.Connection, user_id: str, counters: Counters) -> None:
        DeriveQueue._add_rows(db, user_id, counters.rows())

    @staticmethod
    def _add_rows(db: sqlite3.Connection, user_id: str, rows: dict[str, float]) -> None:
        db.executemany(
            "INSERT INTO counters(user_id, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT(user_id, name) DO UPDATE SET value = value + excluded.value",
            [(user_id, name, value) for name, value in rows.items() if value],
        )

    @staticmethod
    def drop_user(db: sqlite3.Connection, user_id: str) -> None:
        for table in ("pending", "batches", "counters"):
            db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

    # -- standalone operations
    @staticmethod
    def _known(db: sqlite3.Connection, user_id: str, batch_id: str | None) -> bool:
        """Whether counters of ``user_id`` (about ``batch_id``) may still be written (not forgotten)."""
        if batch_id is not None:
            return db.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)).fetchone() is not None
        if not user_id:
            return True
        return any(
            db.execute(f"SELECT 1 FROM {table} WHERE user_id = ? LIMIT 1", (user_id,)).fetchone() is not None
            for table in ("batches", "pending", "counters")
        )

    def count(self, counters: Counters, user_id: str = "", *, batch_id: str | None = None) -> bool:
        """Add to counters outside any other write (e.g. a failed LLM call); returns whether anything was written.

        Nothing is written for a user the queue no longer knows (no batch, pending message or counter: forgotten),
        nor, with ``batch_id``, once that batch's row is gone: late work never writes an erased user's id back.
        """
        with self.journal.transaction() as db:
            if not self._known(db, user_id, batch_id):
                return False
            self.add_counters(db, user_id, counters)
        return True

    def complete_empty(self, batch: Batch) -> bool:
        """Complete a batch that found none of its messages: counted as done and as ``batches_empty``, logged.

        Its messages were deleted (``delete_session``/``delete_messages``) or lost; either way nothing was derived
        and it must not pass silently. Returns False (nothing written) if the batch is gone (forgotten).
        """
        with self.journal.transaction() as db:
            if not db.execute("DELETE FROM batches WHERE batch_id = ?", (batch.batch_id,)).rowcount:
                return False
            self.add_counters(db, batch.user_id, Counters(batches_done=1, batches_empty=1))
        logger.warning(
            "batch %s of user %s found none of its %d messages (deleted meanwhile, or lost): completed without "
            "deriving anything",
            batch.batch_id,
            user_hash(batch.user_id),
            len(batch.message_ids),
        )
        return True

    def release_pending(self, user_id: str, message_ids: Sequence[str]) -> None:
        """Let go of pending messages without deriving them (they stay stored; see :func:`plan_batches`)."""
        with self.journal.transaction() as db:
            db.executemany(
                "DELETE FROM pending WHERE user_id = ? AND message_id = ?", [(user_id, m) for m in message_ids]
            )

    def pending_users(self) -> list[str]:
        with self.journal.transaction() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT user_id FROM pending ORDER BY user_id")]

    def pending_of(self, user_id: str) -> list[PendingMessage]:
        with self.journal.transaction() as db:
            rows = db.execute(
                "SELECT message_id, seq, tokens, created FROM pending WHERE user_id = ? ORDER BY seq", (user_id,)
            ).fetchall()
        return [PendingMessage(*row) for row in rows]

    def form_batches(self, user_id: str, groups: Sequence[Sequence[str]], now: float | None = None) -> list[Batch]:
        """Turn groups of pending message ids into batches (one transaction).

        Only messages still pending when the transaction runs are taken: ``groups`` was planned from an earlier
        read, and another scheduler (the background worker, a ``flush()`` in another thread) may have batched
        some of them meanwhile. Taking them again would derive those messages twice.
        """
        now = time.time() if now is None else now
        made: list[Batch] = []
        with self.journal.transaction() as db:
            for group in groups:
                taken = [
                    m
                    for m in dict.fromkeys(group)
                    if db.execute("DELETE FROM pending WHERE user_id = ? AND message_id = ?", (user_id, m)).rowcount
                ]
                if not taken:
                    continue
                batch = Batch(new_id("batch"), user_id, tuple(taken), PENDING, 0, 0.0, "", now)
                db.execute(
                    "INSERT INTO batches(batch_id, user_id, message_ids, status, attempts, next_attempt, last_error, "
                    "created) VALUES (?, ?, ?, ?, 0, 0, '', ?)",
                    (batch.batch_id, user_id, json.dumps(list(taken)), PENDING, now),
                )
                made.append(batch)
            if made:
                self.add_counters(db, user_id, Counters(batches_formed=len(made)))
        return made

    def batches(
        self, *, status: str | None = None, user_id: str | None = None, due_by: float | None = None
    ) -> list[Batch]:
        """Batches, oldest first, optionally filtered by status, user, and ``next_attempt <= due_by``."""
        clauses: list[str] = []
        params: list[object] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if due_by is not None:
            clauses.append("next_attempt <= ?")
            params.append(due_by)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.journal.transaction() as db:
            rows = db.execute(
                "SELECT batch_id, user_id, message_ids, status, attempts, next_attempt, last_error, created "
                f"FROM batches {where} ORDER BY created, batch_id",
                params,
            ).fetchall()
        return [Batch(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def has_batch(self, batch_id: str) -> bool:
        with self.journal.transaction() as db:
            return db.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)).fetchone() is not None

    def fail(
        self,
        batch: Batch,
        error: str,
        *,
        now: float,
        max_attempts: int,
        backoff_base: float,
        counters: Counters | None = None,
    ) -> Batch:
        """Record a failed attempt: back off, or mark the batch failed after ``max_attempts``.

        ``counters`` (what the attempt cost: LLM calls, tokens) are added in the same transaction. If the batch's
        row is gone (the user was forgotten meanwhile) nothing at all is written and the returned batch has status
        :data:`GONE`.
        """
        attempts = batch.attempts + 1
        status = FAILED if attempts >= max_attempts else PENDING
        next_attempt = now + backoff_seconds(attempts, backoff_base)
        with self.journal.transaction() as db:
            updated = db.execute(
                "UPDATE batches SET attempts = ?, status = ?, next_attempt = ?, last_error = ? WHERE batch_id = ?",
                (attempts, status, next_attempt, error[:2000], batch.batch_id),
            ).rowcount
            if updated:
                failure = Counters(llm_failures=1, batches_failed=1 if status == FAILED else 0)
                self.add_counters(db, batch.user_id, (counters or Counters()) + failure)
        if not updated:
            status = GONE
        return Batch(
            batch.batch_id, batch.user_id, batch.message_ids, status, attempts, next_attempt, error, batch.created
        )

    def retry_failed(self, user_id: str | None = None) -> int:
        """Put failed batches back in the queue with a fresh attempt count; returns how many."""
        with self.journal.transaction() as db:
            if user_id is None:
                cursor = db.execute(
                    "UPDATE batches SET status = ?, attempts = 0, next_attempt = 0 WHERE status = ?", (PENDING, FAILED)
                )
            else:
                cursor = db.execute(
                    "UPDATE batches SET status = ?, attempts = 0, next_attempt = 0 WHERE status = ? AND user_id = ?",
                    (PENDING, FAILED, user_id),
                )
            return int(cursor.rowcount)

    def counters(self, user_id: str | None = None) -> Counters:
        """Summed counters (all users, or one)."""
        with self.journal.transaction() as db:
            if user_id is None:
                rows = db.execute("SELECT name, SUM(value) FROM counters GROUP BY name").fetchall()
            else:
                rows = db.execute("SELECT name, value FROM counters WHERE user_id = ?", (user_id,)).fetchall()
        return Counters.from_rows({name: value for name, value in rows})

    def sizes(self, user_id: str | None = None) -> dict[str, int]:
        """Pending messages, pending batches and failed batches (all users, or one)."""
        user_clause, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        with self.journal.transaction() as db:
            messages = db.execute(f"SELECT COUNT(*) FROM pending {user_clause}", params).fetchone()[0]
            rows = db.execute(f"SELECT status, COUNT(*) FROM batches {user_clause} GROUP BY status", params).fetchall()
        by_status = dict(rows)
        return {
            "pending_messages": int(messages),
            "pending_batches": int(by_status.get(PENDING, 0)),
            "failed_batches": int(by_status.get(FAILED, 0)),
        }

    def absorb(self, other: DeriveQueue) -> int:
        """Move another (orphaned) journal's entries AND queue into this one, in one transaction.

        The pending messages and batches travel with the journal entries holding those messages, so a batch can
        never arrive without its messages. Returns how many entries moved (0 if ``other`` was absorbed before).
        """
        return self.journal.absorb(other.journal, also=self.absorb_rows)

    @staticmethod
    def absorb_rows(db: sqlite3.Connection, src: sqlite3.Connection) -> int:
        """Copy the queue tables of ``src`` (an orphaned journal) into ``db`` (inside the adoption's transaction).

        Pass it as ``also=`` to :meth:`Journal.absorb` / ``ClientJournals.adopt_orphans``. Returns the pending
        messages and batches copied.
        """
        tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        pending = batches = []
        if "pending" in tables:
            pending = src.execute("SELECT user_id, message_id, seq, tokens, created FROM pending").fetchall()
            db.executemany(
                "INSERT OR IGNORE INTO pending(user_id, message_id, seq, tokens, created) VALUES (?, ?, ?, ?, ?)",
                pending,
            )
        if "batches" in tables:
            batches = src.execute(
                "SELECT batch_id, user_id, message_ids, status, attempts, next_attempt, last_error, created "
                "FROM batches"
            ).fetchall()
            db.executemany(
                "INSERT OR IGNORE INTO batches(batch_id, user_id, message_ids, status, attempts, next_attempt, "
                "last_error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batches,
            )
        if "counters" in tables:
            for user_id, name, value in src.execute("SELECT user_id, name, value FROM counters").fetchall():
                DeriveQueue._add_rows(db, user_id, {name: value})
        return len(pending) + len(batches)
