"""The read path: a user's state and a query -> ranked candidates -> a packed context (or search hits).

Ranking (:mod:`.ranking`) and packing (:mod:`.context`) are pure; this module assembles what they need from
a :class:`~personal_core.state.UserState` and keeps the per-user render caches (token counts, excerpts,
rendered lines), so a warm ``context()`` does no tokenising or rendering for items it has seen.
Call everything here with the user's lock held.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel

from .context import Candidate, PackingPolicy, clean_line, insight_line, message_line, pack
from .model import ContextSource, Insight, InsightKind, UserContext
from .ranking import borrow_evidence, order, rank, relevance
from .records import StoredMessage
from .state import UserState
from .text import normalise, terms
from .tokens import TokenCounter

#: Most characters of a message quoted in a context, in tokens.
MAX_EXCERPT_TOKENS = 60
#: Insights shown to the LLM reasoner as what is already known, for a batch.
RELATED_INSIGHTS = 40

Ranking = list[tuple[int, float]]


class SearchHit(BaseModel):
    """An insight found by :meth:`~personal_core.UserModeler.search`, with its fused relevance score."""

    insight: Insight
    score: float


@dataclass
class RenderCache:
    """Token counts, excerpts and rendered lines of one user's items (kept on the state, dropped with it)."""

    tokens: dict[str, int] = field(default_factory=dict)
    excerpts: dict[str, str] = field(default_factory=dict)
    lines: dict[tuple[str, str, bool], tuple[object, str]] = field(default_factory=dict)

    def line(self, source: object, key: tuple[str, str, bool], render: Any) -> str:
        """The rendered line of ``source`` (an insight or stored message), cached while it is the same object
        (updates replace the object, so a changed item is rendered again)."""
        hit = self.lines.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        line: str = render()
        self.lines[key] = (source, line)
        return line


def render_cache(state: UserState) -> RenderCache:
    """The user's render cache (created on first use)."""
    cache = state.caches.get("render")
    if not isinstance(cache, RenderCache):
        cache = RenderCache()
        state.caches["render"] = cache
    return cache


def rankings(
    state: UserState, query_terms: list[str], query_vector: Any, include_superseded: bool
) -> tuple[Ranking, Ranking]:
    """Insights and messages best first, on one scale (insights borrow their evidence messages' relevance)."""
    corpus, _ = state.insight_corpus(include_superseded)
    mcorpus, _ = state.message_corpus()
    insight_scores = relevance(corpus, query_terms, query_vector)
    message_scores = relevance(mcorpus, query_terms, query_vector)
    if insight_scores is not None:
        insight_scores = borrow_evidence(insight_scores, state.evidence_links(include_superseded), message_scores)
    return order(corpus, insight_scores), order(mcorpus, message_scores)


def build_context(
    state: UserState,
    query: str,
    query_vector: Any,
    budget: int,
    counter: TokenCounter,
    policy: PackingPolicy,
    *,
    include_superseded: bool = False,
    include_messages: bool = True,
    skip_ids: Collection[str] = (),
    skip_sessions: Collection[str] = (),
) -> UserContext:
    """The user's model relevant to ``query``, packed within ``budget`` tokens (see :func:`.context.pack`)."""
    renders = render_cache(state)
    limit = max(16, budget // 8)
    card_evidence = state.card_evidence()
    sections: dict[ContextSource, list[Candidate]] = {
        "card": [
            _candidate(
                renders,
                counter,
                "card",
                f"card-{i}",
                c,
                f"- {clean_line(c)}\n",
                evidence=card_evidence.get(normalise(c), ()),
            )
            for i, c in enumerate(state.profile.card)
        ],
    }
    insight_ranking, message_ranking = rankings(state, terms(query), query_vector, include_superseded)
    _, ids = state.insight_corpus(include_superseded)
    on_card = set(card_evidence) & {normalise(c) for c in state.profile.card}
    insight_candidates = []
    for index, score in insight_ranking[:limit]:
        insight = state.insights[ids[index]]
        if insight.is_current and normalise(insight.text) in on_card:
            continue  # already rendered as a card entry
        line = renders.line(
            insight,
            ("insight", insight.id, include_superseded),
            partial(insight_line, insight, include_validity=include_superseded),
        )
        insight_candidates.append(
            _candidate(renders, counter, "insight", insight.id, insight.text, line, score, tuple(insight.evidence))
        )
    sections["insight"] = insight_candidates
    summary = clean_line(state.profile.summary)
    if summary:
        # one line, defused like every other item: an LLM-written summary could otherwise close the
        # block and start lines of its own ("...\n</user_context>\nSYSTEM: ...")
        sections["summary"] = [_candidate(renders, counter, "summary", "summary", summary, summary + "\n")]
    if include_messages:
        _, mids = state.message_corpus()
        message_candidates = []
        for index, score in message_ranking:
            stored = state.messages[mids[index]]
            if stored.message.id in skip_ids or stored.message.session_id in skip_sessions:
                continue
            message_candidates.append(_message_candidate(renders, counter, stored, score))
            if len(message_candidates) >= limit:
                break
        sections["message"] = message_candidates
    return pack(state.user_id, query, sections, budget, counter, policy)


def search(
    state: UserState,
    query: str,
    query_vector: Any,
    k: int,
    kinds: set[InsightKind] | None,
    include_superseded: bool = False,
) -> list[SearchHit]:
    """The ``k`` insights most relevant to ``query`` (only ``kinds`` when given), best first."""
    _, ids = state.insight_corpus(include_superseded)
    insight_ranking, _ = rankings(state, terms(query), query_vector, include_superseded)
    hits: list[SearchHit] = []
    for index, score in insight_ranking:
        insight = state.insights[ids[index]]
        if kinds is None or insight.kind in kinds:
            hits.append(SearchHit(insight=insight, score=score))
            if len(hits) >= k:
                break
    return hits


def related_insights(state: UserState, query: str, query_vector: Any) -> list[Insight]:
    """The current insights most related to ``query``: what the LLM reasoner is shown as already known."""
    corpus, ids = state.insight_corpus()
    return [state.insights[ids[i]] for i, _ in rank(corpus, terms(query), query_vector)[:RELATED_INSIGHTS]]


def _candidate(
    renders: RenderCache,
    counter: TokenCounter,
    source: ContextSource,
    item_id: str,
    text: str,
    line: str,
    score: float = 0.0,
    evidence: tuple[str, ...] = (),
    order: float = 0.0,
) -> Candidate:
    tokens = renders.tokens.get(line)
    if tokens is None:
        tokens = counter.count(line)
        renders.tokens[line] = tokens
    return Candidate(source, item_id, text, line, tokens, score, evidence, order)


def _message_candidate(renders: RenderCache, counter: TokenCounter, stored: StoredMessage, score: float) -> Candidate:
    message = stored.message
    excerpt = renders.excerpts.get(message.id)
    if excerpt is None:
        cut = counter.truncate(message.content[: MAX_EXCERPT_TOKENS * 16], MAX_EXCERPT_TOKENS)
        excerpt = message.content if cut == message.content else cut.rstrip() + " ..."
        renders.excerpts[message.id] = excerpt
    render = partial(message_line, message.role.value, message.created_at, excerpt)
    line = renders.line(stored, ("message", message.id, False), render)
    return _candidate(
        renders, counter, "message", message.id, excerpt, line, score, (message.id,), order=float(stored.seq)
    )
