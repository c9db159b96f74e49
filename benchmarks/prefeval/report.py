"""Outcomes -> figures (pure), markdown tables and the PNG plot."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._util import markdown_table
from .outcome import FAILURE_CLASSES, Outcome

SOURCES = ("insight", "message", "card", "summary")
EXAMPLES_PER_CLASS = 3


def _cell_key(o: Outcome) -> tuple[str, str, int, int]:
    return (o.system, o.kind, o.filler, o.budget)


def aggregate(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per system x kind x filler x budget: surfaced share, tokens, how it got in, why it did not."""
    cells: dict[tuple[str, str, int, int], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        cells[_cell_key(o)].append(o)
    # Did plain cosine RAG surface it for the same item, filler and budget? (Says "the ranker lost it".)
    rag = {(o.key, o.filler, o.budget): o.surfaced for o in outcomes if o.system == "rag"}
    rows = []
    for (system, kind, filler, budget), group in cells.items():
        misses = [o for o in group if not o.surfaced]
        learned = [o.learned for o in group if o.learned is not None]
        needed = [o.needed for o in misses if o.needed is not None]
        ranks = [o.rank for o in misses if o.rank is not None]
        fill = (
            {src: round(statistics.fmean(o.fill.get(src, 0) for o in misses), 1) for src in SOURCES} if misses else {}
        )
        examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for o in misses:
            if o.failure and len(examples[o.failure]) < EXAMPLES_PER_CLASS:
                examples[o.failure].append({"key": o.key, "rank": o.rank, "needed": o.needed, "top": o.top})
        rows.append(
            {
                "system": system,
                "kind": kind,
                "filler": filler,
                "budget": budget,
                "items": len(group),
                "surfaced": round(sum(o.surfaced for o in group) / len(group), 4),
                "context_tokens": round(statistics.fmean(o.tokens for o in group), 1),
                "via": dict(Counter(o.via for o in group if o.via)),
                "learned": round(sum(learned) / len(learned), 4) if learned else None,
                "misses": len(misses),
                "misses_rag_surfaced": sum(rag.get((o.key, o.filler, o.budget), False) for o in misses)
                if rag
                else None,
                "failures": dict(Counter(o.failure for o in misses if o.failure)),
                "miss_fill_tokens": fill,
                "miss_median_rank": statistics.median(ranks) if ranks else None,
                "miss_median_needed": statistics.median(needed) if needed else None,
                "examples": dict(examples),
            }
        )
    rows.sort(key=lambda r: (r["kind"], r["filler"], r["system"], r["budget"]))
    return rows


def surfaced_table(rows: Sequence[dict[str, Any]], systems: Sequence[str], budgets: Sequence[int]) -> str:
    """Rows kind x filler x system, one column per budget: the surfaced share."""
    index = {(r["system"], r["kind"], r["filler"], r["budget"]): r for r in rows}
    kinds = sorted({r["kind"] for r in rows})
    fillers = sorted({r["filler"] for r in rows})
    out: list[list[object]] = []
    for kind in kinds:
        for filler in fillers:
            for system in systems:
                cells = [index.get((system, kind, filler, b)) for b in budgets]
                if not any(cells):
                    continue
                items = next(c["items"] for c in cells if c)
                out.append([kind, f"{filler:,}", system, items, *(c["surfaced"] if c else float("nan") for c in cells)])
    return markdown_table(["kind", "filler tok", "mode", "items", *(f"@{b}" for b in budgets)], out)


def failure_table(rows: Sequence[dict[str, Any]]) -> str:
    """Cells with misses: counts per failure class, what filled the budget (mean tokens by source), rank/needed."""
    out: list[list[object]] = []
    for r in rows:
        if not r["misses"]:
            continue
        fill = r["miss_fill_tokens"]
        out.append(
            [
                r["kind"],
                f"{r['filler']:,}",
                r["system"],
                r["budget"],
                f"{r['misses']}/{r['items']}",
                r["learned"] if r["learned"] is not None else "-",
                *(r["failures"].get(c, 0) for c in FAILURE_CLASSES),
                " / ".join(f"{fill.get(s, 0):.0f}" for s in SOURCES),
                r["miss_median_rank"] if r["miss_median_rank"] is not None else "-",
                r["miss_median_needed"] if r["miss_median_needed"] is not None else "-",
                r.get("misses_rag_surfaced") if r.get("misses_rag_surfaced") is not None else "-",
            ]
        )
    headers = [
        "kind",
        "filler",
        "mode",
        "budget",
        "misses",
        "learned",
        *FAILURE_CLASSES,
        "fill ins/msg/card/sum",
        "median rank",
        "median tok needed",
        "rag had it",
    ]
    return markdown_table(headers, out)


def failure_summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """System -> failure class -> misses, summed over every cell."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        out[r["system"]].update(r["failures"])
    return {system: dict(counts) for system, counts in out.items()}


def plot(rows: Sequence[dict[str, Any]], systems: Sequence[str], out: Path, title: str) -> Path:
    """Surfaced share against the budget: one panel per kind x filler, one line per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({r["kind"] for r in rows})
    fillers = sorted({r["filler"] for r in rows})
    figure, axes = plt.subplots(
        len(kinds), len(fillers), figsize=(4.2 * len(fillers), 3.4 * len(kinds)), squeeze=False, sharey=True
    )
    for i, kind in enumerate(kinds):
        for j, filler in enumerate(fillers):
            axis = axes[i][j]
            for system in systems:
                points = sorted(
                    (r["budget"], r["surfaced"])
                    for r in rows
                    if r["system"] == system and r["kind"] == kind and r["filler"] == filler
                )
                if points:
                    axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=system)
            axis.set_xscale("log", base=2)
            budgets = sorted({r["budget"] for r in rows})
            axis.set_xticks(budgets, [str(b) for b in budgets])
            axis.minorticks_off()
            axis.set_ylim(0, 1.02)
            axis.set_title(f"{kind}, {filler:,} filler tokens", fontsize=9)
            axis.grid(alpha=0.3)
            if j == 0:
                axis.set_ylabel("preference surfaced")
            if i == len(kinds) - 1:
                axis.set_xlabel("context budget, tokens")
    labelled: dict[str, Any] = {}
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    figure.legend(list(labelled.values()), list(labelled), loc="lower center", ncol=len(labelled), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
