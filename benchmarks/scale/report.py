"""The scale benchmark's report: markdown tables of ingest, serving latency against the goals, facts, and the
head-to-head comparison with the baselines."""

from __future__ import annotations

from typing import Any

from .._util import markdown_table
from .config import BASELINE_ADD, GOAL_RATIO, GOALS_MS, LANGCHAIN, LLAMAINDEX, OURS, SYSTEM_LABELS, Config
from .phases import RATIO_KEYS


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
