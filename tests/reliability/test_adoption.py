"""Server mode: a dead process's journal is adopted whole (messages and derivation queue together), exactly once."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from personal_core.journal import ClientJournals, Journal
from personal_core.queue import DeriveQueue, PendingMessage
from personal_core.records import Record
from personal_core.stats import Counters


def _record(record_id: str, user: str = "ann") -> Record:
    return Record(record_id, user, "msg", f"text of {record_id}", {"user_id": user}, np.zeros(4, dtype=np.float32))


def _dead_process(directory: Path, user: str = "ann", message: str = "m1") -> str:
    """A process that journaled a message, batched it for the LLM and died before flushing: returns its file."""
    dead = ClientJournals(directory)
    queue = DeriveQueue(dead.journal)
    pending = [PendingMessage(message, 1, 10, 0.0)]

    def also(db: sqlite3.Connection) -> None:
        DeriveQueue.add_pending(db, user, pending)
        DeriveQueue.add_counters(db, user, Counters(messages_observed=1))

    dead.journal.append(user, [_record(f"rec-{message}", user)], also=also)
    queue.form_batches(user, [[message]])
    dead.journal.close()  # the process dies: its journal and lock file stay behind, the locks are freed
    dead._handle.close()
    return dead.name


def _adopted_records(journal: Journal, user: str = "ann") -> list[str]:
    return [r.id for e in journal.for_user(user) for r in e.upserts]


def test_a_chroma_failure_during_adoption_cannot_split_batches_from_their_messages(tmp_path: Path) -> None:
    directory = tmp_path / "journals"
    _dead_process(directory)
    live = ClientJournals(directory)
    queue = DeriveQueue(live.journal)

    def one_chroma_write_fails(upserts: list[Record], deletes: list[tuple[str, str]]) -> None:
        raise ConnectionError("chroma write failed")

    # exactly what the facade does today
    live.adopt_orphans(one_chroma_write_fails, on_orphan=lambda journal: queue.absorb(DeriveQueue(journal)))
    assert [b.message_ids for b in queue.batches()] == [("m1",)]
    # the batch's message came with it: deriving it will find the message (before: an empty update, silently)
    assert _adopted_records(live.journal) == ["rec-m1"]
    assert queue.counters("ann").rows() == {"messages_observed": 1, "batches_formed": 1}
    assert [p.name for p in directory.glob("*.sqlite3")] == [live.name]
    live.close()


def test_adoption_is_one_transaction_and_never_moves_a_journal_twice(tmp_path: Path) -> None:
    directory = tmp_path / "journals"
    orphan_name = _dead_process(directory)
    # process B absorbed the orphan, then died before removing its file
    b = ClientJournals(directory)
    DeriveQueue(b.journal)
    orphan = Journal(directory / orphan_name)
    assert b.journal.absorb(orphan, also=DeriveQueue.absorb_rows) == 1
    assert b.journal.absorb(orphan, also=DeriveQueue.absorb_rows) == 0  # again: nothing moves twice
    orphan.close()
    b.journal.close()
    b._handle.close()
    # C finds both B's journal and the orphan B already holds: the orphan's content arrives once
    c = ClientJournals(directory)
    queue = DeriveQueue(c.journal)
    moved = c.adopt_orphans(also=DeriveQueue.absorb_rows)
    assert moved == 1
    assert _adopted_records(c.journal) == ["rec-m1"]
    assert len(queue.batches()) == 1
    assert queue.counters("ann").rows() == {"messages_observed": 1, "batches_formed": 1}
    assert [p.name for p in directory.glob("*.sqlite3")] == [c.name]
    c.close()


def test_a_batch_that_finds_no_messages_is_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    queue = DeriveQueue(journal)
    journal.append("ann", [], also=lambda db: DeriveQueue.add_pending(db, "ann", [PendingMessage("m1", 1, 10, 0.0)]))
    [batch] = queue.form_batches("ann", [["m1"]])

    with caplog.at_level(logging.WARNING):
        assert queue.complete_empty(batch)
    assert queue.counters("ann").batches_empty == 1 and queue.counters("ann").batches_done == 1
    assert queue.batches() == [] and "found none of its 1 messages" in caplog.text
    assert "ann" not in caplog.text  # logs carry a hash of the user id
    assert not queue.complete_empty(batch)  # gone: nothing counted twice
    assert queue.counters("ann").batches_empty == 1
    journal.close()
