"""One user with many messages, written in batches with deletes between them: the contexts served from the
incremental index equal those of a model loaded from storage afresh, and the vectors are held compactly."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from benchmarks.big_user import _queries, _turns
from personal_core import HashingEmbedder, StoreError, UserModeler, store_load
from personal_core import store as store_module
from personal_core.index import Int8Rows

USER = "big"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _contexts(modeler: UserModeler, queries: list[str]) -> list[str]:
    return [modeler.context(USER, q, max_tokens=400).text for q in queries]


def test_incremental_contexts_equal_a_fresh_load(tmp_path: Path) -> None:
    rng = random.Random(11)
    queries = [*_queries(random.Random(5), 12), ""]
    with UserModeler(tmp_path / "store", embedder=HashingEmbedder()) as modeler:
        for start in range(0, 3000, 100):
            modeler.observe(USER, _turns(rng, start, 100, T0))
            if start % 700 == 0:
                modeler.context(USER, "warm the caches")  # reads between writes: the index is updated, not rebuilt
            if start == 1500:
                assert modeler.delete_session(USER, "s10") == 20
                assert modeler.delete_messages(USER, ["m3", "m1499", "m2000"]) == 2  # m2000 is not stored yet
        live = _contexts(modeler, queries)
        with modeler.internals.cache.user(USER) as state:
            corpus, ids = state.message_corpus()
            assert len(ids) == 3000 - 20 - 2
            assert "m1499" not in ids and "m3" not in ids and "m200" not in ids  # s10 = m200..m219
            assert isinstance(corpus.matrix, Int8Rows) and corpus.matrix.codes.flags.c_contiguous
            assert corpus.matrix.codes.nbytes == len(ids) * modeler.embedder.dimension  # one byte a component
            assert not hasattr(state, "message_vectors")  # no per-message vector arrays beside the matrix
            vectors = corpus.matrix.nbytes
            assert state.message_index.nbytes() < 3 * vectors  # capacity at most 1.125x the rows; columns, postings
    with UserModeler(tmp_path / "store", embedder=HashingEmbedder()) as reopened:
        assert _contexts(reopened, queries) == live


def test_a_user_loads_page_by_page_like_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pages (a load applies each as it arrives): every record once, only the user's, the same contexts;
    a load failing midway leaves nothing half-loaded and the next read loads the user whole."""
    queries = [*_queries(random.Random(2), 6), ""]
    rng = random.Random(4)
    with UserModeler(tmp_path / "store", embedder=HashingEmbedder(), shards=1) as modeler:
        for start in range(0, 300, 50):
            modeler.observe(USER, _turns(rng, start, 50, T0))
        modeler.observe("other", _turns(rng, 0, 20, T0))
        assert modeler.delete_messages(USER, ["m7", "m120"]) == 2
        modeler.flush_writes()
        live = _contexts(modeler, queries)
        store = modeler.internals.store
        pages: list[list[Any]] = []
        store.load_user_pages(USER, pages.append, page_size=7)
        ids = [r.id for page in pages for r in page]
        assert len(pages) > 40 and all(len(page) <= 7 for page in pages)
        assert len(ids) == len(set(ids))
        assert set(ids) == {r.id for r in store.load_user(USER)}
        assert len([r for r in store.load_user(USER) if r.type == "msg"]) == 298
        assert all(r.user_id == USER for page in pages for r in page)

        monkeypatch.setattr(store_module, "PAGE", 7)
        monkeypatch.setattr(store_load.time, "sleep", lambda s: None)
        modeler.internals.cache.clear()
        assert _contexts(modeler, queries) == live  # loaded in 7-record pages

        collection = store._collection(store.shard_of(USER))
        real_get = type(collection).get
        calls = iter(range(10**6))

        def failing_get(self: object, *args: object, **kwargs: object) -> object:
            if 5 <= next(calls) < 9:  # the 4th page fails on every try
                raise RuntimeError("disk went away")
            return real_get(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(type(collection), "get", failing_get)
        modeler.internals.cache.clear()
        with pytest.raises(StoreError, match="after 4 tries"):
            modeler.context(USER, "hiking")
        with modeler.internals.cache.user(USER) as state:  # loaded again, whole
            assert len(state.messages) == 298
        assert _contexts(modeler, queries) == live
