"""The flusher: a background thread moving journaled writes to the store, isolating entries the store refuses."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from .journal_file import Entry, Journal, coalesce, user_hash
from .records import Record
from .worker import BackgroundThread

logger = logging.getLogger(__name__)

Apply = Callable[[list[Record], list[tuple[str, str]]], None]


class Flusher(BackgroundThread):
    """Background thread that drains a :class:`Journal` into a store's ``apply``.

    chromadb's embedded client holds the GIL during a write (a 200-record upsert stalls every other thread
    ~45 ms here), so writes are batched about once a second: few, bounded stalls instead of many.

    When a batch fails, its entries are tried one by one (users in random order, each user's entries in order;
    a later write of a record whose earlier write failed waits). If none goes through (``probe_entries`` tried),
    the store is down: the batch is retried with exponential backoff and no entry is blamed. If some go through,
    the failed ones were refused: after ``max_attempts`` refusals an entry is quarantined (see
    :meth:`Journal.quarantine`), so one poison entry never blocks everyone. (A refused entry alone in the
    journal cannot be told from an outage: it is retried until another write goes through.) ``lock`` is held
    while a batch is applied, so callers can exclude the flusher (``forget`` does).

    ``on_idle`` (if given) runs once in the flusher's thread when ``idle_after`` seconds passed since the last
    batch it wrote: the backend gives chromadb's in-memory indexes back between bursts of writes.
    """

    thread_name = "personal-flusher"

    def __init__(
        self,
        journal: Journal,
        apply: Apply,
        *,
        interval: float = 1.0,
        batch_entries: int = 1024,
        max_backoff: float = 30.0,
        pause: float = 0.02,
        max_attempts: int = 3,
        probe_entries: int = 3,
        on_idle: Callable[[], object] | None = None,
        idle_after: float = 30.0,
    ) -> None:
        super().__init__()
        self.journal = journal
        self._apply = apply
        self.interval = interval
        self.batch_entries = batch_entries
        self.max_backoff = max_backoff
        self.pause = pause
        self.max_attempts = max_attempts
        self.probe_entries = probe_entries
        self.lock = threading.RLock()
        self.failures = 0
        self._backoff = interval
        self.on_idle = on_idle
        self.idle_after = idle_after
        self._last_write: float | None = None  # monotonic time of the last batch written since on_idle ran

    def drain_once(self) -> int:
        """Move one batch to the store; returns how many entries left the queue (applied or quarantined).

        Raises what the store raised when it accepted nothing (it is down).
        """
        with self.lock:
            entries = self.journal.head(self.batch_entries)
            if not entries:
                return 0
            upserts, deletes = coalesce(entries)
            try:
                self._apply(upserts, deletes)
            except Exception as exc:  # isolate: the store is down, or it refuses one entry?
                if len(entries) == 1:
                    raise  # alone, it cannot be told from an outage
                return self._isolate(entries, exc)
            self.journal.ack(e.seq for e in entries)
            self._last_write = time.monotonic()
            return len(entries)

    def _isolate(self, entries: list[Entry], batch_error: Exception) -> int:
        """Apply ``entries`` one by one after their batch failed; quarantine entries refused while others pass."""
        by_user: dict[str, list[Entry]] = {}
        for entry in entries:
            by_user.setdefault(entry.user_id, []).append(entry)
        users = list(by_user)
        random.shuffle(users)  # several poison entries at the head must not always look like an outage
        applied: list[int] = []
        refused: list[tuple[Entry, Exception]] = []
        held: set[tuple[str, str]] = set()  # records of refused entries: later writes of them must wait
        for user in users:
            for entry in by_user[user]:
                if not applied and len(refused) >= self.probe_entries:
                    raise batch_error  # nothing goes through: the store is down, stop knocking
                ids = {(user, record_id) for record_id in entry.record_ids()}
                if ids & held:
                    held |= ids
                    continue
                try:
                    self._apply(*coalesce([entry]))
                except Exception as exc:  # noqa: BLE001 - kept with the entry
                    refused.append((entry, exc))
                    held |= ids
                    continue
                applied.append(entry.seq)
        if not applied:
            raise batch_error
        self.journal.ack(applied)
        self._last_write = time.monotonic()
        quarantined = 0
        for entry, error in refused:  # others went through: these are refused, not an outage
            attempts = self.journal.record_failure(entry.seq)
            if attempts >= self.max_attempts:
                quarantined += self.journal.quarantine(
                    [entry.seq], f"refused by the store {attempts} times: {type(error).__name__}: {error}"
                )
            else:
                logger.warning(
                    "the store refused journal entry %d of user %s (attempt %d of %d, others went through): %s",
                    entry.seq,
                    user_hash(entry.user_id),
                    attempts,
                    self.max_attempts,
                    error,
                )
        return len(applied) + quarantined

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
            self._maybe_idle()
        except Exception as exc:  # noqa: BLE001 - the flusher must survive any store failure
            self.failures += 1
            self._backoff = min(self.max_backoff, max(self.interval, self._backoff * 2))
            logger.warning("writing the journal to Chroma failed (retrying in %.1fs): %s", self._backoff, exc)

    def _maybe_idle(self) -> None:
        """Run ``on_idle`` once ``idle_after`` seconds after the last write (once per burst of writes)."""
        last = self._last_write
        if self.on_idle is None or last is None or time.monotonic() - last < self.idle_after:
            return
        self._last_write = None
        try:
            with self.lock:
                self.on_idle()
        except Exception as exc:  # noqa: BLE001 - an idle chore must never stop the flusher
            logger.warning("the flusher's idle step failed: %s", exc)
