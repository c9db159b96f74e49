"""Any LlamaIndex ``BaseEmbedding`` as Personal's embedder."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from personal_core import CallableEmbedder, InvalidInputError


def embedder_name(embed_model: BaseEmbedding) -> str:
    """``llamaindex:<ClassName>:<model_name>``: the name a store records, so two models never share one."""
    model = getattr(embed_model, "model_name", None) or "unknown"
    return f"llamaindex:{type(embed_model).__name__}:{model}"


def as_embedder(
    embed_model: BaseEmbedding, *, name: str | None = None, dimension: int | None = None
) -> CallableEmbedder:
    """Adapt a LlamaIndex ``BaseEmbedding`` for ``UserModeler(embedder=...)``.

    Documents go through ``get_text_embedding_batch``, queries through ``get_query_embedding`` (models with
    query/document prefixes keep them). ``dimension`` is probed with one embedding call when not given.
    """
    if not isinstance(embed_model, BaseEmbedding):
        raise InvalidInputError(f"embed_model must be a llama_index BaseEmbedding, got {type(embed_model).__name__}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidInputError("name must be a non-empty string")

    def documents(texts: list[str]) -> Any:
        return embed_model.get_text_embedding_batch(texts)

    def queries(texts: list[str]) -> Any:
        return [embed_model.get_query_embedding(text) for text in texts]

    return CallableEmbedder(documents, name=name or embedder_name(embed_model), dimension=dimension, query_fn=queries)
