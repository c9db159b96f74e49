"""Configuration of the scale benchmark: constants, the command line, and helpers every phase uses."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from personal_core import Embedder, HashingEmbedder, UserModeler

from .._util import RESULTS_DIR, in_fresh_process, log

DESCRIPTION = (
    "Load a fresh store with synthetic users through the public API, measure serving latency on it, and compare "
    "context() head to head with two naive framework baselines on the same data and embedder."
)

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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=DESCRIPTION)
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
