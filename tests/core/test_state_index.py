"""The incremental message index ranks exactly like a corpus built from scratch, over random writes."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from personal_core import HashingEmbedder, Insight, InsightKind, Message, ModelUpdate, Role
from personal_core.index import Int8Rows, MessageIndex, build_message_corpus
from personal_core.planning import plan_update
from personal_core.ranking import Corpus, LexicalIndex, borrow_evidence, order, relevance
from personal_core.records import (
    Record,
    StoredMessage,
    insight_to_record,
    message_record_id,
    message_to_record,
    record_to_message,
)
from personal_core.standing_groups import standing_cache, standing_turns
from personal_core.state import UserState
from personal_core.text import normalise, terms

EMB = HashingEmbedder(dimension=32)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
WORDS = "tea coffee hiking lisbon berlin nurse shifts ramen piano chess dog cat rain sun book".split()
QUERIES = ["tea in lisbon", "hiking", "nurse shifts", "piano chess dog", "rain", "zebra", ""]


def _ranking(corpus: Corpus, ids: list[str], query: str) -> tuple[list[str], list[float]]:
    vector = EMB.embed_query(query) if query.strip() else None
    ranked = order(corpus, relevance(corpus, terms(query), vector))
    return [ids[i] for i, _ in ranked], [s for _, s in ranked]


def assert_same(state: UserState, truth: dict[str, np.ndarray]) -> None:
    """The state's incremental corpus equals the from-scratch build, field by field and ranking by ranking."""
    corpus, ids = state.message_corpus()
    ref, ref_ids = build_message_corpus(state.messages.values(), truth.__getitem__, EMB.dimension)
    assert ids == ref_ids
    assert np.array_equal(corpus.matrix, ref.matrix)
    assert np.array_equal(corpus.lexical.lengths, ref.lexical.lengths)
    assert np.array_equal(corpus.neighbours, ref.neighbours)  # type: ignore[arg-type]
    assert np.array_equal(corpus.penalties, ref.penalties)  # type: ignore[arg-type]
    assert np.allclose(corpus.priors, ref.priors, rtol=1e-12, atol=0)
    _, insight_ids = state.insight_corpus()
    position = {m: i for i, m in enumerate(ref_ids)}
    want_links = [
        (i, position[e]) for i, x in enumerate(insight_ids) for e in state.insights[x].evidence if e in position
    ]
    got_links = state.evidence_links()  # in no particular order: borrow_evidence takes a maximum per insight
    assert sorted(zip(got_links[0].tolist(), got_links[1].tolist(), strict=True)) == sorted(want_links)
    for query in QUERIES:
        got, got_scores = _ranking(corpus, ids, query)
        want, want_scores = _ranking(ref, ref_ids, query)
        assert got == want, query
        assert np.allclose(got_scores, want_scores, rtol=1e-9, atol=0), query


def _record(mid: str, seq: int, session: str, role: Role, text: str, minutes: int, history: bool = False) -> Record:
    message = Message(
        id=mid,
        user_id="ann",
        session_id=session,
        role=role,
        content=text,
        created_at=T0 + timedelta(minutes=minutes),
        history_only=history,
    )
    return message_to_record(StoredMessage(message, seq), EMB.embed_documents([text])[0])


@pytest.mark.parametrize("seed", range(6))
def test_random_adds_and_deletes_rank_like_a_fresh_build(seed: int) -> None:
    rng = random.Random(seed)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    truth: dict[str, np.ndarray] = {}
    seq = 0
    for step in range(60):
        upserts: list[Record] = []
        deletes: list[str] = []
        for _ in range(rng.randint(0, 6)):
            seq += rng.randint(1, 3)
            out_of_order = rng.random() < 0.15 and seq > 10  # another process's write, a load
            use_seq = rng.randint(0, seq - 5) if out_of_order else seq
            if rng.random() < 0.1 and state.messages:
                mid = rng.choice(sorted(state.messages))  # the same message written again, maybe changed
            else:
                mid = f"m{seed}-{step}-{len(upserts)}"
            role = rng.choice([Role.USER, Role.USER, Role.ASSISTANT, Role.SYSTEM])
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
            upserts.append(
                _record(mid, use_seq, f"s{rng.randint(0, 3)}", role, text, rng.randint(0, 10**6), rng.random() < 0.1)
            )
        if state.messages and rng.random() < 0.3:
            for mid in rng.sample(sorted(state.messages), k=min(len(state.messages), rng.randint(1, 4))):
                deletes.append(message_record_id("ann", mid))
        if state.messages and rng.random() < 0.3:  # an insight citing stored (and gone) messages
            cited = [*rng.sample(sorted(state.messages), k=min(3, len(state.messages))), "gone"]
            upserts.append(_insight_record(f"i{rng.randint(0, 4)}", "Likes tea", step, "current", cited))
        state.apply(upserts, deletes)
        for record in upserts:
            if record.type == "msg":
                truth[_message_id(record)] = record.embedding
        if rng.random() < 0.5:  # reads between some writes, not all: changes pile up unread too
            assert_same(state, truth)
    assert_same(state, truth)
    assert set(state.message_corpus()[1]) <= set(state.messages)


