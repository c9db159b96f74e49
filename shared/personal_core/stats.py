"""Monitoring counters: one typed :class:`Counters` record, and the ``stats()`` dict built from it.

Counters are kept in the journal (one row per user and name, summed on read) and written in the same
transaction as the change they count. Every writer builds a :class:`Counters`; only this module knows the
names the rows carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

_BY_KIND = "insights_added:"


@dataclass
class Counters:
    """Deltas (or sums) of everything Personal counts for a user."""

    messages_observed: int = 0
    llm_calls: int = 0
    llm_failures: int = 0
    batches_formed: int = 0
    batches_done: int = 0
    batches_failed: int = 0
    batches_empty: int = 0
    reasoner_input_tokens: int = 0
    reasoner_output_tokens: int = 0
    insights_added: int = 0
    insights_reinforced: int = 0
    insights_superseded: int = 0
    insights_retracted: int = 0
    repaired_items: int = 0
    dropped_evidence: int = 0
    dropped_ids: int = 0
    dropped_items: int = 0
    mapped_kinds: int = 0
    clamped_confidences: int = 0
    refused_card: int = 0
    refused_retracted: int = 0
    echoed_items: int = 0
    dropped_slots: int = 0
    card_followed: int = 0
    insights_corrected: int = 0
    cascaded_retractions: int = 0
    stripped_evidence: int = 0
    added_by_kind: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Counters) -> Counters:
        summed = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "added_by_kind"
        }
        by_kind = dict(self.added_by_kind)
        for kind, n in other.added_by_kind.items():
            by_kind[kind] = by_kind.get(kind, 0) + n
        return Counters(**summed, added_by_kind=by_kind)

    def rows(self) -> dict[str, float]:
        """The non-zero counters as journal rows (name -> delta)."""
        out: dict[str, float] = {
            f.name: float(getattr(self, f.name))
            for f in fields(self)
            if f.name != "added_by_kind" and getattr(self, f.name)
        }
        for kind, n in self.added_by_kind.items():
            if n:
                out[_BY_KIND + kind] = float(n)
        return out

    @classmethod
    def from_rows(cls, rows: Mapping[str, float]) -> Counters:
        """Counters from journal rows (unknown names are ignored: an older or newer version wrote them)."""
        known = {f.name for f in fields(cls)} - {"added_by_kind"}
        values = {name: int(value) for name, value in rows.items() if name in known}
        by_kind = {name[len(_BY_KIND) :]: int(v) for name, v in rows.items() if name.startswith(_BY_KIND)}
        return cls(**values, added_by_kind=by_kind)

    def as_dict(self) -> dict[str, int]:
        """Every counter by name (without the per-kind breakdown)."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self) if f.name != "added_by_kind"}


def build_stats(
    counters: Counters,
    sizes: Mapping[str, int],
    *,
    insights_by_kind: Mapping[str, int] | None,
    users_cached: int,
    journal_pending: int,
    journal_quarantined: int,
    flush_failures: int,
    embedder: str,
    token_counter: str,
    reasoner: str,
) -> dict[str, Any]:
    """The ``stats()`` dict: queue sizes, counters, insights by kind (current ones of a user when given, else
    added so far for all users) and store state."""
    out: dict[str, Any] = {**sizes, **counters.as_dict()}
    out["insights_by_kind"] = dict(insights_by_kind) if insights_by_kind is not None else dict(counters.added_by_kind)
    out.update(
        users_cached=users_cached,
        journal_pending=journal_pending,
        journal_quarantined=journal_quarantined,
        flush_failures=flush_failures,
        embedder=embedder,
        token_counter=token_counter,
        reasoner=reasoner,
    )
    return out
