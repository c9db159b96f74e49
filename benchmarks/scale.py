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
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import math
import pstats
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from personal_core import (
    Embedder,
    HashingEmbedder,
    InsightKind,
    InsightLevel,
    TokenCounter,
    UserContext,
    UserModeler,
    default_counter,
)
from personal_core.store import DEFAULT_SHARDS

from ._util import (
    RESULTS_DIR,
    current_rss_mb,
    dir_size,
    environment,
    in_fresh_process,
    log,
    markdown_table,
    peak_rss_mb,
    summarise,
)
from ._util import write_json as write_results

T = TypeVar("T")

GOALS_MS = {"cold_context": 30.0, "warm_context": 5.0, "observe": 2.0}
GOAL_RATIO = 0.5  # latency ours / baseline, against both baselines
MAX_TOKENS = 500
BASELINE_K = 24  # ~ the items Personal's 500-token context packs on this data (its "mean items")
ADD_BATCH = 4000  # documents per baseline add call (Chroma's embedded max batch is 5,461)
BASELINE_COLLECTION = "scale-baseline"

OURS, LANGCHAIN, LLAMAINDEX = "personal", "langchain_chroma", "llamaindex_memory"
SYSTEM_LABELS = {OURS: "Personal", LANGCHAIN: "LangChain Chroma", LLAMAINDEX: "LlamaIndex Memory"}
BASELINE_ADD = {
    LANGCHAIN: "Chroma.add_texts",
    LLAMAINDEX: "get_text_embedding_batch + ChromaVectorStore.add",
}

TOPICS = (
    "jazz", "chess", "astronomy", "pottery", "opera", "robotics", "birdwatching", "poetry", "football", "origami",
    "photography", "sailing", "knitting", "calligraphy", "skiing", "history", "surfing", "genealogy", "baking",
    "woodworking", "tennis", "mythology", "podcasts", "architecture", "cryptography", "gardening", "ballet", "anime",
    "beekeeping", "volcanoes",
)  # fmt: skip
PLACES = (
    "Paris", "Lisbon", "Kyoto", "Oslo", "Lima", "Cairo", "Austin", "Hanoi", "Quebec", "Dakar", "Berlin", "Seville",
    "Nairobi", "Bergen", "Porto", "Cusco", "Tbilisi", "Hobart", "Reykjavik", "Valparaiso", "Krakow", "Marrakesh",
    "Osaka", "Tallinn", "Bogota", "Lyon", "Galway", "Busan", "Perth", "Zanzibar",
)  # fmt: skip
FOODS = (
    "ramen", "tacos", "falafel", "risotto", "dumplings", "paella", "curry", "sushi", "pierogi", "ceviche", "pho",
    "lasagna", "shakshuka", "bibimbap", "goulash", "empanadas", "couscous", "moussaka", "gnocchi", "laksa",
)  # fmt: skip
ACTIVITIES = (
    "hiking", "cycling", "swimming", "climbing", "running", "rowing", "dancing", "painting", "cooking", "reading",
    "camping", "fishing", "yoga", "skating", "drawing", "singing", "kayaking", "juggling", "gaming", "sketching",
)  # fmt: skip
GOALS = (
    "learn Spanish", "run a marathon", "write a novel", "buy a house", "learn the piano", "start a business",
    "get a pilot licence", "learn to code", "visit Japan", "lose ten kilos", "build a cabin", "learn to sail",
    "finish a PhD", "adopt a dog", "climb Kilimanjaro", "learn Mandarin", "open a bakery", "save for retirement",
)  # fmt: skip
JOBS = (
    "nurse", "teacher", "carpenter", "lawyer", "pilot", "chef", "plumber", "librarian", "designer", "pharmacist",
    "farmer", "journalist", "architect", "dentist", "electrician", "translator", "geologist", "firefighter",
)  # fmt: skip
EMOTIONS = ("anxious", "excited", "hopeful", "frustrated", "curious", "nervous", "proud", "calm", "worried", "thrilled")
TRAITS = ("impatient", "curious", "organised", "spontaneous", "competitive", "frugal", "stubborn", "punctual")
RELATIVES = ("sister", "brother", "cousin", "daughter", "son", "grandmother", "uncle", "aunt", "partner", "friend")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "March", "May", "July", "September", "November")
PETS = ("cat", "dog", "parrot", "rabbit", "tortoise", "hamster")

