"""LangChain ``Embeddings`` as Personal's :class:`~personal_core.Embedder`."""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from personal_core import CallableEmbedder, InvalidInputError

_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment", "deployment_name", "repo_id")


def embeddings_name(embeddings: Embeddings) -> str:
    """``langchain:<ClassName>[:<model>]``: what a store records so another model cannot open it by mistake."""
    name = f"langchain:{type(embeddings).__name__}"
    for attribute in _MODEL_ATTRIBUTES:
        value = getattr(embeddings, attribute, None)
        if isinstance(value, str) and value:
            return f"{name}:{value}"
    return name


class LangChainEmbedder(CallableEmbedder):
    """Adapts any LangChain ``Embeddings`` (``embed_documents`` / ``embed_query``) to the core ``Embedder``.

    Args:
        embeddings: the LangChain embeddings.
        name: the name recorded in the store (default ``langchain:<ClassName>:<model>``).
        dimension: the vector size (default: measured once with one ``embed_documents`` call).
    """

    def __init__(self, embeddings: Embeddings, *, name: str | None = None, dimension: int | None = None) -> None:
        if not isinstance(embeddings, Embeddings):
            raise InvalidInputError(f"embeddings must be a LangChain Embeddings, got {type(embeddings).__name__}")
        self.embeddings = embeddings

        def documents(texts: list[str]) -> Any:
            return embeddings.embed_documents(texts)

        def queries(texts: list[str]) -> Any:
            return [embeddings.embed_query(text) for text in texts]

        super().__init__(documents, name=name or embeddings_name(embeddings), dimension=dimension, query_fn=queries)
