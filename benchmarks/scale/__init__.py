"""Load a fresh store with synthetic users through the public API, measure serving latency on it, and compare
``context()`` head to head with two naive framework baselines on the same data and embedder.

Run from the repository root::

    python -m benchmarks.scale [--users 1000] [--insights 200] [--messages 20] [--out benchmarks/results]
    python -m benchmarks.scale --users 50 --insights 20          # quick run
    python -m benchmarks.scale --quick                           # tiny preset (4 users x 10 insights), seconds
    python -m benchmarks.scale --no-baselines                    # only Personal, as before
    python -m benchmarks.scale --profile                         # also cProfile the cold/warm context paths

Writes ``scale.json`` (aggregates only), ``scale.md`` (the tables printed) and ``scale.png`` (latency bars) to
``--out``. Nothing here asserts a timing.

Ingest (in its own process): per user ``--insights`` :meth:`UserModeler.add_insight` calls (kinds and texts drawn
from a vocabulary with a seeded RNG), then ``--messages`` single-message :meth:`UserModeler.observe` calls (the
heuristic reasoner; half self-statements such as "I love X", half neutral chat), then ``flush_writes()``.

Serving (in a fresh process, on a NEW ``UserModeler`` over the same path, so nothing is cached): ``context()`` on
the first access of each sampled user (cold), repeated ``context()`` on cached users (warm), single-message
``observe()`` on warm users, and ``context()`` right after each of those writes (ranking caches invalidated).
The background flusher runs during both phases, as it would in an application. Embedder: the offline
:class:`HashingEmbedder`; token counting: tiktoken from a local cache.

Baselines (``--baselines``, the default). Each gets exactly the documents Personal was fed: per user, the
``--insights`` insight texts and the ``--messages`` message texts (same seeded RNG), one document each with the user
id in its metadata (Personal merges near-duplicate insights; the baselines keep every document). Each is built in
its own process into its own Chroma persistent directory (``Settings(anonymized_telemetry=False)``, one collection,
``hnsw:space=cosine`` like Personal's shards), with the SAME embedder (the :class:`HashingEmbedder` wrapped as a
LangChain ``Embeddings`` and as a LlamaIndex ``BaseEmbedding``; vectors are always passed in, Chroma never embeds):

(a) ``langchain_chroma`` -- ``Chroma(collection_name=..., embedding_function=..., persist_directory=...,
    client_settings=...)``, filled with ``add_texts(texts, metadatas=[{"user_id": uid}], ids=...)``. Measured call:
    ``similarity_search(query, k=K, filter={"user_id": uid})`` (embeds the query, one filtered Chroma query, builds
    ``Document`` objects).
(b) ``llama_index`` -- ``Memory.from_defaults(session_id=uid, token_limit=500, chat_store=<one shared in-memory
    SQLAlchemyChatStore>, memory_blocks=[VectorMemoryBlock(vector_store=ChromaVectorStore(chroma_collection=...),
    embed_model=..., similarity_top_k=K)])``. The vector store holds one ``TextNode`` per document with metadata
    ``{"session_id": uid}`` -- the key ``VectorMemoryBlock`` stores and filters on (its own ``aput`` would wrap
    flushed chat turns in ``<message role=...>`` tags and batch several per node; one node per document keeps the
    documents identical to (a) and to Personal's). Nodes are embedded with ``get_text_embedding_batch`` and added
    with ``ChromaVectorStore.add``. Measured call: ``await memory.aget(query)`` -- reads the session's (empty)
    short-term chat history from the chat store, embeds the query, one Chroma query filtered on
    ``session_id == uid``, renders the memory template into a system message. One ``Memory`` (and one block) per
    user, created untimed just before that user's first ``aget``: a ``VectorMemoryBlock`` pins the ``session_id``
    filter of the first session it serves into its ``query_kwargs``, so a block cannot be shared across users.

``K`` (``--k``, default 24) is the number of items Personal's ``context(max_tokens=500)`` packs on this data (the
"mean items" of the warm context, ~24), so every system returns about as many memories; the tokens each returns are
reported next to the latencies (the baselines return bare document texts, so fewer tokens). ``token_limit=500``
mirrors the 500-token budget; ``VectorMemoryBlock`` has priority 0, so ``Memory`` never truncates it anyway.

Head to head (a fresh process opening all three stores): the same sampled users and the same query texts as the
serving phase. Cold = each system's first query for each sampled user in that process (for the baselines the first
query of the process also loads the Chroma index, reported as ``first_call_ms``; for Personal the first user of
each of its 32 shards opens that shard). Warm = ``--warm-calls`` further queries on those users. Calls are
interleaved (each user or call goes to the three systems in a rotating order) so that background load on the
machine hits every system alike; the ratios ours/baseline in ``comparison.ratios`` come from this process.

Layout: :mod:`.config` (constants, command line), :mod:`.data` (synthetic users), :mod:`.systems` (Personal and
the baselines), :mod:`.phases` (ingest, serve, head to head), :mod:`.report` (tables), :mod:`.cli` (run, main).
"""

from __future__ import annotations

from .cli import main, run
from .config import (
    BASELINE_K,
    DEFAULTS,
    GOAL_RATIO,
    GOALS_MS,
    LANGCHAIN,
    LLAMAINDEX,
    MAX_TOKENS,
    OURS,
    QUICK,
    SYSTEM_LABELS,
    Config,
    parse_args,
)
from .data import document_batches, query_plans, sample_users, user_documents, user_name
from .phases import RATIO_KEYS

__all__ = [
    "BASELINE_K",
    "DEFAULTS",
    "GOALS_MS",
    "GOAL_RATIO",
    "LANGCHAIN",
    "LLAMAINDEX",
    "MAX_TOKENS",
    "OURS",
    "QUICK",
    "RATIO_KEYS",
    "SYSTEM_LABELS",
    "Config",
    "document_batches",
    "main",
    "parse_args",
    "query_plans",
    "run",
    "sample_users",
    "user_documents",
    "user_name",
]
