"""The systems compared: Personal, and the two naive baselines (LangChain's Chroma vector store, LlamaIndex's
``Memory`` with a ``VectorMemoryBlock``) fed the same documents with the same embedder.

Each system answers :meth:`query` with a :class:`Probe`; the baselines' stores are built by
:func:`ingest_langchain` / :func:`ingest_llamaindex` (each in its own process).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from personal_core import Embedder, TokenCounter

from .._util import peak_rss_mb
from .config import (
    BASELINE_COLLECTION,
    LANGCHAIN,
    LLAMAINDEX,
    MAX_TOKENS,
    OURS,
    Config,
    make_embedder,
    open_modeler,
    progress,
    timed,
)
from .data import document_batches, total_documents


def chroma_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def as_vector(values: Any) -> list[float]:
    vector: list[float] = np.asarray(values, dtype=np.float32).reshape(-1).tolist()
    return vector


def langchain_embeddings(embedder: Embedder) -> Any:
    """``embedder`` as a LangChain ``Embeddings`` (the package ships only the other direction)."""
    from langchain_core.embeddings import Embeddings

    class PersonalEmbeddings(Embeddings):
        def __init__(self, inner: Embedder) -> None:
            self.inner = inner

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            matrix: list[list[float]] = np.asarray(self.inner.embed_documents(texts), dtype=np.float32).tolist()
            return matrix

        def embed_query(self, text: str) -> list[float]:
            return as_vector(self.inner.embed_query(text))

    return PersonalEmbeddings(embedder)


def llamaindex_embedding(embedder: Embedder) -> Any:
    """``embedder`` as a LlamaIndex ``BaseEmbedding`` (the package ships only the other direction)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr

    class PersonalEmbedding(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=512)
            self._inner = inner

        @classmethod
        def class_name(cls) -> str:
            return "PersonalEmbedding"

        def _get_query_embedding(self, query: str) -> list[float]:
            return as_vector(self._inner.embed_query(query))

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return as_vector(self._inner.embed_documents([text])[0])

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            matrix: list[list[float]] = np.asarray(self._inner.embed_documents(texts), dtype=np.float32).tolist()
            return matrix

    return PersonalEmbedding(embedder)


def open_langchain(path: str, config: Config) -> Any:
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=BASELINE_COLLECTION,
        embedding_function=langchain_embeddings(make_embedder(config.embedder)),
        persist_directory=path,
        client_settings=chroma_settings(),
        collection_metadata={"hnsw:space": "cosine"},
    )


