"""Top-k selection ranks exactly like a full stable sort: same indices, same scores, ties by position."""

from __future__ import annotations

import random

import numpy as np
import pytest

from personal_core.ranking import by_score
from personal_core.topk import FIRST_HEAD, TopRanking, ranked_pairs, top_indices


def _tie_heavy(rng: random.Random, n: int) -> np.ndarray:
    """Scores from a handful of values (many ties), sometimes with signed zeros and infinities."""
    values = [0.0, -0.0, 0.5, 0.25, 1.0, -1.0, float("inf"), float("-inf"), 0.1 + 0.2, 0.3]
    pool = rng.sample(values, rng.randint(1, len(values)))
    return np.array([rng.choice(pool) for _ in range(n)], dtype=np.float64)


@pytest.mark.parametrize("seed", range(40))
def test_every_read_equals_the_full_sort(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 5, FIRST_HEAD - 1, FIRST_HEAD, FIRST_HEAD + 1, 300, 2000])
    scores = _tie_heavy(rng, n) if seed % 2 else np.array([rng.random() for _ in range(n)])
    want = ranked_pairs(scores)
    assert list(TopRanking(scores)) == want  # a plain iteration
    for k in (0, 1, 3, FIRST_HEAD, FIRST_HEAD + 7, n // 2, n, n + 5):
        assert TopRanking(scores)[:k] == want[:k], k  # a head, first read
    ranking = TopRanking(scores)  # reads in an odd order on one object: heads grow, earlier answers hold
    for i in rng.sample(range(n), min(n, 20)):
        assert ranking[i] == want[i]
        assert ranking[-1 - i] == want[-1 - i]
    assert list(ranking) == want
    assert ranking[::-1] == want[::-1]
    assert len(ranking) == n


def test_partial_iteration_then_more() -> None:
    rng = random.Random(3)
    scores = _tie_heavy(rng, 5000)
    want = ranked_pairs(scores)
    ranking = by_score(scores)
    got = []
    for pair in ranking:
        got.append(pair)
        if len(got) == FIRST_HEAD + 3:  # past the first head: the next one is selected mid-iteration
            break
    assert got == want[: FIRST_HEAD + 3]
    assert list(ranking) == want


def test_ties_at_the_cut_are_kept_in_position_order() -> None:
    scores = np.array([0.5] * 100 + [1.0] * 3 + [0.5] * 100, dtype=np.float64)
    head = top_indices(scores, 10)
    assert head[:3].tolist() == [100, 101, 102]
    assert head[3:10].tolist() == list(range(7))  # the tied 0.5s: lowest positions first
    assert len(head) == len(scores)  # every score tied with the k-th best is in the head


def test_nan_goes_last_like_the_full_sort() -> None:
    scores = np.array([0.2, float("nan"), 0.9, 0.2, float("nan"), 0.5] * 30, dtype=np.float64)
    want = ranked_pairs(scores)
    got = TopRanking(scores)[:5]
    assert [i for i, _ in got] == [i for i, _ in want[:5]]
    assert [i for i, _ in TopRanking(scores)] == [i for i, _ in want]


def test_the_equivalence_check_can_fail() -> None:
    """A top-k that ignores ties (plain argpartition) differs from the full sort on this data: the tests above
    would catch it."""
    rng = random.Random(11)
    scores = _tie_heavy(rng, 2000)
    want = [i for i, _ in ranked_pairs(scores)][:50]
    part = np.argpartition(-scores, 50)[:50]
    naive = part[np.argsort(-scores[part], kind="stable")].tolist()
    assert naive != want
