"""One user with many messages: ingest rate, RSS, and ``context()`` latency warm and right after a write.

    python -m benchmarks.big_user                       # 10k and 100k messages
    python -m benchmarks.big_user --sizes 2000,10000     # smaller
    python -m benchmarks.big_user --label before         # tag the run (results/big_user-<label>.*)

Public API only: ``UserModeler(path, embedder=HashingEmbedder())`` on a temporary directory, ``observe`` in
batches, ``context``. Texts are short chat turns generated offline from a fixed seed. Figures are printed as a
table and written to ``benchmarks/results/big_user.{json,md}``. Not a test: nothing here asserts a time.

Memory is reported twice: the process's RSS, and the user's share of it (RSS with the user loaded minus the same
process's RSS with the store open and no user loaded): in the writing process after the ingest, and in a fresh
process after loading the user (then again after its first write). "Settled" figures are taken after
``gc.collect()`` and glibc's ``malloc_trim`` by the benchmark itself.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from personal_core import HashingEmbedder, UserModeler

from ._util import (
    RESULTS_DIR,
    current_rss_mb,
    environment,
    in_fresh_process,
    log,
    markdown_table,
    peak_rss_mb,
    summarise,
    write_json,
)

USER = "big-user"
GOALS = {"after_write_p95_ms": 50.0, "warm_p95_ms": 20.0, "rss_mb": 300.0}

_TOPICS = [
    "hiking",
    "cooking",
    "python",
    "jazz",
    "running",
    "chess",
    "gardening",
    "photography",
    "climbing",
    "baking",
    "cycling",
    "painting",
    "sailing",
    "skiing",
    "knitting",
    "poetry",
    "astronomy",
    "birdwatching",
    "tennis",
    "yoga",
]
_PLACES = ["Lisbon", "Berlin", "Kyoto", "Toronto", "Nairobi", "Oslo", "Lima", "Austin", "Porto", "Seoul"]
_FOODS = ["ramen", "tacos", "curry", "pasta", "sushi", "dumplings", "falafel", "paella", "pho", "risotto"]
_PEOPLE = ["my sister", "my boss", "my partner", "a friend", "my neighbour", "my dad", "a colleague", "my coach"]
_USER = [
    "I really like {topic} on weekends.",
    "I live in {place} now, moved last year.",
    "Can you suggest a recipe for {food}?",
    "{person} thinks I should try {topic}.",
    "I'm allergic to peanuts, keep that in mind for {food}.",
    "What's a good way to get better at {topic}?",
    "I prefer short answers please.",
    "Yesterday I went {topic} with {person} near {place}.",
    "I don't eat meat anymore, so no meat in the {food}.",
    "Any tips for a trip to {place} in the spring?",
    "I work as a nurse and my shifts are long.",
    "My favourite food is {food}, no question.",
]
_ASSISTANT = [
    "Sure, here is a simple plan for {topic} you can start this week.",
    "{place} is lovely in spring; book early and pack layers.",
    "A quick {food} recipe: prepare the base, season well, and serve warm.",
    "Noted. I'll keep answers short from now on.",
    "Good question: practise {topic} a little every day and track progress.",
]


def _turns(rng: random.Random, start: int, count: int, t0: datetime) -> list[dict[str, Any]]:
    """``count`` chat turns (alternating user / assistant, sessions of 20 turns), numbered from ``start``."""
    out = []
    for i in range(start, start + count):
        fill = {
            "topic": rng.choice(_TOPICS),
            "place": rng.choice(_PLACES),
            "food": rng.choice(_FOODS),
            "person": rng.choice(_PEOPLE),
        }
        user = i % 2 == 0
        text = rng.choice(_USER if user else _ASSISTANT).format(**fill)
        out.append(
            {
                "id": f"m{i}",
                "role": "user" if user else "assistant",
                "content": text,
                "session_id": f"s{i // 20}",
                "created_at": (t0 + timedelta(minutes=i)).isoformat(),
            }
        )
    return out


def _queries(rng: random.Random, n: int) -> list[str]:
    forms = [
        "what does the user like about {topic}",
        "where does the user live",
        "food preferences {food}",
        "trip to {place}",
        "who is {person}",
        "how should I answer",
        "{topic} and {food} in {place}",
    ]
    return [
        rng.choice(forms).format(
            topic=rng.choice(_TOPICS), place=rng.choice(_PLACES), food=rng.choice(_FOODS), person=rng.choice(_PEOPLE)
        )
        for _ in range(n)
    ]


def _measure(
    modeler: UserModeler, rng: random.Random, next_id: int, t0: datetime, args: argparse.Namespace
) -> tuple[dict[str, Any], int]:
    """Warm context() latencies, then an observe-then-context loop; returns figures and the next message number."""
    queries = _queries(rng, args.queries)
    modeler.context(USER, queries[0])  # settle caches after the ingest
    warm = []
    for q in queries:
        start = time.perf_counter()
        modeler.context(USER, q)
        warm.append(time.perf_counter() - start)
    observe_s, after = [], []
    for q in queries[: args.loops]:
        turns = _turns(rng, next_id, 2, t0)
        next_id += 2
        start = time.perf_counter()
        modeler.observe(USER, turns)
        observe_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        modeler.context(USER, q)
        after.append(time.perf_counter() - start)
    return {"warm": summarise(warm), "observe": summarise(observe_s), "after_write": summarise(after)}, next_id


def _index_bytes(modeler: UserModeler) -> int:
    """Bytes of the user's message index (vectors, columns, postings); 0 when the state has none."""
    with modeler.internals.cache.user(USER) as state:
        index = getattr(state, "message_index", None)
        return int(index.nbytes()) if index is not None else 0