INSIGHT_TEMPLATES: dict[InsightKind, tuple[str, ...]] = {
    InsightKind.PREFERENCE: (
        "Likes {topic} in {place}",
        "Prefers {food} to {food2}",
        "Enjoys {activity} on {day}s",
    ),
    InsightKind.GOAL: ("Wants to {goal} before {month}", "Plans a trip to {place} to try {food}"),
    InsightKind.FACT: ("Works as a {job} in {place}", "Has a {pet} and lives near {place}"),
    InsightKind.BELIEF: ("Believes {topic} should be taught in schools in {place}",),
    InsightKind.KNOWLEDGE: ("Knows a lot about {topic} and some {topic2}",),
    InsightKind.EMOTION: ("Feels {emotion} about {activity} lately",),
    InsightKind.TRAIT: ("Is {trait} when it comes to {activity}",),
    InsightKind.RELATIONSHIP: ("Has a {relative} in {place} who loves {topic}",),
}
SELF_STATEMENTS = (
    "I love {activity}.",
    "I want to {goal} this year.",
    "I'm a {job} and I live in {place}.",
    "I really enjoy {food} on {day}s.",
    "My {relative} lives in {place}.",
    "I'm allergic to {food}.",
)
NEUTRAL_CHAT = (
    "What's the weather like in {place} tomorrow?",
    "Can you summarise this article about {topic}?",
    "Thanks, that was helpful!",
    "How long does it take to get from {place} to {place2}?",
    "Tell me a joke about {topic}.",
    "Give me three ideas for a {food} recipe.",
)
QUERIES = (
    "what should I do in {place} this weekend?",
    "recommend a podcast about {topic}",
    "help me plan dinner, maybe {food}",
    "any advice on how to {goal}?",
    "suggest a {activity} plan for {day}",
    "write a birthday message for my {relative}",
)


# --------------------------------------------------------------------------------------------- synthetic text
def fill(template: str, rng: random.Random) -> str:
    """``template`` with its ``{slot}`` placeholders drawn from the vocabulary."""
    return template.format(
        topic=rng.choice(TOPICS),
        topic2=rng.choice(TOPICS),
        place=rng.choice(PLACES),
        place2=rng.choice(PLACES),
        food=rng.choice(FOODS),
        food2=rng.choice(FOODS),
        activity=rng.choice(ACTIVITIES),
        goal=rng.choice(GOALS),
        job=rng.choice(JOBS),
        emotion=rng.choice(EMOTIONS),
        trait=rng.choice(TRAITS),
        relative=rng.choice(RELATIVES),
        day=rng.choice(DAYS),
        month=rng.choice(MONTHS),
        pet=rng.choice(PETS),
    )


def insight_proposal(rng: random.Random) -> tuple[str, InsightKind]:
    kind = rng.choice(list(INSIGHT_TEMPLATES))
    return fill(rng.choice(INSIGHT_TEMPLATES[kind]), rng), kind


def chat_message(rng: random.Random) -> str:
    """Half first-person self-statements (the heuristic learns from them), half neutral chat."""
    pool = SELF_STATEMENTS if rng.random() < 0.5 else NEUTRAL_CHAT
    return fill(rng.choice(pool), rng)


def query(rng: random.Random) -> str:
    return fill(rng.choice(QUERIES), rng)


def user_name(index: int) -> str:
    return f"user-{index:06d}"


# --------------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Config:
    users: int
    insights: int
    messages: int
    cache_users: int
    cold_sample: int
    warm_calls: int
    observe_calls: int
    observe_rate: float
    seed: int
    profile: bool
    out: Path
    baselines: bool = True
    k: int = BASELINE_K
    embedder: str = "hashing"
    isolate: bool = True


DEFAULTS: dict[str, Any] = {
    "users": 1000,
    "insights": 200,
    "messages": 20,
    "cold_sample": 200,
    "warm_calls": 1000,
    "observe_calls": 1000,
    "observe_rate": 50.0,
}
# --quick: a tiny run (seconds) exercising every phase, for a smoke check; explicit flags still win.
QUICK: dict[str, Any] = {
    "users": 4,
    "insights": 10,
    "messages": 4,
    "cold_sample": 4,
    "warm_calls": 12,
    "observe_calls": 8,
    "observe_rate": 1000.0,
}


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, help="synthetic users (default 1000)")
    parser.add_argument("--insights", type=int, help="add_insight calls per user (default 200)")
    parser.add_argument("--messages", type=int, help="observe calls per user, 1 message each (default 20)")
    parser.add_argument("--cache-users", type=int, default=1024, help="UserModeler cache_users (default 1024)")
    parser.add_argument("--cold-sample", type=int, help="users read cold (default 200)")
    parser.add_argument("--warm-calls", type=int, help="warm context calls, per system (default 1000)")
    parser.add_argument("--observe-calls", type=int, help="warm observe calls (default 1000)")
    parser.add_argument("--observe-rate", type=float, help="paced observe calls per second (50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="also cProfile cold/warm context and observe")
    parser.add_argument(
        "--quick", action="store_true", help="tiny preset: 4 users x 10 insights + 4 messages, few calls"
    )
    parser.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the LangChain and LlamaIndex baselines head to head (default: on)",
    )
    parser.add_argument(
        "--k", type=int, default=BASELINE_K, help=f"documents each baseline returns (default {BASELINE_K})"
    )
    parser.add_argument("--embedder", choices=("hashing",), default="hashing", help="embedder (hashing only, for now)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every phase in this process instead of fresh ones (fast; cold figures are then not cold)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder of scale.json/.md/.png (default benchmarks/results)"
    )
    a = parser.parse_args(argv)
    preset = QUICK if a.quick else DEFAULTS
    size = {key: getattr(a, key) if getattr(a, key) is not None else preset[key] for key in DEFAULTS}
    if size["users"] < 1 or size["insights"] < 0 or size["messages"] < 0 or a.cache_users < 1 or a.k < 1:
        parser.error("need --users >= 1, --insights >= 0, --messages >= 0, --cache-users >= 1, --k >= 1")
    return Config(
        users=size["users"],
        insights=size["insights"],
        messages=size["messages"],
        cache_users=a.cache_users,
        cold_sample=max(1, min(size["cold_sample"], size["users"])),
        warm_calls=max(1, size["warm_calls"]),
        observe_calls=max(1, size["observe_calls"]),
        observe_rate=max(0.1, size["observe_rate"]),
        seed=a.seed,
        profile=a.profile,
        out=a.out,
        baselines=a.baselines,
        k=a.k,
        embedder=a.embedder,
        isolate=not a.in_process,
    )


