"""The durable local write-ahead journal in front of Chroma, its flusher and server-mode adoption.

The pieces live in :mod:`.journal_file` (the SQLite journal), :mod:`.flusher` (moving it to the store) and
:mod:`.adoption` (per-process journals of a shared store); this module gathers their public names.
"""

from __future__ import annotations

from .adoption import ClientJournals
from .flusher import Apply, Flusher
from .journal_file import JOURNAL_FILE, AlsoAdopt, Entry, Journal, coalesce, typed_sqlite_errors, user_hash

__all__ = [
    "JOURNAL_FILE",
    "AlsoAdopt",
    "Apply",
    "ClientJournals",
    "Entry",
    "Flusher",
    "Journal",
    "coalesce",
    "typed_sqlite_errors",
    "user_hash",
]
