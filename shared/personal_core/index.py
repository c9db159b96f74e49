"""Incremental ranking index of one user's messages: appending a message appends a row, nothing is rebuilt.

The rows are the quotable messages (every role but system, no history-only ones) in conversation order
(``(seq, id)``), exactly the positions of the corpus a from-scratch build (:func:`build_message_corpus`) gives:

* vectors in one preallocated int8 matrix with one float32 scale per row (:class:`Int8Rows`: a quarter of
  float32's memory; cosines differ from float32's by ~5e-4, at most a few 1e-3), growing by an eighth when full;
* the BM25 postings (:class:`~personal_core.ranking.LexicalIndex`), appended to;
* created-at times, role penalties and session codes in growable arrays; session neighbours linked on append;
* priors computed when a corpus is asked for, from the stored times and the newest message's time.

A delete marks its row dead; the rows are compacted once at the end of the change (:meth:`MessageIndex.compact`,
O(rows) memory moves). A message arriving out of conversation order, or a message rewritten in place, marks the
index stale: the next read rebuilds it (the same O(n) work as a load). Memory per row: ``dimension + 4`` bytes
of vector, ~40 bytes of columns, ~8 bytes per distinct term of postings, plus the id string (shared with the
state's dicts). Texts are not kept here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .ranking import OTHER_ROLE_PENALTY, Corpus, IntArray, LexicalIndex, message_prior, message_priors
from .records import StoredMessage
from .text import terms
from .vector_codec import quantize as quantize

DAY = 86400.0
#: Characters of a message that are indexed for BM25 (as before: a long paste does not drown the rest).
INDEXED_CHARS = 4000

FloatArray = npt.NDArray[np.float32]
CodeArray = npt.NDArray[np.int8]
Key = tuple[int, str]
#: Rows converted to float32 at a time by :meth:`Int8Rows.cosines` (a 1-2 MB buffer that stays in cache).
CHUNK = 2048


class Int8Rows:
    """Read-only vectors held as int8 codes with a float32 scale per row, behaving like the float32 matrix the
    read path asks for: ``rows[i]`` / ``rows[array]`` give float32 rows, :meth:`cosines` the products with a
    query (:func:`personal_core.ranking.cosines` uses it), ``np.asarray(rows)`` the whole float32 matrix.

    A quarter of a float32 matrix's memory (100,000 x 256: 26 instead of 102 MB) and a quarter of the bytes
    read per query. Precision: each component is off by at most half a step (``max|x| / 254``), a cosine of
    unit vectors by ~5e-4 on average, at most a few 1e-3 (256 dimensions); identical vectors still score
    identically.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, codes: CodeArray, scales: FloatArray) -> None:
        self.codes = codes
        self.scales = scales

    @classmethod
    def of(cls, vectors: npt.ArrayLike) -> Int8Rows:
        """Quantized rows of a float32 matrix."""
        return cls(*quantize(vectors))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scales.nbytes)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, key: Any) -> FloatArray:
        rows: FloatArray = self.codes[key].astype(np.float32) * (self.scales[key][..., None])
        return rows

    def __array__(self, dtype: Any = None, copy: Any = None) -> FloatArray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def cosines(self, vector: npt.ArrayLike) -> FloatArray:
        """``rows @ vector`` in float32: codes converted a chunk at a time (no full float32 copy), times scales."""
        query = np.asarray(vector, dtype=np.float32)
        n, dim = self.shape
        out = np.empty(n, dtype=np.float32)
        buffer = np.empty((min(CHUNK, max(n, 1)), dim), dtype=np.float32)  # per call: safe from any thread
        for start in range(0, n, CHUNK):
            end = min(start + CHUNK, n)
            block = buffer[: end - start]
            np.copyto(block, self.codes[start:end], casting="unsafe")
            np.einsum("ij,j->i", block, query, out=out[start:end])
        out *= self.scales
        return out


def quotable(stored: StoredMessage) -> bool:
    """Whether a message belongs in the ranking corpus (every role but system, no history-only ones)."""
    return stored.role.value != "system" and not stored.history_only


def sort_key(stored: StoredMessage) -> Key:
    """Conversation order of messages."""
    return (stored.seq, stored.id)


def penalty_of(stored: StoredMessage) -> float:
    """Relevance subtracted from another speaker's turn."""
    return 0.0 if stored.role.value == "user" else OTHER_ROLE_PENALTY


