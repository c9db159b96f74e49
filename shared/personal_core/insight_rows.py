"""Incremental ranking corpus of one user's insights: a write touches the rows of the insights it changed.

:class:`InsightRows` keeps the rows of one selection of insights (the current ones, or every unretracted one)
in corpus order (``(created_at, id)``), exactly what a from-scratch build (:func:`build_insight_corpus`) gives:

* vectors in a growable float32 matrix; removals and insertions move rows with numpy (no Python per row);
* BM25 postings by *stable row key* (:class:`KeyedLexical`): removing or rewriting an insight touches only its
  own terms; keys are mapped to rows when a query is scored, which gives exactly a fresh index's scores;
* each insight's prior factor (confidence, times seen), computed once per change of the insight; the recency
  part depends on the newest insight's time and is recomputed per write (vectorised, same operations);
* evidence links (insight row, message row) kept per key, extended by the messages appended since.

A :class:`~personal_core.ranking.Corpus` it returns shares its arrays, postings and id list: use it before the
next change (call under the user's lock, as the message index).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import Insight
from .ranking import Corpus, IntArray, LexicalIndex, add_postings, insight_prior

DAY = 86400.0
#: :func:`~personal_core.ranking.insight_prior`'s half-life (``tests/core/test_insight_rows.py`` keeps the two equal).
HALF_LIFE_DAYS = 180.0

FloatArray = npt.NDArray[np.float32]
Key = tuple[datetime, str]
Tokenize = Callable[[str], Sequence[str]]


def prior_factor(confidence: float, times_seen: int) -> float:
    """The part of :func:`~personal_core.ranking.insight_prior` that does not depend on time (same operations)."""
    return (0.4 + 0.6 * confidence) * (1.0 + 0.15 * math.log(max(times_seen, 1)))


def insight_priors(factors: npt.NDArray[np.float64], updated: npt.NDArray[np.float64], now: float) -> Any:
    """:func:`~personal_core.ranking.insight_prior` of every row at once, bit for bit: the arithmetic is the same
    IEEE operations in the same order; ``pow`` is Python's (numpy's SIMD ``power`` differs by an ulp here)."""
    ages = (now - updated) / DAY
    exponents = np.maximum(ages, 0.0) / HALF_LIFE_DAYS
    powers = np.fromiter(map(math.pow, repeat(0.5), exponents.tolist()), dtype=np.float64, count=len(exponents))
    recency = 0.5 + 0.5 * powers
    return factors * recency


class KeyedLexical(LexicalIndex):
    """BM25 postings by stable row key (owned and changed by :class:`InsightRows`): scores exactly like a
    :class:`~personal_core.ranking.LexicalIndex` built over the same documents in the same order."""

    def __init__(self, owner: InsightRows) -> None:
        super().__init__()
        self._owner = owner

    def __len__(self) -> int:
        return len(self._owner.ids)

    @property
    def lengths(self) -> npt.NDArray[np.float64]:
        return self._owner.lengths

    def append(self, doc: Sequence[str]) -> None:
        raise TypeError("a KeyedLexical is changed through its InsightRows")

    def compact(self, keep: npt.NDArray[np.bool_]) -> None:
        raise TypeError("a KeyedLexical is changed through its InsightRows")

    def add(self, key: int, doc: Sequence[str]) -> None:
        """Postings of document ``key``."""
        add_postings(self.postings, key, doc, "q")

    def drop(self, key: int, doc: Sequence[str]) -> None:
        """Forget document ``key`` (``doc``: its terms as added)."""
        for term in set(doc):
            keys, tfs = self.postings[term]
            i = keys.index(key)
            del keys[i]
            del tfs[i]
            if not keys:
                del self.postings[term]

    def copy(self) -> LexicalIndex:
        """A plain :class:`LexicalIndex` over the same documents (rows in corpus order)."""
        position = self._owner.position
        other = LexicalIndex()
        for term, (keys, tfs) in self.postings.items():
            rows = position[np.frombuffer(keys, dtype=np.int64)] if keys else np.zeros(0, dtype=np.int64)
            order = np.argsort(rows, kind="stable")
            other.postings[term] = (
                array("i", rows[order].astype(np.int32).tolist()),
                array("f", np.frombuffer(tfs, dtype=np.float32)[order].tolist()),
            )
        n = len(self)
        other._lengths = self.lengths.copy()
        other._n = n
        return other

    def _rows(self, posted: Any) -> npt.NDArray[np.int64]:
        """The current rows of a posting list's stable keys (BM25 itself is :meth:`LexicalIndex.scores`)."""
        rows: npt.NDArray[np.int64] = self._owner.position[np.frombuffer(posted, dtype=np.int64)]
        return rows


