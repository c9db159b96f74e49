"""Pure validation and repair of a reasoner LLM's reply into a :class:`ModelUpdate`.

Models wrap JSON in code fences or prose, name fields their own way (``insights``, ``updates``, ``card``...),
invent ids or cite messages by number, use their own kind names, give confidences as percentages or words,
and sometimes echo the prompt's template. This module keeps what can be used, maps what can be mapped, and
counts what it dropped, with a reason for each drop (:attr:`RepairReport.drops`, for the caller's log). Only
a reply with no usable JSON object at all raises :class:`OutputError` (then the caller re-asks).
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import OutputError
from .model import InsightKind, InsightLevel
from .prompts import TEMPLATE_PLACEHOLDERS, TEMPLATE_SAMPLES
from .records import split_card_ref
from .text import normalise
from .update import MULTI_VALUED_SLOTS, SLOT_MAX_CHARS, SLOT_PATTERN, ModelUpdate, NewInsight, Supersession

_SLOT_JUNK = re.compile(r"[^a-z0-9:.\-]+")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)

#: Only this much of a reply is searched for JSON (a runaway reply of megabytes is cut, not scanned whole).
MAX_REPLY_CHARS = 1_000_000
#: ``{`` positions tried per candidate: each failed attempt costs up to the reply's length, so trying every
#: brace of a brace-heavy reply would take hours; a real reply's object starts within its first few braces.
MAX_JSON_STARTS = 64
#: Most new insights (and, separately, supersessions) taken from one reply; the rest are dropped and counted.
#: A batch is about 512 tokens of user text: a reply proposing more than this is runaway output.
MAX_ITEMS_PER_REPLY = 100
#: Most drop reasons kept in a report (the counts stay exact).
MAX_DROP_REASONS = 20
#: Longest card line taken from a reply.
MAX_CARD_LINE_CHARS = 400

_FACT, _PREF, _GOAL, _BELIEF = InsightKind.FACT, InsightKind.PREFERENCE, InsightKind.GOAL, InsightKind.BELIEF
_KNOW, _EMO, _TRAIT, _REL = InsightKind.KNOWLEDGE, InsightKind.EMOTION, InsightKind.TRAIT, InsightKind.RELATIONSHIP

#: Kind names models use, mapped to the nearest :class:`InsightKind` (a trailing "s" is ignored). Any other
#: name maps to fact. The original name is kept on the insight (``original_kind``).
KIND_SYNONYMS: dict[str, InsightKind] = {
    **dict.fromkeys(
        "allergy allergie health diet dietary medical condition occupation job work career profession education "
        "location residence home address name age birthday identity demographic biography experience event "
        "background pet possession fact_about_user personal_fact".split(),
        _FACT,
    ),
    **dict.fromkeys("like dislike interest hobby hobbie taste favorite favourite preferences".split(), _PREF),
    **dict.fromkeys("plan aspiration intention desire want wish ambition objective".split(), _GOAL),
    **dict.fromkeys("opinion value view stance attitude conviction".split(), _BELIEF),
    **dict.fromkeys("skill expertise ability competence language".split(), _KNOW),
    **dict.fromkeys("feeling mood sentiment emotional_state worry fear".split(), _EMO),
    **dict.fromkeys("personality habit behavior behaviour characteristic style".split(), _TRAIT),
    **dict.fromkeys("family friend social relation partner".split(), _REL),
}
_WORD_CONFIDENCE = {"very high": 0.95, "high": 0.85, "medium": 0.6, "moderate": 0.6, "low": 0.35, "very low": 0.2}

#: Field names models use, for each field of :class:`ModelUpdate` (matched case-insensitively).
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "new_insights": ("new_insights", "insights", "new", "facts", "memories", "observations", "added", "learned"),
    "reinforced": ("reinforced", "reinforce", "reinforcements", "confirmed"),
    "supersessions": (
        "supersessions",
        "supersession",
        "superseded",
        "updates",
        "changes",
        "contradictions",
        "corrections",
        "replacements",
    ),
    "card_add": ("card_add", "card", "profile", "card_additions", "add_to_card", "card_lines"),
    "card_remove": ("card_remove", "card_removals", "remove_from_card", "card_delete"),
    "summary": ("summary", "user_summary", "profile_summary"),
}
_OLD_KEYS = ("insight_id", "old_insight_id", "old_id", "old", "id", "supersedes", "replaces", "target")
_NEW_KEYS = ("replacement", "new_insight", "new", "new_text", "updated", "with")

_PLACEHOLDER = re.compile(
    r"^(?:<[^<>]{0,40}>|\[[^\[\]]{0,40}\]|\{[^{}]{0,40}\}|(?:the |your |an? )?(?:text|insight|statement|string|"
    r"summary|card(?: line)?|fact|value|example|placeholder|todo|tbd|n/?a|none|null|unknown)(?: text| here| line)?)$",
    re.I,
)
_ECHO = {normalise(p) for p in TEMPLATE_PLACEHOLDERS}
_SAMPLES = {normalise(text): word for text, word in TEMPLATE_SAMPLES.items()}


@dataclass
class RepairReport:
    """What repair changed or dropped: counts, and a reason for each drop (the first :data:`MAX_DROP_REASONS`).

    ``drops`` is meant for the caller's log (it knows the user and batch): e.g.
    ``logger.warning("dropped from the reply for user %r batch %s: %s", user, batch, "; ".join(report.drops))``.
    """

    dropped_evidence: int = 0
    dropped_ids: int = 0
    dropped_items: int = 0
    mapped_kinds: int = 0
    clamped: int = 0
    echoed: int = 0
    dropped_slots: int = 0
    drops: list[str] = field(default_factory=list)

    def total(self) -> int:
        return (
            self.dropped_evidence
            + self.dropped_ids
            + self.dropped_items
            + self.mapped_kinds
            + self.clamped
            + self.echoed
            + self.dropped_slots
        )

    def drop(self, reason: str) -> None:
        """Note why something was dropped (the counts are the caller's)."""
        if len(self.drops) < MAX_DROP_REASONS:
            self.drops.append(reason[:200])


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


def is_template_echo(text: str, batch_text: str | None = None) -> bool:
    """True when ``text`` is a placeholder (empty, ``...``, ``<text>``, the shape's ALL-CAPS words) or, given the
    batch's text, one of the prompt's example texts that the batch does not back (see ``TEMPLATE_SAMPLES``)."""
    key = normalise(text)
    if not key or key in _ECHO or _PLACEHOLDER.match(text.strip()):
        return True
    word = _SAMPLES.get(key)
    return word is not None and batch_text is not None and word not in batch_text.lower()


class _Reader:
    """Reads one reply against the ids the model may use; fills ``report``."""

    def __init__(
        self,
        messages: Mapping[str, str],
        insights: Mapping[str, str],
        insight_kinds: Mapping[str, InsightKind],
        batch_text: str | None,
    ) -> None:
        self.messages = messages
        self.insights = insights
        self.insight_kinds = insight_kinds
        self.batch_text = batch_text
        self.report = RepairReport()

    def echo(self, text: str, where: str) -> bool:
        if is_template_echo(text, self.batch_text):
            self.report.echoed += 1
            self.report.drop(f"{where}: template text {text[:60]!r}")
            return True
        return False

    def kind(self, value: Any, where: str) -> tuple[InsightKind | None, str | None]:
        """The kind and, when it was mapped, the model's own kind name."""
        if isinstance(value, InsightKind):
            return value, None
        if not isinstance(value, str) or not value.strip():
            self.report.drop(f"{where}: kind {value!r} is not a name")
            return None, None
        key = value.strip().lower()
        if key in InsightKind._value2member_map_:
            return InsightKind(key), None
        name = re.sub(r"[\s\-]+", "_", key)
        mapped = KIND_SYNONYMS.get(name) or KIND_SYNONYMS.get(name.rstrip("s")) or InsightKind.FACT
        self.report.mapped_kinds += 1
        return mapped, value.strip()[:40]

    def confidence(self, value: Any) -> float:
        return _confidence(value, self.report)

    def resolve(self, raw: Any, *, evidence: bool, where: str) -> list[str]:
        """Real ids for ``raw`` (an id, a list of ids, numbers meaning ``m<n>``/``i<n>``, or ``{"id": ...}``)."""
        aliases, prefix = (self.messages, "m") if evidence else (self.insights, "i")
        out: list[str] = []
        for item in _ids(raw):
            resolved = aliases.get(item) or aliases.get(item.lower())
            if resolved is None:
                number = re.fullmatch(
                    r"(?:#|no\.?\s*|(?:msg|message|m|ins|insight|i)\s*[-#_]?\s*)?(\d{1,6})", item, re.I
                )
                if number is not None:
                    resolved = aliases.get(f"{prefix}{int(number.group(1))}")
            if resolved is None:
                if evidence:
                    self.report.dropped_evidence += 1
                else:
                    self.report.dropped_ids += 1
                self.report.drop(f"{where}: unknown {'message' if evidence else 'insight'} id {item[:40]!r}")
                continue
            if resolved not in out:
                out.append(resolved)
        return out

    def insight(self, raw: Any, where: str, default_kind: InsightKind = InsightKind.FACT) -> NewInsight | None:
        if isinstance(raw, str):
            raw = {"text": raw}
        if not isinstance(raw, dict):
            self.report.dropped_items += 1
            self.report.drop(f"{where}: not an object ({type(raw).__name__})")
            return None
        text = next((raw[k] for k in ("text", "insight", "content", "statement", "fact") if k in raw), None)
        if not isinstance(text, str) or not text.strip():
            self.report.dropped_items += 1
            self.report.drop(f"{where}: no text")
            return None
        if self.echo(text, where):
            return None
        raw_kind = next((raw[k] for k in ("kind", "type", "category") if k in raw), None)
        kind, original = (default_kind, None) if raw_kind is None else self.kind(raw_kind, where)
        if kind is None:
            self.report.dropped_items += 1
            return None
        level = str(raw.get("level", "explicit")).strip().lower()
        cited: Any = next(
            (raw[k] for k in ("evidence", "evidence_ids", "message_ids", "messages", "source") if k in raw), []
        )
        try:
            return NewInsight(
                kind=kind,
                text=_valid_text(text.strip()[:4000]),
                confidence=self.confidence(raw.get("confidence")),
                level=InsightLevel(level) if level in InsightLevel._value2member_map_ else InsightLevel.INFERRED,
                evidence=self.resolve(cited, evidence=True, where=where),
                slot=self.slot(raw.get("slot"), where),
                original_kind=original,
            )
        except ValidationError:
            self.report.dropped_items += 1
            self.report.drop(f"{where}: invalid insight")
            return None

    def slot(self, value: Any, where: str) -> str | None:
        """A valid slot name from the reply's ``slot``, or None (counted and noted when one was given but unusable:
        not text, the placeholder, or a bare multi-valued prefix such as "food" that would wrongly supersede)."""
        if value is None or value == "":
            return None
        slot = _slot_name(value)
        if slot is None:
            self.report.dropped_slots += 1
            self.report.drop(f"{where}: unusable slot {str(value)[:40]!r}")
        return slot

    def supersession(self, raw: Any, where: str) -> Supersession | None:
        if not isinstance(raw, dict):
            self.report.dropped_items += 1
            self.report.drop(f"{where}: not an object ({type(raw).__name__})")
            return None
        old_key = next((k for k in _OLD_KEYS if k in raw), None)
        old_raw = raw.get(old_key) if old_key is not None else None
        if isinstance(old_raw, dict):
            old_raw = next((old_raw[k] for k in ("id", "insight_id") if k in old_raw), None)
        old = self.resolve(old_raw, evidence=False, where=where) if old_raw is not None else []
        new_raw = next((raw[k] for k in _NEW_KEYS if k in raw and k != old_key), None)
        if new_raw is None and any(k in raw for k in ("text", "insight", "content", "statement")):
            new_raw = {k: v for k, v in raw.items() if k != old_key}  # the flat shape: {"id": "i1", "text": ...}
        if not old:
            if old_raw is None:
                self.report.dropped_items += 1
                self.report.drop(f"{where}: no old insight id")
            return None
        if new_raw is None:
            self.report.dropped_items += 1
            self.report.drop(f"{where}: no replacement")
            return None
        replacement = self.insight(new_raw, where, default_kind=self.insight_kinds.get(old[0], InsightKind.FACT))
        return None if replacement is None else Supersession(insight_id=old[0], replacement=replacement)

    def lines(self, value: Any, where: str, *, keep_ids: bool = False) -> list[str]:
        """Card lines (strings, or ``{"key": "value"}`` pairs); ``[c_...]`` prefixes are cut unless ``keep_ids``."""
        if isinstance(value, (str, dict)):
            value = [value]
        if not isinstance(value, list):
            if value is not None:
                self.report.dropped_items += 1
                self.report.drop(f"{where}: not a list ({type(value).__name__})")
            return []
        out: list[str] = []
        for n, item in enumerate(value):
            texts: list[str] = []
            if isinstance(item, str):
                texts = [item]
            elif isinstance(item, dict):
                line = next((item[k] for k in ("text", "line", "id") if isinstance(item.get(k), str)), None)
                if line is not None:
                    texts = [line]
                else:  # {"name": "Ann", "home_city": "Porto"} -> "Name: Ann", "Home city: Porto"
                    texts = [
                        f"{str(k).replace('_', ' ').capitalize()}: {v}"
                        for k, v in item.items()
                        if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()
                    ]
            for text in texts:
                text = text.strip()
                if not keep_ids:
                    text = split_card_ref(text)[1]
                if not text:
                    continue
                if not keep_ids and self.echo(text, f"{where}[{n}]"):
                    continue
                out.append(_valid_text(text[:MAX_CARD_LINE_CHARS]))
        return out


def _slot_name(value: Any) -> str | None:
    """``value`` as a slot name ("Fear: Flying" -> "fear:flying"), or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKD", value.strip().casefold()).encode("ascii", "ignore").decode()
    parts = [_SLOT_JUNK.sub("_", part).strip("_") for part in text.split(":", 1)]
    if not parts[0] or parts[0] == "slot" or (len(parts) == 1 and parts[0] in MULTI_VALUED_SLOTS):
        return None
    name = ":".join(p for p in parts if p)[:SLOT_MAX_CHARS]
    return name if re.fullmatch(SLOT_PATTERN, name) else None


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
    if isinstance(value, dict):
        value = next((value[k] for k in ("id", "message_id", "insight_id") if k in value), None)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for v in value:
        if isinstance(v, dict):
            out.extend(_ids(v))
        elif isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
            out.append(str(v).strip())
    return out


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """``data``'s values under :class:`ModelUpdate` field names (synonyms merged; a wrapper object unwrapped)."""
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    known = {name for names in FIELD_SYNONYMS.values() for name in names}
    if not known & set(lowered):
        inner = next((v for v in lowered.values() if isinstance(v, dict) and known & {str(k).lower() for k in v}), None)
        if inner is not None:
            return _fields(inner)
    out: dict[str, Any] = {}
    for target, names in FIELD_SYNONYMS.items():
        present = [lowered[n] for n in names if n in lowered and lowered[n] is not None]
        if target == "summary":
            if present:
                out[target] = present[0]
            continue
        if len(present) == 1:
            out[target] = present[0]
        elif present:
            out[target] = [x for p in present for x in (p if isinstance(p, list) else [p])]
    return out


def parse_update(
    text: str,
    messages: Mapping[str, str],
    insights: Mapping[str, str],
    insight_kinds: Mapping[str, InsightKind] | None = None,
    batch_text: str | None = None,
) -> tuple[ModelUpdate, RepairReport]:
    """Repair ``text`` into a :class:`ModelUpdate`.

    ``messages`` and ``insights`` map every id the model may use (aliases like ``m1``/``i1`` and real ids)
    to real ids; a bare number ``n`` means ``m<n>`` (evidence) or ``i<n>`` (insights); anything else is dropped
    and counted. ``insight_kinds`` (real id -> kind) gives the kind of a replacement given as plain text;
    ``batch_text`` (the batch's messages) lets the prompt's example texts through only when the batch backs
    them. Raises :class:`OutputError` when there is no JSON object or none of the expected fields.
    """
    data = extract_json_object(text)
    fields = _fields(data)
    if data and not fields:
        raise OutputError(f"the JSON object has none of the expected fields ({', '.join(sorted(FIELD_SYNONYMS))})")
    reader = _Reader(messages, insights, insight_kinds or {}, batch_text)
    report = reader.report
    new_insights = [
        n
        for i, x in enumerate(_capped(_list(fields.get("new_insights"), report), report))
        if (n := reader.insight(x, f"new_insights[{i}]")) is not None
    ]
    reinforced = reader.resolve(fields.get("reinforced", []), evidence=False, where="reinforced")
    supersessions = [
        s
        for i, x in enumerate(_capped(_list(fields.get("supersessions"), report), report))
        if (s := reader.supersession(x, f"supersessions[{i}]")) is not None
    ]
    summary = fields.get("summary")
    if isinstance(summary, str) and summary.strip() and reader.echo(summary, "summary"):
        summary = None
    update = ModelUpdate(
        new_insights=new_insights,
        reinforced=reinforced,
        supersessions=supersessions,
        card_add=reader.lines(fields.get("card_add"), "card_add"),
        card_remove=reader.lines(fields.get("card_remove"), "card_remove", keep_ids=True),
        summary=_valid_text(summary.strip()) if isinstance(summary, str) and summary.strip() else None,
    )
    if update.is_empty() and report.dropped_items:
        raise OutputError(f"none of the {report.dropped_items} items in the reply had the expected shape")
    return update, report


def _capped(items: list[Any], report: RepairReport) -> list[Any]:
    if len(items) > MAX_ITEMS_PER_REPLY:
        report.dropped_items += len(items) - MAX_ITEMS_PER_REPLY
        report.drop(f"{len(items) - MAX_ITEMS_PER_REPLY} items past the first {MAX_ITEMS_PER_REPLY}")
        return items[:MAX_ITEMS_PER_REPLY]
    return items


def _list(value: Any, report: RepairReport) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # one item given alone
        return [value]
    report.dropped_items += 1
    report.drop(f"expected a list, got {type(value).__name__}")
    return []
