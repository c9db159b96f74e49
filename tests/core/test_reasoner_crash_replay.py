"""Crash safety of the derivation queue, and a recorded (LoCoMo-style) reasoner replayed end to end."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.scripted import ScriptedLLM, batch_messages, rules_responder

from personal_core import HashingEmbedder, UserModeler

CHILD = r"""
import os, signal, sys, time
from pathlib import Path
from personal_core import HashingEmbedder, UserModeler
path, mode, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

def llm(chat):
    marker.write_text("calling")
    time.sleep(60)  # the parent kills us during the call
    return "{}"

m = UserModeler(path, llm=llm, embedder=HashingEmbedder(), background=False)
m.observe("ann", [{"id": f"c{i}", "role": "user", "content": f"I'm vegetarian, note {i}."} for i in range(5)])
if mode == "before":
    os.kill(os.getpid(), signal.SIGKILL)  # after observe(), before any derivation
m.flush()  # "during": blocks inside the LLM call
"""

RULES = [(r"\bI'm vegetarian\b", {"kind": "preference", "text": "Is vegetarian", "confidence": 0.9})]


def _run_child(store: Path, mode: str, tmp_path: Path) -> None:
    marker = tmp_path / f"marker-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store), mode, str(marker)])
    if mode == "during":
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), "the child never reached the LLM call"
        proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def _reopen_and_derive(store: Path) -> tuple[ScriptedLLM, dict[str, object]]:
    llm = ScriptedLLM(rules_responder(RULES))
    with UserModeler(store, llm=llm, embedder=HashingEmbedder(), background=False) as m:
        assert [x.id for x in m.messages("ann")] == [f"c{i}" for i in range(5)], "no observed message was lost"
        m.flush()
        m.flush()
        stats = m.stats("ann")
        model = m.user_model("ann")
    assert [(i.text, i.times_seen) for i in model.insights] == [("Is vegetarian", 5)]
    return llm, stats


def test_sigkill_after_observe_before_derivation(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _run_child(store, "before", tmp_path)
    llm, stats = _reopen_and_derive(store)
    assert len(llm.calls) == 1 and stats["batches_done"] == 1 and stats["pending_batches"] == 0
    again = ScriptedLLM(rules_responder(RULES))
    with UserModeler(store, llm=again, embedder=HashingEmbedder(), background=False) as m:
        m.flush()
        assert again.calls == [] and m.stats("ann")["batches_done"] == 1, "derived exactly once"


def test_sigkill_during_the_llm_call(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _run_child(store, "during", tmp_path)
    llm, stats = _reopen_and_derive(store)
    assert len(llm.calls) == 1 and stats["batches_done"] == 1
    assert stats["messages_observed"] == 5


# A LoCoMo-shaped fixture written for this test: sessions of turns with dia_ids, and per-speaker observations
# ([text, evidence dia_id]) as an LLM once wrote them. The replay LLM returns, for each batch, the observations
# whose evidence is in the batch.
CONVERSATION = {
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
        {"speaker": "Caro", "dia_id": "D2:2", "text": "I adopted Biscuit, a beagle puppy!"},
        {"speaker": "Mel", "dia_id": "D2:3", "text": "Camping helps me relax after work at the hospital."},
    ],
}
OBSERVATIONS = {
    "Mel": [
        ["Mel attended a pottery workshop.", "D1:1"],
        ["Mel made clay bowls with her kids.", "D1:3"],
        ["Mel camped by the lake with her family.", "D2:1"],
        ["Mel works at a hospital and camping helps her relax.", "D2:3"],
    ],
    "Caro": [
        ["Caro volunteers at an animal shelter.", "D1:2"],
        ["Caro plans to adopt a dog.", "D1:4"],
        ["Caro adopted a beagle puppy named Biscuit.", "D2:2"],
    ],
}


def _replay_llm(speaker: str) -> ScriptedLLM:
    text_to_dia = {t["text"]: t["dia_id"] for n in (1, 2) for t in CONVERSATION[f"session_{n}"]}

    def respond(chat: list[dict[str, str]]) -> str:
        import json

        in_batch = {text_to_dia[content]: alias for alias, _, _, content in batch_messages(chat)}
        items = [
            {"kind": "fact", "text": text, "confidence": 0.9, "evidence": [in_batch[dia]]}
            for text, dia in OBSERVATIONS[speaker]
            if dia in in_batch
        ]
        return json.dumps({"new_insights": items})

    return ScriptedLLM(respond)


def _session_time(raw: str) -> str:
    from datetime import datetime

    return datetime.strptime(re.sub(r"\s+", " ", raw), "%I:%M %p on %d %B, %Y").isoformat()


def test_recorded_reasoner_replay_drives_the_real_pipeline(tmp_path: Path) -> None:
    for speaker in ("Mel", "Caro"):
        llm = _replay_llm(speaker)
        with UserModeler(
            tmp_path / speaker, llm=llm, embedder=HashingEmbedder(), background=False, batch_tokens=20
        ) as m:
            for n in (1, 2):
                when = _session_time(CONVERSATION[f"session_{n}_date_time"])
                turns = [
                    {
                        "id": t["dia_id"],
                        "role": "user" if t["speaker"] == speaker else "assistant",
                        "content": t["text"],
                        "created_at": when,
                    }
                    for t in CONVERSATION[f"session_{n}"]
                ]
                m.observe(speaker, turns, session_id=f"session_{n}")
            m.flush()
            insights = {i.text: i.evidence for i in m.user_model(speaker).insights}
            assert insights == {text: [dia] for text, dia in OBSERVATIONS[speaker]}
            assert len(llm.calls) >= 2, "several batches, each replayed from the recording"
            if speaker == "Caro":
                ctx = m.context("Caro", "What is the name of Caro's puppy?", max_tokens=120)
                assert "D2:2" in ctx.evidence
                assert next(i for i in m.user_model("Caro").insights if "Biscuit" in i.text).valid_from.day == 25
