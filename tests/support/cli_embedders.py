"""Embedder factories for ``personal --embedder support.cli_embedders:NAME`` in the CLI tests (tests/ is on
sys.path). Each kind of embedder ``UserModeler(embedder=...)`` accepts, directly or through an adapter."""

from __future__ import annotations

from typing import Any

from personal_core import HashingEmbedder


def langchain_fake() -> Any:
    """A LangChain ``Embeddings`` (the CLI adapts it as ``PersonalMemory(embeddings=...)`` does)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    return DeterministicFakeEmbedding(size=16)


def llamaindex_mock() -> Any:
    """A LlamaIndex ``BaseEmbedding`` (the CLI adapts it with ``llamaindex_personal.as_embedder``)."""
    from llama_index.core.embeddings import MockEmbedding

    return MockEmbedding(embed_dim=8)


class ChromaStyle:
    """A Chroma-style embedding function: ``ef(input=[...])`` -> vectors, with a ``name()``."""

    calls = 0

    def __init__(self) -> None:
        self._inner = HashingEmbedder(32)

    @staticmethod
    def name() -> str:
        return "cli-test-ef"

    def __call__(self, input: list[str]) -> list[list[float]]:
        ChromaStyle.calls += 1
        return [[float(x) for x in row] for row in self._inner.embed_documents(input)]


chroma_style_instance = ChromaStyle()  # an object, not a factory: used as it is


def hashing_64() -> HashingEmbedder:
    return HashingEmbedder(64)


def broken() -> Any:
    raise RuntimeError("no model here")


def not_an_embedder() -> int:
    return 42


class FailingEF:
    """An embedding function whose provider is down (adapting it probes its dimension once)."""

    @staticmethod
    def name() -> str:
        return "down"

    def __call__(self, input: list[str]) -> list[list[float]]:
        raise ConnectionError("provider down")
