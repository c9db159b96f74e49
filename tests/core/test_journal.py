"""The write-ahead journal: Chroma failures lose nothing; replays are harmless."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from personal_core import HashingEmbedder, UserModeler
from personal_core.journal import Entry, Flusher, Journal, coalesce
from personal_core.records import Record


def _record(record_id: str, doc: str, user: str = "u") -> Record:
    return Record(record_id, user, "msg", doc, {"user_id": user}, np.zeros(4, dtype=np.float32))


def test_coalesce_keeps_the_final_state_per_record() -> None:
    entries = [
        Entry(1, "u", upserts=[_record("a", "v1"), _record("b", "v1")]),
        Entry(2, "u", upserts=[_record("a", "v2")], deletes=["b"]),
        Entry(3, "u", deletes=["c"], upserts=[_record("d", "v1")]),
    ]
    upserts, deletes = coalesce(entries)
    assert sorted((r.id, r.document) for r in upserts) == [("a", "v2"), ("d", "v1")]
    assert sorted(deletes) == [("u", "b"), ("u", "c")]


def test_flusher_retries_until_the_store_accepts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append("u", [_record("a", "v1")])
    applied: list[list[str]] = []
    failures = iter([True, True, False])

    def flaky_apply(upserts: list[Record], deletes: list[tuple[str, str]]) -> None:
        if next(failures):
            raise ConnectionError("chroma is down")
        applied.append([r.id for r in upserts])

    flusher = Flusher(journal, flaky_apply, interval=0.01, max_backoff=0.05)
    with caplog.at_level(logging.WARNING):
        flusher.start()
        flusher.wake()
        for _ in range(500):
            if applied:
                break
            __import__("time").sleep(0.01)
        flusher.stop()
    assert applied == [["a"]] and journal.pending() == 0
    assert flusher.failures == 2 and "chroma is down" in caplog.text


def test_chroma_outage_loses_no_observed_message(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = UserModeler(store_path, embedder=HashingEmbedder(), flush_interval=0.01)

    def down(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(m.internals.flusher, "_apply", down)
    for i in range(20):
        m.observe("ann", [{"id": f"m{i}", "role": "user", "content": f"I love thing{i}."}])
    assert m.context("ann", "thing3").text  # reads keep working from memory
    with pytest.raises(RuntimeError):
        m.flush_writes()
    assert m.stats()["journal_pending"] == 20
    m.close()  # close cannot flush either: the journal keeps everything
    with UserModeler(store_path, embedder=HashingEmbedder()) as again:
        assert [x.id for x in again.messages("ann")] == [f"m{i}" for i in range(20)]
        again.flush_writes()
        assert again.stats()["journal_pending"] == 0
        assert len(again.internals.store.load_user("ann")) == 20 + 20 + 1  # messages, insights, profile
