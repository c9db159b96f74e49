"""Plots of benchmark results (matplotlib, Agg backend: no display needed).

* :func:`plot_latency_bars` -- ``scale.json``: p50/p95 latency, warm and cold, of Personal and each baseline.
* :func:`plot_recall` -- the LoCoMo harness: evidence recall against the context token budget, one line per mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

LABELS = {"personal": "Personal", "langchain_chroma": "LangChain Chroma", "llamaindex_memory": "LlamaIndex Memory"}
PHASES = (("warm", "p50"), ("warm", "p95"), ("cold", "p50"), ("cold", "p95"))


def _finite(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


def latency_series(result: Mapping[str, Any]) -> dict[str, list[float]]:
    """System -> [warm p50, warm p95, cold p50, cold p95] in ms from a ``scale.json`` payload.

    Uses the head-to-head figures (``comparison.systems``) when the run had baselines, else Personal's serving phase.
    """
    comparison = result.get("comparison")
    if comparison:
        return {
            name: [_finite(stats[phase][f"{q}_ms"]) for phase, q in PHASES]
            for name, stats in comparison["systems"].items()
        }
    serve = result["serve"]
    stats = {"warm": serve["warm_context"], "cold": serve["cold_context"]}
    return {"personal": [_finite(stats[phase][f"{q}_ms"]) for phase, q in PHASES]}


def plot_latency_bars(result: Mapping[str, Any], out: Path) -> Path:
    """Grouped bars (log scale, ms): warm/cold p50/p95 for each system of a ``scale.json`` payload."""
    series = latency_series(result)
    config = result.get("config", {})
    figure, axis = plt.subplots(figsize=(9, 5))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [group + (i - (len(series) - 1) / 2) * width for group in range(len(PHASES))]
        bars = axis.bar(xs, values, width, label=LABELS.get(name, name))
        axis.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=7, padding=2)
    axis.set_xticks(range(len(PHASES)), [f"{phase} {q}" for phase, q in PHASES])
    if all(v > 0 for values in series.values() for v in values):
        axis.set_yscale("log")
    axis.set_ylabel("latency, ms (log scale)" if axis.get_yscale() == "log" else "latency, ms")
    title = "context() latency"
    if config:
        title += f": {config.get('users', '?'):,} users x {config.get('insights', '?')} insights"
        if "comparison" in result:
            title += f", baselines k={result['comparison']['k']}"
    axis.set_title(title)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def recall_series(result: Mapping[str, Any]) -> dict[str, dict[int, float]]:
    """Mode -> {budget: recall}, from either shape:

    * a LoCoMo payload (``benchmarks/results/locomo*.json``): ``{"results": [{"mode": m, "budgets":
      {"250": {"recall": r, ...}, ...}}, ...]}``;
    * a plain mapping ``{mode: {budget: recall}}`` (budgets as ints or strings; a recall may also be a dict with a
      ``"recall"`` key).
    """
    if isinstance(result.get("results"), list):
        modes: Mapping[str, Any] = {r["mode"]: r["budgets"] for r in result["results"]}
    else:
        modes = result
    series: dict[str, dict[int, float]] = {}
    for mode, budgets in modes.items():
        points = {
            int(budget): float(cell["recall"] if isinstance(cell, Mapping) else cell)
            for budget, cell in budgets.items()
        }
        series[str(mode)] = dict(sorted(points.items()))
    return series


def plot_recall(result: Mapping[str, Any], out: Path) -> Path:
    """Evidence recall (0-1) against the context budget in tokens (log2 axis), one line per mode."""
    series = recall_series(result)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    budgets: set[int] = set()
    for mode, points in series.items():
        axis.plot(list(points), list(points.values()), marker="o", label=mode)
        budgets.update(points)
    if budgets:
        axis.set_xscale("log", base=2)
        ticks = sorted(budgets)
        axis.set_xticks(ticks, [f"{b:,}" for b in ticks])
        axis.minorticks_off()
    axis.set_ylim(0, 1)
    axis.set_xlabel("context budget, tokens")
    axis.set_ylabel("evidence recall")
    config = result.get("config", {}) if isinstance(result.get("results"), list) else {}
    data = result.get("data", {}) if isinstance(result.get("results"), list) else {}
    title = "LoCoMo evidence recall vs budget"
    if config.get("embedder"):
        title += f" ({config['embedder']} embedder"
        title += f", {data['questions']} questions)" if data.get("questions") else ")"
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
