"""Pure ranking: a per-user corpus with dense vectors and a BM25 index, scored together with the priors.

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

BM25_K1 = 1.2
BM25_B = 0.75

# Relevance = cosine similarity + LEXICAL_WEIGHT x BM25 scaled to [0, 1] within the query. Measured on LoCoMo
# (benchmarks/locomo.py) against reciprocal-rank fusion: RRF throws away how far apart scores are.
LEXICAL_WEIGHT = 0.5
# A message borrows this share of its best same-session neighbour's relevance (answers follow questions).
NEIGHBOUR_WEIGHT = 0.5
# An insight borrows this share of its best evidence message's relevance (its source words count too).
EVIDENCE_WEIGHT = 0.5
# Another speaker's turn says less about the user than the user's own words.
OTHER_ROLE_PENALTY = 0.05
# How strongly the priors (confidence, repetition, recency) reorder relevant items: relevance x prior^this.
PRIOR_EXPONENT = 0.3
RELEVANCE_FLOOR = 1e-3

IntArray = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]


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
    neighbours: IntArray | None = None  # (n, 2): previous / next index in the same session, -1 for none
    penalties: npt.NDArray[np.float64] | None = None  # subtracted from relevance (other speakers' turns)

    @classmethod
    def build(
        cls,
        ids: list[str],
        texts: Sequence[str],
        matrix: FloatArray,
        priors: Sequence[float],
        tokenize: Callable[[str], Sequence[str]] = terms,
        sessions: Sequence[str] | None = None,
        penalties: Sequence[float] | None = None,
    ) -> Corpus:
        """``sessions`` (per document, in conversation order) links each document to its neighbours."""
        return cls(
            ids=ids,
            matrix=matrix,
            lexical=LexicalIndex.build([tokenize(t) for t in texts]),
            priors=np.asarray(priors, dtype=np.float64),
            neighbours=session_neighbours(sessions) if sessions is not None else None,
            penalties=np.asarray(penalties, dtype=np.float64) if penalties is not None else None,
        )

    def __len__(self) -> int:
        return len(self.ids)


def session_neighbours(sessions: Sequence[str]) -> IntArray:
    """For documents in conversation order: the previous and next index within the same session (-1: none)."""
    n = len(sessions)
    out = np.full((n, 2), -1, dtype=np.int64)
    for i in range(1, n):
        if sessions[i] == sessions[i - 1]:
            out[i, 0] = i - 1
            out[i - 1, 1] = i
    return out


def relevance(corpus: Corpus, query_terms: Sequence[str], query_vector: FloatArray | None) -> Scores | None:
    """How well each document matches the query (``None`` when the query carries no signal).

    Cosine similarity plus BM25 scaled to [0, 1], minus the document's penalty; then each document borrows
    part of its best same-session neighbour's score when the corpus knows its neighbours.
    """
    n = len(corpus)
    scores = np.zeros(n, dtype=np.float64)
    signal = False
    if n and query_vector is not None and np.any(query_vector):
        scores += corpus.matrix @ query_vector
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
        padded = np.append(scores, -np.inf)  # index -1 reads the sentinel
        best = np.maximum(padded[corpus.neighbours[:, 0]], padded[corpus.neighbours[:, 1]])
        scores = scores + NEIGHBOUR_WEIGHT * np.where(np.isfinite(best), best, 0.0)
    return scores


def borrow_evidence(scores: Scores, links: tuple[IntArray, IntArray], source_scores: Scores | None) -> Scores:
    """``scores`` (insights) plus :data:`EVIDENCE_WEIGHT` x the best score among each one's evidence messages.

    ``links`` pairs insight indices with message indices (one pair per evidence id found among the messages).
    """
    insight_index, message_index = links
    if source_scores is None or not len(insight_index):
        return scores
    best = np.full(len(scores), -np.inf)
    np.maximum.at(best, insight_index, source_scores[message_index])
    return scores + EVIDENCE_WEIGHT * np.where(np.isfinite(best), best, 0.0)


def order(corpus: Corpus, scores: Scores | None) -> list[tuple[int, float]]:
    """Indices best first with final scores: relevance weighted by the priors, or the priors alone.

    Ties break by position, so the result is deterministic.
    """
    if not len(corpus):
        return []
    return by_score(final_scores(corpus, scores))


def by_score(final: Scores) -> list[tuple[int, float]]:
    """Indices of ``final`` best first, with their scores (ties by position)."""
    ranked = np.argsort(-final, kind="stable")
    return [(int(i), float(final[i])) for i in ranked]


def final_scores(corpus: Corpus, scores: Scores | None) -> Scores:
    """Each document's final score (see :func:`order`), by corpus index."""
    if scores is None:
        priors: Scores = corpus.priors.copy()
        return priors
    # A small floor keeps the priors' order among documents with no relevance at all.
    final: Scores = (np.maximum(scores, 0.0) + RELEVANCE_FLOOR) * np.power(corpus.priors, PRIOR_EXPONENT)
    return final


def rank(corpus: Corpus, query_terms: Sequence[str], query_vector: FloatArray | None) -> list[tuple[int, float]]:
    """Indices of ``corpus`` best first, with scores (see :func:`relevance` and :func:`order`)."""
    return order(corpus, relevance(corpus, query_terms, query_vector))


def insight_prior(confidence: float, times_seen: int, age_days: float, half_life_days: float = 180.0) -> float:
    """Weight of an insight before relevance: more confident, more often seen and more recent is higher."""
    recency = 0.5 + 0.5 * math.pow(0.5, max(age_days, 0.0) / half_life_days)
    return (0.4 + 0.6 * confidence) * (1.0 + 0.15 * math.log(max(times_seen, 1))) * recency


def message_prior(age_days: float, half_life_days: float = 365.0) -> float:
    """Weight of a raw message before relevance: mildly favours recent messages."""
    return 0.6 + 0.4 * math.pow(0.5, max(age_days, 0.0) / half_life_days)
