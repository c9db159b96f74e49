"""Pure planning of updates: dedupe, reinforcement, supersession, card edits, idempotence."""

from __future__ import annotations

from datetime import datetime, timezone

from personal_core import HashingEmbedder, Message, ModelUpdate, Role
from personal_core.planning import plan_update
from personal_core.records import INS
from personal_core.state import UserState

EMB = HashingEmbedder()
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _state_with(*texts_kinds: tuple[str, str]) -> UserState:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    batch = [Message(id="e0", user_id="ann", role=Role.USER, content="seed")]
    update = ModelUpdate.model_validate(
        {"new_insights": [{"kind": k, "text": t, "evidence": ["e0"]} for t, k in texts_kinds]}
    )
    records, _ = plan_update(state, update, batch, now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    return state


def _propose(state: UserState, text: str, kind: str, mid: str = "e1") -> tuple[list[str], list[str]]:
    batch = [Message(id=mid, user_id="ann", role=Role.USER, content=text)]
    update = ModelUpdate.model_validate({"new_insights": [{"kind": kind, "text": text, "evidence": [mid]}]})
    records, report = plan_update(state, update, batch, now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    return report.added, report.reinforced


def test_near_duplicate_reinforces_same_kind_only() -> None:
    state = _state_with(("Loves hiking in the mountains", "preference"))
    (original,) = state.insights
    added, reinforced = _propose(state, "loves hiking in mountains!!", "preference")
    assert added == [] and reinforced == [original]
    assert state.insights[original].times_seen == 2 and state.insights[original].evidence == ["e0", "e1"]
    added, reinforced = _propose(state, "Loves hiking in the mountains", "goal", "e2")
    assert added == [] and reinforced == [original], "the exact same text is the same insight, whatever the kind"
    added, reinforced = _propose(state, "loves hiking, mountains", "goal", "e3")
    assert len(added) == 1 and reinforced == [], "a near-duplicate of another kind is a different insight"
    added, _ = _propose(state, "Hates crowded beaches", "preference", "e4")
    assert len(added) == 1


def test_planning_the_same_batch_twice_adds_nothing_new() -> None:
    state = _state_with()
    first, _ = _propose(state, "Plays the cello", "fact")
    batch = [Message(id="e1", user_id="ann", role=Role.USER, content="Plays the cello")]
    update = ModelUpdate.model_validate(
        {"new_insights": [{"kind": "fact", "text": "Plays the cello", "evidence": ["e1"]}]}
    )
    # a replay of the same batch against the state that already holds its result
    records, report = plan_update(state, update, batch, now=NOW, embed=EMB.embed_documents)
    assert report.added == [] and [r.type for r in records if r.type == INS] == [r.type for r in records]
    assert first


def test_supersession_of_unknown_or_closed_insight_is_dropped() -> None:
    state = _state_with(("Is vegetarian", "preference"))
    (old,) = state.insights
    batch = [Message(id="e5", user_id="ann", role=Role.USER, content="I eat fish now")]
    sup = {"supersessions": [{"insight_id": old, "replacement": {"kind": "preference", "text": "Eats fish"}}]}
    records, report = plan_update(state, ModelUpdate.model_validate(sup), batch, now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    assert report.superseded == [old] and state.insights[old].valid_to is not None
    records, report = plan_update(state, ModelUpdate.model_validate(sup), batch, now=NOW, embed=EMB.embed_documents)
    assert report.dropped_ids == 1 and report.superseded == []
