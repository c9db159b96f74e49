"""The scale harness (the ``benchmarks/scale/`` package, ``python -m benchmarks.scale``) with both baselines on
tiny generated data: structure and sane ranges only.

Never asserts a timing: latencies are only checked to be positive and finite.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

pytest.importorskip("langchain_chroma")
pytest.importorskip("llama_index.vector_stores.chroma")
pytest.importorskip("matplotlib")

from benchmarks import plots, scale

USERS, INSIGHTS, MESSAGES, WARM, OBSERVE = 12, 8, 3, 10, 6  # 12 users: two share a shard (a "steady" cold call)


def positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scale")
    argv = [
        "--quick",
        "--in-process",
        f"--users={USERS}",
        f"--cold-sample={USERS}",
        f"--insights={INSIGHTS}",
        f"--messages={MESSAGES}",
        f"--warm-calls={WARM}",
        f"--observe-calls={OBSERVE}",
        "--k=5",
        f"--out={out}",
    ]
    return scale.main(argv), out


def test_files_written(run: tuple[dict[str, Any], Path]) -> None:
    payload, out = run
    written = json.loads((out / "scale.json").read_text(encoding="utf-8"))
    assert written["comparison"]["ratios"] == payload["comparison"]["ratios"]
    assert {"benchmark", "config", "environment", "goals_p95_ms", "goal_ratio", "ingest", "serve", "disk"} <= set(
        written
    )
    assert {"baselines", "comparison"} <= set(written)
    assert (out / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "scale.md").read_text(encoding="utf-8")
    assert "| ours / LangChain Chroma |" in md and "| ours / LlamaIndex Memory |" in md
    assert "### Head to head" in md


def test_counts_and_structure(run: tuple[dict[str, Any], Path]) -> None:
    payload, _ = run
    config = payload["config"]
    assert (config["users"], config["insights"], config["messages"], config["k"]) == (USERS, INSIGHTS, MESSAGES, 5)
    assert config["baselines"] is True and config["embedder"] == "hashing"
    ingested = payload["ingest"]
    assert ingested["insights"]["calls"] == USERS * INSIGHTS and ingested["messages"]["calls"] == USERS * MESSAGES
    assert ingested["flush_failures"] == 0
    documents = USERS * (INSIGHTS + MESSAGES)
    for name in (scale.LANGCHAIN, scale.LLAMAINDEX):
        baseline = payload["baselines"][name]
        assert baseline["ingest"]["documents"] == documents
        assert baseline["disk_bytes"] > 0 and positive(baseline["ingest"]["peak_rss_mb"])
    assert payload["serve"]["warm_context"]["n"] == WARM and payload["serve"]["cold_context"]["n"] == USERS

    comparison = payload["comparison"]
    assert comparison["k"] == 5 and comparison["max_tokens"] == scale.MAX_TOKENS
    assert list(comparison["systems"]) == [scale.OURS, scale.LANGCHAIN, scale.LLAMAINDEX]
    for name, stats in comparison["systems"].items():
        assert stats["cold"]["n"] == USERS and stats["warm"]["n"] == WARM, name
        for phase in ("cold", "warm"):
            assert positive(stats[phase]["p50_ms"]) and positive(stats[phase]["p95_ms"])
            assert stats[phase]["p50_ms"] <= stats[phase]["p95_ms"] <= stats[phase]["max_ms"]
            assert stats[phase]["foreign_documents"] == 0, f"{name} returned another user's documents"
            assert 0 < stats[phase]["mean_tokens"] <= scale.MAX_TOKENS
        assert positive(stats["first_call_ms"]) and stats["cold_steady"]["n"] >= 1
    for name in (scale.LANGCHAIN, scale.LLAMAINDEX):
        stats = comparison["systems"][name]
        assert stats["warm"]["mean_items"] == 5 and stats["cold"]["mean_items"] == 5, "k documents per query"
    assert comparison["llamaindex_memory_create"]["n"] == USERS, "one Memory per user"


def test_ratios_positive_and_finite(run: tuple[dict[str, Any], Path]) -> None:
    comparison = run[0]["comparison"]
    assert set(comparison["ratios"]) == {scale.LANGCHAIN, scale.LLAMAINDEX}
    for name, ratios in comparison["ratios"].items():
        assert set(ratios) == set(scale.RATIO_KEYS)
        for key, value in ratios.items():
            assert positive(value), (name, key, value)
            phase, q = scale.RATIO_KEYS[key]
            ours, theirs = comparison["systems"][scale.OURS][phase], comparison["systems"][name][phase]
            assert value == pytest.approx(ours[f"{q}_ms"] / theirs[f"{q}_ms"], rel=1e-2, abs=1e-3)


def test_same_documents_and_queries_for_everyone() -> None:
    config = scale.parse_args(["--users=3", "--insights=4", "--messages=2"])
    docs = list(scale.user_documents(config))
    assert [user for user, _ in docs] == [scale.user_name(i) for i in range(3)]
    assert all(len(texts) == 6 for _, texts in docs)
    assert docs == list(scale.user_documents(config)), "seeded: identical on every call"
    batches = list(scale.document_batches(config, limit=5))
    assert [len(texts) for texts, _, _ in batches] == [5, 5, 5, 3]
    assert [t for texts, _, _ in batches for t in texts] == [t for _, texts in docs for t in texts]
    sampled, _ = scale.sample_users(config)
    assert scale.query_plans(config, sampled)[:2] == scale.query_plans(config, sampled)[:2]


def test_quick_preset_and_flags() -> None:
    quick = scale.parse_args(["--quick", "--users=6"])
    assert (quick.users, quick.insights, quick.messages) == (6, scale.QUICK["insights"], scale.QUICK["messages"])
    full = scale.parse_args([])
    assert (full.users, full.insights, full.baselines, full.k, full.isolate) == (
        1000,
        200,
        True,
        scale.BASELINE_K,
        True,
    )
    assert scale.parse_args(["--no-baselines"]).baselines is False
    with pytest.raises(SystemExit):
        scale.parse_args(["--embedder", "minilm"])


def test_plot_recall_both_shapes(tmp_path: Path) -> None:
    plain = {"heuristic": {250: 0.2, "500": 0.4}, "replay": {"250": {"recall": 0.5}, 500: {"recall": 0.6}}}
    assert plots.recall_series(plain) == {"heuristic": {250: 0.2, 500: 0.4}, "replay": {250: 0.5, 500: 0.6}}
    payload = {
        "config": {"embedder": "hashing"},
        "data": {"questions": 2},
        "results": [{"mode": "raw", "budgets": {"2000": {"recall": 1.0}, "60": {"recall": 0.25}}}],
    }
    assert plots.recall_series(payload) == {"raw": {60: 0.25, 2000: 1.0}}
    for name, result in (("plain.png", plain), ("payload.png", payload)):
        target = plots.plot_recall(result, tmp_path / name)
        assert target.read_bytes()[:4] == b"\x89PNG"
