"""Run the scale benchmark: every phase (in fresh processes unless ``--in-process``), then print and write the
report (``scale.json``, ``scale.md``, ``scale.png``)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .._util import dir_size, environment, log
from .._util import write_json as write_results
from .config import GOAL_RATIO, GOALS_MS, LANGCHAIN, LLAMAINDEX, OURS, Config, parse_args, phase
from .data import total_documents
from .phases import head_to_head, ingest, serve
from .report import report
from .systems import BASELINE_INGEST


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
        from ..plots import plot_latency_bars
    except ImportError as exc:  # matplotlib is in the dev extra
        log(f"[scale] no plot: {exc}")
    else:
        print(f"wrote {plot_latency_bars(payload, config.out / 'scale.png')}")
    return payload