def make_embedder(name: str) -> Embedder:
    """The embedder every system uses (``hashing`` only until ``benchmarks.embedders`` lands)."""
    if name != "hashing":
        raise ValueError(f"unknown embedder {name!r}")
    return HashingEmbedder()


def open_modeler(path: str, config: Config) -> UserModeler:
    return UserModeler(path, embedder=make_embedder(config.embedder), cache_users=config.cache_users)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def progress(label: str, done: int, total: int, started: float, unit: str = "users") -> None:
    step = max(1, total // 10)
    if done % step == 0 or done == total:
        log(f"[scale] {label}: {done}/{total} {unit}, {time.perf_counter() - started:.0f}s")


def phase(config: Config, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a fresh interpreter (the default), or here with ``--in-process``."""
    return in_fresh_process(fn, *args) if config.isolate else fn(*args)


# --------------------------------------------------------------------------------------------- synthetic data
InsightRow = tuple[str, InsightKind, float, InsightLevel]


def synthetic_insights(config: Config) -> Iterator[tuple[str, list[InsightRow]]]:
    """Per user, the ``--insights`` proposals ``(text, kind, confidence, level)`` (seeded, the same on every call)."""
    rng = random.Random(config.seed)
    for index in range(config.users):
        rows: list[InsightRow] = []
        for _ in range(config.insights):
            text, kind = insight_proposal(rng)
            level = InsightLevel.EXPLICIT if rng.random() < 0.7 else InsightLevel.INFERRED
            rows.append((text, kind, round(rng.uniform(0.55, 0.95), 2), level))
        yield user_name(index), rows


def synthetic_messages(config: Config) -> Iterator[tuple[str, list[str]]]:
    """Per user, the ``--messages`` chat messages (seeded, the same on every call)."""
    rng = random.Random(config.seed + 1)
    for index in range(config.users):
        yield user_name(index), [chat_message(rng) for _ in range(config.messages)]


def user_documents(config: Config) -> Iterator[tuple[str, list[str]]]:
    """Per user, every text Personal is fed: the insight texts, then the message texts."""
    for (user, insights), (_, messages) in zip(synthetic_insights(config), synthetic_messages(config), strict=True):
        yield user, [row[0] for row in insights] + messages


def document_batches(config: Config, limit: int = ADD_BATCH) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """The baselines' documents as ``(texts, user ids, document ids)`` batches of at most ``limit``."""
    texts: list[str] = []
    users: list[str] = []
    ids: list[str] = []
    for user, docs in user_documents(config):
        for i, text in enumerate(docs):
            texts.append(text)
            users.append(user)
            ids.append(f"{user}:{i}")
            if len(texts) >= limit:
                yield texts, users, ids
                texts, users, ids = [], [], []
    if texts:
        yield texts, users, ids


def sample_users(config: Config) -> tuple[list[str], list[str]]:
    """Users read cold in the timed phase, and others left for a cold profile."""
    order = [user_name(i) for i in range(config.users)]
    random.Random(config.seed + 2).shuffle(order)
    return order[: config.cold_sample], order[config.cold_sample : config.cold_sample + 100]


Plan = list[tuple[str, str]]


def query_plans(config: Config, sampled: Sequence[str]) -> tuple[Plan, Plan, random.Random]:
    """``(user, query)`` of the cold calls (one per sampled user) and of the warm calls, and the RNG to go on with.

    The serving phase and the head-to-head phase use the same plans, so every system answers the same queries.
    """
    rng = random.Random(config.seed + 4)
    cold = [(user, query(rng)) for user in sampled]
    warm: Plan = []
    for _ in range(config.warm_calls):
        user = rng.choice(sampled)
        warm.append((user, query(rng)))
    return cold, warm, rng


# --------------------------------------------------------------------------------------------- ingest (child)
def load_insights(modeler: UserModeler, config: Config) -> dict[str, Any]:
    calls = reinforced = 0
    started = time.perf_counter()
    for index, (user, rows) in enumerate(synthetic_insights(config)):
        for text, kind, confidence, level in rows:
            insight = modeler.add_insight(user, text, kind, confidence=confidence, level=level)
            calls += 1
            reinforced += insight.times_seen > 1
        progress("add_insight", index + 1, config.users, started)
    seconds = time.perf_counter() - started
    return {"calls": calls, "reinforced": reinforced, "seconds": round(seconds, 2), "per_s": round(calls / seconds, 1)}


def load_messages(modeler: UserModeler, config: Config) -> dict[str, Any]:
    calls = 0
    started = time.perf_counter()
    for index, (user, texts) in enumerate(synthetic_messages(config)):
        for text in texts:
            modeler.observe(user, [{"role": "user", "content": text}])
            calls += 1
        progress("observe", index + 1, config.users, started)
    seconds = time.perf_counter() - started
    return {"calls": calls, "seconds": round(seconds, 2), "per_s": round(calls / seconds, 1) if seconds else 0.0}


def ingest(path: str, config: Config) -> dict[str, Any]:
    """Build the store through the public API; runs in its own process."""
    open_s, modeler = timed(open_modeler, path, config)
    try:
        insights = load_insights(modeler, config) if config.insights else {"calls": 0, "seconds": 0.0, "per_s": 0.0}
        messages = load_messages(modeler, config) if config.messages else {"calls": 0, "seconds": 0.0, "per_s": 0.0}
        pending = modeler.stats()["journal_pending"]
        log(f"[scale] flush_writes() with {pending} journal entries pending ...")
        flush_s, _ = timed(modeler.flush_writes)
        stats = modeler.stats()
    finally:
        close_s, _ = timed(modeler.close)
    return {
        "open_s": round(open_s, 3),
        "insights": insights,
        "messages": messages,
        "journal_pending_before_flush": pending,
        "flush_s": round(flush_s, 2),
        "close_s": round(close_s, 3),
        "flush_failures": stats["flush_failures"],
        "peak_rss_mb": peak_rss_mb(),
    }


# --------------------------------------------------------------------------------------------- baselines
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


def total_documents(config: Config) -> int:
    return config.users * (config.insights + config.messages)


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


# --------------------------------------------------------------------------------------------- serving (child)
@dataclass
class Served:
    """Latencies and sizes of the contexts returned in one phase."""

    seconds: list[float]
    tokens: list[int]
    items: list[int]

    @classmethod
    def new(cls) -> Served:
        return cls([], [], [])

    def add(self, seconds: float, context: UserContext) -> None:
        self.record(seconds, context.tokens, len(context.items))

    def record(self, seconds: float, tokens: int, items: int) -> None:
        self.seconds.append(seconds)
        self.tokens.append(tokens)
        self.items.append(items)

    def summary(self) -> dict[str, Any]:
        n = max(1, len(self.tokens))
        return {
            **summarise(self.seconds),
            "mean_tokens": round(sum(self.tokens) / n, 1),
            "mean_items": round(sum(self.items) / n, 1),
        }

    def split(self, first_of_shard: Sequence[bool]) -> dict[str, dict[str, float]]:
        """Latencies of the calls that were the first on their Chroma shard in this process, and of the rest."""
        first = [s for s, f in zip(self.seconds, first_of_shard, strict=True) if f]
        rest = [s for s, f in zip(self.seconds, first_of_shard, strict=True) if not f]
        return {"first_on_shard": summarise(first), "shard_already_open": summarise(rest)}


def shard_of(user: str, shards: int = DEFAULT_SHARDS) -> int:
    """Same rule as ``ChromaStore.shard_of`` (the benchmark store uses the default shard count)."""
    digest = hashlib.sha256(user.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def first_on_shard(users: Sequence[str]) -> list[bool]:
    """For each user in read order: is it the first one read from its shard?"""
    seen: set[int] = set()
    flags: list[bool] = []
    for user in users:
        shard = shard_of(user)
        flags.append(shard not in seen)
        seen.add(shard)
    return flags


def contexts(modeler: UserModeler, plan: Plan) -> Served:
    served = Served.new()
    for user, text in plan:
        served.add(*timed(modeler.context, user, text, max_tokens=MAX_TOKENS))
    return served


def chat_turns(
    modeler: UserModeler, users: Sequence[str], calls: int, rng: random.Random
) -> tuple[list[float], Served]:
    """``observe`` of one user message, then ``context`` for the same user (its caches were just invalidated)."""
    observe_s: list[float] = []
    after = Served.new()
    for _ in range(calls):
        user = rng.choice(users)
        seconds, _ = timed(modeler.observe, user, [{"role": "user", "content": chat_message(rng)}])
        observe_s.append(seconds)
        after.add(*timed(modeler.context, user, query(rng), max_tokens=MAX_TOKENS))
    return observe_s, after


def paced_observes(
    modeler: UserModeler, users: Sequence[str], calls: int, rate: float, rng: random.Random
) -> list[float]:
    """``observe`` of one user message at ``rate`` calls per second (a busy chat app, not a bulk import)."""
    observe_s: list[float] = []
    period = 1.0 / rate
    for _ in range(calls):
        seconds, _ = timed(modeler.observe, rng.choice(users), [{"role": "user", "content": chat_message(rng)}])
        observe_s.append(seconds)
        time.sleep(max(0.0, period - seconds))
    return observe_s


def profile_text(fn: Callable[[], Any], limit: int = 30) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(limit)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(limit // 2)
    return out.getvalue()


def profiles(modeler: UserModeler, config: Config, spare: Sequence[str], warm: Sequence[str]) -> dict[str, str]:
    """cProfile of each path, run after the timed phases (cold on users not read yet, if any are left)."""
    rng = random.Random(config.seed + 3)
    out: dict[str, str] = {}
    if spare:
        cold_plan = [(user, query(rng)) for user in spare]
        out["cold_context"] = profile_text(lambda: contexts(modeler, cold_plan))
    warm_plan = [(rng.choice(warm), query(rng)) for _ in range(500)]
    out["warm_context"] = profile_text(lambda: contexts(modeler, warm_plan))
    out["observe_then_context"] = profile_text(lambda: chat_turns(modeler, warm, 300, rng))
    return out


def serve(path: str, config: Config) -> dict[str, Any]:
    """Measure a NEW UserModeler on the ingested store; runs in a fresh process."""
    open_s, modeler = timed(open_modeler, path, config)
    rss = {"after_open": current_rss_mb()}
    try:
        pending_at_open = modeler.stats()["journal_pending"]
        sampled, spare = sample_users(config)
        cold_plan, warm_plan, rng = query_plans(config, sampled)
        log(f"[scale] cold context on {len(sampled)} users ...")
        cold = contexts(modeler, cold_plan)
        rss["after_cold"] = current_rss_mb()
        log(f"[scale] warm context x{config.warm_calls} ...")
        warm = contexts(modeler, warm_plan)
        log(f"[scale] observe + context x{config.observe_calls} ...")
        observe_s, after = chat_turns(modeler, sampled, config.observe_calls, rng)
        modeler.flush_writes()
        log(f"[scale] observe x{config.observe_calls} paced at {config.observe_rate:g}/s ...")
        paced_s = paced_observes(modeler, sampled, config.observe_calls, config.observe_rate, rng)
        rss["after_observe"] = current_rss_mb()
        model_sizes = [len(modeler.user_model(u).insights) for u in sampled]
        message_counts = [len(modeler.messages(u)) for u in sampled]
        peak = peak_rss_mb()
        prof = profiles(modeler, config, spare, sampled) if config.profile else {}
        cached = modeler.stats()["users_cached"]
    finally:
        close_s, _ = timed(modeler.close)
    return {
        "open_s": round(open_s, 3),
        "journal_pending_at_open": pending_at_open,
        "cold_context": cold.summary(),
        "cold_context_split": cold.split(first_on_shard(sampled)),
        "warm_context": warm.summary(),
        "observe": summarise(observe_s),
        "observe_paced": summarise(paced_s),
        "context_after_observe": after.summary(),
        "mean_insights_per_sampled_user": round(sum(model_sizes) / len(model_sizes), 1),
        "mean_messages_per_sampled_user": round(sum(message_counts) / len(message_counts), 1),
        "users_cached": cached,
        "peak_rss_mb": peak,
        "rss_mb": rss,
        "close_s": round(close_s, 3),
        "profiles": prof,
    }


# --------------------------------------------------------------------------------------------- head to head (child)
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


@dataclass
class Tally:
    """Every probe of one system in the head-to-head phase."""

    cold: list[Probe]
    warm: list[Probe]

    @staticmethod
    def stats(probes: Sequence[Probe]) -> dict[str, Any]:
        n = max(1, len(probes))
        return {
            **summarise([p.seconds for p in probes]),
            "mean_tokens": round(sum(p.tokens for p in probes) / n, 1),
            "mean_items": round(sum(p.items for p in probes) / n, 1),
            "foreign_documents": sum(p.foreign for p in probes),
        }

    def summary(self, steady: Sequence[bool]) -> dict[str, Any]:
        """``steady`` flags the cold calls that opened nothing one-time (no shard / index load)."""
        return {
            "cold": self.stats(self.cold),
            "cold_steady": summarise([p.seconds for p, s in zip(self.cold, steady, strict=True) if s]),
            "warm": self.stats(self.warm),
            "first_call_ms": round(self.cold[0].seconds * 1000, 3) if self.cold else float("nan"),
        }


def rotated(items: Sequence[T], by: int) -> list[T]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def head_to_head(paths: dict[str, str], config: Config) -> dict[str, Any]:
    """Personal and both baselines on the same users and queries, interleaved; runs in a fresh process."""
    counter = default_counter()
    open_s: dict[str, float] = {}
    rss: dict[str, float | None] = {"start": current_rss_mb()}
    systems: list[Any] = []
    for name, factory in (
        (OURS, lambda: OursSystem(paths[OURS], config)),
        (LANGCHAIN, lambda: LangChainSystem(paths[LANGCHAIN], config, counter)),
        (LLAMAINDEX, lambda: LlamaIndexSystem(paths[LLAMAINDEX], config, counter)),
    ):
        seconds, system = timed(factory)
        open_s[name] = round(seconds, 3)
        systems.append(system)
    rss["after_open"] = current_rss_mb()
    tallies = {system.name: Tally([], []) for system in systems}
    try:
        sampled, _ = sample_users(config)
        cold_plan, warm_plan, _ = query_plans(config, sampled)
        log(f"[scale] head to head: cold on {len(cold_plan)} users x {len(systems)} systems ...")
        for i, (user, text) in enumerate(cold_plan):
            for system in rotated(systems, i):
                if isinstance(system, LlamaIndexSystem):
                    system.memory(user)  # built untimed, right before the user's first aget
                tallies[system.name].cold.append(system.query(user, text))
        rss["after_cold"] = current_rss_mb()
        log(f"[scale] head to head: warm x{len(warm_plan)} x {len(systems)} systems ...")
        for i, (user, text) in enumerate(warm_plan):
            for system in rotated(systems, i):
                tallies[system.name].warm.append(system.query(user, text))
        memory_create = summarise(systems[2].create_s)
    finally:
        for system in systems:
            system.close()
    ours_steady = [not first for first in first_on_shard(sampled)]
    baseline_steady = [i > 0 for i in range(len(sampled))]
    summaries = {
        name: tally.summary(ours_steady if name == OURS else baseline_steady) for name, tally in tallies.items()
    }
    return {
        "k": config.k,
        "max_tokens": MAX_TOKENS,
        "llamaindex_token_limit": MAX_TOKENS,
        "open_s": open_s,
        "systems": summaries,
        "ratios": {name: ratios(summaries[OURS], summaries[name]) for name in (LANGCHAIN, LLAMAINDEX)},
        "llamaindex_memory_create": memory_create,
        "rss_mb": rss,
        "peak_rss_mb": peak_rss_mb(),
    }


RATIO_KEYS = {
    f"{phase_name}_{q}": (phase_name, q) for phase_name in ("warm", "cold", "cold_steady") for q in ("p50", "p95")
}


def ratio(ours: float, baseline: float) -> float | None:
    """``ours / baseline``, or None when either side has no calls (e.g. no cold call without a one-time open)."""
    if not (baseline > 0 and math.isfinite(baseline) and math.isfinite(ours)):
        return None
    return round(ours / baseline, 3)


def ratios(ours: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """ours / baseline for p50 and p95 of warm, cold, and cold without the one-time opens."""
    return {
        key: ratio(ours[phase_name][f"{q}_ms"], baseline[phase_name][f"{q}_ms"])
        for key, (phase_name, q) in RATIO_KEYS.items()
    }


# --------------------------------------------------------------------------------------------- report
def verdict(p95: float, goal: float) -> str:
    return "yes" if p95 <= goal else "NO"


def latency_row(what: str, stats: dict[str, Any], goal: float | None = None) -> list[object]:
    goal_cell = f"p95 <= {goal:g} ms" if goal is not None else "-"
    met = verdict(stats["p95_ms"], goal) if goal is not None else "-"
    return [what, stats["n"], stats["p50_ms"], stats["p95_ms"], stats["max_ms"], goal_cell, met]


def latency_table(served: dict[str, Any]) -> str:
    split = served["cold_context_split"]
    rows = [
        latency_row("context(), first access of a user (cold)", served["cold_context"], GOALS_MS["cold_context"]),
        latency_row("  of which: first user read from its shard", split["first_on_shard"]),
        latency_row("  of which: shard already opened", split["shard_already_open"]),
        latency_row("context(), cached user (warm)", served["warm_context"], GOALS_MS["warm_context"]),
        latency_row("observe(), back to back with context() (saturated)", served["observe"], GOALS_MS["observe"]),
        latency_row("observe(), paced at --observe-rate", served["observe_paced"], GOALS_MS["observe"]),
        latency_row("context() right after that observe (extra)", served["context_after_observe"]),
    ]
    return markdown_table(["measure", "n", "p50 ms", "p95 ms", "max ms", "goal", "meets goal"], rows)


def ingest_table(ingested: dict[str, Any]) -> str:
    ins, msg = ingested["insights"], ingested["messages"]
    rows: list[list[object]] = [
        ["add_insight()", ins["calls"], ins["seconds"], f"{ins['per_s']:,.0f} insights/s"],
        ["observe(), 1 message per call", msg["calls"], msg["seconds"], f"{msg['per_s']:,.0f} messages/s"],
        [
            f"flush_writes() ({ingested['journal_pending_before_flush']:,} entries pending)",
            "-",
            ingested["flush_s"],
            "-",
        ],
    ]
    return markdown_table(["ingest step", "calls", "seconds", "throughput"], rows)


def facts_table(ingested: dict[str, Any], served: dict[str, Any], disk: dict[str, int]) -> str:
    per_user = f"{served['mean_insights_per_sampled_user']:g} / {served['mean_messages_per_sampled_user']:g}"
    warm = served["warm_context"]
    rss = " / ".join(str(served["rss_mb"][k]) for k in ("after_open", "after_cold", "after_observe"))
    rows: list[list[object]] = [
        ["insights reinforced instead of added (near-duplicates)", ingested["insights"].get("reinforced", 0)],
        ["mean insights / messages per sampled user (end of run)", per_user],
        ["mean tokens / items of a warm context", f"{warm['mean_tokens']:g} / {warm['mean_items']:g}"],
        ["UserModeler open (ingest / serve process), s", f"{ingested['open_s']} / {served['open_s']}"],
        ["journal entries pending when the serving modeler opened", served["journal_pending_at_open"]],
        ["peak RSS, ingest process (MiB)", ingested["peak_rss_mb"]],
        ["peak RSS, serving process (MiB)", served["peak_rss_mb"]],
        ["RSS of the serving process after open / cold / observe (MiB)", rss],
        ["store on disk after ingest (MiB)", round(disk["store_bytes"] / 2**20, 1)],
        ["  of which the journal files (MiB)", round(disk["journal_bytes"] / 2**20, 2)],
        ["flusher failures (ingest)", ingested["flush_failures"]],
    ]
    return markdown_table(["fact", "value"], rows)


SYSTEM_CALLS = {
    OURS: "context(user, query, max_tokens=500)",
    LANGCHAIN: 'similarity_search(query, k=K, filter={"user_id": uid})',
    LLAMAINDEX: "await Memory.aget(query), VectorMemoryBlock(top_k=K)",
}


def comparison_table(comparison: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    for name, s in comparison["systems"].items():
        rows.append(
            [
                f"{SYSTEM_LABELS[name]}: `{SYSTEM_CALLS[name]}`",
                s["warm"]["mean_tokens"],
                s["warm"]["mean_items"],
                s["warm"]["p50_ms"],
                s["warm"]["p95_ms"],
                s["cold"]["p50_ms"],
                s["cold"]["p95_ms"],
                s["cold_steady"]["p95_ms"],
                s["first_call_ms"],
            ]
        )
    headers = [
        f"system (K={comparison['k']})",
        "tokens",
        "items",
        "warm p50 ms",
        "warm p95 ms",
        "cold p50 ms",
        "cold p95 ms",
        "cold p95 excl. one-time opens",
        "first call of process ms",
    ]
    return markdown_table(headers, rows)


def ratio_table(comparison: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    for name, r in comparison["ratios"].items():
        rows.append(
            [
                f"ours / {SYSTEM_LABELS[name]}",
                *("-" if r[key] is None else r[key] for key in RATIO_KEYS),
                "-" if r["warm_p95"] is None else verdict(r["warm_p95"], GOAL_RATIO),
            ]
        )
    headers = [
        "ratio",
        "warm p50",
        "warm p95",
        "cold p50",
        "cold p95",
        "cold p50 excl. opens",
        "cold p95 excl. opens",
        f"warm p95 ratio <= {GOAL_RATIO:g}",
    ]
    return markdown_table(headers, rows)


def footprint_table(results: dict[str, Any]) -> str:
    ingested, disk = results["ingest"], results["disk"]
    seconds = ingested["insights"]["seconds"] + ingested["messages"]["seconds"] + ingested["flush_s"]
    calls = ingested["insights"]["calls"] + ingested["messages"]["calls"]
    rows: list[list[object]] = [
        [
            f"{SYSTEM_LABELS[OURS]} (add_insight + observe, heuristic reasoner, + flush)",
            calls,
            round(seconds, 2),
            round(calls / seconds, 1) if seconds else 0.0,
            ingested["peak_rss_mb"],
            round(disk["store_bytes"] / 2**20, 1),
        ]
    ]
    for name, baseline in results.get("baselines", {}).items():
        b = baseline["ingest"]
        rows.append(
            [
                f"{SYSTEM_LABELS[name]} ({BASELINE_ADD[name]})",
                b["documents"],
                b["seconds"],
                b["per_s"],
                b["peak_rss_mb"],
                round(baseline["disk_bytes"] / 2**20, 1),
            ]
        )
    return markdown_table(
        ["ingest (own process)", "documents", "seconds", "documents/s", "peak RSS MiB", "disk MiB"], rows
    )


def report(config: Config, results: dict[str, Any], total: float) -> str:
    """Every table, as markdown (printed, and written to scale.md)."""
    ingested, served = results["ingest"], results["serve"]
    parts = [
        f"## Scale ({config.users:,} users x {config.insights} insights + {config.messages} messages, "
        f"embedder {config.embedder})",
        ingest_table(ingested),
        latency_table(served),
        facts_table(ingested, served, results["disk"]),
    ]
    comparison = results.get("comparison")
    if comparison:
        mem = comparison["llamaindex_memory_create"]
        parts += [
            "### Head to head (one fresh process, same users and queries, calls interleaved)",
            comparison_table(comparison),
            ratio_table(comparison),
            footprint_table(results),
            f"Cold = each system's first query for each of {config.cold_sample} users; warm = "
            f"{config.warm_calls} more calls each. One-time opens: Personal's first user on each shard, a baseline's "
            "first query of the process (loads the Chroma index). LlamaIndex `Memory` creation per user (untimed "
            f"above): p50 {mem['p50_ms']} ms. Peak RSS of the head-to-head process (all three): "
            f"{comparison['peak_rss_mb']} MiB. Documents of another user returned: "
            + ", ".join(
                f"{SYSTEM_LABELS[n]} {s['warm']['foreign_documents'] + s['cold']['foreign_documents']}"
                for n, s in comparison["systems"].items()
            )
            + ".",
        ]
    parts.append(f"total {total:.0f}s")
    return "\n\n".join(parts) + "\n"


def journal_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.glob("*journal*") if p.is_file())


def run(config: Config) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="personal-scale-", ignore_cleanup_errors=True) as tmp:
        paths = {OURS: str(Path(tmp) / "store"), LANGCHAIN: str(Path(tmp) / "lc"), LLAMAINDEX: str(Path(tmp) / "li")}
        store = Path(paths[OURS])
        log(f"[scale] ingest {config.users} users x {config.insights} insights + {config.messages} messages ...")
        ingested = phase(config, ingest, paths[OURS], config)
        disk = {"store_bytes": dir_size(store), "journal_bytes": journal_bytes(store)}
        served = phase(config, serve, paths[OURS], config)
        results: dict[str, Any] = {"ingest": ingested, "serve": served, "disk": disk}
        if config.baselines:
            baselines: dict[str, Any] = {}
            for name, load in BASELINE_INGEST.items():
                log(f"[scale] ingest baseline {name}: {total_documents(config):,} documents ...")
                loaded = phase(config, load, paths[name], config)
                baselines[name] = {"ingest": loaded, "disk_bytes": dir_size(Path(paths[name]))}
            results["baselines"] = baselines
            results["comparison"] = phase(config, head_to_head, paths, config)
    return results


def print_ratios(comparison: dict[str, Any]) -> None:
    for name, r in comparison["ratios"].items():
        cells = ", ".join(f"{key} {'-' if value is None else format(value, 'g')}" for key, value in r.items())
        log(f"[scale] ours/{name}: {cells}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print and write the report; returns the JSON payload (also for the smoke test)."""
    config = parse_args(argv)
    started = time.perf_counter()
    results = run(config)
    total = time.perf_counter() - started
    text = report(config, results, total)
    print(text)
    for name, profile in results["serve"]["profiles"].items():
        print(f"\n### cProfile: {name}\n\n```\n{profile.strip()}\n```")
    if "comparison" in results:
        print_ratios(results["comparison"])
    payload = {
        "benchmark": "scale",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "environment": environment(),
        "goals_p95_ms": GOALS_MS,
        "goal_ratio": GOAL_RATIO,
        "total_seconds": round(total, 1),
        **results,
    }
    print(f"wrote {write_results(config.out, 'scale.json', payload)}")
    md = config.out / "scale.md"
    md.write_text(text, encoding="utf-8")
    print(f"wrote {md}")
    try:
        from .plots import plot_latency_bars
    except ImportError as exc:  # matplotlib is in the dev extra
        log(f"[scale] no plot: {exc}")
    else:
        print(f"wrote {plot_latency_bars(payload, config.out / 'scale.png')}")
    return payload


if __name__ == "__main__":
    main()
    sys.exit(0)
