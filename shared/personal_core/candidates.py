"""The read path: a user's state and a query -> ranked candidates -> a packed context (or search hits).

Ranking (:mod:`.ranking`) and packing (:mod:`.context`) are pure; this module assembles what they need from
a :class:`~personal_core.state.UserState` and keeps the per-user render caches (token counts, excerpts,
rendered lines), so a warm ``context()`` does no tokenising or rendering for items it has seen. Before packing,
each section's best candidates are re-scored so near-duplicates of better ones sink (:mod:`.diversity`), and a
long message is quoted by the sentences that share words with the query (:mod:`.excerpts`).
Call everything here with the user's lock held.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
from pydantic import BaseModel

from .context import Candidate, PackingPolicy, clean_line, day_of, insight_day, insight_line, message_line, pack
from .diversity import POOL, diversified
from .excerpts import Sentences, kept_sentences, split_sentences, trimmed
from .model import ContextSource, Insight, InsightKind, UserContext
from .query_dates import Period, date_bonus, named_periods
from .ranking import (
    IntArray,
    Scores,
    borrow_evidence,
    by_score,
    centred,
    final_scores,
    rank,
    relevance,
    session_bonus,
    subject_terms,
    with_neighbours,
    without_subject,
)
from .records import StoredMessage
from .standing import item_domains, match, query_reach
from .standing_groups import StandingGroups, standing_cache, standing_insights, standing_turns
from .state import UserState
from .text import normalise, terms
from .tokens import TokenCounter

#: Most characters of a message quoted in a context, in tokens.
MAX_EXCERPT_TOKENS = 60
#: Insights shown to the LLM reasoner as what is already known, for a batch.
RELATED_INSIGHTS = 40
#: Most standing items (see :mod:`.standing`) offered to the packer's standing tier for one query.
MAX_STANDING = 6
#: Extra standing items looked at per domain group (some are skipped: on the card, excluded, already cited).
STANDING_SPARE = 8

Ranking = Sequence[tuple[int, float]]  # lazily sorted (ranking.by_score): read only the head you need


class SearchHit(BaseModel):
    """An insight found by :meth:`~personal_core.UserModeler.search`, with its fused relevance score."""

    insight: Insight
    score: float


@dataclass
class RenderCache:
    """Token counts, excerpts and rendered lines of one user's items (kept on the state, dropped with it)."""

    tokens: dict[str, int] = field(default_factory=dict)
    excerpts: dict[str, str] = field(default_factory=dict)
    sentences: dict[str, tuple[str, Sentences]] = field(default_factory=dict)  # id -> (content, its sentences)
    trimmed: dict[tuple[str, tuple[int, ...]], tuple[object, str, str]] = field(default_factory=dict)
    lines: dict[tuple[str, str, bool], tuple[object, str]] = field(default_factory=dict)
    #: (insight id, with validity) -> (the insight object, its candidate at score 0, its normalised text, the
    #: domains its text names)
    insights: dict[tuple[str, bool], tuple[Insight, Candidate, str, frozenset[str]]] = field(default_factory=dict)

    def line(self, source: object, key: tuple[str, str, bool], render: Any) -> str:
        """The rendered line of ``source`` (an insight or stored message), cached while it is the same object
        (updates replace the object, so a changed item is rendered again)."""
        hit = self.lines.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        line: str = render()
        self.lines[key] = (source, line)
        return line


def _best_fitting(
    groups: StandingGroups, reach: dict[str, int], scores: Scores, source_rank: int
) -> list[tuple[int, int, float, int]]:
    """(-fit, source rank, -score, corpus index) of the best items that fit the query (best fit, then score)."""
    fitting = [(f, indices) for domains, indices in groups if (f := match(domains, reach))]
    if not fitting:
        return []
    index = np.concatenate([indices for _, indices in fitting])
    fits = np.concatenate([np.full(len(indices), f, dtype=np.int64) for f, indices in fitting])
    score = scores[index]
    best = np.lexsort((-score, -fits))[: MAX_STANDING + STANDING_SPARE]
    return [(-int(fits[b]), source_rank, -float(score[b]), int(index[b])) for b in best]


