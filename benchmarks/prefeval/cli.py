"""The command line: parse options, build scenarios, run every mode, print and write the results."""

from __future__ import annotations

import argparse
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
    parser.add_argument("--data", type=Path, required=True, help="the PrefEval benchmark_dataset folder")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma list of explicit, implicit")
    parser.add_argument("--topics", default="", help="comma list of topics (default: every topic in --data)")
    parser.add_argument("--items", type=int, default=None, help="only the first N items of each topic")
    parser.add_argument("--fillers", default=",".join(map(str, DEFAULT_FILLERS)), help="filler sizes, tokens")
    parser.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), help="context budgets, tokens")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma list of {', '.join(ALL_MODES)}")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="hashing", help="minilm needs the bench extra")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--stem", default=None, help="output file stem (default prefeval-<embedder>)")
    args = parser.parse_args(argv)
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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the harness; returns the JSON payload it wrote."""
    args = parse(argv)
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
    table = surfaced_table(rows, args.modes, args.budgets)
    failures = failure_table(rows)
    print(table)
    print()
    print(failures)
    stem = args.stem or f"prefeval-{args.embedder}"
    payload = {
        "benchmark": "prefeval",
        "config": {
            "kinds": args.kinds,
            "modes": args.modes,
            "fillers": args.fillers,
            "budgets": args.budgets,
            "embedder": args.embedder,
            "items_per_topic": args.items,
            "targets": {"explicit": "pref", "implicit": "choice-selection, choice-ack"},
        },
        "data": data,
        "figures": figures,
        "failure_classes": list(FAILURE_CLASSES),
        "failure_summary": failure_summary(rows),
        "results": rows,
        "environment": environment(),
    }
    path = write_json(args.out, f"{stem}.json", payload)
    command = (
        f"python -m benchmarks.prefeval --data {args.data.name} --kinds {','.join(args.kinds)} "
        f"--modes {','.join(args.modes)} --fillers {','.join(map(str, args.fillers))} "
        f"--budgets {','.join(map(str, args.budgets))} --embedder {args.embedder}"
        + (f" --items {args.items}" if args.items else "")
    )
    (args.out / f"{stem}.md").write_text(
        f"# PrefEval: preference surfaced ({args.embedder} embedder)\n\n`{command}`\n\n"
        f"Share of items whose preference message reached the context, by budget (tokens):\n\n{table}\n\n"
        f"## Misses: why\n\nCounts per failure class; fill = mean tokens of the failing contexts by source "
        f"(insight / message / card / summary); rank and tokens needed = where the preference ranked in the full "
        f"ranking.\n\n{failures}\n",
        encoding="utf-8",
    )
    png = plot(rows, args.modes, args.out / f"{stem}.png", f"PrefEval: preference surfaced ({args.embedder})")
    log(f"prefeval: wrote {path}, {stem}.md and {png.name}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
