"""Per-process journals of a shared (server) store, and adoption of the journals of dead processes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .flusher import Apply
from .journal_file import AlsoAdopt, Journal
from .locks import try_lock

logger = logging.getLogger(__name__)


class ClientJournals:
    """Journals for a shared (client/server) store: one per process, in a folder per server and namespace.

    Each process holds a lock on its own journal. On open, journals whose owner died (their lock is free) are
    adopted: their entries and derivation queue move into this process's journal in one transaction, and
    reach the store through its flusher. So a crash in server mode loses nothing, and a store outage during
    adoption cannot separate queued batches from the messages they derive.
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
        apply: Apply | None = None,
        on_orphan: Callable[[Journal], object] | None = None,
        *,
        also: AlsoAdopt | None = None,
    ) -> int:
        """Move journals of dead processes into ours (:meth:`Journal.absorb` with ``also``); returns entries moved.

        ``on_orphan`` sees each orphaned journal first (to take over other state kept in its file, in a
        transaction of its own: prefer ``also``, which joins the adoption's). ``apply`` is not used any more
        (adopted entries are flushed by this process's flusher); it is accepted for compatibility.
        """
        del apply
        orphans: list[tuple[Path, IO[str], Journal]] = []
        for file in sorted(self.directory.glob("*.sqlite3")):
            if file.name == self.name:
                continue
            lock = try_lock(file.with_name(f"{file.name}.lock"))
            if lock is None:
                continue  # its process is alive
            try:
                orphans.append((file, lock, Journal(file)))
            except Exception as exc:  # noqa: BLE001 - leave it for the next open
                lock.close()
                logger.warning("could not open the orphaned journal %s: %s", file, exc)
        known = self.journal.adopted_ids()
        for *_, orphan in orphans:
            known |= orphan.adopted_ids()
        moved = 0
        for file, lock, orphan in orphans:
            try:
                if orphan.journal_id not in known:  # else already inside a journal we hold or adopt
                    before = orphan.pending()
                    if on_orphan is not None:
                        on_orphan(orphan)
                    self.journal.absorb(orphan, also=also)
                    moved += before
                orphan.close()
                for leftover in (file, file.with_name(f"{file.name}-wal"), file.with_name(f"{file.name}-shm")):
                    leftover.unlink(missing_ok=True)
                file.with_name(f"{file.name}.lock").unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - leave it for the next open
                logger.warning("could not adopt the orphaned journal %s: %s", file, exc)
            finally:
                orphan.close()
                lock.close()
        return moved

    def close(self) -> None:
        """Close the journal; remove it if it is empty (else it stays for the next process to adopt)."""
        empty = self.journal.pending() == 0 and self.journal.quarantined() == 0
        self.journal.close()
        if empty:
            for leftover in (self.name, f"{self.name}-wal", f"{self.name}-shm", f"{self.name}.lock"):
                (self.directory / leftover).unlink(missing_ok=True)
        self._handle.close()
