"""Validation and repair of reasoner replies (pure)."""

from __future__ import annotations

import json

import pytest

from personal_core.model import InsightKind, InsightLevel
from personal_core.prompts import TEMPLATE_SAMPLES
from personal_core.repair import OutputError, extract_json_object, is_template_echo, parse_update

MSGS = {"m1": "id-1", "m2": "id-2", "id-1": "id-1", "id-2": "id-2"}
INS = {"i1": "ins-a", "ins-a": "ins-a"}


def test_json_is_found_in_fences_and_prose() -> None:
    assert extract_json_object('Sure!\n```json\n{"summary": "x"}\n```\nAnything else?') == {"summary": "x"}
    assert extract_json_object('Thinking... {"a": {"b": 1}} trailing {') == {"a": {"b": 1}}
    for bad in ["", "   ", "no json here", "[1, 2]", "{broken"]:
        with pytest.raises(OutputError):
            extract_json_object(bad)


def test_empty_object_is_a_valid_empty_update() -> None:
    update, report = parse_update("{}", MSGS, INS)
    assert update.is_empty() and report.total() == 0


def test_kinds_off_the_list_map_to_the_nearest_kind_and_keep_the_original() -> None:
    reply = """{"new_insights": [
        {"kind": "hobby", "text": "Paints", "evidence": ["m1"]},
        {"kind": "Preference", "text": "Likes tea", "evidence": ["m2"]},
        {"kind": "Allergies", "text": "Allergic to peanuts", "evidence": ["m1"]},
        {"kind": "occupation", "text": "Works as a nurse", "evidence": ["m1"]},
        {"kind": "skill", "text": "Speaks Finnish", "evidence": ["m1"]},
        {"kind": "mood", "text": "Feels tired", "evidence": ["m1"]},
        {"kind": "personality", "text": "Is patient", "evidence": ["m1"]},
        {"kind": "family", "text": "Has a sister", "evidence": ["m1"]},
        {"kind": "aspiration", "text": "Wants to sail", "evidence": ["m1"]},
        {"kind": "opinion", "text": "Thinks cities are too loud", "evidence": ["m1"]},
        {"kind": "astrology", "text": "Is a Leo", "evidence": ["m1"]},
        {"kind": 7, "text": "seven", "evidence": ["m1"]}]}"""
    update, report = parse_update(reply, MSGS, INS)
    assert [(n.kind.value, n.original_kind) for n in update.new_insights] == [
        ("preference", "hobby"),
        ("preference", None),
        ("fact", "Allergies"),
        ("fact", "occupation"),
        ("knowledge", "skill"),
        ("emotion", "mood"),
        ("trait", "personality"),
        ("relationship", "family"),
        ("goal", "aspiration"),
        ("belief", "opinion"),
        ("fact", "astrology"),
    ]
    assert report.mapped_kinds == 10 and report.dropped_items == 1
    assert report.drops == ["new_insights[11]: kind 7 is not a name"]


def test_the_original_kind_is_stored_on_the_insight() -> None:
    from datetime import datetime, timezone

    from personal_core import HashingEmbedder, Message, Role
    from personal_core.planning import plan_update
    from personal_core.state import UserState

    emb = HashingEmbedder()
    update, _ = parse_update(
        '{"insights": [{"kind": "allergy", "text": "Allergic to cats", "evidence": [1]}]}', MSGS, INS
    )
    state = UserState(user_id="ann", dimension=emb.dimension)
    batch = [Message(id="id-1", user_id="ann", role=Role.USER, content="cats make me sneeze")]
    records, _ = plan_update(state, update, batch, now=datetime.now(timezone.utc), embed=emb.embed_documents)
    state.apply(records)
    (insight,) = state.insights.values()
    assert insight.kind is InsightKind.FACT and insight.original_kind == "allergy" and insight.evidence == ["id-1"]


def test_confidence_is_clamped_and_words_and_percentages_read() -> None:
    reply = """{"new_insights": [
        {"kind": "fact", "text": "a", "confidence": 85, "evidence": ["m1"]},
        {"kind": "fact", "text": "b", "confidence": "high", "evidence": ["m1"]},
        {"kind": "fact", "text": "c", "confidence": -3, "evidence": ["m1"]},
        {"kind": "fact", "text": "d", "confidence": "70%", "evidence": ["m1"]},
        {"kind": "fact", "text": "e", "confidence": 1e9, "evidence": ["m1"]}]}"""
    update, report = parse_update(reply, MSGS, INS)
    assert [n.confidence for n in update.new_insights] == [0.85, 0.85, 0.0, 0.7, 1.0]
    assert report.clamped == 2