def open_llamaindex_store(path: str) -> Any:
    import chromadb
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=path, settings=chroma_settings())
    collection = client.get_or_create_collection(
        BASELINE_COLLECTION, metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    return ChromaVectorStore(chroma_collection=collection)


def ingest_langchain(path: str, config: Config) -> dict[str, Any]:
    """Baseline (a): every document through ``Chroma.add_texts`` with ``{"user_id": uid}``; its own process."""
    open_s, store = timed(open_langchain, path, config)
    total, done = total_documents(config), 0
    started = time.perf_counter()
    for texts, users, ids in document_batches(config):
        store.add_texts(texts, metadatas=[{"user_id": user} for user in users], ids=ids)
        done += len(texts)
        progress("langchain add_texts", done, total, started, "documents")
    seconds = time.perf_counter() - started
    return baseline_ingest_summary(open_s, done, seconds)


def ingest_llamaindex(path: str, config: Config) -> dict[str, Any]:
    """Baseline (b): one ``TextNode`` per document, ``{"session_id": uid}``, via ``ChromaVectorStore.add``."""
    from llama_index.core.schema import TextNode

    embed_model = llamaindex_embedding(make_embedder(config.embedder))
    open_s, vector_store = timed(open_llamaindex_store, path)
    total, done = total_documents(config), 0
    started = time.perf_counter()
    for texts, users, ids in document_batches(config):
        vectors = embed_model.get_text_embedding_batch(texts)
        nodes = [
            TextNode(id_=node_id, text=text, metadata={"session_id": user}, embedding=vector)
            for node_id, text, user, vector in zip(ids, texts, users, vectors, strict=True)
        ]
        vector_store.add(nodes)
        done += len(texts)
        progress("llamaindex add", done, total, started, "documents")
    seconds = time.perf_counter() - started
    return baseline_ingest_summary(open_s, done, seconds)


def baseline_ingest_summary(open_s: float, documents: int, seconds: float) -> dict[str, Any]:
    return {
        "open_s": round(open_s, 3),
        "documents": documents,
        "seconds": round(seconds, 2),
        "per_s": round(documents / seconds, 1) if seconds else 0.0,
        "peak_rss_mb": peak_rss_mb(),
    }


BASELINE_INGEST: dict[str, Callable[[str, Config], dict[str, Any]]] = {
    LANGCHAIN: ingest_langchain,
    LLAMAINDEX: ingest_llamaindex,
}


@dataclass
class Probe:
    """One measured call: latency, size of what it returned, and documents of another user in it."""

    seconds: float
    tokens: int
    items: int
    foreign: int = 0


class OursSystem:
    """Personal: ``UserModeler.context(user, query, max_tokens=500)``."""

    name = OURS

    def __init__(self, path: str, config: Config) -> None:
        self.modeler = open_modeler(path, config)

    def query(self, user: str, text: str) -> Probe:
        seconds, context = timed(self.modeler.context, user, text, max_tokens=MAX_TOKENS)
        return Probe(seconds, context.tokens, len(context.items))

    def shard_of(self, user: str) -> int:
        """The shard of the store holding ``user`` (the store's own rule)."""
        return self.modeler.internals.store.shard_of(user)

    def close(self) -> None:
        self.modeler.close()


class LangChainSystem:
    """Baseline (a): ``Chroma.similarity_search(query, k=K, filter={"user_id": uid})``."""

    name = LANGCHAIN

    def __init__(self, path: str, config: Config, counter: TokenCounter) -> None:
        self.store = open_langchain(path, config)
        self.k = config.k
        self.counter = counter

    def query(self, user: str, text: str) -> Probe:
        seconds, docs = timed(self.store.similarity_search, text, k=self.k, filter={"user_id": user})
        foreign = sum(doc.metadata.get("user_id") != user for doc in docs)
        tokens = self.counter.count("\n".join(doc.page_content for doc in docs))
        return Probe(seconds, tokens, len(docs), foreign)

    def close(self) -> None:
        pass


RETRIEVED = re.compile(r"<RetrievedMessages>\n(.*?)\n</RetrievedMessages>", re.DOTALL)


class LlamaIndexSystem:
    """Baseline (b): ``await Memory.aget(query)`` with one ``VectorMemoryBlock`` over ``ChromaVectorStore``."""

    name = LLAMAINDEX

    def __init__(self, path: str, config: Config, counter: TokenCounter) -> None:
        from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore

        self.vector_store = open_llamaindex_store(path)
        self.embed_model = llamaindex_embedding(make_embedder(config.embedder))
        self.chat_store = SQLAlchemyChatStore(table_name="llama_index_memory")  # in-memory SQLite, shared
        self.k = config.k
        self.counter = counter
        self.memories: dict[str, Any] = {}
        self.create_s: list[float] = []
        self.loop = asyncio.new_event_loop()

    def memory(self, user: str) -> Any:
        """The user's ``Memory`` (created on first use, untimed by :meth:`query`)."""
        from llama_index.core.memory import Memory, VectorMemoryBlock

        memory = self.memories.get(user)
        if memory is None:
            started = time.perf_counter()
            block = VectorMemoryBlock(
                vector_store=self.vector_store, embed_model=self.embed_model, similarity_top_k=self.k
            )
            memory = Memory.from_defaults(
                session_id=user, token_limit=MAX_TOKENS, memory_blocks=[block], chat_store=self.chat_store
            )
            self.create_s.append(time.perf_counter() - started)
            self.memories[user] = memory
        return memory

    @staticmethod
    async def _timed_aget(memory: Any, text: str) -> tuple[float, Any]:
        started = time.perf_counter()
        messages = await memory.aget(text)
        return time.perf_counter() - started, messages

    def query(self, user: str, text: str) -> Probe:
        memory = self.memory(user)
        seconds, messages = self.loop.run_until_complete(self._timed_aget(memory, text))
        content = "\n".join(message.content or "" for message in messages)
        match = RETRIEVED.search(content)
        items = len(match.group(1).split("\n\n")) if match else 0
        filters = memory.memory_blocks[0].query_kwargs["filters"].filters
        foreign = int(any(f.key == "session_id" and f.value != user for f in filters))  # the block's sticky filter
        return Probe(seconds, self.counter.count(content), items, foreign)

    def close(self) -> None:
        self.loop.close()
