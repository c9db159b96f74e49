"""Scale: a shard far past SQLite's 32,766 bound variables still loads, exports and forgets after a restart.

chromadb 1.5.9 fetches the metadata of a ``get`` with one ``IN (...)`` over every matched id, so one unpaged
``get`` of more than 32,766 records fails ("too many SQL variables"). The store pages every get that can grow.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.slow
def test_a_shard_past_sqlites_variable_limit_loads_exports_and_forgets(store_path: Path) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder(DIM), shards=1) as m:
        m.internals.store.apply(bulk_records(BIG, RECORDS))
        m.observe(VICTIM, [{"id": "v1", "role": "user", "content": f"I collect {SECRET} shells."}])
        m.flush_writes()

    with UserModeler(store_path, embedder=HashingEmbedder(DIM)) as m:  # a restart: nothing cached
        assert len(m.internals.store.load_user(BIG)) == RECORDS
        assert len(m.messages(BIG)) == RECORDS
        assert len(m.export(BIG)["messages"]) == RECORDS
        assert len(m.internals.store.shard_records(0)) == RECORDS + len(m.internals.store.load_user(VICTIM))
        m.forget(VICTIM)  # rebuilds the one shard: 40,001 records kept
        assert m.messages(VICTIM) == []

    wanted = {"user id": VICTIM.encode(), "secret": SECRET.encode()}
    assert scan([store_path], wanted).total_hits == 0
    with UserModeler(store_path, embedder=HashingEmbedder(DIM)) as m:
        assert len(m.messages(BIG)) == RECORDS
        assert m.messages(VICTIM) == []
        m.forget(BIG)
        assert m.messages(BIG) == [] and m.internals.store.shard_records(0) == []
    assert scan([store_path], {"big user": BIG.encode()}).total_hits == 0
