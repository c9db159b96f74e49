"""A vector Chroma would refuse (wrong length, NaN, infinite) is refused by observe() before anything is stored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from personal_core import HashingEmbedder, UserModeler
from personal_core.errors import EmbedderError


class FlakyEmbedder:
    """A protocol embedder (not a CallableEmbedder) that returns a broken vector for marked texts."""

    name = "flaky-64"
    dimension = 64

    def __init__(self) -> None:
        self._inner = HashingEmbedder(64)

    def _one(self, text: str) -> list[float]:
        vector = [float(x) for x in self._inner.embed_query(text)]
        if "SHORT" in text:
            return vector[:10]
        if "NAN" in text:
            vector[3] = float("nan")
        if "INF" in text:
            vector[5] = float("inf")
        return vector

    def embed_documents(self, texts: Sequence[str]) -> Any:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> Any:
        return self._one(text)


@pytest.mark.parametrize("marker", ["SHORT", "NAN", "INF"])
def test_a_bad_vector_is_refused_before_it_is_acknowledged(store_path: Path, marker: str) -> None:
    with UserModeler(store_path, embedder=FlakyEmbedder(), shards=2) as m:
        m.observe("alice", [{"role": "user", "content": "I love tea."}])
        with pytest.raises(EmbedderError, match="embedder"):
            m.observe("bob", [{"role": "user", "content": "hello"}, {"role": "user", "content": f"oops {marker}"}])
        assert m.messages("bob") == []
        m.flush_writes()  # the flusher is not blocked, for anyone
        assert m.stats()["journal_pending"] == 0
        m.observe("bob", [{"role": "user", "content": "I love rowing."}])
        with pytest.raises(EmbedderError):
            m.context("bob", f"what about {marker}?")
    with UserModeler(store_path, embedder=FlakyEmbedder()) as m:
        assert [x.content for x in m.messages("alice")] == ["I love tea."]
        assert [x.content for x in m.messages("bob")] == ["I love rowing."]


def test_as_matrix_checks_every_vector() -> None:
    from personal_core.embedding import as_matrix

    good = np.ones((2, 4), dtype=np.float32)
    assert as_matrix(good, 4).shape == (2, 4)
    for bad in (np.ones((2, 3)), [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], np.array([[1.0, np.nan, 0, 0]]), "text"):
        with pytest.raises(EmbedderError):
            as_matrix(bad, 4)
    with pytest.raises(EmbedderError):
        as_matrix(np.ones((3, 4)), 4, rows=2)
