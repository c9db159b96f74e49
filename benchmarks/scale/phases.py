"""The measured phases, each run in its own process by default: ingest into Personal, serve from a fresh
``UserModeler``, and the head-to-head of Personal and both baselines on the same users and queries."""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from personal_core import UserContext, UserModeler, default_counter

from .._util import current_rss_mb, log, peak_rss_mb, summarise
from .config import LANGCHAIN, LLAMAINDEX, MAX_TOKENS, OURS, Config, T, open_modeler, progress, timed
from .data import Plan, chat_message, query, query_plans, sample_users, synthetic_insights, synthetic_messages
from .systems import LangChainSystem, LlamaIndexSystem, OursSystem, Probe


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


def first_on_shard(users: Sequence[str], shard_of: Callable[[str], int]) -> list[bool]:
    """For each user in read order: is it the first one read from its shard? ``shard_of`` is the store's own
    rule (:meth:`personal_core.store.ChromaStore.shard_of` of the measured modeler)."""
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
        first_of_shard = first_on_shard(sampled, modeler.internals.store.shard_of)
    finally:
        close_s, _ = timed(modeler.close)
    return {
        "open_s": round(open_s, 3),
        "journal_pending_at_open": pending_at_open,
        "cold_context": cold.summary(),
        "cold_context_split": cold.split(first_of_shard),
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
        ours_steady = [not first for first in first_on_shard(sampled, systems[0].shard_of)]
    finally:
        for system in systems:
            system.close()
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