def _message_id(record: Record) -> str:
    return str(json.loads(str(record.metadata["data"]))["message_id"])


def test_the_comparison_sees_a_difference() -> None:
    """The check above fails when the incremental corpus is wrong (here: a neighbour link lost)."""
    state = UserState(user_id="ann", dimension=EMB.dimension)
    truth = {}
    records = [_record(f"m{i}", i, "s", Role.USER, f"tea {WORDS[i]}", i) for i in range(6)]
    state.apply(records)
    for r in records:
        truth[_message_id(r)] = r.embedding
    assert_same(state, truth)
    corpus, _ = state.message_corpus()
    assert corpus.neighbours is not None
    corpus.neighbours[2] = -1
    with pytest.raises(AssertionError):
        assert_same(state, truth)


def test_evidence_links_follow_deletes_and_appends() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    records = [_record(f"m{i}", i, "s", Role.USER, f"I like {WORDS[i]}", i) for i in range(5)]
    state.apply(records)
    batch = [Message(id="m3", user_id="ann", role=Role.USER, content="x")]
    update = ModelUpdate.model_validate(
        {"new_insights": [{"kind": "preference", "text": "Likes tea", "evidence": ["m3"]}]}
    )
    planned, _ = plan_update(state, update, batch, now=T0, embed=EMB.embed_documents)
    state.apply(planned)
    assert state.evidence_links()[1].tolist() == [3]
    state.apply([], [message_record_id("ann", "m0")])
    assert state.evidence_links()[1].tolist() == [2]  # m3 moved up one row
    _, ids = state.message_corpus()
    assert ids[2] == "m3"
    state.apply([_record("m9", 99, "s", Role.USER, "more tea", 99)])
    insight_scores = relevance(state.insight_corpus()[0], ["lisbon", "tea"], None)
    message_scores = relevance(state.message_corpus()[0], ["lisbon", "tea"], None)
    assert insight_scores is not None and message_scores is not None
    boosted = borrow_evidence(insight_scores, state.evidence_links(), message_scores)
    assert boosted[0] > insight_scores[0]


def test_reset_clears_the_index() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    state.apply([_record(f"m{i}", i, "s", Role.USER, "tea", i) for i in range(3)])
    assert len(state.message_corpus()[1]) == 3
    state.reset()
    corpus, ids = state.message_corpus()
    assert ids == [] and corpus.matrix.shape == (0, EMB.dimension) and len(corpus.lexical) == 0
    state.apply([_record("n1", 1, "s", Role.USER, "coffee", 1)])
    assert state.message_corpus()[1] == ["n1"]
    assert state.message_vector("n1") is not None and state.message_vector("m1") is None


def test_lexical_index_compaction_equals_a_fresh_build() -> None:
    rng = random.Random(3)
    docs = [[rng.choice(WORDS) for _ in range(rng.randint(1, 6))] for _ in range(200)]
    keep = np.array([rng.random() < 0.7 for _ in docs])
    index = LexicalIndex.build(docs)
    index.compact(keep)
    fresh = LexicalIndex.build([d for d, k in zip(docs, keep, strict=True) if k])
    assert len(index) == len(fresh)
    for query in (["tea"], ["hiking", "rain", "tea"], ["zebra"], WORDS):
        assert np.array_equal(index.scores(query), fresh.scores(query))


