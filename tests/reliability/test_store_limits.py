"""Scale: a shard far past SQLite's 32,766 bound variables still loads, exports and forgets after a restart.

chromadb 1.5.9 fetches the metadata of a ``get`` with one ``IN (...)`` over every matched id, so one unpaged
``get`` of more than 32,766 records fails ("too many SQL variables"). The store pages every get that can grow.

Two runs of one scenario: by default with the store's page lowered to a few dozen records and every Chroma
``get`` watched (none may return more records than a page; the paged path must be taken), which proves the paging
in a second; and, marked slow (``pytest -m slow``), at real scale: 40,001 records in one shard against real
chromadb, about a minute (writing 40,001 records into Chroma takes most of it, twice: once more for the rebuild).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import personal_core.store as store_module
from personal_core import HashingEmbedder, UserModeler
from personal_core.model import Message, Role
from personal_core.records import Record, StoredMessage, message_to_record
from personal_core.scrub import scan

BIG = "big-user-4k2"
VICTIM = "victim-zq9x"
SECRET = "snorkelwumpus"
RECORDS = 40_001
DIM = 8


def bulk_records(user_id: str, count: int) -> list[Record]:
    """``count`` message records of ``user_id`` with small random unit vectors (fast to write)."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(count):
        message = Message(id=f"b{i}", user_id=user_id, role=Role.USER, content=f"bulk note {i}", created_at=when)
        out.append(message_to_record(StoredMessage(message=message, seq=i), vectors[i]))
    return out


def scenario(store_path: Path, records: int) -> None:
    """A shard of ``records`` records and a victim: restart, read all, forget the victim (the shard is rebuilt),
    restart, forget the big user; nothing of either is left on disk."""
    with UserModeler(store_path, embedder=HashingEmbedder(DIM), shards=1) as m:
        m.internals.store.apply(bulk_records(BIG, records))
        m.observe(VICTIM, [{"id": "v1", "role": "user", "content": f"I collect {SECRET} shells."}])
        m.flush_writes()

    with UserModeler(store_path, embedder=HashingEmbedder(DIM)) as m:  # a restart: nothing cached
        assert len(m.internals.store.load_user(BIG)) == records
        assert len(m.messages(BIG)) == records
        assert len(m.export(BIG)["messages"]) == records
        assert len(m.internals.store.shard_records(0)) == records + len(m.internals.store.load_user(VICTIM))
        m.forget(VICTIM)  # rebuilds the one shard: every big-user record kept
        assert m.messages(VICTIM) == []

    wanted = {"user id": VICTIM.encode(), "secret": SECRET.encode()}
    assert scan([store_path], wanted).total_hits == 0
    with UserModeler(store_path, embedder=HashingEmbedder(DIM)) as m:
        assert len(m.messages(BIG)) == records
        assert [x.content for x in m.messages(BIG)[:3]] == ["bulk note 0", "bulk note 1", "bulk note 2"]
        assert m.messages(VICTIM) == []
        m.forget(BIG)
        assert m.messages(BIG) == [] and m.internals.store.shard_records(0) == []
    assert scan([store_path], {"big user": BIG.encode()}).total_hits == 0


SMALL_PAGE = 40


def test_every_growing_get_is_paged(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario with a page of 40 records and 5 pages' worth in the shard: every Chroma ``get`` that returns
    data returns at most a page (so with the real page of 5,000 none comes near SQLite's 32,766), and the paged
    path really ran. Record-id-only gets read no metadata and are not bounded (proved at scale below)."""
    from chromadb.api.models.Collection import Collection

    monkeypatch.setattr(store_module, "PAGE", SMALL_PAGE)
    sizes: list[int] = []
    paged: list[int] = []
    original_get = Collection.get

    def watched_get(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = original_get(self, *args, **kwargs)
        if kwargs.get("include", True) != []:  # a get that reads metadata, documents or vectors
            sizes.append(len(got["ids"]))
            if kwargs.get("ids") is not None:
                paged.append(len(got["ids"]))
        return got

    monkeypatch.setattr(Collection, "get", watched_get)
    scenario(store_path, 5 * SMALL_PAGE + 3)
    assert sizes and max(sizes) <= SMALL_PAGE, f"a get returned {max(sizes)} records, more than a page"
    assert len(paged) >= 6 and max(paged) == SMALL_PAGE, "the big shard was read page by page"


@pytest.mark.slow
def test_a_shard_past_sqlites_variable_limit_loads_exports_and_forgets(store_path: Path) -> None:
    assert RECORDS > 32_766 and store_module.PAGE < 32_766
    scenario(store_path, RECORDS)