class InsightRows:
    """One selection of a user's insights as ranking rows, kept current by :meth:`sync` (see the module doc)."""

    def __init__(self, dimension: int, tokenize: Tokenize) -> None:
        self.dimension = dimension
        self._tokenize = tokenize
        self.ids: list[str] = []
        self._order: list[Key] = []
        self._keys = np.zeros(0, dtype=np.int64)  # row -> stable key
        self._matrix = np.zeros((0, dimension), dtype=np.float32)
        self._factors = np.zeros(0, dtype=np.float64)
        self._updated = np.zeros(0, dtype=np.float64)
        self._lengths = np.zeros(0, dtype=np.float64)
        self.position = np.zeros(0, dtype=np.int64)  # stable key -> row (-1: gone)
        self._key_of: dict[str, int] = {}
        self._held: dict[str, Insight] = {}  # the insight object each row was made from
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}  # the vector object each row was made from
        self._docs: dict[int, Sequence[str]] = {}  # key -> terms
        self._next_key = 0
        self.lexical = KeyedLexical(self)
        # evidence links: pairs (key, message row) valid for a message index generation, up to a row count
        self._links_at: tuple[int, int] | None = None
        self._pair_keys = np.zeros(0, dtype=np.int64)
        self._pair_rows = np.zeros(0, dtype=np.int64)
        self._missing: dict[str, set[int]] = {}  # evidence message id not (yet) among the rows -> keys
        self._relink: set[int] = set()  # keys whose pairs are to be dropped (removed or changed insights)
        self._link_new: dict[int, None] = {}  # keys whose pairs are to be added (an ordered set)
        #: classifications by name (see :meth:`groups`): (key -> class, keys to classify again)
        self._classes: dict[str, tuple[dict[int, frozenset[str]], set[int]]] = {}
        #: by name: insight id -> ((text, kind, slot), its class), kept across rebuilds (:meth:`adopt`)
        self._known: dict[str, dict[str, tuple[tuple[str, str, str | None], frozenset[str] | None]]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> npt.NDArray[np.float64]:
        """Terms per row (a view: valid until the next change)."""
        return self._lengths[: len(self.ids)]

    @property
    def matrix(self) -> FloatArray:
        """The rows' vectors (a view: valid until the next change)."""
        return self._matrix[: len(self.ids)]

    def worn(self) -> bool:
        """Whether stable keys ran far ahead of the rows (a rebuild renumbers them)."""
        return self._next_key > 8 * len(self.ids) + 65536

    def sync(
        self,
        insights: Mapping[str, Insight],
        vectors: Mapping[str, npt.NDArray[np.float32]],
        member: Callable[[Insight], bool],
        changed: Iterable[str],
    ) -> None:
        """Bring the rows of the ``changed`` insight ids up to date (the others are as they were)."""
        gone: list[str] = []
        added: list[Insight] = []
        for insight_id in changed:
            held = self._held.get(insight_id)
            now = insights.get(insight_id)
            if now is not None and not member(now):
                now = None
            if held is not None and now is held and self._vector_is_held(insight_id, vectors):
                continue
            if held is not None and now is not None and _key(now) == _key(held):
                self._update(now, vectors[insight_id])
                continue
            if held is not None:
                gone.append(insight_id)
            if now is not None:
                added.append(now)
        if gone:
            self._remove(gone)
        if added:
            self._insert(sorted(added, key=_key), vectors)
        if gone or added:
            n = len(self.ids)
            self.position[self._keys[:n]] = np.arange(n, dtype=np.int64)

    def _vector_is_held(self, insight_id: str, vectors: Mapping[str, npt.NDArray[np.float32]]) -> bool:
        return vectors.get(insight_id) is self._vectors.get(insight_id)

    def _update(self, insight: Insight, vector: npt.NDArray[np.float32]) -> None:
        """A row whose place holds: its vector, text, prior factor and evidence follow the insight."""
        key = self._key_of[insight.id]
        row = int(self.position[key])
        old = self._held[insight.id]
        self._matrix[row] = vector
        self._vectors[insight.id] = vector
        self._factors[row] = prior_factor(insight.confidence, insight.times_seen)
        self._updated[row] = insight.updated_at.timestamp()
        if insight.text != old.text:
            self.lexical.drop(key, self._docs[key])
            doc = self._tokenize(insight.text)
            self._docs[key] = doc
            self.lexical.add(key, doc)
            self._lengths[row] = len(doc)
        if insight.evidence != old.evidence:
            self._forget_links(key, old)
            self._link_new[key] = None
        if (insight.text, insight.kind, insight.slot) != (old.text, old.kind, old.slot):
            self._reclassify(key)
        self._held[insight.id] = insight

    def _remove(self, gone: list[str]) -> None:
        n = len(self.ids)
        keep = np.ones(n, dtype=bool)
        for insight_id in gone:
            key = self._key_of.pop(insight_id)
            keep[self.position[key]] = False
            self.position[key] = -1
            self.lexical.drop(key, self._docs.pop(key))
            self._forget_links(key, self._held.pop(insight_id))
            self._vectors.pop(insight_id, None)
            self._reclassify(key)
        m = int(keep.sum())
        for column in (self._keys, self._matrix, self._factors, self._updated, self._lengths):
            column[:m] = column[:n][keep]
        for row in np.flatnonzero(~keep)[::-1].tolist():  # a few rows: C-level moves, not a new list
            del self.ids[row]
            del self._order[row]

    def _insert(self, items: list[Insight], vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Rows for ``items`` (sorted by corpus order) at their places (usually all after the last row)."""
        n, k = len(self.ids), len(items)
        end = n + k
        if end > len(self._factors):
            self._grow(max(64, end + end // 4))
        if len(self.position) < self._next_key + k:
            grown = np.full(max(64, 2 * (self._next_key + k)), -1, dtype=np.int64)
            grown[: len(self.position)] = self.position
            self.position = grown
        keys = list(range(self._next_key, self._next_key + k))
        self._next_key += k
        docs = [self._tokenize(i.text) for i in items]
        order = [_key(i) for i in items]
        values: tuple[Any, ...] = (
            np.array(keys, dtype=np.int64),
            np.stack([vectors[i.id] for i in items]).astype(np.float32, copy=False),
            np.array([prior_factor(i.confidence, i.times_seen) for i in items], dtype=np.float64),
            np.array([i.updated_at.timestamp() for i in items], dtype=np.float64),
            np.array([len(d) for d in docs], dtype=np.float64),
        )
        columns: tuple[Any, ...] = (self._keys, self._matrix, self._factors, self._updated, self._lengths)
        if not self._order or order[0] > self._order[-1]:  # the usual case: after every row
            for column, value in zip(columns, values, strict=True):
                column[n:end] = value
            self.ids.extend(i.id for i in items)
            self._order.extend(order)
        else:  # some go between rows: merge
            at = [bisect.bisect_left(self._order, o) for o in order]
            for column, value in zip(columns, values, strict=True):
                column[:end] = np.insert(column[:n], at, value, axis=0)
            for offset, (place, item, o) in enumerate(zip(at, items, order, strict=True)):
                self.ids.insert(place + offset, item.id)
                self._order.insert(place + offset, o)
        for key, item, doc in zip(keys, items, docs, strict=True):
            self._key_of[item.id] = key
            self._held[item.id] = item
            self._vectors[item.id] = vectors[item.id]
            self._docs[key] = doc
            self.lexical.add(key, doc)
            self._link_new[key] = None
            self._reclassify(key)

    def _grow(self, capacity: int) -> None:
        n = len(self.ids)

        def bigger(column: Any, shape: tuple[int, ...], dtype: Any) -> Any:
            out = np.zeros(shape, dtype=dtype)
            out[:n] = column[:n]
            return out

        self._keys = bigger(self._keys, (capacity,), np.int64)
        self._matrix = bigger(self._matrix, (capacity, self.dimension), np.float32)
        self._factors = bigger(self._factors, (capacity,), np.float64)
        self._updated = bigger(self._updated, (capacity,), np.float64)
        self._lengths = bigger(self._lengths, (capacity,), np.float64)

    def _reclassify(self, key: int) -> None:
        for _, pending in self._classes.values():
            pending.add(key)

    def groups(
        self, name: str, classify: Callable[[Insight], frozenset[str] | None]
    ) -> list[tuple[frozenset[str], IntArray]]:
        """Rows grouped by ``classify`` (a function of an insight's text, kind and slot; None or empty: in no
        group), in the order a scan of the rows meets each group first, each group's rows ascending. An insight
        is classified once, and again only when its text, kind or slot changes (``name`` keeps one classifier's
        results; they survive a rebuild of the rows through :meth:`adopt`)."""
        held = self._classes.get(name)
        if held is None:
            held = self._classes[name] = ({}, set(self._key_of.values()))
        classes, pending = held
        known = self._known.setdefault(name, {})
        ids = self.ids
        for key in pending:
            row = int(self.position[key])
            if row < 0:
                classes.pop(key, None)
                continue
            insight = self._held[ids[row]]
            signature = (insight.text, insight.kind.value, insight.slot)
            hit = known.get(insight.id)
            if hit is None or hit[0] != signature:
                hit = (signature, classify(insight) or None)
                known[insight.id] = hit
            if hit[1]:
                classes[key] = hit[1]
            else:
                classes.pop(key, None)
        pending.clear()
        if len(known) > 2 * len(self._key_of) + 64:  # drop what is known of insights gone since
            self._known[name] = {k: v for k, v in known.items() if k in self._key_of}
        by_class: dict[frozenset[str], list[int]] = {}
        for key, found in classes.items():
            by_class.setdefault(found, []).append(key)
        groups = [(found, np.sort(self.position[np.array(keys, dtype=np.int64)])) for found, keys in by_class.items()]
        groups.sort(key=lambda group: int(group[1][0]))
        return groups

    def adopt(self, previous: InsightRows) -> None:
        """Keep what ``previous`` (the rows this one replaces) knew of each insight's classes."""
        self._known = previous._known

    def corpus(self, now: float) -> Corpus:
        """The ranking corpus of the rows, priors relative to ``now`` (the newest insight's time)."""
        n = len(self.ids)
        return Corpus(
            ids=self.ids,
            matrix=self.matrix,
            lexical=self.lexical,
            priors=insight_priors(self._factors[:n], self._updated[:n], now) if n else np.zeros(0, np.float64),
        )

    def _forget_links(self, key: int, insight: Insight) -> None:
        self._relink.add(key)
        for message_id in insight.evidence:
            waiting = self._missing.get(message_id)
            if waiting is not None:
                waiting.discard(key)
                if not waiting:
                    del self._missing[message_id]

    def links(
        self, positions: Mapping[str, int], message_ids: Sequence[str], generation: int
    ) -> tuple[IntArray, IntArray]:
        """(row, message row) pairs: each row to its evidence messages among ``message_ids`` (the message
        corpus's rows, ``positions`` their map, ``generation`` the message index's). Pairs come in no
        particular order (:func:`~personal_core.ranking.borrow_evidence` takes a maximum per insight)."""
        at = self._links_at
        if at is None or at[0] != generation or at[1] > len(message_ids):  # renumbered messages: from scratch
            self._pair_keys = np.zeros(0, dtype=np.int64)
            self._pair_rows = np.zeros(0, dtype=np.int64)
            self._missing = {}
            self._relink = set()
            self._link_new = dict.fromkeys(self._key_of[i] for i in self.ids)
            seen = len(message_ids)
        else:
            seen = at[1]
        new_keys: list[int] = []
        new_rows: list[int] = []
        for message_id in message_ids[seen:]:  # appended messages that earlier evidence was waiting for
            waiting = self._missing.pop(message_id, None)
            if waiting:
                row = positions[message_id]
                for key in waiting:
                    new_keys.append(key)
                    new_rows.append(row)
        if self._relink:
            stale = np.isin(self._pair_keys, np.fromiter(self._relink, dtype=np.int64, count=len(self._relink)))
            self._pair_keys = self._pair_keys[~stale]
            self._pair_rows = self._pair_rows[~stale]
            self._relink = set()
        ids = self.ids
        for key in self._link_new:
            row_of_insight = int(self.position[key])
            if row_of_insight < 0:
                continue
            for message_id in self._held[ids[row_of_insight]].evidence:
                found = positions.get(message_id)
                if found is None:
                    self._missing.setdefault(message_id, set()).add(key)
                else:
                    new_keys.append(key)
                    new_rows.append(found)
        self._link_new = {}
        if new_keys:
            self._pair_keys = np.concatenate([self._pair_keys, np.array(new_keys, dtype=np.int64)])
            self._pair_rows = np.concatenate([self._pair_rows, np.array(new_rows, dtype=np.int64)])
        self._links_at = (generation, len(message_ids))
        return self.position[self._pair_keys], self._pair_rows


def _key(insight: Insight) -> Key:
    return (insight.created_at, insight.id)


def build_insight_corpus(
    insights: Iterable[Insight],
    vectors: Mapping[str, npt.NDArray[np.float32]],
    now: float,
    dimension: int,
    tokenize: Tokenize,
) -> tuple[Corpus, list[str]]:
    """The insight corpus built from scratch, the way it was built before :class:`InsightRows` (the reference of
    the tests): sorted by ``(created_at, id)``, priors by :func:`~personal_core.ranking.insight_prior`."""
    chosen = sorted(insights, key=_key)
    ids = [i.id for i in chosen]
    matrix = (
        np.stack([vectors[x] for x in ids]).astype(np.float32, copy=False)
        if ids
        else np.zeros((0, dimension), dtype=np.float32)
    )
    priors = [insight_prior(i.confidence, i.times_seen, (now - i.updated_at.timestamp()) / DAY) for i in chosen]
    return Corpus.build(ids, [i.text for i in chosen], matrix, priors, tokenize=tokenize), ids
