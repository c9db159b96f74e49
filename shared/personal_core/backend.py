"""The storage stack a modeler runs on: the Chroma store, its write-ahead journal, the derive queue and the
flusher that moves the journal to Chroma; opened and closed together."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chroma_client import personal_home
from .embedding import Embedder, choose_embedder
from .journal import JOURNAL_FILE, ClientJournals, Flusher, Journal
from .queue import DeriveQueue
from .store import ChromaStore

logger = logging.getLogger(__name__)


@dataclass
class Backend:
    """The store and what keeps it durable. ``client_journals`` is set in server mode (one journal a process)."""

    store: ChromaStore
    embedder: Embedder
    journal: Journal
    queue: DeriveQueue
    flusher: Flusher
    client_journals: ClientJournals | None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        client: Any | None,
        namespace: str,
        embedder: Any | None,
        shards: int | None,
        journal_path: Path | None,
        flush_interval: float,
    ) -> Backend:
        """Open (or create) the store, pin its embedder, open the journal and adopt journals left by crashed
        processes (server mode); start the flusher."""
        store = ChromaStore(path, client=client, namespace=namespace)
        try:
            chosen = choose_embedder(embedder, store.read_pin())
            store.ensure_pin(chosen.name, chosen.dimension, shards)
            client_journals: ClientJournals | None = None
            if journal_path is not None:
                journal = Journal(journal_path)
            elif store.path is not None:
                name = JOURNAL_FILE if namespace == "personal" else f"{namespace}-{JOURNAL_FILE}"
                journal = Journal(store.path / name)
            else:
                key = hashlib.sha256(store.identity().encode()).hexdigest()[:16]
                client_journals = ClientJournals(personal_home() / "journals" / key)
                journal = client_journals.journal
            queue = DeriveQueue(journal)
            if client_journals is not None:
                # the orphans' entries and queue rows move into our journal in one transaction each
                moved = client_journals.adopt_orphans(also=DeriveQueue.absorb_rows)
                if moved:
                    logger.warning("replayed %d journal entries left by a process that stopped before flushing", moved)
        except BaseException:
            store.close()
            raise
        # between bursts of writes, chromadb's in-memory indexes of big shards are given back (see ChromaStore)
        flusher = Flusher(journal, store.apply, interval=flush_interval, on_idle=store.release_idle_memory)
        flusher.start()
        return cls(store, chosen, journal, queue, flusher, client_journals)

    def flush_quietly(self) -> None:
        """Move the journal to Chroma now; on failure it stays journaled (logged), the flusher retries."""
        try:
            self.flusher.flush()
        except Exception as exc:  # noqa: BLE001 - the journal keeps it; the flusher retries
            logger.warning("could not move the journal to Chroma yet (it stays journaled): %s", exc)

    def close(self) -> None:
        """Stop the flusher, move what it can to Chroma (the rest stays journaled) and release the store."""
        self.flusher.stop()
        self.flush_quietly()
        if self.client_journals is not None:
            self.client_journals.close()
        else:
            self.journal.close()
        self.store.close()
