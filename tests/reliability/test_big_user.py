"""One user with many messages, written in batches with deletes between them: the contexts served from the
incremental index equal those of a model loaded from storage afresh, and the vectors are held compactly."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks.big_user import _queries, _turns
from personal_core import HashingEmbedder, UserModeler

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
            assert corpus.matrix.dtype == np.float32 and corpus.matrix.flags.c_contiguous
            assert not hasattr(state, "message_vectors")  # no per-message vector arrays beside the matrix
            vectors = corpus.matrix.nbytes
            assert state.message_index.nbytes() < 2 * 2 * vectors  # capacity at most doubled; columns, postings
    with UserModeler(tmp_path / "store", embedder=HashingEmbedder()) as reopened:
        assert _contexts(reopened, queries) == live