def test_invented_ids_are_dropped_and_counted() -> None:
    reply = """{"new_insights": [{"kind": "goal", "text": "Wants a dog", "evidence": ["m1", "m9", "msg-zzz"],
                                  "level": "guess"}],
                "reinforced": ["i1", "i7"],
                "supersessions": [{"insight_id": "i8", "replacement": {"kind": "fact", "text": "x"}}]}"""
    update, report = parse_update(reply, MSGS, INS)
    assert update.new_insights[0].evidence == ["id-1"]
    assert update.new_insights[0].level is InsightLevel.INFERRED
    assert update.reinforced == ["ins-a"] and update.supersessions == []
    assert report.dropped_evidence == 2 and report.dropped_ids == 2


def test_real_ids_are_accepted_as_well_as_aliases() -> None:
    update, _ = parse_update('{"new_insights": [{"kind": "fact", "text": "t", "evidence": ["id-2"]}]}', MSGS, INS)
    assert update.new_insights[0].evidence == ["id-2"]


@pytest.mark.parametrize(
    "reply",
    [
        '{"thoughts": [{"text": "x"}]}',  # none of the expected fields
        '{"new_insights": [42, null, "   "]}',  # nothing usable
        '{"new_insights": {"kind": "fact"}}',
    ],
)
def test_wrong_schema_is_an_error_so_the_reasoner_re_asks(reply: str) -> None:
    with pytest.raises(OutputError):
        parse_update(reply, MSGS, INS)


# ------------------------------------------------------------------ replies in the shapes models really use

KINDS = {"ins-a": InsightKind.PREFERENCE}


@pytest.mark.parametrize(
    "reply",
    [
        '{"insights": [{"kind": "fact", "text": "Has a dog", "evidence": ["m2"]}]}',
        '{"facts": [{"type": "fact", "insight": "Has a dog", "evidence": [2]}]}',
        '{"memories": [{"category": "fact", "content": "Has a dog", "evidence_ids": "2"}]}',
        '{"new": [{"kind": "fact", "statement": "Has a dog", "message_ids": [{"id": "m2"}]}]}',
        '{"update": {"new_insights": [{"kind": "fact", "text": "Has a dog", "evidence": ["M2"]}]}}',
        '{"new_insights": {"kind": "fact", "text": "Has a dog", "evidence": ["id-2"]}}',
        '{"new_insights": [{"kind": "fact", "text": "Has a dog", "evidence": ["message 2"]}]}',
    ],
)
def test_new_insights_under_other_names_and_evidence_as_numbers(reply: str) -> None:
    update, report = parse_update(reply, MSGS, INS)
    assert [(n.kind, n.text, n.evidence) for n in update.new_insights] == [(InsightKind.FACT, "Has a dog", ["id-2"])]
    assert report.dropped_items == report.dropped_evidence == 0


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (
            '{"supersessions": [{"insight_id": "i1", "replacement": {"kind": "fact", "text": "Lives in Lisbon"}}]}',
            "fact",
        ),
        ('{"updates": [{"old_insight_id": "i1", "new_insight": {"text": "Lives in Lisbon"}}]}', "preference"),
        ('{"changes": [{"old": "i1", "new": "Lives in Lisbon"}]}', "preference"),
        ('{"contradictions": [{"id": "i1", "replacement": "Lives in Lisbon"}]}', "preference"),
        ('{"supersessions": [{"id": 1, "text": "Lives in Lisbon", "evidence": [1]}]}', "preference"),
        (
            '{"supersessions": [{"old": {"id": "ins-a", "text": "Porto"}, "new": {"text": "Lives in Lisbon"}}]}',
            "preference",
        ),
        ('{"supersessions": {"insight_id": "i1", "replacement": "Lives in Lisbon"}}', "preference"),
    ],
)
def test_supersessions_in_every_shape_and_a_plain_text_replacement_takes_the_old_kind(reply: str, kind: str) -> None:
    update, report = parse_update(reply, MSGS, INS, KINDS)
    ((sup),) = update.supersessions
    assert sup.insight_id == "ins-a" and sup.replacement.text == "Lives in Lisbon"
    assert sup.replacement.kind.value == kind and report.dropped_items == report.dropped_ids == 0


def test_card_and_profile_synonyms_and_ids_copied_with_the_line() -> None:
    reply = """{"card": ["Name: Ann", "[c_1a2b3c4d] Lives in Porto"], "profile": {"home_city": "Porto", "age": 34},
                "card_remove": ["[c_0badcafe] Standing instruction: answer in French"], "user_summary": "Ann."}"""
    update, _ = parse_update(reply, MSGS, INS)
    assert update.card_add == ["Name: Ann", "Lives in Porto", "Home city: Porto", "Age: 34"]
    assert update.card_remove == ["[c_0badcafe] Standing instruction: answer in French"] and update.summary == "Ann."


