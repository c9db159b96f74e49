"""The current insights as planning compares against them, kept across writes (duplicate detection).

:class:`CurrentInsights` holds the current insights in ``UserState.insights``' order (the order a scan gives),
their vectors as matrix rows and the holders of each slot, and follows the insights changed since the last
call: a reinforced insight is replaced in place, a superseded or retracted one leaves (its row compacted
away), a new one is appended. An insight that becomes current again (or whose place in that order changed)
makes the next call rebuild from scratch, like the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from .model import Insight

FloatArray = npt.NDArray[np.float32]


class CurrentInsights:
    """Current insights by id (``insights``' order), their vector rows (``ids`` order) and slot holders."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.current: dict[str, Insight] = {}
        self.ids: list[str] = []
        self._seq: dict[str, int] = {}  # id -> its place in ``insights``' order when it was added here
        self._row: dict[str, int] = {}
        self._matrix = np.zeros((0, dimension), dtype=np.float32)
        self._vectors: dict[str, FloatArray] = {}  # the vector object behind each row
        self.slots: dict[str, list[str]] = {}  # slot -> current holders, in ``insights``' order

    @property
    def matrix(self) -> FloatArray | None:
        """The rows (a view, valid until the next change; None without current insights)."""
        return self._matrix[: len(self.ids)] if self.ids else None

    def rebuild(
        self, insights: Mapping[str, Insight], vectors: Mapping[str, FloatArray], seq: Mapping[str, int]
    ) -> None:
        """Everything from a scan of ``insights`` (in its order)."""
        self.__init__(self.dimension)  # type: ignore[misc]
        self._append([i for i in insights.values() if i.is_current], vectors, seq)

    def sync(
        self,
        insights: Mapping[str, Insight],
        vectors: Mapping[str, FloatArray],
        seq: Mapping[str, int],
        changed: Iterable[str],
    ) -> None:
        """Follow the ``changed`` insight ids (rebuilds when one cannot be followed in place)."""
        gone: list[str] = []
        added: list[Insight] = []
        slots: set[str] = set()
        changed_ids = list(changed)
        for insight_id in changed_ids:
            held = self.current.get(insight_id)
            now = insights.get(insight_id)
            if now is not None and not now.is_current:
                now = None
            if held is not None:
                if now is not None and self._seq[insight_id] == seq[insight_id]:
                    self.current[insight_id] = now  # keeps its place
                    if vectors[insight_id] is not self._vectors[insight_id]:
                        self._matrix[self._row[insight_id]] = vectors[insight_id]
                        self._vectors[insight_id] = vectors[insight_id]
                    if held.slot != now.slot:
                        slots.update(s for s in (held.slot, now.slot) if s)
                    continue
                gone.append(insight_id)
                if held.slot:
                    slots.add(held.slot)
            if now is not None:
                added.append(now)
        added.sort(key=lambda i: seq[i.id])
        staying = (x for x in reversed(self.ids) if x not in gone)  # ``ids`` is in ``insights``' order
        last = self._seq[next(staying, "")] if added and len(gone) < len(self.ids) else -1
        if added and seq[added[0].id] <= last:  # goes between the others: from scratch
            self.rebuild(insights, vectors, seq)
            return
        if gone:
            self._remove(gone)
        if added:
            self._append(added, vectors, seq)
            slots.update(i.slot for i in added if i.slot)
        current = self.current
        for slot in slots:
            kept = {x for x in self.slots.get(slot, ()) if x in current and current[x].slot == slot}
            kept.update(x for x in changed_ids if x in current and current[x].slot == slot)
            holders = sorted(kept, key=self._seq.__getitem__)
            if holders:
                self.slots[slot] = holders
            else:
                self.slots.pop(slot, None)

    def _remove(self, gone: list[str]) -> None:
        n = len(self.ids)
        keep = np.ones(n, dtype=bool)
        for insight_id in gone:
            keep[self._row.pop(insight_id)] = False
            del self.current[insight_id]
            del self._seq[insight_id]
            del self._vectors[insight_id]
        m = int(keep.sum())
        self._matrix[:m] = self._matrix[:n][keep]
        for row in np.flatnonzero(~keep)[::-1].tolist():
            del self.ids[row]
        self._row = {x: i for i, x in enumerate(self.ids)}

    def _append(self, items: list[Insight], vectors: Mapping[str, FloatArray], seq: Mapping[str, int]) -> None:
        if not items:
            return
        n, end = len(self.ids), len(self.ids) + len(items)
        if end > len(self._matrix):
            grown = np.zeros((max(64, end + end // 4), self.dimension), dtype=np.float32)
            grown[:n] = self._matrix[:n]
            self._matrix = grown
        self._matrix[n:end] = np.stack([vectors[i.id] for i in items])
        for row, insight in enumerate(items, start=n):
            self.current[insight.id] = insight
            self.ids.append(insight.id)
            self._row[insight.id] = row
            self._seq[insight.id] = seq[insight.id]
            self._vectors[insight.id] = vectors[insight.id]
            if insight.slot and insight.id not in self.slots.get(insight.slot, ()):
                self.slots.setdefault(insight.slot, []).append(insight.id)
