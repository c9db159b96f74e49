"""The user's subject (what most of their insights share, such as their name) does not pick raw messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from personal_core import HashingEmbedder, UserModeler, ranking
from personal_core.model import Message
from personal_core.ranking import SUBJECT_MIN_INSIGHTS, Corpus, subject_terms, without_subject
from personal_core.text import terms
from personal_core.update import ModelUpdate

FACTS = [
    "Ann plays chess on Sundays",
    "Ann works as a nurse",
    "Ann lives in Lisbon",
    "Ann likes green tea",
    "Ann is learning the piano",
    "Ann runs every morning",
    "Ann reads science fiction",
    "Ann has a sister in Porto",
    "Ann bakes bread at weekends",
    "Ann volunteers at a shelter",
    "Ann grows tomatoes",
    "Ann studies Japanese",
]


class Silent:
    """A reasoner that derives nothing: only the insights added by hand exist."""

    name = "silent"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        return ModelUpdate()


def _corpus(texts: list[str], matrix: np.ndarray) -> Corpus:
    return Corpus.build([f"i{k}" for k in range(len(texts))], texts, matrix.astype(np.float32), [1.0] * len(texts))


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_subject_terms_are_the_query_terms_most_insights_hold() -> None:
    gen = np.random.default_rng(0)
    corpus = _corpus(FACTS, _unit(gen.standard_normal((len(FACTS), 8))))
    assert subject_terms(corpus, terms("What tea does Ann like?")) == frozenset({"ann"})
    assert subject_terms(corpus, terms("Which tea is best?")) == frozenset()
    few = _corpus(FACTS[: SUBJECT_MIN_INSIGHTS - 1], _unit(gen.standard_normal((SUBJECT_MIN_INSIGHTS - 1, 8))))
    assert subject_terms(few, terms("What tea does Ann like?")) == frozenset(), "too few insights: no subject"


def test_without_subject_removes_the_insights_common_direction() -> None:
    gen = np.random.default_rng(1)
    common = _unit(gen.standard_normal(8))
    rows = _unit(common + 0.3 * gen.standard_normal((len(FACTS), 8)))
    corpus = _corpus(FACTS, rows)
    query = _unit(common + gen.standard_normal(8)).astype(np.float32)
    out = without_subject(corpus, query)
    assert out is not None
    mean = corpus.mean_direction()
    assert mean is not None
    assert abs(float(out @ mean)) < 1e-5 and abs(float(np.linalg.norm(out)) - 1.0) < 1e-5
    assert float(query @ mean) > 0.3, "the query did lean on the common direction"
    few = _corpus(FACTS[:3], rows[:3])
    assert without_subject(few, query) is query


def _store(modeler: UserModeler) -> None:
    for fact in FACTS:
        modeler.add_insight("ann", fact)
    turns: list[dict[str, Any]] = [
        {"role": "assistant", "content": "Hi Ann! Good to hear from you, Ann.", "session_id": "a"},
        {"role": "user", "content": "We went to the shelter and adopted a puppy named Rex.", "session_id": "a"},
        {"role": "assistant", "content": "Ann, how was your week? Ann, tell me everything!", "session_id": "b"},
        {"role": "user", "content": "My landlord finally fixed the heating in the hallway.", "session_id": "b"},
    ]
    modeler.observe("ann", turns)


def _message_scores(modeler: UserModeler, query: str) -> dict[str, float]:
    ctx = modeler.context("ann", query, max_tokens=2000)
    return {i.text: i.score for i in ctx.items if i.source == "message"}


@pytest.mark.parametrize("on", [True, False])
def test_a_question_naming_the_user_quotes_their_answer_not_greetings_of_their_name(
    backend: Any, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    monkeypatch.setattr(ranking, "SUBJECT_TERMS", on)
    monkeypatch.setattr(ranking, "SUBJECT_VECTOR", on)
    # the greeting shares the answer's session: the session bonus (tested in test_session_score.py) would lift it
    monkeypatch.setattr(ranking, "SESSION_WEIGHT", 0.0)
    with backend.modeler(embedder=HashingEmbedder(), shards=4, reasoner=Silent()) as modeler:
        _store(modeler)
        scores = _message_scores(modeler, "What puppy did Ann adopt?")
    puppy = next((s for t, s in scores.items() if "puppy" in t), 0.0)
    greetings = [s for t, s in scores.items() if "Ann" in t]
    if on:
        assert puppy > 0 and all(puppy > g for g in greetings), scores
        assert not greetings or max(greetings) < 0.75 * puppy, scores
    else:  # the control: without the subject rule the user's name lifts the other speaker's greetings
        assert greetings and max(greetings) >= 0.75 * puppy, scores


def test_with_default_settings_the_answer_still_outranks_greetings_of_the_users_name(backend: Any) -> None:
    # the session bonus lifts the greeting that shares the answer's session, but never above the answer
    with backend.modeler(embedder=HashingEmbedder(), shards=4, reasoner=Silent()) as modeler:
        _store(modeler)
        scores = _message_scores(modeler, "What puppy did Ann adopt?")
    puppy = next((s for t, s in scores.items() if "puppy" in t), 0.0)
    greetings = [s for t, s in scores.items() if "Ann" in t]
    assert puppy > 0 and all(puppy > g for g in greetings), scores
