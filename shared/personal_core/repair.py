"""Pure validation and repair of a reasoner LLM's reply into a :class:`ModelUpdate`.

Models wrap JSON in code fences or prose, invent ids, use their own kind names, and give confidences as
percentages or words. This module keeps what can be used, maps what can be mapped, and counts what it
dropped. Only a reply with no usable JSON object at all raises :class:`OutputError` (then the caller re-asks).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .errors import OutputError
from .model import InsightKind, InsightLevel
from .update import ModelUpdate, NewInsight, Supersession

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)

#: Only this much of a reply is searched for JSON (a runaway reply of megabytes is cut, not scanned whole).
MAX_REPLY_CHARS = 1_000_000
#: ``{`` positions tried per candidate: each failed attempt costs up to the reply's length, so trying every
#: brace of a brace-heavy reply would take hours; a real reply's object starts within its first few braces.
MAX_JSON_STARTS = 64
#: Most new insights (and, separately, supersessions) taken from one reply; the rest are dropped and counted.
#: A batch is about 512 tokens of user text: a reply proposing more than this is runaway output.
MAX_ITEMS_PER_REPLY = 100

KIND_SYNONYMS: dict[str, InsightKind] = {
    "like": InsightKind.PREFERENCE,
    "likes": InsightKind.PREFERENCE,
    "dislike": InsightKind.PREFERENCE,
    "interest": InsightKind.PREFERENCE,
    "hobby": InsightKind.PREFERENCE,
    "taste": InsightKind.PREFERENCE,
    "plan": InsightKind.GOAL,
    "intention": InsightKind.GOAL,
    "aspiration": InsightKind.GOAL,
    "desire": InsightKind.GOAL,
    "want": InsightKind.GOAL,
    "opinion": InsightKind.BELIEF,
    "value": InsightKind.BELIEF,
    "values": InsightKind.BELIEF,
    "view": InsightKind.BELIEF,
    "skill": InsightKind.KNOWLEDGE,
    "expertise": InsightKind.KNOWLEDGE,
    "experience": InsightKind.FACT,
    "event": InsightKind.FACT,
    "biography": InsightKind.FACT,
    "identity": InsightKind.FACT,
    "demographic": InsightKind.FACT,
    "feeling": InsightKind.EMOTION,
    "mood": InsightKind.EMOTION,
    "sentiment": InsightKind.EMOTION,
    "personality": InsightKind.TRAIT,
    "habit": InsightKind.TRAIT,
    "behavior": InsightKind.TRAIT,
    "behaviour": InsightKind.TRAIT,
    "family": InsightKind.RELATIONSHIP,
    "friend": InsightKind.RELATIONSHIP,
    "social": InsightKind.RELATIONSHIP,
    "relation": InsightKind.RELATIONSHIP,
}
_WORD_CONFIDENCE = {"very high": 0.95, "high": 0.85, "medium": 0.6, "moderate": 0.6, "low": 0.35, "very low": 0.2}


@dataclass
class RepairReport:
    """What repair changed or dropped (all counts)."""

    dropped_evidence: int = 0
    dropped_ids: int = 0
    dropped_items: int = 0
    mapped_kinds: int = 0
    clamped: int = 0

    def total(self) -> int:
        return self.dropped_evidence + self.dropped_ids + self.dropped_items + self.mapped_kinds + self.clamped


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (inside code fences or prose). Raises :class:`OutputError`.

    Bounded work whatever the reply: only its first :data:`MAX_REPLY_CHARS` characters and the first
    :data:`MAX_JSON_STARTS` braces of each candidate are tried, and nesting too deep to decode is skipped.
    """
    if not isinstance(text, str) or not text.strip():
        raise OutputError("the reply was empty")
    text = text[:MAX_REPLY_CHARS]
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        starts = (i for i, ch in enumerate(candidate) if ch == "{")
        for start in itertools.islice(starts, MAX_JSON_STARTS):
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            except RecursionError:  # nested too deep to be a reply; so is every later brace inside it
                break
            if isinstance(value, dict):
                return value
    raise OutputError("no JSON object found in the reply")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (JSON ``"\\ud800"`` decodes to one, and it cannot be
    stored as UTF-8: the journal write would fail on every attempt)."""
    return _SURROGATE.sub("\ufffd", text)


def _kind(value: Any, report: RepairReport) -> InsightKind | None:
    if isinstance(value, InsightKind):
        return value
    if not isinstance(value, str):
        return None
    key = value.strip().lower()
    if key in InsightKind._value2member_map_:
        return InsightKind(key)
    mapped = KIND_SYNONYMS.get(key) or KIND_SYNONYMS.get(key.rstrip("s"))
    if mapped is not None:
        report.mapped_kinds += 1
    return mapped


def _confidence(value: Any, report: RepairReport) -> float:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _WORD_CONFIDENCE:
            return _WORD_CONFIDENCE[word]
        try:
            value = float(word.rstrip("%")) / (100.0 if word.endswith("%") else 1.0)
        except ValueError:
            report.clamped += 1
            return 0.5
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        report.clamped += 1 if value is not None else 0
        return 0.7 if value is None else 0.5
    number = float(value)
    if 1.0 < number <= 100.0:
        number /= 100.0
    clamped = min(1.0, max(0.0, number))
    if clamped != number:
        report.clamped += 1
    return clamped


def _ids(value: Any) -> list[str]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, (str, int)) and str(v).strip()]


def _resolve(raw: list[str], aliases: Mapping[str, str], report: RepairReport, *, evidence: bool) -> list[str]:
    out: list[str] = []
    for item in raw:
        resolved = aliases.get(item) or aliases.get(item.lower())
        if resolved is None:
            if evidence:
                report.dropped_evidence += 1
            else:
                report.dropped_ids += 1
            continue
        if resolved not in out:
            out.append(resolved)
    return out


def _insight(raw: Any, messages: Mapping[str, str], report: RepairReport) -> NewInsight | None:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, dict):
        report.dropped_items += 1
        return None
    kind = _kind(raw.get("kind", raw.get("type", "fact")), report)
    text = raw.get("text", raw.get("insight", raw.get("content")))
    if kind is None or not isinstance(text, str) or not text.strip():
        report.dropped_items += 1
        return None
    level = str(raw.get("level", "explicit")).strip().lower()
    evidence = _resolve(_ids(raw.get("evidence", raw.get("evidence_ids", []))), messages, report, evidence=True)
    try:
        return NewInsight(
            kind=kind,
            text=_valid_text(text.strip()[:4000]),
            confidence=_confidence(raw.get("confidence"), report),
            level=InsightLevel(level) if level in InsightLevel._value2member_map_ else InsightLevel.INFERRED,
            evidence=evidence,
        )
    except ValidationError:
        report.dropped_items += 1
        return None


def _strings(value: Any, limit: int = 400) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [_valid_text(v.strip()[:limit]) for v in value if isinstance(v, str) and v.strip()]


def parse_update(
    text: str, messages: Mapping[str, str], insights: Mapping[str, str]
) -> tuple[ModelUpdate, RepairReport]:
    """Repair ``text`` into a :class:`ModelUpdate`.

    ``messages`` and ``insights`` map every id the model may use (aliases like ``m1``/``i1`` and real ids)
    to real ids; anything else is dropped and counted. Raises :class:`OutputError` when there is no JSON.
    """
    data = extract_json_object(text)
    known = set(ModelUpdate.model_fields)
    if data and not known & set(data):
        raise OutputError(f"the JSON object has none of the expected fields ({', '.join(sorted(known))})")
    report = RepairReport()
    new_insights = [
        n
        for n in (_insight(x, messages, report) for x in _capped(_list(data.get("new_insights"), report), report))
        if n is not None
    ]
    reinforced = _resolve(_ids(data.get("reinforced", [])), insights, report, evidence=False)
    supersessions: list[Supersession] = []
    for raw in _capped(_list(data.get("supersessions"), report), report):
        if not isinstance(raw, dict):
            report.dropped_items += 1
            continue
        old = _resolve(_ids(raw.get("insight_id", raw.get("old", ""))), insights, report, evidence=False)
        replacement = _insight(raw.get("replacement", raw.get("new")), messages, report)
        if old and replacement is not None:
            supersessions.append(Supersession(insight_id=old[0], replacement=replacement))
        elif old:
            report.dropped_items += 1
    summary = data.get("summary")
    update = ModelUpdate(
        new_insights=new_insights,
        reinforced=reinforced,
        supersessions=supersessions,
        card_add=_strings(data.get("card_add", [])),
        card_remove=_strings(data.get("card_remove", [])),
        summary=_valid_text(summary.strip()) if isinstance(summary, str) and summary.strip() else None,
    )
    if update.is_empty() and report.dropped_items:
        raise OutputError(f"none of the {report.dropped_items} items in the reply had the expected shape")
    return update, report


def _capped(items: list[Any], report: RepairReport) -> list[Any]:
    if len(items) > MAX_ITEMS_PER_REPLY:
        report.dropped_items += len(items) - MAX_ITEMS_PER_REPLY
        return items[:MAX_ITEMS_PER_REPLY]
    return items


def _list(value: Any, report: RepairReport) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    report.dropped_items += 1
    return []
