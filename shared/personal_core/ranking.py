"""Pure ranking: a per-user corpus with dense vectors and a BM25 index, scored together with the priors.

No I/O here: a :class:`Corpus` is built from data already in memory and scored in microseconds.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .text import terms
from .topk import TopRanking

FloatArray = npt.NDArray[np.float32]

BM25_K1 = 1.2
BM25_B = 0.75

# Relevance = cosine similarity + LEXICAL_WEIGHT x BM25 scaled to [0, 1] within the query. Measured on LoCoMo
# (benchmarks/locomo.py) against reciprocal-rank fusion: RRF throws away how far apart scores are.
LEXICAL_WEIGHT = 0.5
# A message borrows this share of its best same-session neighbour's relevance (answers follow questions).
NEIGHBOUR_WEIGHT = 0.7
# An insight borrows this share of its best evidence message's relevance (its source words count too).
EVIDENCE_WEIGHT = 0.7
# A message borrows this share of the best relevance in its session run (the conversation a question is about:
# a multi-hop question's other evidence turns are often weak matches in the same session), on top of its
# neighbour's share; insights borrow their evidence's bonus too. Measured on LoCoMo (MiniLM, with INSIGHT_CENTRE;
# benchmarks/results/locomo-session.md): replay 0.862 / 0.909 -> 0.871 / 0.921 at 500 / 1000 tokens, heuristic
# 0.836 / 0.886 -> 0.843 / 0.888, messages only 0.799 / 0.859 -> 0.808 / 0.858 (and up at 250). 0 disables it.
SESSION_WEIGHT = 0.8
# Insights lose this share of their mean relevance to the query (before borrowing from their evidence; with
# SUBJECT_MIN_INSIGHTS insights or more): what every insight matches (the user's subject, a common topic) says
# nothing about which one answers, and it lifted weak insights over well-matched messages. 0 disables it.
INSIGHT_CENTRE = 0.5
# Another speaker's turn says less about the user than the user's own words.
OTHER_ROLE_PENALTY = 0.05
# How strongly the priors (confidence, repetition, recency) reorder relevant items: relevance x prior^this.
PRIOR_EXPONENT = 0.3
RELEVANCE_FLOOR = 1e-3
# The user's "subject": what most of their insights share (their own name, when insights are written about them).
# A query term found in at least this share of the insights says who the question is about, not which message
# answers it: it is left out of the messages' lexical match and excerpts (where it mostly finds the other
# speaker addressing the user), and the query's component along the insights' mean direction is taken out of the
# vector the messages are scored with. Needs SUBJECT_MIN_INSIGHTS insights (below: no subject, no change).
SUBJECT_SHARE = 0.5
SUBJECT_MIN_INSIGHTS = 10
SUBJECT_TERMS = True
SUBJECT_VECTOR = True

IntArray = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]


class LexicalIndex:
    """BM25 statistics over term lists, appendable: per term, the positions of the documents holding it and
    how often (compact ``array`` columns, no per-document objects)."""

    def __init__(self) -> None:
        self.postings: dict[str, tuple[array[int], array[float]]] = {}
        self._lengths = np.zeros(0, dtype=np.float64)
        self._n = 0

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> LexicalIndex:
        index = cls()
        for doc in docs:
            index.append(doc)
        return index

    def __len__(self) -> int:
        return self._n

    def copy(self) -> LexicalIndex:
        """An independent copy (appending to it leaves this one as it is)."""
        other = LexicalIndex()
        other.postings = {term: (array("i", rows), array("f", tfs)) for term, (rows, tfs) in self.postings.items()}
        other._lengths = self._lengths.copy()
        other._n = self._n
        return other

    @property
    def lengths(self) -> npt.NDArray[np.float64]:
        """Terms per document (a view: valid until the next change)."""
        return self._lengths[: self._n]

    def doc_freq(self, term: str) -> int:
        """How many documents hold ``term``."""
        entry = self.postings.get(term)
        return len(entry[0]) if entry is not None else 0

    def append(self, doc: Sequence[str]) -> None:
        """Add one document (its terms) after the others."""
        i = self._n
        if i == len(self._lengths):
            grown = np.zeros(max(16, 2 * i), dtype=np.float64)
            grown[:i] = self._lengths
            self._lengths = grown
        self._lengths[i] = len(doc)
        add_postings(self.postings, i, doc, "i")
        self._n = i + 1

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        """Drop the documents where ``keep`` is False; the others keep their order (positions shift down)."""
        n = self._n
        if len(keep) != n:
            raise ValueError("keep mask does not match the index")
        dropped = np.flatnonzero(~keep)
        if not len(dropped):
            return
        first = int(dropped[0])
        position = np.cumsum(keep, dtype=np.int64) - 1
        for term in list(self.postings):
            rows_col, tf_col = self.postings[term]
            if rows_col[-1] < first:
                continue  # every document of this term is before the first dropped one: positions unchanged
            rows = np.array(rows_col, dtype=np.int64)
            kept = keep[rows]
            if not kept.any():
                del self.postings[term]
                continue
            new_rows = array("i")
            new_rows.frombytes(position[rows[kept]].astype(np.int32).tobytes())
            new_tf = array("f")
            new_tf.frombytes(np.array(tf_col, dtype=np.float32)[kept].tobytes())
            self.postings[term] = (new_rows, new_tf)
        m = int(keep.sum())
        self._lengths[:m] = self._lengths[:n][keep]
        self._n = m

    def _rows(self, posted: Any) -> IntArray:
        """The document rows of a posting list (here the rows themselves)."""
        return np.array(posted, dtype=np.int64)

    def scores(self, query_terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """BM25 score of every document for ``query_terms`` (zeros where no term matches)."""
        n = len(self)
        out = np.zeros(n, dtype=np.float64)
        if n == 0 or not query_terms:
            return out
        lengths = self.lengths
        avgdl = float(lengths.mean()) or 1.0
        for term in set(query_terms):
            entry = self.postings.get(term)
            if entry is None or not len(entry[0]):
                continue
            rows = self._rows(entry[0])
            tf = np.array(entry[1], dtype=np.float64)
            df = len(rows)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = tf + BM25_K1 * (1.0 - BM25_B + BM25_B * lengths[rows] / avgdl)
            out[rows] += idf * tf * (BM25_K1 + 1.0) / norm
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
    _weights: tuple[npt.NDArray[np.float64], Scores] | None = field(default=None, repr=False, compare=False)
    _mean: tuple[FloatArray | None] | None = field(default=None, repr=False, compare=False)

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

    def mean_direction(self) -> FloatArray | None:
        """The unit mean of the rows (``None`` for an empty corpus or a zero mean), computed once per corpus."""
        cached = self._mean
        if cached is None:
            mean = self.matrix.mean(axis=0, dtype=np.float64) if len(self.matrix) else np.zeros(0)
            norm = float(np.linalg.norm(mean))
            cached = ((mean / norm).astype(np.float32) if norm > 1e-9 else None,)
            self._mean = cached
        return cached[0]

    def prior_weights(self) -> Scores:
        """``priors ** PRIOR_EXPONENT``, computed once per priors array (do not change ``priors`` in place)."""
        cached = self._weights
        if cached is None or cached[0] is not self.priors:
            cached = (self.priors, np.power(self.priors, PRIOR_EXPONENT))
            self._weights = cached
        return cached[1]


def cosines(matrix: FloatArray, vector: Any) -> FloatArray:
    """``matrix @ vector`` in float32 (the rows and the vector are L2-normalised: cosine similarities).

    numpy's own single-threaded dot loop (``einsum``), not BLAS: the product reads the whole matrix (100 MB at
    100,000 x 256) and is memory bound; multi-threaded BLAS gemv was slower and 2-3x less steady on a shared
    machine (p50 14 vs 5 ms, p95 30-40 vs 8 ms, benchmarks/results/big_user.md). A float64 vector is cast
    first (mixed types would convert the whole matrix to float64). Rows held in another form (the message
    index's int8 rows, :class:`personal_core.index.Int8Rows`) compute the product themselves (``cosines``).
    """
    own = getattr(matrix, "cosines", None)
    if own is not None:
        scores: FloatArray = own(vector)
        return scores
    product: FloatArray = np.einsum("ij,j->i", matrix, np.asarray(vector, dtype=np.float32))
    return product


def session_neighbours(sessions: Sequence[str]) -> IntArray:
    """For documents in conversation order: the previous and next index within the same session (-1: none)."""
    n = len(sessions)
    out = np.full((n, 2), -1, dtype=np.int64)
    for i in range(1, n):
        if sessions[i] == sessions[i - 1]:
            out[i, 0] = i - 1
            out[i - 1, 1] = i
    return out


def relevance(
    corpus: Corpus, query_terms: Sequence[str], query_vector: FloatArray | None, *, neighbours: bool = True
) -> Scores | None:
    """How well each document matches the query (``None`` when the query carries no signal).

    Cosine similarity plus BM25 scaled to [0, 1], minus the document's penalty; then, with ``neighbours``, each
    document borrows part of its best same-session neighbour's score when the corpus knows its neighbours
    (:func:`with_neighbours`).
    """
    n = len(corpus)
    scores = np.zeros(n, dtype=np.float64)
    signal = False
    if n and query_vector is not None and np.any(query_vector):
        scores += cosines(corpus.matrix, query_vector)
        signal = True
    lexical = corpus.lexical.scores(query_terms) if n else scores
    top = float(lexical.max()) if n else 0.0
    if top > 0:
        lexical *= LEXICAL_WEIGHT  # in place, the same operations in the same order as LEXICAL_WEIGHT * x / top
        lexical /= top
        scores += lexical
        signal = True
    if not signal:
        return None
    if corpus.penalties is not None:
        scores -= corpus.penalties
    return with_neighbours(corpus, scores) if neighbours else scores


def with_neighbours(corpus: Corpus, scores: Scores) -> Scores:
    """A new array: ``scores`` plus :data:`NEIGHBOUR_WEIGHT` x each document's best same-session neighbour's score
    (answers follow questions); ``scores`` itself when the corpus knows no neighbours."""
    n = len(scores)
    if corpus.neighbours is None or n < 2:
        return scores
    padded = np.empty(n + 1, dtype=np.float64)  # the spare slot is the sentinel that neighbour index -1 reads
    padded[:n] = scores
    padded[n] = -np.inf
    best = np.maximum(padded[corpus.neighbours[:, 0]], padded[corpus.neighbours[:, 1]])
    best[~np.isfinite(best)] = 0.0
    best *= NEIGHBOUR_WEIGHT
    best += scores
    return best


def session_starts(neighbours: IntArray) -> IntArray:
    """For documents in conversation order: where each session run starts (consecutive documents of one
    session, as linked by :func:`session_neighbours`); the first document always starts one."""
    starts: IntArray = np.flatnonzero(neighbours[:, 0] < 0)
    return starts


def session_bonus(corpus: Corpus, scores: Scores) -> Scores | None:
    """What each document borrows from its session: :data:`SESSION_WEIGHT` x the best (positive) score of its
    session run; ``None`` when the corpus knows no neighbours or holds a single session run (the bonus would then
    shift every document alike). Vectorised: one ``maximum.reduceat`` over the runs."""
    n = len(scores)
    if SESSION_WEIGHT <= 0 or corpus.neighbours is None or n < 2:
        return None
    starts = session_starts(corpus.neighbours[:n])
    if len(starts) < 2:
        return None
    best = np.maximum.reduceat(scores, starts)
    np.maximum(best, 0.0, out=best)  # a run whose best score is negative gets no bonus
    best *= SESSION_WEIGHT
    bonus: Scores = np.repeat(best, np.diff(starts, append=n))
    return bonus


def centred(scores: Scores) -> Scores:
    """``scores`` (insights) minus :data:`INSIGHT_CENTRE` x their mean; unchanged below
    :data:`SUBJECT_MIN_INSIGHTS` insights (too few for the mean to be what they share)."""
    if INSIGHT_CENTRE <= 0 or len(scores) < SUBJECT_MIN_INSIGHTS:
        return scores
    out: Scores = scores - INSIGHT_CENTRE * float(scores.mean())
    return out


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


def subject_terms(insights: Corpus, query_terms: Sequence[str]) -> frozenset[str]:
    """The query terms that name the user's subject: held by :data:`SUBJECT_SHARE` of the insights or more."""
    n = len(insights)
    if not SUBJECT_TERMS or n < SUBJECT_MIN_INSIGHTS:
        return frozenset()
    return frozenset(t for t in query_terms if insights.lexical.doc_freq(t) >= SUBJECT_SHARE * n)


def without_subject(insights: Corpus, query_vector: FloatArray | None) -> FloatArray | None:
    """``query_vector`` without its component along the insights' mean direction (what every insight shares),
    re-normalised; unchanged below :data:`SUBJECT_MIN_INSIGHTS` insights or for a zero vector."""
    if not SUBJECT_VECTOR or query_vector is None or len(insights) < SUBJECT_MIN_INSIGHTS:
        return query_vector
    mean = insights.mean_direction()
    vector = np.asarray(query_vector, dtype=np.float32)
    if mean is None or not np.any(vector):
        return query_vector
    out: FloatArray = vector - float(vector @ mean) * mean
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 1e-6 else query_vector


def order(corpus: Corpus, scores: Scores | None) -> TopRanking:
    """Indices best first with final scores: relevance weighted by the priors, or the priors alone.

    Ties break by position, so the result is deterministic. Lazy: only the part that is read gets sorted.
    """
    return by_score(final_scores(corpus, scores))


def by_score(final: Scores) -> TopRanking:
    """Indices of ``final`` best first, with their scores (ties by position), sorted lazily as read
    (:class:`~personal_core.topk.TopRanking`: top-k selection, not a full sort)."""
    return TopRanking(final)


def final_scores(corpus: Corpus, scores: Scores | None) -> Scores:
    """Each document's final score (see :func:`order`), by corpus index."""
    if scores is None:
        priors: Scores = corpus.priors.copy()
        return priors
    # A small floor keeps the priors' order among documents with no relevance at all.
    final: Scores = np.maximum(scores, 0.0)
    final += RELEVANCE_FLOOR
    final *= corpus.prior_weights()
    return final


def rank(corpus: Corpus, query_terms: Sequence[str], query_vector: FloatArray | None) -> TopRanking:
    """Indices of ``corpus`` best first, with scores (see :func:`relevance` and :func:`order`)."""
    return order(corpus, relevance(corpus, query_terms, query_vector))


def insight_prior(confidence: float, times_seen: int, age_days: float, half_life_days: float = 180.0) -> float:
    """Weight of an insight before relevance: more confident, more often seen and more recent is higher."""
    recency = 0.5 + 0.5 * math.pow(0.5, max(age_days, 0.0) / half_life_days)
    return (0.4 + 0.6 * confidence) * (1.0 + 0.15 * math.log(max(times_seen, 1))) * recency


def message_prior(age_days: float, half_life_days: float = 365.0) -> float:
    """Weight of a raw message before relevance: mildly favours recent messages."""
    return 0.6 + 0.4 * math.pow(0.5, max(age_days, 0.0) / half_life_days)


def message_priors(age_days: npt.NDArray[np.float64], half_life_days: float = 365.0) -> npt.NDArray[np.float64]:
    """:func:`message_prior` of every age at once (equal to it within float rounding; keep the two in step)."""
    return 0.6 + 0.4 * np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)


def add_postings(
    postings: dict[str, tuple[array[int], array[float]]], key: int, doc: Sequence[str], typecode: str
) -> None:
    """Append document ``key``'s term frequencies to ``postings`` (term -> (keys, frequencies) arrays; new
    terms get arrays of ``typecode`` keys)."""
    for term, tf in Counter(doc).items():
        entry = postings.get(term)
        if entry is None:
            entry = (array(typecode), array("f"))
            postings[term] = entry
        entry[0].append(key)
        entry[1].append(tf)