def test_drops_carry_reasons_for_the_log() -> None:
    reply = """{"new_insights": [{"kind": "fact", "text": "Has a cat", "evidence": ["m9"]}, {"kind": "fact"}],
                "reinforced": ["i7"], "supersessions": [{"insight_id": "i1"}]}"""
    update, report = parse_update(reply, MSGS, INS)
    assert [n.text for n in update.new_insights] == ["Has a cat"]
    assert report.drops == [
        "new_insights[0]: unknown message id 'm9'",
        "new_insights[1]: no text",
        "reinforced: unknown insight id 'i7'",
        "supersessions[0]: no replacement",
    ]
    assert (report.dropped_evidence, report.dropped_ids, report.dropped_items) == (1, 1, 2)


# ------------------------------------------------------------------ template echo


@pytest.mark.parametrize(
    "echo", ["...", "…", "", "  ", "<text>", "<insight text>", "[text]", "SHORT STATEMENT", "text"]
)
def test_placeholders_never_reach_insights_card_or_summary(echo: str) -> None:
    reply = json.dumps(
        {
            "new_insights": [
                {"kind": "fact", "text": echo, "evidence": ["m1"]},
                {"kind": "fact", "text": "Has a dog", "evidence": ["m1"]},
            ],
            "supersessions": [{"insight_id": "i1", "replacement": {"kind": "fact", "text": echo}}],
            "card_add": [echo, "CARD LINE"],
            "summary": echo if echo.strip() else "UPDATED SUMMARY",
        }
    )
    update, report = parse_update(reply, MSGS, INS, batch_text="i have a dog")
    assert [n.text for n in update.new_insights] == ["Has a dog"]
    assert update.supersessions == [] and update.card_add == [] and update.summary is None
    assert report.echoed + report.dropped_items >= 4  # blank texts count as items without text


def test_the_prompts_example_texts_pass_only_when_the_batch_backs_them() -> None:
    example = sorted(TEMPLATE_SAMPLES)
    reply = json.dumps(
        {
            "new_insights": [{"kind": "fact", "text": t, "evidence": ["m1"]} for t in example],
            "card_add": ["Standing instruction: answer in English"],
            "summary": "Moved from Bergen to Tromsø in May 2024, still keeps bees, wants answers in English.",
        }
    )
    update, report = parse_update(reply, MSGS, INS, batch_text="i'm thinking of getting a cat")
    assert update.is_empty() and report.echoed == len(example) + 2
    update, _ = parse_update(reply, MSGS, INS, batch_text="we moved to tromsø, i keep bees. answer in english please")
    assert {n.text for n in update.new_insights} == {
        "Lives in Tromsø since May 2024",
        "Keeps bees on the balcony",
        "Wants answers in English",
        "Standing instruction: answer in English",
        "Moved from Bergen to Tromsø in May 2024, still keeps bees, wants answers in English.",
    }
    assert update.card_add == ["Standing instruction: answer in English"] and update.summary is not None
    assert is_template_echo("...") and not is_template_echo("Lives in Tromsø since May 2024")


def test_slots_from_the_reply_are_normalised_and_unusable_ones_dropped_with_the_insight_kept() -> None:
    reply = json.dumps(
        {
            "new_insights": [
                {"kind": "fact", "text": "Follows a gluten-free diet", "evidence": ["m1"], "slot": "Diet"},
                {"kind": "trait", "text": "Is afraid of flying", "evidence": ["m1"], "slot": "Fear: Flying"},
                {"kind": "fact", "text": "Is allergic to peanuts", "evidence": ["m1"], "slot": "food"},
                {"kind": "fact", "text": "Is allergic to shellfish", "evidence": ["m2"], "slot": "SLOT"},
                {"kind": "fact", "text": "Likes tea", "evidence": ["m2"], "slot": 3},
                {"kind": "fact", "text": "Lives in Oslo", "evidence": ["m2"]},
            ]
        }
    )
    update, report = parse_update(reply, MSGS, INS)
    slots = {i.text: i.slot for i in update.new_insights}
    assert slots == {
        "Follows a gluten-free diet": "diet",
        "Is afraid of flying": "fear:flying",
        "Is allergic to peanuts": None,  # a bare multi-valued prefix would make the next allergy supersede it
        "Is allergic to shellfish": None,  # the template's placeholder
        "Likes tea": None,
        "Lives in Oslo": None,
    }
    assert report.dropped_slots == 3 and len(report.drops) == 3


def test_the_derive_prompt_asks_for_slots_of_standing_preferences() -> None:
    from personal_core.prompts import DERIVE_SYSTEM

    text = DERIVE_SYSTEM.format(card_limit=40, summary_words=80)
    assert '"slot"' in text and "STANDING" in text and "allergies" in text
