"""Validation and repair of reasoner replies (pure)."""

from __future__ import annotations

import pytest

from personal_core.model import InsightKind, InsightLevel
from personal_core.repair import OutputError, extract_json_object, parse_update

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


def test_kinds_are_mapped_or_dropped_and_counted() -> None:
    reply = """{"new_insights": [
        {"kind": "hobby", "text": "Paints", "evidence": ["m1"]},
        {"kind": "Preference", "text": "Likes tea", "evidence": ["m2"]},
        {"kind": "astrology", "text": "Is a Leo", "evidence": ["m1"]}]}"""
    update, report = parse_update(reply, MSGS, INS)
    assert [(n.kind, n.text) for n in update.new_insights] == [
        (InsightKind.PREFERENCE, "Paints"),
        (InsightKind.PREFERENCE, "Likes tea"),
    ]
    assert report.mapped_kinds == 1 and report.dropped_items == 1


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
        '{"insights": [{"text": "x"}]}',  # none of the expected fields
        '{"new_insights": [42, null, "   "]}',  # nothing usable
        '{"new_insights": {"kind": "fact"}}',
    ],
)
def test_wrong_schema_is_an_error_so_the_reasoner_re_asks(reply: str) -> None:
    with pytest.raises(OutputError):
        parse_update(reply, MSGS, INS)
