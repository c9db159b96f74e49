"""Load a fresh store with synthetic users through the public API, then measure serving latency on it.

Run from the repository root::

    python -m benchmarks.scale [--users 1000] [--insights 200] [--messages 20] [--out benchmarks/results]
    python -m benchmarks.scale --users 50 --insights 20          # quick run
    python -m benchmarks.scale --profile                         # also cProfile the cold/warm context paths

Ingest (in its own process): per user ``--insights`` :meth:`UserModeler.add_insight` calls (kinds and texts drawn
from a vocabulary with a seeded RNG), then ``--messages`` single-message :meth:`UserModeler.observe` calls (the
heuristic reasoner; half self-statements such as "I love X", half neutral chat), then ``flush_writes()``.

Serving (in a fresh process, on a NEW ``UserModeler`` over the same path, so nothing is cached): ``context()`` on
the first access of each sampled user (cold), repeated ``context()`` on cached users (warm), single-message
``observe()`` on warm users, and ``context()`` right after each of those writes (ranking caches invalidated).
The background flusher runs during both phases, as it would in an application. Embedder: the offline
:class:`HashingEmbedder`; token counting: tiktoken from a local cache. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from personal_core import HashingEmbedder, InsightKind, InsightLevel, UserContext, UserModeler
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

GOALS_MS = {"cold_context": 30.0, "warm_context": 5.0, "observe": 2.0}
MAX_TOKENS = 500

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


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="synthetic users (default 1000)")
    parser.add_argument("--insights", type=int, default=200, help="add_insight calls per user (default 200)")
    parser.add_argument("--messages", type=int, default=20, help="observe calls per user, 1 message each (default 20)")
    parser.add_argument("--cache-users", type=int, default=1024, help="UserModeler cache_users (default 1024)")
    parser.add_argument("--cold-sample", type=int, default=200, help="users read cold (default 200)")
    parser.add_argument("--warm-calls", type=int, default=1000, help="warm context calls (default 1000)")
    parser.add_argument("--observe-calls", type=int, default=1000, help="warm observe calls (default 1000)")
    parser.add_argument("--observe-rate", type=float, default=50.0, help="paced observe calls per second (50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="also cProfile cold/warm context and observe")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder of scale.json (default benchmarks/results)"
    )
    a = parser.parse_args(argv)
    if a.users < 1 or a.insights < 0 or a.messages < 0 or a.cache_users < 1:
        parser.error("need --users >= 1, --insights >= 0, --messages >= 0, --cache-users >= 1")
    return Config(
        users=a.users,
        insights=a.insights,
        messages=a.messages,
        cache_users=a.cache_users,
        cold_sample=max(1, min(a.cold_sample, a.users)),
        warm_calls=max(1, a.warm_calls),
        observe_calls=max(1, a.observe_calls),
        observe_rate=max(0.1, a.observe_rate),
        seed=a.seed,
        profile=a.profile,
        out=a.out,
    )


def open_modeler(path: str, config: Config) -> UserModeler:
    return UserModeler(path, embedder=HashingEmbedder(), cache_users=config.cache_users)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def progress(label: str, done: int, total: int, started: float) -> None:
    step = max(1, total // 10)
    if done % step == 0 or done == total:
        log(f"[scale] {label}: {done}/{total} users, {time.perf_counter() - started:.0f}s")


# --------------------------------------------------------------------------------------------- ingest (child)
def load_insights(modeler: UserModeler, config: Config) -> dict[str, Any]:
    rng = random.Random(config.seed)
    calls = reinforced = 0
    started = time.perf_counter()
    for index in range(config.users):
        user = user_name(index)
        for _ in range(config.insights):
            text, kind = insight_proposal(rng)
            level = InsightLevel.EXPLICIT if rng.random() < 0.7 else InsightLevel.INFERRED
            insight = modeler.add_insight(user, text, kind, confidence=round(rng.uniform(0.55, 0.95), 2), level=level)
            calls += 1
            reinforced += insight.times_seen > 1
        progress("add_insight", index + 1, config.users, started)
    seconds = time.perf_counter() - started
    return {"calls": calls, "reinforced": reinforced, "seconds": round(seconds, 2), "per_s": round(calls / seconds, 1)}


def load_messages(modeler: UserModeler, config: Config) -> dict[str, Any]:
    rng = random.Random(config.seed + 1)
    calls = 0
    started = time.perf_counter()
    for index in range(config.users):
        user = user_name(index)
        for _ in range(config.messages):
            modeler.observe(user, [{"role": "user", "content": chat_message(rng)}])
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
        self.seconds.append(seconds)
        self.tokens.append(context.tokens)
        self.items.append(len(context.items))

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


def cold_contexts(modeler: UserModeler, users: Sequence[str], rng: random.Random) -> Served:
    served = Served.new()
    for user in users:
        served.add(*timed(modeler.context, user, query(rng), max_tokens=MAX_TOKENS))
    return served


def warm_contexts(modeler: UserModeler, users: Sequence[str], calls: int, rng: random.Random) -> Served:
    served = Served.new()
    for _ in range(calls):
        served.add(*timed(modeler.context, rng.choice(users), query(rng), max_tokens=MAX_TOKENS))
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
        out["cold_context"] = profile_text(lambda: cold_contexts(modeler, spare, rng))
    out["warm_context"] = profile_text(lambda: warm_contexts(modeler, warm, 500, rng))
    out["observe_then_context"] = profile_text(lambda: chat_turns(modeler, warm, 300, rng))
    return out


def sample_users(config: Config) -> tuple[list[str], list[str]]:
    """Users read cold in the timed phase, and others left for a cold profile."""
    order = [user_name(i) for i in range(config.users)]
    random.Random(config.seed + 2).shuffle(order)
    return order[: config.cold_sample], order[config.cold_sample : config.cold_sample + 100]


def serve(path: str, config: Config) -> dict[str, Any]:
    """Measure a NEW UserModeler on the ingested store; runs in a fresh process."""
    open_s, modeler = timed(open_modeler, path, config)
    rss = {"after_open": current_rss_mb()}
    try:
        pending_at_open = modeler.stats()["journal_pending"]
        sampled, spare = sample_users(config)
        rng = random.Random(config.seed + 4)
        log(f"[scale] cold context on {len(sampled)} users ...")
        cold = cold_contexts(modeler, sampled, rng)
        rss["after_cold"] = current_rss_mb()
        log(f"[scale] warm context x{config.warm_calls} ...")
        warm = warm_contexts(modeler, sampled, config.warm_calls, rng)
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


def journal_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.glob("*journal*") if p.is_file())


def run(config: Config) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="personal-scale-", ignore_cleanup_errors=True) as tmp:
        store = Path(tmp) / "store"
        log(f"[scale] ingest {config.users} users x {config.insights} insights + {config.messages} messages ...")
        ingested = in_fresh_process(ingest, str(store), config)
        disk = {"store_bytes": dir_size(store), "journal_bytes": journal_bytes(store)}
        served = in_fresh_process(serve, str(store), config)
    return {"ingest": ingested, "serve": served, "disk": disk}


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    results = run(config)
    ingested, served = results["ingest"], results["serve"]
    print(f"## Scale ({config.users} users x {config.insights} insights + {config.messages} messages)\n")
    print(ingest_table(ingested) + "\n")
    print(latency_table(served) + "\n")
    print(facts_table(ingested, served, results["disk"]))
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f}s")
    for name, text in served["profiles"].items():
        print(f"\n### cProfile: {name}\n\n```\n{text.strip()}\n```")
    payload = {
        "benchmark": "scale",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "environment": environment(),
        "goals_p95_ms": GOALS_MS,
        "total_seconds": round(total, 1),
        **results,
    }
    print(f"wrote {write_results(config.out, 'scale.json', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
