"""Best-first order of a score array without sorting all of it: only the head that is read gets sorted.

A context reads a few dozen items of a 100,000-message ranking; a full ``argsort`` plus a list of 100,000
``(index, score)`` tuples cost ~20 ms there. :class:`TopRanking` gives exactly the order of
``np.argsort(-scores, kind="stable")`` (best first, ties by position, NaN last) but selects the head with
``np.partition`` (O(n)) and sorts only it, growing the head geometrically when a reader goes further.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Items sorted by the first read of a ranking; each further read past the head sorts four times as many.
FIRST_HEAD = 64


def full_order(scores: Scores) -> IntArray:
    """Every index of ``scores``, best first, ties by position (the reference order)."""
    ranked: IntArray = np.argsort(-scores, kind="stable")
    return ranked


def top_indices(scores: Scores, k: int) -> IntArray:
    """A prefix of :func:`full_order` holding at least ``min(k, n)`` indices (every index tied with the k-th
    best is included, so the prefix is exact). O(n + h log h) for a head of h."""
    n = len(scores)
    if k >= n:
        return full_order(scores)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if np.isnan(scores).any():
        return full_order(scores)  # NaN has no place in a threshold; rare enough to sort everything
    threshold = np.partition(scores, n - k)[n - k]  # the k-th best score
    chosen = np.flatnonzero(scores >= threshold)  # ascending positions: the stable sort keeps ties by position
    head: IntArray = chosen[np.argsort(-scores[chosen], kind="stable")]
    return head


class TopRanking(Sequence[tuple[int, float]]):
    """``(index, score)`` pairs of a score array best first (ties by position), sorted lazily as read.

    Equal, item for item, to ``list(zip(full_order(s), s[full_order(s)]))`` with Python ints and floats.
    Holds the score array (do not change it while reading).
    """

    def __init__(self, scores: Scores) -> None:
        self.scores = scores
        self._pairs: list[tuple[int, float]] = []

    def __len__(self) -> int:
        return len(self.scores)

    def _ensure(self, k: int) -> None:
        """Sort at least the first ``k`` items (or all)."""
        have = len(self._pairs)
        if k <= have or have == len(self.scores):
            return
        head = top_indices(self.scores, max(k, FIRST_HEAD, 4 * have))
        extra = head[have:]
        self._pairs.extend(zip(extra.tolist(), self.scores[extra].tolist(), strict=True))

    @overload
    def __getitem__(self, key: int) -> tuple[int, float]: ...

    @overload
    def __getitem__(self, key: slice) -> list[tuple[int, float]]: ...

    def __getitem__(self, key: int | slice) -> tuple[int, float] | list[tuple[int, float]]:
        n = len(self.scores)
        if isinstance(key, slice):
            _, stop, step = key.indices(n)
            if step > 0:
                self._ensure(stop)
            else:
                self._ensure(n)
            return self._pairs[key]
        index = key + n if key < 0 else key
        if not 0 <= index < n:
            raise IndexError("ranking index out of range")
        self._ensure(index + 1)
        return self._pairs[index]

    def __iter__(self) -> Iterator[tuple[int, float]]:
        i = 0
        n = len(self.scores)
        while i < n:
            self._ensure(i + 1)
            pairs = self._pairs
            end = len(pairs)
            while i < end:
                yield pairs[i]
                i += 1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TopRanking | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TopRanking({len(self)} items, {len(self._pairs)} sorted)"


def ranked_pairs(scores: Sequence[float] | Scores) -> list[tuple[int, float]]:
    """The full best-first list (the reference :class:`TopRanking` must equal)."""
    array = np.asarray(scores, dtype=np.float64)
    ranked = full_order(array)
    return list(zip(ranked.tolist(), array[ranked].tolist(), strict=True))
