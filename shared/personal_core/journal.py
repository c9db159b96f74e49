"""The durable local write-ahead journal in front of Chroma, its flusher and server-mode adoption.

The pieces live in :mod:`.journal_file` (the SQLite journal), :mod:`.flusher` (moving it to the store) and
:mod:`.adoption` (per-process journals of a shared store); this module gathers their public names.
"""

from __future__ import annotations

import os
from pathlib import Path

from .adoption import ClientJournals
from .flusher import Apply, Flusher
from .journal_file import JOURNAL_FILE, AlsoAdopt, Entry, Journal, coalesce, typed_sqlite_errors, user_hash
from .journal_salvage import salvage_journal


def salvage(file: str | os.PathLike[str]) -> tuple[int, int]:
    """Move a damaged journal aside and copy every readable row into a fresh one at the same path.

    Returns ``(kept, lost)``: entries kept, and entries that could not be read (-1: the file was unreadable
    altogether). The damaged file stays beside it (``<name>.corrupt-<time>``): it holds users' texts, so delete
    it once the salvage is checked. Call it while no process has the journal open.
    """
    return salvage_journal(Path(file))

__all__ = [
    "JOURNAL_FILE",
    "AlsoAdopt",
    "Apply",
    "ClientJournals",
    "Entry",
    "Flusher",
    "Journal",
    "coalesce",
    "salvage",
    "typed_sqlite_errors",
    "user_hash",
]
