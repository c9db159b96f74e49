"""The insight rows kept across writes (``insight_rows.InsightRows``), the evidence links and the current
insights by text equal a fresh build after every write, bit for bit; and a context is the same either way."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from benchmarks.big_user import _queries, _turns
from personal_core import HashingEmbedder, Insight, InsightKind, Message, Role, UserModeler
from personal_core.candidates import build_context
from personal_core.insight_rows import build_insight_corpus, insight_priors, prior_factor
from personal_core.planning import dedupe_index, retracted_by_text
from personal_core.ranking import Corpus, borrow_evidence, insight_prior, order, relevance
from personal_core.records import (
    Record,
    StoredMessage,
    insight_to_record,
    message_record_id,
    message_to_record,
    profile_to_record,
)
from personal_core.standing_groups import _grouped, _standing_domains, standing_insights
from personal_core.state import UserState
from personal_core.text import normalise, terms

EMB = HashingEmbedder(dimension=32)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
TEXTS = [
    "Likes tea",
    "likes tea!",
    "Lives in Lisbon",
    "Works as a nurse",
    "Plays chess on Sundays",
    "Went hiking",
    "Is allergic to peanuts",
    "Hates flying, always takes the train",
    "Is vegan",
]
QUERIES = ["tea in lisbon", "chess", "nurse hiking 3", "likes", "zebra", ""]


def test_vectorised_priors_equal_insight_prior_bit_for_bit() -> None:
    rng = random.Random(0)
    now = 1.7e9
    confidence = [rng.random() for _ in range(5000)]
    seen = [rng.choice([0, 1, 2, 3, 7, 40]) for _ in range(5000)]
    updated = [now - rng.uniform(-5, 2000) * 86400 * rng.random() for _ in range(5000)]
    got = insight_priors(
        np.array([prior_factor(c, t) for c, t in zip(confidence, seen, strict=True)]), np.array(updated), now
    )
    want = [insight_prior(c, t, (now - u) / 86400.0) for c, t, u in zip(confidence, seen, updated, strict=True)]
    assert got.tolist() == want


def _insight(
    iid: str,
    text: str,
    created: int,
    updated: int,
    flag: str,
    evidence: list[str],
    conf: float,
    slot: str | None = None,
) -> Insight:
    when = T0 + timedelta(minutes=updated)
    return Insight(
        slot=slot,
        id=iid,
        user_id="ann",
        kind=InsightKind.PREFERENCE,
        text=text,
        evidence=evidence,
        confidence=conf,
        times_seen=1 + updated % 4,
        created_at=T0 + timedelta(minutes=created),
        updated_at=when,
        valid_from=T0,
        valid_to=when if flag == "superseded" else None,
        retracted_at=when if flag == "retracted" else None,
    )


def _message(i: int, minutes: int) -> Record:
    text = f"{TEXTS[i % len(TEXTS)]} {i % 5}"
    message = Message(
        id=f"m{i}",
        user_id="ann",
        role=Role.USER if i % 3 else Role.ASSISTANT,
        content=text,
        session_id=f"s{i // 4}",
        created_at=T0 + timedelta(minutes=minutes),
    )
    stored = StoredMessage(message, i)
    return message_to_record(stored, EMB.embed_documents([text])[0])


def _reference(state: UserState, superseded: bool) -> tuple[Corpus, list[str]]:
    chosen = [i for i in state.insights.values() if i.is_current or (superseded and i.retracted_at is None)]
    now = max((i.updated_at.timestamp() for i in state.insights.values()), default=0.0)
    return build_insight_corpus(chosen, state.insight_vectors, now, state.dimension, terms)


def _ranking(corpus: Corpus, query: str) -> list[tuple[int, float]]:
    vector = EMB.embed_query(query) if query.strip() else None
    return list(order(corpus, relevance(corpus, terms(query), vector)))


def assert_rows_equal(state: UserState) -> None:
    """Both insight corpora, their evidence links and the current insights by text, against fresh builds."""
    message_corpus, message_ids = state.message_corpus()
    position = {m: i for i, m in enumerate(message_ids)}
    for superseded in (False, True):
        corpus, ids = state.insight_corpus(superseded)
        ref, ref_ids = _reference(state, superseded)
        assert ids == ref_ids
        assert np.array_equal(corpus.matrix, ref.matrix)
        assert np.array_equal(corpus.priors, ref.priors)  # bit for bit
        plain = corpus.lexical.copy()
        assert plain.postings == ref.lexical.postings
        assert np.array_equal(plain.lengths, ref.lexical.lengths)
        assert len(corpus.lexical) == len(ref.lexical)
        for term in ("tea", "lisbon", "zebra"):
            assert corpus.lexical.doc_freq(term) == ref.lexical.doc_freq(term)
        for query in QUERIES:
            assert np.array_equal(corpus.lexical.scores(terms(query)), ref.lexical.scores(terms(query))), query
            assert _ranking(corpus, query) == _ranking(ref, query), query
        found = [(i, d) for i, x in enumerate(ref_ids) if (d := _standing_domains(state.insights[x]))]
        want_groups = _grouped(found)  # the scan of every insight (what standing_insights did before)
        got_groups = standing_insights(state, superseded)
        assert [d for d, _ in got_groups] == [d for d, _ in want_groups]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got_groups, want_groups, strict=True))
        links = state.evidence_links(superseded)
        want = [(i, position[e]) for i, x in enumerate(ref_ids) for e in state.insights[x].evidence if e in position]
        assert sorted(zip(links[0].tolist(), links[1].tolist(), strict=True)) == sorted(want)
        want_links = (np.array([p[0] for p in want], dtype=np.int64), np.array([p[1] for p in want], dtype=np.int64))
        for query in QUERIES[:3]:
            source = relevance(message_corpus, terms(query), EMB.embed_query(query), neighbours=False)
            scores = relevance(ref, terms(query), EMB.embed_query(query))
            if scores is None:  # no insight
                continue
            assert np.array_equal(borrow_evidence(scores, links, source), borrow_evidence(scores, want_links, source))
    assert_dedupe_equal(state)
    current = [i for i in state.insights.values() if i.is_current]  # ``insights``' order: the latest wins
    by_text = state.current_by_text()
    assert by_text.latest == {normalise(i.text): i.id for i in current}
    assert state.card_evidence() == {normalise(i.text): tuple(i.evidence) for i in current}


def assert_dedupe_equal(state: UserState) -> None:
    """The dedupe index kept across writes against the scan it was built by before."""
    index = dedupe_index(state)
    current = {i.id: i for i in state.insights.values() if i.is_current}
    assert list(index.current.items()) == list(current.items())  # the same order, the same objects
    assert dict(index.by_text) == {normalise(i.text): i.id for i in current.values()}
    assert index.ids == list(current)
    if current:
        assert index.matrix is not None
        assert np.array_equal(index.matrix, np.stack([state.insight_vectors[i] for i in current]))
    else:
        assert index.matrix is None
    by_slot: dict[str, list[str]] = {}
    for insight in current.values():
        if insight.slot:
            by_slot.setdefault(insight.slot, []).append(insight.id)
    assert dict(index.by_slot) == by_slot
    retracted = {k: [i.id for i in v] for k, v in retracted_by_text(state.insights.values()).items()}
    assert {k: sorted(v) for k, v in state.current_by_text().retracted.items()} == {
        k: sorted(v) for k, v in retracted.items()
    }


def _random_write(rng: random.Random, state: UserState, step: int, clock: list[int]) -> None:
    """Messages appended (sometimes deleted), insights added (mostly after the others, some between), rewritten
    (text, evidence, confidence, vector), superseded, retracted, deleted, or applied again unchanged."""
    clock[0] += rng.randint(1, 50)
    upserts: list[Record] = []
    deletes: list[str] = []
    if rng.random() < 0.6:
        upserts.append(_message(100 + step, clock[0]))
    if rng.random() < 0.08 and state.messages:
        deletes.append(message_record_id("ann", rng.choice(sorted(state.messages))))
    for _ in range(rng.randint(0, 3)):
        iid = f"i{rng.randint(0, 30)}" if rng.random() < 0.5 else f"n{step}-{rng.randint(0, 9)}"
        held = state.insights.get(iid)
        created = held.created_at if held is not None else T0 + timedelta(minutes=clock[0])
        minutes = int((created - T0).total_seconds() // 60)
        if held is None and rng.random() < 0.25:
            minutes = rng.randint(0, clock[0])  # created before others: goes between rows
        text = rng.choice(TEXTS) + f" {rng.randint(0, 6)}" if held is None or rng.random() < 0.3 else held.text
        evidence = [f"m{rng.randint(0, 100 + step + 3)}" for _ in range(rng.randint(0, 3))]  # some not there yet
        flag = rng.choice(["current"] * 6 + ["superseded", "retracted"])
        slot = rng.choice([None, None, "home", "job"])
        insight = _insight(iid, text, minutes, clock[0], flag, evidence, rng.random(), slot)
        same_vector = held is not None and held.text == text and rng.random() < 0.7
        vector = state.insight_vectors[iid] if same_vector else EMB.embed_documents([text + str(step)])[0]
        upserts.append(insight_to_record(insight, vector))
    if rng.random() < 0.1 and state.insights:
        deletes.append(rng.choice(sorted(state.insights)))
    if rng.random() < 0.05 and state.insights:  # the same record applied again
        iid = rng.choice(sorted(state.insights))
        upserts.append(insight_to_record(state.insights[iid], state.insight_vectors[iid]))
    state.apply(upserts, deletes)


@pytest.mark.parametrize("seed", range(6))
def test_rows_follow_random_writes_like_a_fresh_build(seed: int) -> None:
    rng = random.Random(seed)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    state.apply([_message(i, i) for i in range(100)])
    clock = [100]
    for step in range(120):
        _random_write(rng, state, step, clock)
        if rng.random() < 0.8:  # sometimes two writes before a read
            assert_rows_equal(state)
    assert_rows_equal(state)


def test_the_comparison_sees_a_difference() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    state.apply([_message(i, i) for i in range(10)])
    state.apply(
        [
            insight_to_record(
                _insight(f"i{i}", TEXTS[i], i, i, "current", ["m1"], 0.5), EMB.embed_documents([TEXTS[i]])[0]
            )
            for i in range(4)
        ]
    )
    assert_rows_equal(state)
    corpus, _ = state.insight_corpus()
    corpus.priors[1] = np.nextafter(corpus.priors[1], 2.0)  # one ulp
    with pytest.raises(AssertionError):
        assert_rows_equal(state)


def test_many_changes_rebuild_and_still_equal() -> None:
    """Stable keys run ahead of the rows after much churn (then the rows are rebuilt); still a fresh build."""
    rng = random.Random(5)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    state.apply([_message(i, i) for i in range(20)])
    for step in range(300):
        iid = f"i{step % 7}"
        text = rng.choice(TEXTS)
        state.apply(
            [insight_to_record(_insight(iid, text, step, step, "current", ["m2"], 0.5), EMB.embed_documents([text])[0])]
        )
        state.apply(
            [
                insight_to_record(
                    _insight(f"k{step}", text, step, step, "current", ["m3"], 0.5), EMB.embed_documents([text])[0]
                )
            ],
            [f"k{step - 1}"],
        )
        if step % 10 == 0:
            assert_rows_equal(state)
    assert_rows_equal(state)


def _fresh_copy(state: UserState, embedder: HashingEmbedder) -> UserState:
    """The same user built from its records at once (what a load does)."""
    fresh = UserState(user_id=state.user_id, dimension=state.dimension)
    messages = sorted(state.messages.values(), key=lambda s: (s.seq, s.id))
    vectors = embedder.embed_documents([s.content for s in messages])
    records = [message_to_record(s, v) for s, v in zip(messages, vectors, strict=True)]
    records += [insight_to_record(i, state.insight_vectors[i.id]) for i in state.insights.values()]
    if state.has_profile:
        records.append(profile_to_record(state.user_id, state.profile, np.ones(state.dimension, np.float32)))
    fresh.apply(records)
    return fresh


def test_a_context_after_writes_equals_one_from_a_fresh_load(tmp_path: Path) -> None:
    """The heuristic learns (events, slots, supersessions) while contexts are read write by write; each context
    equals the one built on the same user loaded at once."""
    embedder = HashingEmbedder()
    rng = random.Random(3)
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    queries = _queries(random.Random(4), 40)
    with UserModeler(tmp_path / "store", embedder=embedder) as modeler:
        modeler.observe("big", _turns(rng, 0, 600, t0))
        stored = 600
        compared = 0
        for step, query in enumerate(queries):
            modeler.observe("big", _turns(rng, stored, 2, t0))
            stored += 2
            got = modeler.context("big", query)
            with modeler.internals.cache.user("big") as state:
                if step % 4 == 0 or step == len(queries) - 1:
                    fresh = _fresh_copy(state, embedder)
                    vector = embedder.embed_query(query)
                    want = build_context(
                        fresh, query, vector, modeler.default_max_tokens, modeler.counter, modeler.packing
                    )
                    assert got == want, query
                    assert_dedupe_equal(state)
                    compared += 1
                insights = len(state.insights)
        assert compared >= 10 and insights > 20
