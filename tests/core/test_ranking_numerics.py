"""The per-query scoring (in-place, cached prior weights, numpy's dot loop) computes what the plain formulas say."""

from __future__ import annotations

import random

import numpy as np
import pytest

from personal_core.ranking import (
    LEXICAL_WEIGHT,
    NEIGHBOUR_WEIGHT,
    PRIOR_EXPONENT,
    RELEVANCE_FLOOR,
    Corpus,
    cosines,
    final_scores,
    relevance,
)
from personal_core.text import terms

WORDS = "tea coffee hiking lisbon berlin nurse shifts ramen piano chess dog cat rain sun book".split()


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _corpus(rng: random.Random, n: int, dim: int = 24) -> Corpus:
    gen = np.random.default_rng(rng.randint(0, 10**6))
    matrix = _unit(gen.standard_normal((n, dim)))
    if n > 3:
        matrix[n // 2] = matrix[1]  # a duplicate text: the same vector, a tie broken by position
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(n)]
    return Corpus.build(
        [f"m{i}" for i in range(n)],
        texts,
        matrix,
        [rng.uniform(0.6, 1.0) for _ in range(n)],
        sessions=[f"s{i // rng.randint(1, 5)}" for i in range(n)],
        penalties=[rng.choice([0.0, 0.05]) for _ in range(n)],
    )


def _reference(corpus: Corpus, query_terms: list[str], vector: np.ndarray | None) -> np.ndarray | None:
    """The formulas as written before the in-place rewrite (fresh arrays, np.append sentinel, np.where)."""
    n = len(corpus)
    scores = np.zeros(n, dtype=np.float64)
    signal = False
    if n and vector is not None and np.any(vector):
        scores += cosines(corpus.matrix, vector)
        signal = True
    lexical = corpus.lexical.scores(query_terms) if n else scores
    top = float(lexical.max()) if n else 0.0
    if top > 0:
        scores += LEXICAL_WEIGHT * lexical / top
        signal = True
    if not signal:
        return None
    if corpus.penalties is not None:
        scores -= corpus.penalties
    if corpus.neighbours is not None and n > 1:
        padded = np.append(scores, -np.inf)
        best = np.maximum(padded[corpus.neighbours[:, 0]], padded[corpus.neighbours[:, 1]])
        scores = scores + NEIGHBOUR_WEIGHT * np.where(np.isfinite(best), best, 0.0)
    return (np.maximum(scores, 0.0) + RELEVANCE_FLOOR) * np.power(corpus.priors, PRIOR_EXPONENT)


@pytest.mark.parametrize("seed", range(12))
def test_scores_are_bit_identical_to_the_plain_formulas(seed: int) -> None:
    rng = random.Random(seed)
    corpus = _corpus(rng, rng.choice([0, 1, 2, 7, 60]))
    dim = corpus.matrix.shape[1]
    for query in ["tea in lisbon", "zebra", "", "dog dog cat"]:
        for vector in (_unit(np.random.default_rng(seed).standard_normal(dim)), np.zeros(dim, np.float32), None):
            want = _reference(corpus, terms(query), vector)
            got = relevance(corpus, terms(query), vector)
            if want is None:
                assert got is None
                continue
            assert got is not None and got.shape == (len(corpus),)
            assert np.array_equal(final_scores(corpus, got), want), (query, vector)


def test_cosines_match_a_float64_product_and_keep_ties() -> None:
    gen = np.random.default_rng(5)
    matrix = _unit(gen.standard_normal((3000, 256)))
    matrix[2000] = matrix[7]
    vector = _unit(gen.standard_normal(256))
    got = cosines(matrix, vector)
    assert got.dtype == np.float32 and got.shape == (3000,)
    assert np.allclose(got, matrix.astype(np.float64) @ vector.astype(np.float64), rtol=0, atol=1e-6)
    assert got[2000] == got[7]  # identical rows score identically wherever they sit
    assert np.array_equal(cosines(matrix, vector.astype(np.float64)), got)  # cast, not a float64 product
    assert np.array_equal(cosines(matrix, vector.tolist()), got)
    assert cosines(np.zeros((0, 256), np.float32), vector).shape == (0,)


def test_prior_weights_follow_a_replaced_priors_array() -> None:
    corpus = _corpus(random.Random(1), 10)
    first = corpus.prior_weights()
    assert corpus.prior_weights() is first  # computed once
    assert np.array_equal(first, np.power(corpus.priors, PRIOR_EXPONENT))
    corpus.priors = corpus.priors * 0.5
    assert np.array_equal(corpus.prior_weights(), np.power(corpus.priors, PRIOR_EXPONENT))
    assert not np.array_equal(corpus.prior_weights(), first)