def test_matrix_grows_without_losing_rows() -> None:
    index = MessageIndex(EMB.dimension)
    records = [_record(f"m{i:03d}", i, f"s{i // 7}", Role.USER, f"tea {i}", i) for i in range(300)]
    for r in records:
        index.append(record_to_message(r), r.embedding)
    corpus = index.corpus(newest=0.0)
    stacked = np.stack([r.embedding for r in records])
    assert corpus.matrix.shape == (300, EMB.dimension) and corpus.matrix.dtype == np.float32
    assert isinstance(corpus.matrix, Int8Rows) and corpus.matrix.codes.flags.c_contiguous
    assert np.array_equal(corpus.matrix, Int8Rows.of(stacked))  # the rows survive the growths bit for bit
    assert np.abs(np.asarray(corpus.matrix) - stacked).max() <= corpus.matrix.scales.max() / 2 + 1e-7


def _insight_record(iid: str, text: str, minutes: int, state_flag: str, evidence: list[str]) -> Record:
    when = T0 + timedelta(minutes=minutes)
    insight = Insight(
        id=iid,
        user_id="ann",
        kind=InsightKind.PREFERENCE,
        text=text,
        evidence=evidence,
        created_at=T0 + timedelta(minutes=minutes // 2),
        updated_at=when,
        valid_from=T0,
        valid_to=when if state_flag == "superseded" else None,
        retracted_at=when if state_flag == "retracted" else None,
    )
    return insight_to_record(insight, EMB.embed_documents([text])[0])


@pytest.mark.parametrize("seed", range(4))
def test_insight_sets_follow_random_writes(seed: int) -> None:
    """Current / unretracted insights, the newest update time and card evidence, tracked write by write, equal
    what a scan of every insight gives."""
    rng = random.Random(seed)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    for step in range(80):
        upserts = [
            _insight_record(
                f"i{rng.randint(0, 25)}",
                rng.choice(["Likes tea", "likes tea!", "Lives in Lisbon", "Works as a nurse", f"x {step}"]),
                rng.randint(0, 10**5),
                rng.choice(["current", "current", "superseded", "retracted"]),
                [f"m{rng.randint(0, 9)}"],
            )
            for _ in range(rng.randint(0, 3))
        ]
        deletes = [f"i{rng.randint(0, 25)}" for _ in range(rng.randint(0, 1))]
        state.apply(upserts, deletes)
        everything = list(state.insights.values())
        for superseded in (False, True):
            want = sorted(
                (i for i in everything if i.is_current or (superseded and i.retracted_at is None)),
                key=lambda i: (i.created_at, i.id),
            )
            assert state.insight_corpus(superseded)[1] == [i.id for i in want]
        assert state._newest_insight_time() == max((i.updated_at.timestamp() for i in everything), default=0.0)
        assert state.card_evidence() == {normalise(i.text): tuple(i.evidence) for i in everything if i.is_current}
        # (its order is not kept: it is read by text only)


STANDING_TEXTS = [
    "I'm allergic to peanuts, keep that in mind.",
    "I don't eat meat anymore",
    "I am vegan",
    "I hate flying, I always take the train",
    "tea in lisbon",
    "piano and chess",
]


def _standing_from_scratch(state: UserState) -> list[tuple[frozenset[str], list[int]]]:
    saved = state.caches.pop("standing", None)
    try:
        return [(d, rows.tolist()) for d, rows in standing_turns(state)]
    finally:
        if saved is not None:
            state.caches["standing"] = saved


@pytest.mark.parametrize("seed", range(4))
def test_standing_turns_follow_appends_and_deletes_like_a_fresh_scan(seed: int) -> None:
    """Standing turns are classified incrementally (only appended rows); the groups equal a full scan's."""
    rng = random.Random(seed)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    seq = 0
    checked = 0
    for step in range(40):
        upserts = []
        for k in range(rng.randint(1, 5)):
            seq += 1
            use_seq = rng.randint(0, seq) if rng.random() < 0.05 else seq  # sometimes out of order: a rebuild
            role = rng.choice([Role.USER, Role.USER, Role.ASSISTANT])
            upserts.append(
                _record(f"m{step}-{k}", use_seq, f"s{rng.randint(0, 2)}", role, rng.choice(STANDING_TEXTS), seq)
            )
        deletes = []
        if state.messages and rng.random() < 0.2:
            deletes = [message_record_id("ann", rng.choice(sorted(state.messages)))]
        state.apply(upserts, deletes)
        if rng.random() < 0.6:
            got = [(d, rows.tolist()) for d, rows in standing_turns(state)]
            assert got == _standing_from_scratch(state)
            checked += sum(len(rows) for _, rows in got)
    assert checked > 0  # standing turns were there to compare


def test_the_standing_comparison_sees_a_difference() -> None:
    """A cache that skipped the appended rows (here: its row count pushed forward) differs from a fresh scan."""
    state = UserState(user_id="ann", dimension=EMB.dimension)
    state.apply([_record("m0", 0, "s", Role.USER, STANDING_TEXTS[0], 0)])
    standing_turns(state)
    state.apply([_record("m1", 1, "s", Role.USER, STANDING_TEXTS[1], 1)])
    cache = standing_cache(state)
    assert cache.turn_rows is not None
    cache.turn_rows = (cache.turn_rows[0], 2, cache.turn_rows[2])
    got = [(d, rows.tolist()) for d, rows in standing_turns(state)]
    assert got != _standing_from_scratch(state)


def test_a_stored_message_gives_back_the_message_it_holds() -> None:
    """Compact fields in, the same pydantic Message out (metadata, times, history flag), through a record too."""
    message = Message(
        id="m1",
        user_id="ann",
        session_id="s1",
        role=Role.ASSISTANT,
        content="Porto is lovely",
        created_at=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc),
        metadata={"lang": "en", "n": 2},
        history_only=True,
    )
    stored = StoredMessage(message, 7)
    assert stored.message == message and stored.message.model_dump() == message.model_dump()
    assert stored.message.model_dump_json() == message.model_dump_json()
    assert (stored.id, stored.seq, stored.role, stored.session_id) == ("m1", 7, Role.ASSISTANT, "s1")
    again = record_to_message(message_to_record(stored, EMB.embed_documents(["x"])[0]))
    assert again == stored and again.message == message
    bare = StoredMessage(message.model_copy(update={"metadata": {}}), 7)
    assert bare.metadata is None and bare.message.metadata == {}  # an empty dict is not kept per message
    assert bare != stored
    with pytest.raises(AttributeError):
        stored.content = "changed"  # type: ignore[misc]