def render_cache(state: UserState) -> RenderCache:
    """The user's render cache (created on first use)."""
    return state.cache_of("render", RenderCache)


@dataclass(frozen=True)
class Rankings:
    """Insights and messages best first (corpus index, final score), their final scores by corpus index, and
    whether the query carried any relevance signal (without one, scores are the priors alone)."""

    insights: Ranking
    messages: Ranking
    insight_scores: Scores
    message_scores: Scores
    scored: bool
    message_terms: list[str] = field(default_factory=list)


def rankings(
    state: UserState, query_terms: list[str], query_vector: Any, include_superseded: bool
) -> tuple[Ranking, Ranking]:
    """Insights and messages best first, on one scale (insights borrow their evidence messages' relevance), for
    :func:`search`: insight scores are not centred (a search hit's score says how well it matches, whatever the
    other insights match)."""
    ranked = score_all(state, query_terms, query_vector, include_superseded, centre=False)
    return ranked.insights, ranked.messages


def score_all(
    state: UserState,
    query_terms: list[str],
    query_vector: Any,
    include_superseded: bool,
    periods: list[Period] | None = None,
    *,
    centre: bool = True,
) -> Rankings:
    """Every insight and message scored for the query (see :class:`Rankings`); items dated within a period the
    query names (``periods``, see :mod:`.query_dates`) rank higher; with ``centre``, insights lose a share of
    their mean relevance (:func:`~personal_core.ranking.centred`: what every insight matches is no signal)."""
    corpus, iids = state.insight_corpus(include_superseded)
    mcorpus, mids = state.message_corpus()
    insight_scores = relevance(corpus, query_terms, query_vector)
    # messages are matched without the user's subject (see ranking.SUBJECT_SHARE)
    subject = subject_terms(corpus, query_terms)
    message_terms = [t for t in query_terms if t not in subject] if subject else query_terms
    own_scores = relevance(mcorpus, message_terms, without_subject(corpus, query_vector), neighbours=False)
    if periods and own_scores is not None:
        bonus = date_bonus(_days(state, "messages", mids, lambda i: state.messages[i].created_at), periods)
        if bonus is not None:
            own_scores = own_scores + bonus
    if periods and insight_scores is not None:
        key = "insights-all" if include_superseded else "insights"
        bonus = date_bonus(_days(state, key, iids, lambda i: state.insights[i].valid_from), periods)
        if bonus is not None:
            insight_scores = insight_scores + INSIGHT_DATE_SHARE * bonus
    message_scores = with_neighbours(mcorpus, own_scores) if own_scores is not None else None
    shared = session_bonus(mcorpus, own_scores) if own_scores is not None else None
    if shared is not None and own_scores is not None and message_scores is not None:
        # a message borrows from its session's best match (ranking.SESSION_WEIGHT), after its neighbour's share
        # (so no message gets its session's bonus twice), and insights borrow it with their evidence
        message_scores = message_scores + shared
        own_scores = own_scores + shared
    if insight_scores is not None:
        if centre:
            insight_scores = centred(insight_scores)  # less what every insight matches (ranking.INSIGHT_CENTRE)
        # an insight borrows what its evidence says (matched without the subject, as every message is), not
        # what the evidence's neighbours say; measured: borrowing the full-query match instead loses 0.015 @500
        insight_scores = borrow_evidence(insight_scores, state.evidence_links(include_superseded), own_scores)
    ifinal, mfinal = final_scores(corpus, insight_scores), final_scores(mcorpus, message_scores)
    return Rankings(
        by_score(ifinal),
        by_score(mfinal),
        ifinal,
        mfinal,
        insight_scores is not None or message_scores is not None,
        message_terms,
    )


#: An insight dated within a period the query names gets this share of :data:`.query_dates.DATE_BONUS` (it also
#: borrows its evidence messages' bonus).
INSIGHT_DATE_SHARE = 1.0


