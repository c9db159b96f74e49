"""A message borrows from its session's best match; insights lose a share of their mean match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from personal_core import HashingEmbedder, candidates, ranking
from personal_core.model import Message
from personal_core.ranking import (
    INSIGHT_CENTRE,
    SESSION_WEIGHT,
    SUBJECT_MIN_INSIGHTS,
    Corpus,
    centred,
    session_bonus,
    session_neighbours,
    session_starts,
)
from personal_core.update import ModelUpdate


def _corpus(sessions: list[str]) -> Corpus:
    n = len(sessions)
    matrix = np.eye(n, 4, dtype=np.float32) if n <= 4 else np.ones((n, 4), dtype=np.float32) / 2
    return Corpus.build([f"m{i}" for i in range(n)], ["x"] * n, matrix, [1.0] * n, sessions=sessions)


def test_session_runs_start_where_the_session_changes() -> None:
    starts = session_starts(session_neighbours(["a", "a", "b", "b", "b", "a"]))
    assert starts.tolist() == [0, 2, 5]


def test_each_message_borrows_its_session_runs_best_positive_score() -> None:
    corpus = _corpus(["a", "a", "b", "b", "c"])
    scores = np.array([0.8, 0.1, 0.2, 0.3, -0.2])
    bonus = session_bonus(corpus, scores)
    assert bonus is not None
    assert np.allclose(bonus, SESSION_WEIGHT * np.array([0.8, 0.8, 0.3, 0.3, 0.0]))
    out = scores + bonus
    assert out[1] > out[3], "a weak turn of the best-matching session passes a better turn of another one"
    assert scores.tolist() == [0.8, 0.1, 0.2, 0.3, -0.2], "the input is left as it is"


def test_one_session_or_no_sessions_give_no_bonus(monkeypatch: pytest.MonkeyPatch) -> None:
    assert session_bonus(_corpus(["a", "a", "a"]), np.array([0.5, 0.1, 0.3])) is None, "one session: no bonus"
    plain = Corpus.build(["m0", "m1"], ["x", "y"], np.eye(2, 4, dtype=np.float32), [1.0, 1.0])
    assert session_bonus(plain, np.array([0.5, 0.1])) is None, "no sessions known"
    assert session_bonus(_corpus(["a", "b"]), np.array([0.5, 0.1])) is not None
    monkeypatch.setattr(ranking, "SESSION_WEIGHT", 0.0)
    assert session_bonus(_corpus(["a", "b"]), np.array([0.5, 0.1])) is None, "disabled"


def test_insights_lose_a_share_of_their_mean_score_when_there_are_enough() -> None:
    scores = np.linspace(0.2, 1.0, SUBJECT_MIN_INSIGHTS)
    out = centred(scores)
    assert np.allclose(out, scores - INSIGHT_CENTRE * scores.mean())
    assert np.array_equal(np.argsort(out), np.argsort(scores)), "the order among insights is kept"
    few = scores[: SUBJECT_MIN_INSIGHTS - 1]
    assert centred(few) is few, "too few insights: no centring"


class Silent:
    """A reasoner that derives nothing."""

    name = "silent"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        return ModelUpdate()


@pytest.mark.parametrize("on", [True, False])
def test_a_turn_of_the_session_the_question_is_about_is_quoted_first(
    backend: Any, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    monkeypatch.setattr(ranking, "SESSION_WEIGHT", 0.8 if on else 0.0)
    monkeypatch.setattr(ranking, "NEIGHBOUR_WEIGHT", 0.0)  # isolate the session bonus
    monkeypatch.setattr(candidates, "DIVERSIFY", False)  # the two weather turns are duplicates
    texts = {
        "a": ["We adopted a puppy named Rex from the shelter.", "Work was busy.", "The weather was grey all week."],
        "b": ["My landlord fixed the heating.", "I cooked soup.", "The weather was grey all week."],
    }
    with backend.modeler(embedder=HashingEmbedder(), shards=4, reasoner=Silent()) as modeler:
        for session, contents in texts.items():
            turns = [{"id": f"{session}{k}", "role": "user", "content": c} for k, c in enumerate(contents)]
            modeler.observe("ann", turns, session_id=session)
        ctx = modeler.context("ann", "Which puppy did we adopt from the shelter, Rex? Grey weather?", max_tokens=2000)
    scores = {i.id: i.score for i in ctx.items if i.source == "message"}
    if on:
        assert scores["a2"] > scores["b2"], scores
        assert scores["a0"] > scores["a2"], "within a session the order is the messages' own"
    else:  # the control: the same words in another session score the same
        assert scores["a2"] == pytest.approx(scores["b2"]), scores