def test_the_fast_message_builder_matches_pydantic() -> None:
    from personal_core import records

    assert records._fast_path_agrees()  # the layout check passes with this pydantic: the fast path is used
    assert records._message is records._direct
    values = {
        "id": "m",
        "user_id": "u",
        "session_id": "s",
        "role": Role.USER,
        "content": "x",
        "created_at": T0,
        "metadata": {"a": 1},
        "history_only": False,
    }
    fast, slow = records._direct(**dict(values)), Message.model_construct(**values)
    assert fast == slow and fast.model_fields_set == slow.model_fields_set
    assert fast.model_copy(update={"content": "y"}).content == "y"
    assert records._direct(**{**values, "content": "y"}) != slow  # the comparison can fail


@pytest.mark.parametrize("seed", range(4))
def test_the_insight_corpus_extended_write_by_write_ranks_like_a_fresh_build(seed: int) -> None:
    """Adds at the end extend the cached corpus; other changes rebuild it: either way it equals a fresh build."""
    rng = random.Random(seed)
    state = UserState(user_id="ann", dimension=EMB.dimension)
    minutes = 0
    texts = ["Likes tea", "Lives in Lisbon", "Works as a nurse", "Plays chess on Sundays", "Went hiking in Sintra"]
    for step in range(60):
        minutes += rng.randint(1, 100)
        iid = f"i{rng.randint(0, 40)}" if rng.random() < 0.3 else f"n{step}"  # mostly new, some rewritten
        flag = rng.choice(["current"] * 6 + ["superseded", "retracted"])
        state.apply([_insight_record(iid, rng.choice(texts) + f" {step % 7}", minutes, flag, ["m1"])])
        for superseded in (False, True):
            corpus, ids = state.insight_corpus(superseded)
            fresh = UserState(user_id="ann", dimension=EMB.dimension)
            fresh.apply([insight_to_record(state.insights[i], state.insight_vectors[i]) for i in state.insights])
            fresh_corpus, fresh_ids = fresh.insight_corpus(superseded)
            assert ids == fresh_ids
            np.testing.assert_array_equal(corpus.matrix, fresh_corpus.matrix)
            np.testing.assert_allclose(corpus.priors, fresh_corpus.priors)
            for query in ("tea in Lisbon", "chess", "nurse hiking 3"):
                assert _ranking(corpus, ids, query) == _ranking(fresh_corpus, fresh_ids, query)