def _days(state: UserState, key: str, ids: list[str], when: Callable[[str], datetime]) -> IntArray:
    """The day (ordinal) of each of ``ids`` (a corpus's ids), cached on the state per corpus; when the corpus
    only grew since the last call (same ids first), only the new ids are looked up."""
    cache = state.caches.get("days")
    if not isinstance(cache, dict):
        cache = {}
        state.caches["days"] = cache
    hit = cache.get(key)
    start = 0
    if hit is not None:
        known, days = hit
        if len(known) <= len(ids) and ids[: len(known)] == known:
            if len(known) == len(ids):
                return days  # type: ignore[no-any-return]
            start = len(known)
    fresh = np.fromiter((when(i).toordinal() for i in ids[start:]), dtype=np.int64, count=len(ids) - start)
    days = np.concatenate([hit[1], fresh]) if start and hit is not None else fresh
    cache[key] = (list(ids), days)
    return days


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
    turns = standing_cache(state)
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
    query_terms = terms(query)
    ranked = score_all(state, query_terms, query_vector, include_superseded, named_periods(query))
    _, ids = state.insight_corpus(include_superseded)
    on_card = set(card_evidence) & {normalise(c) for c in state.profile.card}

    def insight_candidate(index: int, score: float, reach: dict[str, int] | None = None) -> Candidate | None:
        """The candidate of insight ``index`` at ``score``; None when it is on the card, or (given the query's
        ``reach``) when it scores below the floor and names none of the query's own domains."""
        insight = state.insights[ids[index]]
        key = (insight.id, include_superseded)
        hit = renders.insights.get(key)
        if hit is None or hit[0] is not insight:  # rendered once per insight object (updates replace it)
            line = insight_line(insight, include_validity=include_superseded)
            template = _candidate(
                renders,
                counter,
                "insight",
                insight.id,
                insight.text,
                line,
                0.0,
                tuple(insight.evidence),
                day=insight_day(insight),
            )
            hit = (insight, template, normalise(insight.text), item_domains(insight.text))
            renders.insights[key] = hit
        _, template, normalised, domains = hit
        if insight.is_current and normalised in on_card:
            return None  # already rendered as a card entry
        if reach is not None and score < policy.min_score and match(domains, reach) < 2:
            return None  # a weak match outside the query's domains: filler, not context
        return _rescored(template, score)

    def message_candidate(stored: StoredMessage, score: float) -> Candidate | None:
        if stored.id in skip_ids or stored.session_id in skip_sessions:
            return None
        low, _ = turns.turn(stored)
        return None if low else _message_candidate(renders, counter, stored, score, ranked.message_terms)

    reach = query_reach(query_terms)
    # a query naming a domain (a Python bug, a trip) takes the insights that match it or name one of its own
    # domains, not every insight as filler; one naming none ("Ideas for today?") is open: any insight may help
    floor_reach = reach if ranked.scored and query.strip() and reach else None
    insight_candidates = []
    insight_rows = []
    for index, score in ranked.insights[:limit]:
        candidate = insight_candidate(index, score, floor_reach)
        if candidate is not None:
            insight_candidates.append(candidate)
            insight_rows.append(index)
    icorpus, _ = state.insight_corpus(include_superseded)
    sections["insight"] = _diversify(insight_candidates, icorpus.matrix, insight_rows, ranked.scored)
    summary = clean_line(state.profile.summary)
    if summary:
        # one line, defused like every other item: an LLM-written summary could otherwise close the
        # block and start lines of its own ("...\n</user_context>\nSYSTEM: ...")
        sections["summary"] = [_candidate(renders, counter, "summary", "summary", summary, summary + "\n")]
    mcorpus, mids = state.message_corpus()
    if include_messages:
        message_candidates = []
        message_rows = []
        for index, score in ranked.messages:
            candidate = message_candidate(state.messages[mids[index]], score)
            if candidate is not None:
                message_candidates.append(candidate)
                message_rows.append(index)
                if len(message_candidates) >= limit:
                    break
        sections["message"] = _diversify(message_candidates, mcorpus.matrix, message_rows, ranked.scored)
    standing: list[Candidate] = []
    # classified whatever the query (once per item; a write adds what it changed): otherwise a user's first query
    # naming a domain paid for the whole model (~5 ms at 200 insights: the scale benchmark's warm p95)
    standing_items = standing_insights(state, include_superseded)
    standing_messages = standing_turns(state) if include_messages else []
    if reach:  # standing items whose domains meet the query's: best fit first, then insights, then by score
        keyed = _best_fitting(standing_items, reach, ranked.insight_scores, 0)
        if include_messages:
            keyed += _best_fitting(standing_messages, reach, ranked.message_scores, 1)
        keyed.sort()
        for _, source_rank, score, index in keyed:
            candidate = (
                insight_candidate(index, -score)
                if source_rank == 0
                else message_candidate(state.messages[mids[index]], -score)
            )
            if candidate is not None:
                standing.append(candidate)
                if len(standing) >= MAX_STANDING:
                    break
    return pack(
        state.user_id,
        query,
        sections,
        budget,
        counter,
        policy,
        standing=standing,
        scored=ranked.scored,
    )


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


