"""Pure ranking: a per-user corpus with dense vectors and a BM25 index, fused by reciprocal rank.

No I/O here: a :class:`Corpus` is built from data already in memory and scored in microseconds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .text import terms

FloatArray = npt.NDArray[np.float32]

RRF_K = 60.0
BM25_K1 = 1.2
BM25_B = 0.75


@dataclass
class LexicalIndex:
    """BM25 statistics over a small corpus of term lists."""

    term_freqs: list[Counter[str]]
    lengths: npt.NDArray[np.float64]
    doc_freq: Counter[str] = field(default_factory=Counter)
    postings: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> LexicalIndex:
        term_freqs = [Counter(d) for d in docs]
        doc_freq: Counter[str] = Counter()
        postings: dict[str, list[int]] = {}
        for i, tf in enumerate(term_freqs):
            doc_freq.update(tf.keys())
            for term in tf:
                postings.setdefault(term, []).append(i)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        return cls(term_freqs=term_freqs, lengths=lengths, doc_freq=doc_freq, postings=postings)

    def scores(self, query_terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """BM25 score of every document for ``query_terms`` (zeros where no term matches)."""
        n = len(self.term_freqs)
        out = np.zeros(n, dtype=np.float64)
        if n == 0 or not query_terms:
            return out
        avgdl = float(self.lengths.mean()) or 1.0
        for term in set(query_terms):
            docs = self.postings.get(term)
            if not docs:
                continue
            df = self.doc_freq[term]
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for i in docs:
                tf = self.term_freqs[i][term]
                norm = tf + BM25_K1 * (1.0 - BM25_B + BM25_B * self.lengths[i] / avgdl)
                out[i] += idf * tf * (BM25_K1 + 1.0) / norm
        return out


@dataclass
class Corpus:
    """Candidates of one kind (insights or messages) of one user: vectors, BM25 index and priors."""

    ids: list[str]
    matrix: FloatArray
    lexical: LexicalIndex
    priors: npt.NDArray[np.float64]

    @classmethod
    def build(
        cls,
        ids: list[str],
        texts: Sequence[str],
        matrix: FloatArray,
        priors: Sequence[float],
        tokenize: Callable[[str], Sequence[str]] = terms,
    ) -> Corpus:
        return cls(
            ids=ids,
            matrix=matrix,
            lexical=LexicalIndex.build([tokenize(t) for t in texts]),
            priors=np.asarray(priors, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.ids)


def rank(corpus: Corpus, query_terms: Sequence[str], query_vector: FloatArray | None) -> list[tuple[int, float]]:
    """Indices of ``corpus`` best first, with fused scores.

    Dense cosine ranks and BM25 ranks are fused by reciprocal rank (a document without a lexical match
    gets no lexical share), then weighted by the document's prior (confidence, recency, repetition).
    With neither a query vector nor query terms, the priors alone decide. Ties break by position, so
    the result is deterministic.
    """
    n = len(corpus)
    if n == 0:
        return []
    fused = np.zeros(n, dtype=np.float64)
    has_signal = False
    if query_vector is not None and np.any(query_vector):
        dense = corpus.matrix @ query_vector
        order = np.argsort(-dense, kind="stable")
        ranks = np.empty(n, dtype=np.float64)
        ranks[order] = np.arange(1, n + 1)
        fused += 1.0 / (RRF_K + ranks)
        has_signal = True
    lexical = corpus.lexical.scores(query_terms)
    if np.any(lexical > 0):
        order = np.argsort(-lexical, kind="stable")
        ranks = np.empty(n, dtype=np.float64)
        ranks[order] = np.arange(1, n + 1)
        fused += np.where(lexical > 0, 1.0 / (RRF_K + ranks), 0.0)
        has_signal = True
    scores = fused * corpus.priors if has_signal else corpus.priors.copy()
    order = np.argsort(-scores, kind="stable")
    return [(int(i), float(scores[i])) for i in order]


def insight_prior(confidence: float, times_seen: int, age_days: float, half_life_days: float = 180.0) -> float:
    """Weight of an insight before relevance: more confident, more often seen and more recent is higher."""
    recency = 0.5 + 0.5 * math.pow(0.5, max(age_days, 0.0) / half_life_days)
    return (0.4 + 0.6 * confidence) * (1.0 + 0.15 * math.log(max(times_seen, 1))) * recency


def message_prior(age_days: float, half_life_days: float = 365.0) -> float:
    """Weight of a raw message before relevance: mildly favours recent messages."""
    return 0.6 + 0.4 * math.pow(0.5, max(age_days, 0.0) / half_life_days)
