"""The command line: parse options, build scenarios, run every mode, print and write the results."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personal_core import default_counter

from .._util import RESULTS_DIR, environment, log, write_json
from ..embedders import EMBEDDERS, make_embedder
from .baselines import BASELINES, CachedEmbedder, run_baseline
from .data import KINDS, build_scenarios, load_filler, load_items, topics_in
from .outcome import FAILURE_CLASSES, Outcome
from .personal import PERSONAL_MODES, run_personal
from .report import aggregate, failure_summary, failure_table, plot, surfaced_table

ALL_MODES = PERSONAL_MODES + BASELINES
DEFAULT_FILLERS = (4000, 12000, 30000)
DEFAULT_BUDGETS = (250, 500, 1000)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(parser: argparse.ArgumentParser, name: str, value: str, minimum: int) -> list[int]:
    try:
        out = [int(v) for v in _csv(value)]
    except ValueError:
        parser.error(f"{name} must be a comma list of integers")
    if not out or any(v < minimum for v in out):
        parser.error(f"{name} must be integers >= {minimum}")
    return out


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prefeval", description="PrefEval preference surfacing")
    parser.add_argument("--data", type=Path, help="the PrefEval benchmark_dataset folder (required to run)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma list of explicit, implicit")
    parser.add_argument("--topics", default="", help="comma list of topics (default: every topic in --data)")
    parser.add_argument("--items", type=int, default=None, help="only the first N items of each topic")
    parser.add_argument("--fillers", default=",".join(map(str, DEFAULT_FILLERS)), help="filler sizes, tokens")
    parser.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), help="context budgets, tokens")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma list of {', '.join(ALL_MODES)}")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="hashing", help="minilm needs the bench extra")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--stem", default=None, help="output file stem (default prefeval-<embedder>)")
    parser.add_argument("--combine", type=Path, nargs="+", help="merge these result JSON files into --stem instead")
    args = parser.parse_args(argv)
    if args.combine:
        return args
    if args.data is None:
        parser.error("--data is required")
    args.kinds = _csv(args.kinds)
    args.modes = _csv(args.modes)
    for kind in args.kinds:
        if kind not in KINDS:
            parser.error(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    for mode in args.modes:
        if mode not in ALL_MODES:
            parser.error(f"unknown mode {mode!r}; choose from {', '.join(ALL_MODES)}")
    args.fillers = _ints(parser, "--fillers", args.fillers, 0)
    args.budgets = _ints(parser, "--budgets", args.budgets, 1)
    if args.items is not None and args.items < 1:
        parser.error("--items must be >= 1")
    args.topics = _csv(args.topics) or topics_in(args.data)
    return args


def command_of(config: dict[str, Any], folder: str) -> str:
    """The command line that produces a run of ``config``."""
    return (
        f"python -m benchmarks.prefeval --data {folder} --kinds {','.join(config['kinds'])} "
        f"--modes {','.join(config['modes'])} --fillers {','.join(map(str, config['fillers']))} "
        f"--budgets {','.join(map(str, config['budgets']))} --embedder {config['embedder']}"
        + (f" --items {config['items_per_topic']}" if config.get("items_per_topic") else "")
    )


def write_report(out: Path, stem: str, embedder: str, commands: Sequence[str], payload: dict[str, Any]) -> None:
    """Write ``stem``.json / .md / .png for ``payload`` (its ``results`` rows) to ``out``."""
    rows = payload["results"]
    modes = [m for m in ALL_MODES if any(r["system"] == m for r in rows)]
    budgets = sorted({int(r["budget"]) for r in rows})
    path = write_json(out, f"{stem}.json", payload)
    runs = "\n".join(f"    {c}" for c in commands)
    (out / f"{stem}.md").write_text(
        f"# PrefEval: preference surfaced ({embedder} embedder)\n\n{runs}\n\n"
        f"Share of items whose preference message reached the context, by budget (tokens):\n\n"
        f"{surfaced_table(rows, modes, budgets)}\n\n"
        f"## Misses: why\n\nCounts per failure class; fill = mean tokens of the failing contexts by source "
        f"(insight / message / card / summary); median rank and tokens needed = where the preference ranked in the "
        f"full ranking; rag had it = misses that plain cosine RAG (`rag`) surfaced for the same item, filler and "
        f"budget.\n\n{failure_table(rows)}\n",
        encoding="utf-8",
    )
    png = plot(rows, modes, out / f"{stem}.png", f"PrefEval: preference surfaced ({embedder})")
    log(f"prefeval: wrote {path}, {stem}.md and {png.name}")


def combine(paths: Sequence[Path], out: Path, stem: str) -> dict[str, Any]:
    """Merge the results of several runs of one embedder (e.g. a grid run in parts) into one report; a cell present
    in several files is taken from the last."""
    payloads = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    embedders = {p["config"]["embedder"] for p in payloads}
    if len(embedders) != 1:
        raise SystemExit(f"--combine needs runs of one embedder, got {sorted(embedders)}")
    # A later file's cell (mode x kind x filler x budget) replaces an earlier one's (e.g. a rerun on more items).
    cells = {(r["system"], r["kind"], r["filler"], r["budget"]): r for p in payloads for r in p["results"]}
    rows = list(cells.values())
    payload = {
        "benchmark": "prefeval",
        "combined_from": [p.name for p in paths],
        "configs": [p["config"] for p in payloads],
        "data": [p["data"] for p in payloads],
        "figures": [p["figures"] for p in payloads],
        "failure_classes": list(FAILURE_CLASSES),
        "failure_summary": failure_summary(rows),
        "results": rows,
        "environment": payloads[-1]["environment"],
    }
    commands = [p.get("command") or command_of(p["config"], p["data"]["folder"]) for p in payloads]
    write_report(out, stem, embedders.pop(), commands, payload)
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the harness; returns the JSON payload it wrote."""
    args = parse(argv)
    if args.combine:
        return combine(args.combine, args.out, args.stem or "prefeval-combined")
    counter = default_counter()
    conversations = load_filler(args.data, counter)
    items = [item for kind in args.kinds for item in load_items(args.data, kind, args.topics, args.items)]
    scenarios = build_scenarios(items, conversations, args.fillers)
    filler_actual = {
        str(size): round(statistics.fmean(s.filler_actual for s in scenarios if s.filler_tokens == size), 1)
        for size in args.fillers
    }
    data = {
        "folder": args.data.name,
        "topics": args.topics,
        "items": {kind: sum(i.kind == kind for i in items) for kind in args.kinds},
        "filler_conversations": len(conversations),
        "scenarios": len(scenarios),
        "mean_filler_tokens": filler_actual,
        "mean_turns": round(statistics.fmean(len(s.turns) for s in scenarios), 1),
    }
    log(f"prefeval: {data}")
    embedder = make_embedder(args.embedder)
    cached = CachedEmbedder(embedder)
    outcomes: list[Outcome] = []
    figures: dict[str, dict[str, Any]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="personal-prefeval-"))
    try:
        for mode in args.modes:
            log(f"prefeval: {mode} ...")
            if mode in PERSONAL_MODES:
                result, figs = run_personal(mode, scenarios, args.budgets, tmp / mode, embedder, counter)
            else:
                result, figs = run_baseline(mode, scenarios, args.budgets, cached, counter, tmp / "baselines")
            outcomes += result
            figures[mode] = figs
            log(f"prefeval: {mode} done {figs}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = aggregate(outcomes)
    print(surfaced_table(rows, args.modes, args.budgets))
    print()
    print(failure_table(rows))
    stem = args.stem or f"prefeval-{args.embedder}"
    config: dict[str, Any] = {
        "kinds": args.kinds,
        "modes": args.modes,
        "fillers": args.fillers,
        "budgets": args.budgets,
        "embedder": args.embedder,
        "items_per_topic": args.items,
        "targets": {"explicit": "pref", "implicit": "choice-selection, choice-ack"},
    }
    command = command_of(config, args.data.name)
    payload: dict[str, Any] = {
        "benchmark": "prefeval",
        "command": command,
        "config": config,
        "data": data,
        "figures": figures,
        "failure_classes": list(FAILURE_CLASSES),
        "failure_summary": failure_summary(rows),
        "results": rows,
        "environment": environment(),
    }
    write_report(args.out, stem, args.embedder, [command], payload)
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
