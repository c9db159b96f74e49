"""The baselines, no Personal ranking in any of them (same turns, same embedder, same token counter):

* ``rag``: naive RAG over turns: every turn of the scenario embedded, the most similar to the question (cosine,
  exact) rendered as Personal's ``message_line`` s in one frame, packed greedily until the next does not fit.
  Surfaced = a target turn (by message id) is packed.
* ``recent``: a recent-turns buffer: the last turns, newest first, packed the same way. Surfaced = as ``rag``.
* ``langchain``: LangChain ``Chroma`` (``langchain_chroma``), every turn added with ``add_texts(texts,
  metadatas=[{"user_id": uid}])``; ``similarity_search(question, k=K, filter={"user_id": uid})``; the returned
  documents' bare texts packed in order until the next does not fit. Surfaced = a packed document's text IS a
  target turn's text (judged by text: the baseline returns no ids).
* ``llamaindex``: LlamaIndex ``Memory.from_defaults(session_id=uid, memory_blocks=[VectorMemoryBlock(
  ChromaVectorStore, similarity_top_k=K)])`` over one ``TextNode`` per turn with ``{"session_id": uid}`` (as in
  ``benchmarks/scale.py``); ``await memory.aget(question)``. Surfaced at budget B = a target turn's text occurs in
  the rendered memory and ends within its first B tokens (judged by text).

Both framework baselines live in one Chroma client per run (one collection per kind x topic x filler, hnsw cosine);
vectors are always passed in, Chroma never embeds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from personal_core.context import CLOSE_TAG, OPEN_TAG, PREAMBLE, SECTION_TITLES, message_line
from personal_core.embedding import Embedder
from personal_core.tokens import TokenCounter

from ..scale.systems import chroma_settings, langchain_embeddings, llamaindex_embedding
from .data import Scenario
from .outcome import NOT_RANKED, NOT_RETURNED, Outcome, Ranked, judge_ranked

BASELINES = ("rag", "recent", "langchain", "llamaindex")
#: Documents a framework baseline retrieves (more than any budget here holds).
K = 40


class CachedEmbedder:
    """Embeds each distinct text once per run (the baselines see the same filler turns many times)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self._cache: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = np.asarray(self.inner.embed_documents(missing), dtype=np.float32)
            self._cache.update(zip(missing, vectors, strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self.inner.embed_query(text), dtype=np.float32)


def _meta(scenario: Scenario) -> dict[str, Any]:
    item = scenario.item
    return {"key": item.key, "kind": item.kind, "topic": item.topic, "filler": scenario.filler_tokens}


class Lines:
    """``message_line`` costs, cached by (role, day, text)."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self._cost: dict[tuple[str, date, str], int] = {}
        head = f"{OPEN_TAG}\n{PREAMBLE}\n{SECTION_TITLES['message']}\n"
        self.frame = counter.count(head) + counter.count(CLOSE_TAG)

    def ranked(self, scenario: Scenario, order: Sequence[int]) -> list[Ranked]:
        out = []
        for i in order:
            t = scenario.turns[i]
            key = (t.role, t.when.date(), t.content)
            if key not in self._cost:
                self._cost[key] = self.counter.count(message_line(t.role, t.when, t.content))
            out.append(Ranked(frozenset({t.id}), self._cost[key], "message", t.content))
        return out


def run_rag(
    scenarios: Sequence[Scenario], budgets: Sequence[int], embedder: CachedEmbedder, counter: TokenCounter
) -> list[Outcome]:
    """Naive RAG over each scenario's turns."""
    lines, out = Lines(counter), []
    for s in scenarios:
        matrix = embedder.embed_documents([t.content for t in s.turns])
        scores = matrix @ embedder.embed_query(s.item.question)
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        out += judge_ranked("rag", _meta(s), s.item.targets, lines.ranked(s, order), budgets, lines.frame)
    return out


def run_recent(scenarios: Sequence[Scenario], budgets: Sequence[int], counter: TokenCounter) -> list[Outcome]:
    """The last turns that fit, newest first."""
    lines, out = Lines(counter), []
    for s in scenarios:
        order = list(range(len(s.turns) - 1, -1, -1))
        out += judge_ranked("recent", _meta(s), s.item.targets, lines.ranked(s, order), budgets, lines.frame)
    return out


def _groups(scenarios: Sequence[Scenario]) -> list[tuple[str, list[Scenario]]]:
    def key(s: Scenario) -> str:
        return f"{s.item.kind}-{s.item.topic}-f{s.filler_tokens}"

    ordered = sorted(scenarios, key=key)
    return [(k, list(g)) for k, g in itertools.groupby(ordered, key=key)]


def run_langchain(
    scenarios: Sequence[Scenario],
    budgets: Sequence[int],
    embedder: CachedEmbedder,
    counter: TokenCounter,
    client: Any,
) -> list[Outcome]:
    """LangChain Chroma filtered similarity search, one collection per kind x topic x filler."""
    from langchain_chroma import Chroma

    out = []
    cost: dict[str, int] = {}
    for name, group in _groups(scenarios):
        store = Chroma(
            collection_name=f"langchain-{name}",
            embedding_function=langchain_embeddings(embedder),
            client=client,
            collection_metadata={"hnsw:space": "cosine"},
        )
        texts = [t.content for s in group for t in s.turns]
        metas = [{"user_id": s.user_id} for s in group for _ in s.turns]
        ids = [f"{s.user_id}/{t.id}" for s in group for t in s.turns]
        for start in range(0, len(texts), 4000):
            store.add_texts(
                texts[start : start + 4000], metadatas=metas[start : start + 4000], ids=ids[start : start + 4000]
            )
        for s in group:
            docs = store.similarity_search(s.item.question, k=K, filter={"user_id": s.user_id})
            wanted = set(s.target_texts)
            ranked = []
            for doc in docs:
                text = doc.page_content
                if text not in cost:
                    cost[text] = counter.count(text)
                ranked.append(Ranked(frozenset({"target"} if text in wanted else ()), cost[text], "message", text))
            out += judge_ranked("langchain", _meta(s), ["target"], ranked, budgets, 0)
    return out


def _judge_text(s: Scenario, content: str, budgets: Sequence[int], counter: TokenCounter) -> list[Outcome]:
    """The LlamaIndex memory's rendered text: surfaced at B when a target text ends within its first B tokens."""
    ends = [content.find(t) + len(t) for t in s.target_texts if t and t in content]
    needed = min(counter.count(content[:end]) for end in ends) if ends else None
    total = counter.count(content)
    out = []
    for budget in budgets:
        surfaced = needed is not None and needed <= budget
        o = Outcome(
            "llamaindex", budget=budget, surfaced=surfaced, tokens=min(total, budget), needed=needed, **_meta(s)
        )
        if surfaced:
            o.via = "text"
        else:
            o.failure = NOT_RETURNED if needed is None else NOT_RANKED
            o.fill = {"message": min(total, budget)}
        out.append(o)
    return out


def run_llamaindex(
    scenarios: Sequence[Scenario],
    budgets: Sequence[int],
    embedder: CachedEmbedder,
    counter: TokenCounter,
    client: Any,
) -> list[Outcome]:
    """LlamaIndex Memory + VectorMemoryBlock over ChromaVectorStore, one collection per kind x topic x filler."""
    from llama_index.core.memory import Memory, VectorMemoryBlock
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embed_model = llamaindex_embedding(embedder)
    chat_store = SQLAlchemyChatStore(table_name="llama_index_memory")  # in-memory SQLite
    loop = asyncio.new_event_loop()
    out = []
    try:
        for name, group in _groups(scenarios):
            collection = client.get_or_create_collection(
                f"llamaindex-{name}", metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
            vector_store = ChromaVectorStore(chroma_collection=collection)
            turns = [(s, t) for s in group for t in s.turns]
            vectors = embedder.embed_documents([t.content for _, t in turns])
            nodes: list[BaseNode] = [
                TextNode(
                    id_=f"{s.user_id}/{t.id}",
                    text=t.content,
                    metadata={"session_id": s.user_id},
                    embedding=vectors[n].tolist(),
                )
                for n, (s, t) in enumerate(turns)
            ]
            for start in range(0, len(nodes), 4000):
                vector_store.add(nodes[start : start + 4000])
            for s in group:
                block = VectorMemoryBlock(vector_store=vector_store, embed_model=embed_model, similarity_top_k=K)
                memory = Memory.from_defaults(
                    session_id=s.user_id, token_limit=max(budgets), memory_blocks=[block], chat_store=chat_store
                )
                messages = loop.run_until_complete(memory.aget(s.item.question))
                content = "\n".join(m.content or "" for m in messages)
                out += _judge_text(s, content, budgets, counter)
    finally:
        loop.close()
    return out


def run_baseline(
    name: str,
    scenarios: Sequence[Scenario],
    budgets: Sequence[int],
    embedder: CachedEmbedder,
    counter: TokenCounter,
    chroma_dir: Path,
) -> tuple[list[Outcome], dict[str, Any]]:
    """Run baseline ``name``; returns its outcomes and wall time."""
    started = time.perf_counter()
    if name == "rag":
        outcomes = run_rag(scenarios, budgets, embedder, counter)
    elif name == "recent":
        outcomes = run_recent(scenarios, budgets, counter)
    elif name in ("langchain", "llamaindex"):
        import chromadb

        client = chromadb.PersistentClient(path=str(chroma_dir), settings=chroma_settings())
        run: Callable[..., list[Outcome]] = run_langchain if name == "langchain" else run_llamaindex
        outcomes = run(scenarios, budgets, embedder, counter, client)
    else:
        raise ValueError(f"unknown baseline {name!r}")
    return outcomes, {"seconds": round(time.perf_counter() - started, 2)}