@dataclass
class _Columns:
    """Per-row arrays with spare capacity."""

    codes: CodeArray
    scales: FloatArray
    times: npt.NDArray[np.float64]
    penalties: npt.NDArray[np.float64]
    sessions: IntArray
    neighbours: IntArray

    @classmethod
    def empty(cls, dimension: int, capacity: int) -> _Columns:
        return cls(
            codes=np.zeros((capacity, dimension), dtype=np.int8),
            scales=np.zeros(capacity, dtype=np.float32),
            times=np.zeros(capacity, dtype=np.float64),
            penalties=np.zeros(capacity, dtype=np.float64),
            sessions=np.zeros(capacity, dtype=np.int64),
            neighbours=np.full((capacity, 2), -1, dtype=np.int64),
        )

    def grown(self, rows: int, capacity: int) -> _Columns:
        bigger = _Columns.empty(self.codes.shape[1], capacity)
        bigger.codes[:rows] = self.codes[:rows]
        bigger.scales[:rows] = self.scales[:rows]
        bigger.times[:rows] = self.times[:rows]
        bigger.penalties[:rows] = self.penalties[:rows]
        bigger.sessions[:rows] = self.sessions[:rows]
        bigger.neighbours[:rows] = self.neighbours[:rows]
        return bigger


class MessageIndex:
    """The message ranking corpus of one user, kept current write by write (call under the user's lock).

    A :class:`Corpus` it returns shares its arrays, postings and id list: use it before the next change.
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.clear()

    def clear(self) -> None:
        """Drop every row."""
        self._cols = _Columns.empty(self.dimension, 0)
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        self._session_code: dict[str, int] = {}
        self._last: Key | None = None
        self.lexical = LexicalIndex()
        self._dead: list[int] = []
        self.stale = False
        #: bumped by every change, never reset (caches keyed on it must not see an old number again)
        self.version: int = getattr(self, "version", 0) + 1
        #: bumped whenever rows are renumbered (cleared, compacted), never by an append: a cache keyed on it may
        #: keep what it computed for the first rows and process only the rows appended since
        self.generation: int = getattr(self, "generation", 0) + 1
        self._corpus: tuple[tuple[int, float], Corpus] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._row

    def position(self, message_id: str) -> int | None:
        """Row of a message (its index in the corpus), or None."""
        return self._row.get(message_id)

    def positions(self) -> dict[str, int]:
        """Row of every message (read-only: the index's own map)."""
        return self._row

    def vector(self, message_id: str) -> FloatArray | None:
        """The stored vector of a message in the index (float32, from its int8 codes: see :class:`Int8Rows`)."""
        row = self._row.get(message_id)
        if row is None:
            return None
        vector: FloatArray = self._cols.codes[row].astype(np.float32) * self._cols.scales[row]
        return vector

    def accepts(self, key: Key) -> bool:
        """Whether a message with this order key can be appended (it comes after every row)."""
        return not self.stale and (self._last is None or key > self._last)

    def append(self, stored: StoredMessage, vector: FloatArray) -> None:
        """Add a quotable message after every other (see :meth:`accepts`)."""
        self.extend([(stored, vector)])

    def extend(
        self,
        items: Sequence[tuple[StoredMessage, FloatArray]],
        quantized: tuple[CodeArray, FloatArray] | None = None,
    ) -> None:
        """Add quotable messages, given in conversation order, after every other (see :meth:`accepts`).
        ``quantized``: their vectors' codes and scales when already known (the vectors in ``items`` are unused)."""
        if not items:
            return
        keys = [sort_key(s) for s, _ in items]
        if not self.accepts(keys[0]) or any(b <= a for a, b in pairwise(keys)):
            raise ValueError("messages out of conversation order: mark the index stale instead")
        first = len(self.ids)
        end = first + len(items)
        if end > len(self._cols.times):
            self._corpus = None  # holds views of the old arrays: let them go with the copy
            self._cols = self._cols.grown(first, max(64, first + first // 8, end))  # at most 1/9 spare
        cols = self._cols
        messages = [s for s, _ in items]
        codes_, scales = quantized if quantized is not None else quantize(np.stack([v for _, v in items]))
        cols.codes[first:end] = codes_
        cols.scales[first:end] = scales
        cols.times[first:end] = [m.created_at.timestamp() for m in messages]
        cols.penalties[first:end] = [penalty_of(s) for s, _ in items]
        codes = self._session_code
        cols.sessions[first:end] = [codes.setdefault(m.session_id, len(codes)) for m in messages]
        cols.neighbours[first:end] = -1
        if not self._dead:  # with dead rows, the compaction ending this change links every row again
            start = max(first - 1, 0)
            same = np.flatnonzero(cols.sessions[start + 1 : end] == cols.sessions[start : end - 1]) + start
            cols.neighbours[same + 1, 0] = same
            cols.neighbours[same, 1] = same + 1
        for row, m in enumerate(messages, start=first):
            self.lexical.append(terms(m.content[:INDEXED_CHARS]))
            self.ids.append(m.id)
            self._row[m.id] = row
        self._last = keys[-1]
        self.version += 1

    def remove(self, message_id: str) -> None:
        """Mark a message's row dead (dropped by the next :meth:`compact`)."""
        row = self._row.pop(message_id, None)
        if row is not None:
            self._dead.append(row)
            self.version += 1

    def compact(self) -> None:
        """Drop the dead rows, keeping the order of the others; neighbours are linked again."""
        if not self._dead:
            return
        n = len(self.ids)
        keep = np.ones(n, dtype=bool)
        keep[self._dead] = False
        m = int(keep.sum())
        cols = self._cols
        for column in (cols.codes, cols.scales, cols.times, cols.penalties, cols.sessions):
            column[:m] = column[:n][keep]
        self.lexical.compact(keep)
        self.ids = [x for x, k in zip(self.ids, keep.tolist(), strict=True) if k]
        self._row = {x: i for i, x in enumerate(self.ids)}
        self._dead = []
        self._link(m)
        self.version += 1
        self.generation += 1

    def _link(self, n: int) -> None:
        """Session neighbours of the first ``n`` rows, from scratch (vectorised)."""
        cols = self._cols
        cols.neighbours[:n] = -1
        if n > 1:
            same = np.flatnonzero(cols.sessions[1:n] == cols.sessions[: n - 1])
            cols.neighbours[same + 1, 0] = same
            cols.neighbours[same, 1] = same + 1

    def rebuild(self, messages: Iterable[StoredMessage], vector_of: Callable[[str], FloatArray]) -> None:
        """Rows from scratch for ``messages`` (the quotable ones are kept, sorted); a message already in the index
        keeps its codes as they are, any other takes ``vector_of(id)``."""
        chosen = sorted((s for s in messages if quotable(s)), key=sort_key)
        codes = np.zeros((len(chosen), self.dimension), dtype=np.int8)
        scales = np.zeros(len(chosen), dtype=np.float32)
        old = self._cols
        for i, s in enumerate(chosen):
            row = self._row.get(s.id)
            if row is not None:
                codes[i], scales[i] = old.codes[row], old.scales[row]
            else:
                codes[i : i + 1], scales[i : i + 1] = quantize(vector_of(s.id))
        self.clear()
        if chosen:
            self._cols = _Columns.empty(self.dimension, max(64, len(chosen)))
        dummy = np.zeros(0, dtype=np.float32)
        self.extend([(s, dummy) for s in chosen], (codes, scales))

    def corpus(self, newest: float) -> Corpus:
        """The ranking corpus: rows in conversation order, priors relative to ``newest`` (a timestamp)."""
        if self._dead:
            self.compact()
        key = (self.version, newest)
        if self._corpus is not None and self._corpus[0] == key:
            return self._corpus[1]
        n = len(self.ids)
        cols = self._cols
        corpus = Corpus(
            ids=self.ids,  # shared, not copied: a copy touches 100,000 scattered strings (~2 ms) after every write
            matrix=cast(FloatArray, Int8Rows(cols.codes[:n], cols.scales[:n])),  # reads like float32 rows
            lexical=self.lexical,
            priors=message_priors((newest - cols.times[:n]) / DAY),
            neighbours=cols.neighbours[:n],
            penalties=cols.penalties[:n],
        )
        self._corpus = (key, corpus)
        return corpus

    def nbytes(self) -> int:
        """Bytes of the arrays held (vectors, columns, postings), capacity included."""
        cols = self._cols
        arrays = (
            cols.codes.nbytes + cols.scales.nbytes + cols.times.nbytes + cols.penalties.nbytes + cols.sessions.nbytes
        )
        postings = sum(r.itemsize * len(r) + t.itemsize * len(t) for r, t in self.lexical.postings.values())
        return arrays + cols.neighbours.nbytes + postings


def build_message_corpus(
    messages: Iterable[StoredMessage], vector_of: Callable[[str], FloatArray], dimension: int
) -> tuple[Corpus, list[str]]:
    """The message corpus built from scratch, the way it was built before the index existed (for tests and as
    the reference): every quotable message in conversation order, priors relative to the newest message."""
    everything = list(messages)
    chosen = sorted((s for s in everything if quotable(s)), key=sort_key)
    now = max((s.created_at.timestamp() for s in everything), default=0.0)
    ids = [s.id for s in chosen]
    matrix = (
        np.stack([vector_of(x) for x in ids]).astype(np.float32, copy=False)
        if ids
        else np.zeros((0, dimension), dtype=np.float32)
    )
    corpus = Corpus.build(
        ids,
        [s.content[:INDEXED_CHARS] for s in chosen],
        cast(FloatArray, Int8Rows.of(matrix)),  # held as the index holds them
        [message_prior((now - s.created_at.timestamp()) / DAY) for s in chosen],
        sessions=[s.session_id for s in chosen],
        penalties=[penalty_of(s) for s in chosen],
    )
    return corpus, ids
