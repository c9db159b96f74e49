"""LangChain Embeddings as Personal's embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from langchain_personal import LangChainEmbedder, PersonalMemory
from personal_core import EmbedderMismatchError, HashingEmbedder, InvalidInputError


class CountingEmbeddings(DeterministicFakeEmbedding):
    model: str = "fake-embed-1"
    document_calls: int = 0
    query_calls: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls += 1
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.query_calls += 1
        return super().embed_query(text)


def test_name_dimension_and_vectors() -> None:
    embeddings = CountingEmbeddings(size=24)
    embedder = LangChainEmbedder(embeddings)
    assert embedder.name == "langchain:CountingEmbeddings:fake-embed-1"
    assert embedder.dimension == 24 and embeddings.document_calls == 1  # probed once
    assert embedder.dimension == 24 and embeddings.document_calls == 1
    docs = embedder.embed_documents(["a", "b"])
    assert docs.shape == (2, 24) and np.allclose(np.linalg.norm(docs, axis=1), 1.0)
    query = embedder.embed_query("a")
    assert query.shape == (24,) and embeddings.query_calls == 1
    assert np.allclose(query, docs[0])  # the fake embeds by text hash: same text, same vector
    assert LangChainEmbedder(DeterministicFakeEmbedding(size=8)).name == "langchain:DeterministicFakeEmbedding"
    before = embeddings.document_calls
    named = LangChainEmbedder(embeddings, name="mine", dimension=24)
    assert named.name == "mine" and embeddings.document_calls == before  # no probe with a given dimension


def test_memory_uses_langchain_embeddings_and_the_store_pins_them(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with PersonalMemory(path=path, embeddings=CountingEmbeddings(size=16)) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I love hiking."}])
        assert memory.modeler.stats()["embedder"] == "langchain:CountingEmbeddings:fake-embed-1"
        assert [d.page_content for d in memory.as_retriever(user_id="ann").invoke("hiking")] == ["Loves hiking"]
    with pytest.raises(EmbedderMismatchError):
        PersonalMemory(path=path, embedder=HashingEmbedder())


def test_bad_embeddings_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="LangChain Embeddings"):
        LangChainEmbedder(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not both"):
        PersonalMemory(path=tmp_path / "s", embeddings=CountingEmbeddings(size=8), embedder=HashingEmbedder())
    assert isinstance(CountingEmbeddings(size=8), Embeddings)
