"""The PrefEval harness (benchmarks/prefeval/) on generated data in the dataset's format: outputs written, the
surfacing judgement right on a trivially easy item, the filler and failure-class rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import prefeval
from benchmarks.prefeval.data import FillerTurn, filler_for
from benchmarks.prefeval.outcome import LEARNED_NOT_RANKED, NOT_LEARNED, NOT_RANKED, TOO_BIG, Outcome, classify

TOPIC = "food_choices"
ITEMS: list[dict[str, Any]] = [
    {
        "preference": "I am vegetarian and never eat meat or fish.",
        "question": "Can you suggest a dinner recipe for tonight?",
        "explanation": "Recipes must be vegetarian.",
    },
    {
        "preference": "I prefer quiet, slow-paced holidays in the mountains over busy cities.",
        "question": "Where should I go on holiday next month?",
        "explanation": "Suggest calm mountain places.",
    },
]
CHOICES = [
    {
        "query": "What should I eat for lunch today?",
        "assistant_options": "1. A bean salad. 2. A beef burger. 3. A chicken wrap.",
        "user_selection": "The bean salad, please. The others have meat.",
        "assistant_acknowledgment": "Got it, the bean salad is a good meat-free choice.",
    },
    {
        "query": "Which trip sounds good for a weekend?",
        "assistant_options": "1. A cabin in the hills. 2. A party weekend in the capital.",
        "user_selection": "The cabin in the hills. Cities are too hectic for me.",
        "assistant_acknowledgment": "Understood, a calm cabin it is.",
    },
]
FILLER = [
    {
        "conversation_id": f"c{n}",
        "model": "generated",
        "turn": 2,
        "language": "English",
        "redacted": False,
        "conversation": [
            {"role": "user", "content": f"How do I reverse a list in Python? Example {n}."},
            {"role": "assistant", "content": f"Use reversed(items) or items[::-1]; both work for list {n}."},
            {"role": "user", "content": "And how do I sort it by length?"},
            {"role": "assistant", "content": "Call sorted(items, key=len)."},
        ],
    }
    for n in range(3)
]
MODES = "default,replay,messages,rag,recent,langchain,llamaindex"


def write_dataset(root: Path) -> Path:
    (root / "explicit_preference").mkdir(parents=True)
    (root / "implicit_preference" / "choice-based").mkdir(parents=True)
    (root / "explicit_preference" / f"{TOPIC}.json").write_text(json.dumps(ITEMS), encoding="utf-8")
    implicit = [{**item, "conversation": conv} for item, conv in zip(ITEMS, CHOICES, strict=True)]
    (root / "implicit_preference" / "choice-based" / f"{TOPIC}.json").write_text(json.dumps(implicit), "utf-8")
    (root / "filtered_inter_turns.json").write_text(json.dumps(FILLER), encoding="utf-8")
    return root


def test_harness_on_generated_data(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "prefeval")
    out = tmp_path / "out"
    args = ["--data", str(data), "--modes", MODES, "--fillers", "60,150", "--budgets", "250,500", "--out", str(out)]
    payload = prefeval.main(args)

    assert (out / "prefeval-hashing.png").read_bytes().startswith(b"\x89PNG"), "plot written"
    markdown = (out / "prefeval-hashing.md").read_text(encoding="utf-8")
    assert "| explicit | 60 | replay | 2 | 1.000 | 1.000 |" in markdown
    written = json.loads((out / "prefeval-hashing.json").read_text(encoding="utf-8"))
    assert written["results"] == json.loads(json.dumps(payload["results"]))
    assert payload["data"]["items"] == {"explicit": 2, "implicit": 2} and payload["data"]["scenarios"] == 8
    assert all(
        0 < v <= size
        for size, v in (
            (60, payload["data"]["mean_filler_tokens"]["60"]),
            (150, payload["data"]["mean_filler_tokens"]["150"]),
        )
    )

    rows = payload["results"]
    cells = {(r["system"], r["kind"], r["filler"], r["budget"]): r for r in rows}
    systems = MODES.split(",")
    assert len(cells) == len(systems) * 2 * 2 * 2, "every mode x kind x filler x budget"
    for (system, kind, _, budget), r in cells.items():
        assert r["items"] == 2 and 0.0 <= r["surfaced"] <= 1.0
        assert sum(r["failures"].values()) == r["misses"], f"every miss of {system} classified"
        assert r["misses_rag_surfaced"] is not None and r["misses_rag_surfaced"] <= r["misses"]
        if system not in ("llamaindex",):
            assert r["context_tokens"] <= budget
        if system == "replay":  # the recorded reasoner wrote the preference down: it must reach the context
            assert r["surfaced"] == 1.0 and r["via"] == {"insight": 2}, (kind, budget)
            assert r["learned"] == 1.0
    # A short history fits any budget here: every system that ranks the whole history finds it.
    for system in ("messages", "rag", "langchain"):
        assert cells[(system, "explicit", 60, 500)]["surfaced"] == 1.0, system
    assert payload["figures"]["replay"]["replay_insights_written"] == 8, "one insight per scenario, no more"
    combined = prefeval.main(["--combine", str(out / "prefeval-hashing.json"), "--stem", "both", "--out", str(out)])
    assert combined["results"] == written["results"] and (out / "both.png").exists()
    assert "--fillers 60,150 --budgets 250,500 --embedder hashing" in (out / "both.md").read_text(encoding="utf-8")
    dumped = json.dumps(payload)
    assert all(item["preference"] not in dumped for item in ITEMS), "results never quote the data"


def test_filler_takes_whole_turns_within_the_budget() -> None:
    conv = [
        [FillerTurn(c, p, "user" if p % 2 == 0 else "assistant", f"t{c}{p}", 40 + 30 * p) for p in range(3)]
        for c in range(2)
    ]
    picked = filler_for(conv, 1, 150)
    assert [(t.conversation, t.position) for t in picked] == [(1, 0), (1, 1), (0, 0)]
    assert sum(t.tokens for t in picked) <= 150
    assert filler_for(conv, 0, 10) == [], "no turn fits"


@pytest.mark.parametrize(
    ("learned", "rank", "own", "expected"),
    [
        (False, None, 0, NOT_LEARNED),
        (True, 7, 30, LEARNED_NOT_RANKED),
        (None, 7, 30, NOT_RANKED),
        (True, 1, 900, TOO_BIG),
        (False, 4, 30, NOT_LEARNED),
    ],
)
def test_failure_classes(learned: bool | None, rank: int | None, own: int, expected: str) -> None:
    outcome = Outcome(
        "default", "k", "explicit", "t", 4000, 500, surfaced=False, tokens=480, learned=learned, rank=rank
    )
    assert classify(outcome, own, frame=20) == expected
    outcome.surfaced = True
    assert classify(outcome, own, frame=20) is None