#: Re-score each section's pool so near-duplicates of better items sink (see :mod:`.diversity`).
DIVERSIFY = True


#: Quote long messages by the sentences that share words with the query (see :mod:`.excerpts`).
QUERY_EXCERPTS = True


def _excerpt(counter: TokenCounter, text: str) -> str:
    """``text`` cut to :data:`MAX_EXCERPT_TOKENS` (`` ...`` marks a cut)."""
    cut = counter.truncate(text[: MAX_EXCERPT_TOKENS * 16], MAX_EXCERPT_TOKENS)
    return text if cut == text else cut.rstrip() + " ..."


def _diversify(pool: list[Candidate], matrix: Any, rows: list[int], scored: bool) -> list[Candidate]:
    """``pool`` (best first) re-scored by :func:`.diversity.diversified` and re-sorted (stable)."""
    if not DIVERSIFY or not scored or len(pool) < 2:
        return pool
    head, tail = pool[:POOL], pool[POOL:]
    scores = np.array([c.score for c in head])
    adjusted = diversified(scores, matrix[np.array(rows[:POOL], dtype=np.int64)])
    changed = adjusted != scores
    if not changed.any():
        return pool
    order = np.argsort(-adjusted, kind="stable").tolist()
    out = [_rescored(head[i], float(adjusted[i])) if changed[i] else head[i] for i in order]
    if tail:  # the tail keeps its order after the head (all its scores are below the head's)
        out.extend(tail)
    return out


def _rescored(c: Candidate, score: float) -> Candidate:
    """``c`` with another score (a direct construction: ``dataclasses.replace`` costs ten times more)."""
    return Candidate(c.source, c.id, c.text, c.line, c.tokens, score, c.evidence, c.order, c.day)


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
    day: str = "",
) -> Candidate:
    tokens = renders.tokens.get(line)
    if tokens is None:
        tokens = counter.count(line)
        renders.tokens[line] = tokens
    return Candidate(source, item_id, text, line, tokens, score, evidence, order, day)


def _message_candidate(
    renders: RenderCache, counter: TokenCounter, stored: StoredMessage, score: float, query_terms: list[str]
) -> Candidate:
    message = stored  # its fields (no pydantic Message built)
    kept = None
    split: Sentences = ()
    if QUERY_EXCERPTS:
        cached = renders.sentences.get(message.id)
        if cached is None or cached[0] != message.content:
            cached = (message.content, split_sentences(message.content))
            renders.sentences[message.id] = cached
        split = cached[1]
        kept = kept_sentences(split, query_terms)
    if kept is not None:
        hit = renders.trimmed.get((message.id, kept))
        if hit is None or hit[0] is not stored:
            excerpt = _excerpt(counter, trimmed(split, kept))
            hit = (stored, excerpt, message_line(message.role.value, None, excerpt))
            renders.trimmed[(message.id, kept)] = hit
        _, excerpt, line = hit
    else:
        excerpt = renders.excerpts.get(message.id) or ""
        if not excerpt:
            excerpt = _excerpt(counter, message.content)
            renders.excerpts[message.id] = excerpt
        render = partial(message_line, message.role.value, None, excerpt)
        line = renders.line(stored, ("message", message.id, False), render)
    return _candidate(
        renders,
        counter,
        "message",
        message.id,
        excerpt,
        line,
        score,
        (message.id,),
        order=float(stored.seq),
        day=day_of(message.created_at),
    )