def _settled_rss_mb() -> float:
    """RSS once the load's temporary objects are freed and glibc returned the free heap to the system."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return current_rss_mb() or 0.0


def _idle_rss_mb(modeler: UserModeler) -> tuple[float, float]:
    """RSS once the flusher, idle since the last write, gave chromadb's in-memory index back (its default
    ``idle_after``), and how long that took; RSS as it is if nothing was given back within ``idle_after`` + 15 s."""
    store, flusher = modeler.internals.store, modeler.internals.flusher
    start = time.perf_counter()
    while store.held_records() and time.perf_counter() - start < flusher.idle_after + 15:
        time.sleep(0.5)
    return current_rss_mb() or 0.0, round(time.perf_counter() - start, 1)


def _cold_load(path: str) -> dict[str, Any]:
    """In a fresh process: open the store, then the first ``context()`` (loads the user); time and RSS growth;
    then the user's first write (Chroma loads the shard's index again to apply it) and RSS once more."""
    with UserModeler(path, embedder=HashingEmbedder()) as modeler:
        before = current_rss_mb() or 0.0
        start = time.perf_counter()
        modeler.context(USER, "where does the user live")
        seconds = time.perf_counter() - start
        after = current_rss_mb() or 0.0
        settled = _settled_rss_mb()
        start = time.perf_counter()
        modeler.context(USER, "food preferences ramen")
        warm = time.perf_counter() - start
        start = time.perf_counter()
        modeler.observe(USER, _turns(random.Random(99), 20_000_000, 2, datetime(2025, 1, 1, tzinfo=timezone.utc)))
        modeler.flush_writes()
        write_s = time.perf_counter() - start
        written = current_rss_mb() or 0.0
        start = time.perf_counter()
        modeler.context(USER, "trip to Lisbon")
        after_write = time.perf_counter() - start
        idle, idle_wait = _idle_rss_mb(modeler)
    return {
        "first_context_s": round(seconds, 2),
        "rss_open_mb": before,
        "rss_loaded_mb": after,
        "user_rss_mb": round(after - before, 1),
        "rss_settled_mb": settled,
        "user_settled_mb": round(settled - before, 1),
        "next_context_ms": round(warm * 1000, 1),
        "first_write_s": round(write_s, 2),
        "rss_after_first_write_mb": written,
        "user_after_first_write_mb": round(written - before, 1),
        "context_after_first_write_ms": round(after_write * 1000, 1),
        "rss_idle_mb": idle,
        "user_idle_mb": round(idle - before, 1),
        "idle_wait_s": idle_wait,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = random.Random(7)
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="big-user-") as tmp:
        modeler = UserModeler(Path(tmp) / "store", embedder=HashingEmbedder())
        rss_open = current_rss_mb() or 0.0  # the store open, no user loaded: the base of the user's share
        log(f"store open: RSS {rss_open} MiB")
        try:
            stored, ingest_s = 0, 0.0
            for size in sizes:
                log(f"ingesting up to {size:,} messages")
                start = time.perf_counter()
                while stored < size:
                    count = min(args.batch, size - stored)
                    modeler.observe(USER, _turns(rng, stored, count, t0))
                    stored += count
                    if stored % 10_000 == 0:
                        log(f"  {stored:,} messages, {time.perf_counter() - start:.1f} s")
                ingest_s += time.perf_counter() - start
                rss = current_rss_mb() or 0.0
                log(f"after ingest: RSS {rss} MiB (the user: +{rss - rss_open:.1f} MiB)")
                start = time.perf_counter()
                modeler.flush_writes()  # the journal moved to Chroma: the flusher no longer competes for the GIL
                flush_s = time.perf_counter() - start
                log(f"measuring at {size:,} messages")
                figures, stored_after = _measure(modeler, rng, 10_000_000 + stored, t0, args)
                rss_measured = current_rss_mb() or 0.0
                settled = _settled_rss_mb()
                log(f"after the measures: RSS {rss_measured} MiB, settled {settled} MiB")
                idle, idle_wait = _idle_rss_mb(modeler)
                log(f"writes paused {idle_wait} s: RSS {idle} MiB")
                rows.append(
                    {
                        "messages": size,
                        "ingest_seconds": round(ingest_s, 2),
                        "ingest_messages_per_s": round(size / ingest_s, 1),
                        "rss_open_mb": rss_open,
                        "rss_after_ingest_mb": rss,
                        "user_after_ingest_mb": round(rss - rss_open, 1),
                        "rss_after_measures_mb": rss_measured,
                        "user_after_measures_mb": round(rss_measured - rss_open, 1),
                        "rss_settled_mb": settled,
                        "user_settled_mb": round(settled - rss_open, 1),
                        "rss_idle_mb": idle,
                        "user_idle_mb": round(idle - rss_open, 1),
                        "idle_wait_s": idle_wait,
                        "flush_seconds": round(flush_s, 2),
                        "index_mib": round(_index_bytes(modeler) / 2**20, 1),
                        **figures,
                    }
                )
                del stored_after
        finally:
            modeler.close()
        log("loading the user in a fresh process")
        cold = in_fresh_process(_cold_load, str(Path(tmp) / "store"))
        log(f"cold load: {cold}")
    return {
        "cold_load": cold,
        "label": args.label,
        "batch": args.batch,
        "queries": args.queries,
        "loops": args.loops,
        "goals": GOALS,
        "peak_rss_mb": peak_rss_mb(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],  # latencies vary 2-3x with machine load
        "rows": rows,
        "environment": environment(),
    }


def _verdict(mib: float) -> str:
    return "met" if mib <= GOALS["rss_mb"] else "NOT met"


def render(result: dict[str, Any]) -> str:
    headers = [
        "messages",
        "ingest msg/s",
        "index MiB",
        "warm p50 ms",
        "warm p95 ms",
        "observe p50 ms",
        "after write p50 ms",
        "after write p95 ms",
    ]
    rows = [
        [
            r["messages"],
            r["ingest_messages_per_s"],
            r.get("index_mib", "-"),
            r["warm"]["p50_ms"],
            r["warm"]["p95_ms"],
            r["observe"]["p50_ms"],
            r["after_write"]["p50_ms"],
            r["after_write"]["p95_ms"],
        ]
        for r in result["rows"]
    ]
    title = (
        f"## One big user ({result['label']}; observe batches of {result['batch']}, HashingEmbedder, "
        f"{result['queries']} warm queries, {result['loops']} observe-then-context loops)"
    )
    memory_headers = ["situation", "process RSS MiB", "the user's share MiB", "goal <= 300 MiB (the user)"]
    memory: list[list[object]] = []
    for r in result["rows"]:
        n = f"{r['messages']:,}"
        memory += [
            [f"writing process, store open, no user ({n} run)", r["rss_open_mb"], "-", "-"],
            [f"writing process, right after ingesting {n}", r["rss_after_ingest_mb"], r["user_after_ingest_mb"]],
            [
                f"writing process, after the latency loops ({n})",
                r["rss_after_measures_mb"],
                r["user_after_measures_mb"],
            ],
            [f"writing process, settled (gc + malloc_trim) ({n})", r["rss_settled_mb"], r["user_settled_mb"]],
        ]
        if "rss_idle_mb" in r:
            memory.append(
                [
                    f"writing process, writes paused {r['idle_wait_s']} s (the flusher gave chromadb's index back)",
                    r["rss_idle_mb"],
                    r["user_idle_mb"],
                ]
            )
    cold = result.get("cold_load")
    if cold and result["rows"]:
        memory += [
            ["fresh process, store open, no user", cold["rss_open_mb"], "-", "-"],
            ["fresh process, user loaded (first context)", cold["rss_loaded_mb"], cold["user_rss_mb"]],
            ["fresh process, settled (gc + malloc_trim)", cold["rss_settled_mb"], cold["user_settled_mb"]],
            [
                "fresh process, after the user's first write",
                cold["rss_after_first_write_mb"],
                cold["user_after_first_write_mb"],
            ],
        ]
        if "rss_idle_mb" in cold:
            memory.append(
                [
                    f"fresh process, writes paused {cold['idle_wait_s']} s (the flusher gave chromadb's index back)",
                    cold["rss_idle_mb"],
                    cold["user_idle_mb"],
                ]
            )
    memory = [row if len(row) == 4 else [*row, _verdict(float(row[2]))] for row in memory]  # type: ignore[arg-type]
    goals = (
        f"Goals: p95 <= {GOALS['after_write_p95_ms']:.0f} ms right after a write, <= {GOALS['warm_p95_ms']:.0f} ms "
        f"warm, RSS <= {GOALS['rss_mb']:.0f} MiB for the user (its share of the process). Peak RSS of the run: "
        f"{result['peak_rss_mb']} MiB. Load average at the end: {result.get('load_average_at_end', '-')}."
    )
    load = (
        f"Fresh process at {result['rows'][-1]['messages']:,} messages: first context() (loads the user) "
        f"{cold['first_context_s']} s, next context() {cold['next_context_ms']} ms; the user's first write then "
        f"(observe + flush_writes: Chroma loads the shard's index again) {cold['first_write_s']} s, the context() "
        f"after it {cold['context_after_first_write_ms']} ms."
        if cold and result["rows"]
        else ""
    )
    return (
        f"{title}\n\n{markdown_table(headers, rows)}\n\n{markdown_table(memory_headers, memory)}\n\n{goals}\n\n{load}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="message counts to measure at (comma-separated)")
    parser.add_argument("--batch", type=int, default=100, help="messages per observe() while ingesting")
    parser.add_argument("--queries", type=int, default=200, help="warm context() calls per size")
    parser.add_argument("--loops", type=int, default=100, help="observe-then-context iterations per size")
    parser.add_argument("--label", default="after", help="tag of this run (file names: big_user[-label])")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    result = run(args)
    text = render(result)
    print(text)
    stem = "big_user" if args.label == "after" else f"big_user-{args.label}"
    write_json(args.out, f"{stem}.json", result)
    (args.out / f"{stem}.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
