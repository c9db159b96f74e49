"""An LLM's slots reach the model: a standing preference it marks comes with questions that never name it, and a
later value of the same slot supersedes the first (real store and queue; only the LLM is scripted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.scripted import ScriptedLLM, rules_responder

from personal_core import HashingEmbedder, UserModeler

if TYPE_CHECKING:
    from pathlib import Path

RULES = [
    (
        r"\bcoeliac\b",
        {"kind": "fact", "text": "Cannot eat gluten", "confidence": 0.9, "slot": "diet"},
    ),
    (
        r"\bcured\b",
        {"kind": "fact", "text": "Eats everything again", "confidence": 0.9, "slot": "diet"},
    ),
    (r"\bkayak\b", {"kind": "preference", "text": "Enjoys kayaking", "confidence": 0.8}),
]


def test_a_slotted_diet_from_the_llm_stands_and_a_new_value_supersedes_it(tmp_path: Path) -> None:
    llm = ScriptedLLM(rules_responder(RULES))
    with UserModeler(path=str(tmp_path / "s"), llm=llm, embedder=HashingEmbedder(), background=False) as m:
        m.observe("ann", [{"role": "user", "content": "Good to know: I'm coeliac."}], session_id="a")
        m.flush()
        assert '"slot"' in llm.calls[0][0]["content"], "the prompt asks the LLM for slots"
        diet = next(i for i in m.user_model("ann").insights if i.text == "Cannot eat gluten")
        assert diet.slot == "diet"
        filler = [{"role": "user", "content": f"Kayak trip report {n}, on the fjord."} for n in range(8)]
        m.observe("ann", filler, session_id="b")
        m.flush()
        ctx = m.context("ann", "Can you recommend cafes in Lisbon?", max_tokens=200)
        assert "Cannot eat gluten" in ctx.text, ctx.text

        m.observe("ann", [{"role": "user", "content": "Great news, the doctor says I'm cured."}], session_id="c")
        m.flush()
        current = {i.text for i in m.user_model("ann").insights if i.is_current}
        assert "Eats everything again" in current and "Cannot eat gluten" not in current
        ctx = m.context("ann", "Can you recommend cafes in Lisbon?", max_tokens=200)
        assert "Eats everything again" in ctx.text and "Cannot eat gluten" not in ctx.text, ctx.text


def test_the_slots_the_prompt_names_for_standing_preferences_are_standing() -> None:
    from personal_core.standing import is_standing_insight

    for slot in ["diet", "budget", "food:peanuts", "fear:flying", "taste:jazz", "health:asthma", "allergy:latex"]:
        assert is_standing_insight("Noted for later", "fact", slot), slot
    for slot in [None, "residence", "job", "name"]:
        assert not is_standing_insight("Noted for later", "fact", slot), slot
