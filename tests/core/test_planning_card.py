"""Card lines know the insights they state: they follow supersessions and retractions in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from personal_core import HashingEmbedder, Message, ModelUpdate, Role
from personal_core.corrections import plan_retract
from personal_core.heuristic import HeuristicReasoner
from personal_core.planning import plan_update
from personal_core.records import USR, CardEntry, Profile, Record, card_line_id, profile_to_record, record_to_profile
from personal_core.state import UserState

EMB = HashingEmbedder()
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _msg(mid: str, content: str) -> Message:
    return Message(id=mid, user_id="ann", role=Role.USER, content=content)


def _apply(state: UserState, update: dict[str, object], batch: list[Message]) -> list[Record]:
    records, _ = plan_update(state, ModelUpdate.model_validate(update), batch, now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    return records


def _porto() -> tuple[UserState, str]:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    update = {
        "new_insights": [
            {"kind": "fact", "text": "Lives in Porto", "evidence": ["e1"]},
            {"kind": "fact", "text": "Name: Ann", "evidence": ["e1"]},
        ],
        "card_add": ["Name: Ann", "Lives in Porto"],
    }
    _apply(state, update, [_msg("e1", "I'm Ann and I live in Porto")])
    porto = next(i.id for i in state.insights.values() if i.text == "Lives in Porto")
    return state, porto


def test_card_add_links_to_the_insight_with_the_same_text() -> None:
    state, porto = _porto()
    entries = {e.text: e for e in state.profile.entries}
    assert entries["Lives in Porto"].insights == (porto,)
    assert entries["Lives in Porto"].id == card_line_id("lives in porto!") and entries["Lives in Porto"].id.startswith(
        "c_"
    )
    assert state.profile.card == ("Name: Ann", "Lives in Porto")


def test_llm_supersession_without_card_remove_replaces_the_card_line() -> None:
    state, porto = _porto()
    sup = {
        "supersessions": [
            {"insight_id": porto, "replacement": {"kind": "fact", "text": "Lives in Lisbon", "evidence": ["e2"]}}
        ]
    }
    records = _apply(state, sup, [_msg("e2", "I moved to Lisbon")])
    assert [r.type for r in records].count(USR) == 1, "the card changes in the same transaction"
    assert state.profile.card == ("Name: Ann", "Lives in Lisbon")
    lisbon = next(i for i in state.insights.values() if i.text == "Lives in Lisbon")
    assert state.profile.entries[1].insights == (lisbon.id,)
    assert not state.insights[porto].is_current


def test_card_line_follows_a_slot_supersession_and_an_explicit_card_add_is_not_duplicated() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    first = {
        "new_insights": [{"kind": "fact", "text": "Lives in Porto", "evidence": ["e1"], "slot": "residence"}],
        "card_add": ["Lives in Porto"],
    }
    _apply(state, first, [_msg("e1", "I live in Porto")])
    assert state.profile.entries[0].slot == "residence"
    second = {
        "new_insights": [{"kind": "fact", "text": "Lives in Lisbon", "evidence": ["e2"], "slot": "residence"}],
        "card_add": ["Lives in Lisbon"],
    }
    _apply(state, second, [_msg("e2", "I moved to Lisbon")])
    assert state.profile.card == ("Lives in Lisbon",)


def test_card_remove_by_id_or_text_or_the_line_as_shown() -> None:
    state, _ = _porto()
    name_id = card_line_id("Name: Ann")
    _apply(state, {"card_remove": [name_id]}, [])
    assert state.profile.card == ("Lives in Porto",)
    _apply(state, {"card_add": ["Speaks Portuguese", "Likes jazz"]}, [])
    _apply(state, {"card_remove": [f"[{card_line_id('Speaks Portuguese')}] Speaks Portuguese", "likes JAZZ"]}, [])
    assert state.profile.card == ("Lives in Porto",)
    _apply(state, {"card_remove": ["c_00000000"]}, [])  # an unknown id removes nothing
    assert state.profile.card == ("Lives in Porto",)


def test_an_old_profile_of_plain_strings_is_read_and_linked_by_text() -> None:
    state, porto = _porto()
    old_doc = json.dumps({"card": ["Name: Ann", "Lives in Porto"], "summary": "Ann."})
    vector = EMB.embed_documents(["x"])[0]
    legacy = Record(id="u_x", user_id="ann", type=USR, document=old_doc, metadata={}, embedding=vector)
    assert record_to_profile(legacy).card == ("Name: Ann", "Lives in Porto")
    assert record_to_profile(legacy).entries[1].insights == ()
    state.apply([legacy])
    sup = {
        "supersessions": [
            {"insight_id": porto, "replacement": {"kind": "fact", "text": "Lives in Lisbon", "evidence": ["e2"]}}
        ]
    }
    _apply(state, sup, [_msg("e2", "I moved to Lisbon")])
    assert state.profile.card == ("Name: Ann", "Lives in Lisbon") and state.profile.summary == "Ann."


def test_profile_round_trips_entries_and_keeps_the_card_strings() -> None:
    profile = Profile(
        summary="s", entries=(CardEntry("Lives in Porto", ("ins_1",), "residence"), CardEntry("Likes tea"))
    )
    record = profile_to_record("ann", profile, EMB.embed_documents(["x"])[0])
    assert json.loads(record.document)["card"] == ["Lives in Porto", "Likes tea"]
    assert record_to_profile(record) == profile and profile.card == ("Lives in Porto", "Likes tea")
    assert Profile(card=("Likes tea",)) == Profile(entries=(CardEntry("Likes tea"),))


def test_a_replacement_the_card_guard_refuses_removes_the_line() -> None:
    state, porto = _porto()
    sup = {"supersessions": [{"insight_id": porto, "replacement": {"kind": "fact", "text": "Is the admin of Porto"}}]}
    _apply(state, sup, [_msg("e2", "whatever")])
    assert state.profile.card == ("Name: Ann",)


def test_a_retracted_insight_is_not_derived_again_from_the_same_message() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    said = _msg("h1", "I live in Porto and I'm allergic to peanuts.")
    update = HeuristicReasoner().derive([said])
    records, _ = plan_update(state, update, [said], now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    porto = next(i for i in state.insights.values() if i.text == "Lives in Porto")
    assert "Lives in Porto" in state.profile.card
    records, _ = plan_retract(state, porto.id, "I never lived there", now=NOW)
    state.apply(records)
    assert "Lives in Porto" not in state.profile.card
    records, report = plan_update(state, update, [said], now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    assert report.refused_retracted == 1 and report.added == []
    assert [i.text for i in state.insights.values() if i.is_current] == ["Allergic to peanuts"]
    assert "Lives in Porto" not in state.profile.card, "a card_add of a refused insight's text states nothing"
    # said again in a new message: that is new evidence, so it is learnt again
    again = _msg("h2", "I live in Porto.")
    records, report = plan_update(
        state, HeuristicReasoner().derive([again]), [again], now=NOW, embed=EMB.embed_documents
    )
    state.apply(records)
    assert report.refused_retracted == 0 and "Lives in Porto" in {
        i.text for i in state.insights.values() if i.is_current
    }


def test_a_person_may_add_a_retracted_insight_back() -> None:
    state = UserState(user_id="ann", dimension=EMB.dimension)
    said = _msg("h1", "I live in Porto.")
    update = HeuristicReasoner().derive([said])
    records, _ = plan_update(state, update, [said], now=NOW, embed=EMB.embed_documents)
    state.apply(records)
    (porto,) = state.insights
    records, _ = plan_retract(state, porto, now=NOW)
    state.apply(records)
    records, report = plan_update(state, update, [said], now=NOW, embed=EMB.embed_documents, refuse_retracted=False)
    state.apply(records)
    (back,) = report.added
    assert back != porto and state.insights[back].is_current and state.insights[porto].is_retracted
    assert state.insights[back].evidence == ["h1"] and "Lives in Porto" in state.profile.card
