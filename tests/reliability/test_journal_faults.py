"""Journal faults: forget() beats in-flight work, poison entries are quarantined, disk faults raise typed errors,
and the message size limit covers metadata."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from personal_core import HashingEmbedder, InvalidInputError, Message, UserModeler
from personal_core.journal import Flusher, Journal, salvage
from personal_core.model import MAX_MESSAGE_CHARS
from personal_core.queue import DeriveQueue, PendingMessage
from personal_core.records import Record
from personal_core.stats import Counters

VICTIM = "victim-zq9x"


def _record(record_id: str, user: str = "ann", text: str = "") -> Record:
    doc = text or f"text of {record_id}"
    return Record(record_id, user, "msg", doc, {"user_id": user}, np.zeros(4, dtype=np.float32))


# -- forget() wins over in-flight work (item 6)
def test_a_failed_llm_call_after_forget_writes_nothing_of_the_user(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    queue = DeriveQueue(journal)

    def observed(db: sqlite3.Connection) -> None:
        DeriveQueue.add_pending(db, VICTIM, [PendingMessage("m1", 1, 10, 0.0)])
        DeriveQueue.add_counters(db, VICTIM, Counters(messages_observed=1))

    journal.append(VICTIM, [_record("r1", VICTIM)], also=observed)
    [batch] = queue.form_batches(VICTIM, [["m1"]])  # the deriver took the batch; its LLM call is in flight
    journal.drop_user(VICTIM, also=lambda db: DeriveQueue.drop_user(db, VICTIM))  # forget() meanwhile
    journal.scrub()
    # the LLM call fails now: the deriver records it
    counted = queue.count(Counters(llm_calls=1, reasoner_input_tokens=120), VICTIM)
    failed = queue.fail(batch, "LLM timeout", now=time.time(), max_attempts=5, backoff_base=1.0)
    journal.close()
    files = list(tmp_path.glob("j.sqlite3*"))
    assert files and all(VICTIM.encode() not in f.read_bytes() for f in files)
    assert failed.status == "gone" and not counted
    journal = Journal(tmp_path / "j.sqlite3")
    queue = DeriveQueue(journal)
    assert not queue.count(Counters(llm_calls=1), VICTIM, batch_id=batch.batch_id)
    assert queue.counters(VICTIM).rows() == {} and queue.batches() == []
    journal.close()


def test_forget_while_the_users_llm_call_is_in_flight_leaves_no_trace(store_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def llm(messages: list[dict[str, str]]) -> str:
        entered.set()
        release.wait(60)
        raise TimeoutError("the LLM timed out")

    m = UserModeler(store_path, embedder=HashingEmbedder(), llm=llm, batch_tokens=1)
    m.observe(VICTIM, [{"role": "user", "content": "I love zorbleberries."}])
    assert entered.wait(60), "the deriver never called the LLM"
    m.forget(VICTIM)  # while the call is in flight
    release.set()  # the call fails now; the deriver records the failure
    m.close()  # waits for the deriver
    leftovers = [f for f in store_path.rglob("*") if f.is_file() and VICTIM.encode() in f.read_bytes()]
    assert leftovers == []


def test_counters_of_known_users_are_still_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    queue = DeriveQueue(journal)
    journal.append("ann", [], also=lambda db: DeriveQueue.add_pending(db, "ann", [PendingMessage("m1", 1, 10, 0.0)]))
    [batch] = queue.form_batches("ann", [["m1"]])
    assert queue.count(Counters(llm_calls=1), "ann")
    once = queue.fail(batch, "boom", now=time.time(), max_attempts=5, backoff_base=1.0)
    assert once.attempts == 1
    assert queue.counters("ann").rows() == {"batches_formed": 1, "llm_calls": 1, "llm_failures": 1}
    failed = queue.fail(once, "boom", now=time.time(), max_attempts=2, backoff_base=1.0, counters=Counters(llm_calls=2))
    assert failed.status == "failed"
    assert queue.counters("ann").rows() == {"batches_formed": 1, "llm_calls": 3, "llm_failures": 2, "batches_failed": 1}
    journal.close()


# -- poison entries (item 7, flusher part)
def test_an_entry_chroma_refuses_is_quarantined_and_everyone_else_flows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append("poisoned-user", [_record("poison", "poisoned-user")])
    applied: list[str] = []

    def chroma(upserts: list[Record], deletes: list[tuple[str, str]]) -> None:
        if any(r.id == "poison" for r in upserts):
            raise ValueError("Expected metadata value to be a str, int, float or bool")
        applied.extend(r.id for r in upserts)

    flusher = Flusher(journal, chroma)  # quarantines after 3 refusals
    with caplog.at_level(logging.WARNING):
        for round_ in range(3):  # every round other users write, and their writes go through
            journal.append(f"user{round_}", [_record(f"ok{round_}", f"user{round_}")])
            journal.append("poisoned-user", [_record(f"later{round_}", "poisoned-user")])
            assert flusher.drain_once() >= 2
    assert {f"ok{i}" for i in range(3)} | {f"later{i}" for i in range(3)} <= set(applied)
    assert journal.quarantined() == 1 and journal.pending() == 0
    quarantine_log = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(quarantine_log) == 1 and "poison" in quarantine_log[0]
    from personal_core.journal import user_hash

    assert user_hash("poisoned-user") in quarantine_log[0] and "poisoned-user" not in caplog.text
    journal.close()
    again = Journal(tmp_path / "j.sqlite3")  # across reopen: still quarantined, nothing blocked
    assert again.quarantined() == 1 and again.pending() == 0
    again.append("bob", [_record("b1", "bob")])
    Flusher(again, chroma).flush()
    assert "b1" in applied and again.pending() == 0
    assert again.retry_quarantined() == 1 and again.pending() == 1 and again.quarantined() == 0
    again.close()


def test_an_outage_quarantines_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for i in range(10):
        journal.append(f"user{i}", [_record(f"r{i}", f"user{i}")])
    calls = 0

    def down(upserts: list[Record], deletes: list[tuple[str, str]]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("chroma is down")

    flusher = Flusher(journal, down, max_attempts=1, probe_entries=3)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            flusher.drain_once()
    assert journal.pending() == 10 and journal.quarantined() == 0
    assert calls == 5 * (1 + 3)  # the batch, then a few entries alone; not every entry every time
    journal.close()


def test_an_unreadable_journal_row_is_quarantined_and_the_rest_flows(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for i in range(3):
        journal.append("ann", [_record(f"r{i}")])
    with journal.transaction() as db:
        db.execute('UPDATE entries SET payload = \'{"upserts": [{"id": \' WHERE seq = 2')
    applied: list[str] = []
    Flusher(journal, lambda upserts, deletes: applied.extend(r.id for r in upserts)).flush()
    assert applied == ["r0", "r2"]
    assert journal.pending() == 0 and journal.quarantined() == 1
    assert [r.id for e in journal.for_user("ann") for r in e.upserts] == []
    journal.close()


def test_forget_drops_quarantined_entries_too(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    seq = journal.append(VICTIM, [_record("r1", VICTIM, "a secret text")])
    journal.quarantine([seq], "refused")
    journal.drop_user(VICTIM)
    journal.scrub()
    assert journal.quarantined() == 0
    journal.close()
    assert all(b"a secret text" not in f.read_bytes() for f in tmp_path.glob("j.sqlite3*"))


# -- typed errors (item 9, journal part)
def test_observe_on_a_full_disk_raises_store_full_and_stores_nothing(store_path: Path) -> None:
    from personal_core.errors import StoreFullError

    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        m.observe("ann", [{"id": "m0", "role": "user", "content": "I love hiking."}])
        db = m.internals.journal._db
        db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")  # the disk is full
        with pytest.raises(StoreFullError, match="full"):
            m.observe("ann", [{"id": "m1", "role": "user", "content": "I live in Oslo. " * 20_000}])
        assert [x.id for x in m.messages("ann")] == ["m0"]
        db.execute("PRAGMA max_page_count=1073741823")  # space again: it works
        m.observe("ann", [{"id": "m2", "role": "user", "content": "I want to learn Norwegian."}])
        assert [x.id for x in m.messages("ann")] == ["m0", "m2"]


def _journal_of(path: Path, entries: int) -> None:
    journal = Journal(path)
    for i in range(entries):
        journal.append(f"user{i % 7}", [_record(f"r{i}", f"user{i % 7}", f"text number {i} " + "x" * 400)])
    journal.close()


def test_a_truncated_journal_raises_corrupt_and_salvage_keeps_every_readable_entry(tmp_path: Path) -> None:
    from personal_core.errors import JournalCorruptError

    path = tmp_path / "j.sqlite3"
    _journal_of(path, 2000)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)  # the disk filled up, or a copy was cut short
    with pytest.raises(JournalCorruptError, match="salvage") as caught:
        Journal(path)
    assert str(path) in str(caught.value)
    kept, lost = salvage(path)
    assert 800 < kept < 2000 and lost >= 0
    assert list(tmp_path.glob("j.sqlite3.corrupt-*")), "the damaged file is kept aside"
    journal = Journal(path)
    assert journal.pending() == kept
    entries = journal.head(5000)
    assert len(entries) == kept and [e.seq for e in entries][:3] == [1, 2, 3]
    assert entries[0].upserts[0].document.startswith("text number 0 ")
    journal.close()


def test_an_unreadable_journal_file_is_salvaged_into_an_empty_one(tmp_path: Path) -> None:
    from personal_core.errors import JournalCorruptError

    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not a database" * 300)
    with pytest.raises(JournalCorruptError):
        Journal(path)
    assert salvage(path) == (0, -1)
    journal = Journal(path)
    assert journal.pending() == 0
    journal.close()


# -- limits (item 10)
def test_metadata_counts_toward_the_message_size_limit() -> None:
    image = "A" * MAX_MESSAGE_CHARS
    with pytest.raises(ValidationError, match="metadata"):
        Message(user_id="ann", role="user", content="look at this", metadata={"image": image})
    half = "B" * (MAX_MESSAGE_CHARS // 2)
    with pytest.raises(ValidationError, match="metadata"):
        Message(user_id="ann", role="user", content=half, metadata={"blob": half})
    ok = Message(user_id="ann", role="user", content=half, metadata={"blob": "B" * 1000})
    assert ok.metadata["blob"]


def test_observe_refuses_a_huge_attachment_in_metadata_before_storing_anything(store_path: Path) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBOR" * 1_000_000}}
        with pytest.raises(InvalidInputError, match="metadata"):
            m.observe("ann", [{"role": "user", "content": "what is in this picture?", "metadata": {"parts": [image]}}])
        assert m.messages("ann") == [] and m.stats()["journal_pending"] == 0
