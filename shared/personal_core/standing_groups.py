"""A user's standing items grouped by the domains they constrain (see :mod:`.standing`), kept per user across
writes: insights are classified once each (:meth:`~personal_core.state.UserState.insight_groups`), a turn once per
stored message (its :attr:`~personal_core.records.StoredMessage.turn_kind` slot), and appended turns extend the
groups. Call with the user's lock held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import Insight
from .ranking import IntArray
from .records import StoredMessage
from .standing import is_low_content, is_standing_insight, item_domains, standing_turn_domains
from .state import UserState

#: Standing items grouped by their domains: (domains, corpus indices) -- a query's fit is computed per group.
StandingGroups = list[tuple[frozenset[str], IntArray]]

_LOW_TURN: tuple[bool, frozenset[str] | None] = (True, None)
_PLAIN_TURN: tuple[bool, frozenset[str] | None] = (False, None)


@dataclass
class StandingCache:
    """One user's standing items by corpus index, rebuilt when the model changes; insights' classifications by
    id survive rebuilds, a turn's lives on its stored message (each is classified once)."""

    insights: dict[bool, tuple[int, StandingGroups]] = field(default_factory=dict)
    turns: tuple[int, StandingGroups] | None = None
    #: (index generation, rows classified, corpus indices by domains) behind ``turns``: appends extend it
    turn_rows: tuple[int, int, dict[frozenset[str], list[int]]] | None = None

    def turn(self, stored: StoredMessage) -> tuple[bool, frozenset[str] | None]:
        """(low content, standing domains or None) of a stored turn, classified once per message object (kept
        in its :attr:`~personal_core.records.StoredMessage.turn_kind` slot: ~10 MiB less at 100,000 messages than a
        cache by id)."""
        kind = stored.turn_kind
        if kind is None:
            low = is_low_content(stored.content)
            standing = standing_turn_domains(stored.content) if not low and stored.role.value == "user" else None
            kind = _LOW_TURN if low else (False, standing) if standing else _PLAIN_TURN
            stored.remember_turn_kind(kind)
        return kind  # type: ignore[no-any-return]


def standing_cache(state: UserState) -> StandingCache:
    """The user's standing cache (created on first use)."""
    return state.cache_of("standing", StandingCache)


def _grouped(found: list[tuple[int, frozenset[str]]]) -> StandingGroups:
    groups: dict[frozenset[str], list[int]] = {}
    for index, domains in found:
        groups.setdefault(domains, []).append(index)
    return [(domains, np.array(indices, dtype=np.int64)) for domains, indices in groups.items()]


def standing_insights(state: UserState, include_superseded: bool) -> StandingGroups:
    """The standing insights among :meth:`UserState.insight_corpus`'s, by domains; cached per insights version."""
    cache = standing_cache(state)
    hit = cache.insights.get(include_superseded)
    if hit is not None and hit[0] == state.insights_version:
        return hit[1]
    groups = state.insight_groups(include_superseded, "standing", _standing_domains)  # classified once each
    cache.insights[include_superseded] = (state.insights_version, groups)
    return groups


def _standing_domains(insight: Insight) -> frozenset[str] | None:
    """The domains of a standing insight (None: not standing)."""
    standing = is_standing_insight(insight.text, insight.kind.value, insight.slot)
    return (item_domains(insight.text) or None) if standing else None


def standing_turns(state: UserState) -> StandingGroups:
    """The user's own turns that state a standing constraint, by domains; cached per model version. Rows
    appended since the last call are the only ones classified (unless the index renumbered its rows)."""
    cache = standing_cache(state)
    if cache.turns is not None and cache.turns[0] == state.version:
        return cache.turns[1]
    _, mids = state.message_corpus()
    generation = state.message_index.generation
    kept = cache.turn_rows
    start, found = (
        (kept[1], kept[2]) if kept is not None and kept[0] == generation and kept[1] <= len(mids) else (0, {})
    )
    changed = set()
    for index in range(start, len(mids)):
        _, domains = cache.turn(state.messages[mids[index]])
        if domains:
            found.setdefault(domains, []).append(index)
            changed.add(domains)
    cache.turn_rows = (generation, len(mids), found)
    previous = dict(cache.turns[1]) if cache.turns is not None and start else {}
    groups = [
        (d, previous[d] if d in previous and d not in changed else np.array(rows, dtype=np.int64))
        for d, rows in found.items()
    ]
    cache.turns = (state.version, groups)
    return groups
