"""Pure planning of corrections made by a person: retract, correct, set the card, and the cascade of a message
deletion into the insights it was evidence for.

Each function takes a :class:`UserState` and returns the records that apply the change (one journal
transaction) and a :class:`CorrectionReport`. History is kept: a retracted insight stays stored with
``retracted_at`` set (never shown in context, search or the card, never derived again from the same evidence),
and a corrected one is superseded by its replacement. Card lines follow the insights they state.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError
from .ids import stable_id
from .model import Insight, InsightKind
from .planning import Embed, dedupe_index, plan_card, profile_record
from .records import CardEntry, Profile, Record, insight_to_record
from .safety import card_entry_allowed
from .state import UserState
from .text import normalise
from .update import CARD_LIMIT

#: Longest accepted retraction reason, in characters.
MAX_REASON_CHARS = 500
#: Longest accepted card line, in characters.
MAX_CARD_LINE_CHARS = 400
#: Retraction reason of insights whose every evidence message was deleted.
EVIDENCE_DELETED = "evidence deleted"


@dataclass
class CorrectionReport:
    """What a correction changed (ids and counts, for stats and logs)."""

    retracted: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    stripped_evidence: int = 0
    cascaded_retractions: int = 0
    card_followed: int = 0

    def counts(self) -> dict[str, float]:
        """Counters for the user's stats (only the non-zero ones)."""
        values = {
            "insights_retracted": len(self.retracted),
            "insights_corrected": len(self.added),
            "insights_superseded": len(self.superseded),
            "stripped_evidence": self.stripped_evidence,
            "cascaded_retractions": self.cascaded_retractions,
            "card_followed": self.card_followed,
        }
        return {k: float(v) for k, v in values.items() if v}


def _insight(state: UserState, insight_id: object) -> Insight:
    if not isinstance(insight_id, str):
        raise InvalidInputError(f"insight_id must be a str, got {type(insight_id).__name__}")
    insight = state.insights.get(insight_id)
    if insight is None:
        raise InvalidInputError(f"no insight {insight_id!r} for this user")
    return insight


def _retracted(insight: Insight, reason: str | None, now: datetime) -> Insight:
    return insight.model_copy(
        update={
            "retracted_at": now,
            "retraction_reason": reason,
            "valid_to": insight.valid_to or max(now, insight.valid_from),
            "updated_at": now,
        }
    )


def _finish(
    state: UserState,
    changed: Mapping[str, Insight],
    report: CorrectionReport,
    *,
    new_vectors: Mapping[str, npt.NDArray[np.float32]] | None = None,
    entries: Sequence[CardEntry] | None = None,
) -> list[Record]:
    """Records of the changed insights and, if the card changed (lines follow their insights), the profile."""
    vectors = new_vectors or {}
    records = [
        insight_to_record(i, vectors[i.id] if i.id in vectors else state.insight_vectors[i.id])
        for i in changed.values()
    ]
    after = ChainMap(dict(changed), state.insights)
    by_text = dedupe_index(state).by_text
    if entries is None:
        entries, report.card_followed = plan_card(
            state.profile.entries, after=after, by_text_before=by_text, by_text_after=by_text
        )
    profile = Profile(summary=state.profile.summary, entries=tuple(entries))
    if profile != state.profile or not state.has_profile:
        records.append(profile_record(state, profile))
    return records


def plan_retract(
    state: UserState, insight_id: str, reason: str | None = None, *, now: datetime
) -> tuple[list[Record], CorrectionReport]:
    """Retract ``insight_id``: kept in history with ``retracted_at``/``retraction_reason``, its card line removed.

    Retracting an insight twice changes nothing. Raises :class:`InvalidInputError` for an unknown id or a
    reason that is not a short string.
    """
    insight = _insight(state, insight_id)
    if reason is not None:
        if not isinstance(reason, str):
            raise InvalidInputError(f"reason must be a str or None, got {type(reason).__name__}")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInputError(f"reason is {len(reason)} characters long; the limit is {MAX_REASON_CHARS}")
        reason = reason.strip() or None
    report = CorrectionReport()
    if insight.retracted_at is not None:
        return [], report
    changed = {insight.id: _retracted(insight, reason, now)}
    report.retracted.append(insight.id)
    return _finish(state, changed, report), report


def _kind(kind: object, default: InsightKind) -> InsightKind:
    if kind is None:
        return default
    try:
        return InsightKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in InsightKind)
        raise InvalidInputError(f"unknown insight kind {kind!r} (one of: {allowed})") from None


def _confidence(confidence: object, default: float) -> float:
    if confidence is None:
        return default
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 <= confidence <= 1.0:
        raise InvalidInputError(f"confidence must be a number in [0, 1], got {confidence!r}")
    return float(confidence)


def plan_correct(
    state: UserState,
    insight_id: str,
    text: str,
    *,
    kind: InsightKind | str | None = None,
    confidence: float | None = None,
    now: datetime,
    embed: Embed,
) -> tuple[list[Record], CorrectionReport, Insight]:
    """A person's correction of a current insight, and the insight that now states it.

    The old insight is superseded (history kept) by a new one carrying its evidence, kind (unless ``kind`` is
    given), level and slot; a card line stating the old insight now states the new one. The same text (after
    normalisation) updates the insight in place; the text of another current insight supersedes the old one
    by that insight. Raises :class:`InvalidInputError` for an unknown or no longer current insight, blank or
    overlong text, an unknown kind or a confidence outside [0, 1].
    """
    old = _insight(state, insight_id)
    if not old.is_current:
        raise InvalidInputError(f"insight {insight_id!r} is no longer current (superseded or retracted)")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("text must be a non-blank string")
    text = text.strip()
    if len(text) > 4000:
        raise InvalidInputError(f"text is {len(text)} characters long; the limit is 4000")
    new_kind = _kind(kind, old.kind)
    new_confidence = _confidence(confidence, max(old.confidence, 0.9))
    report = CorrectionReport()
    key = normalise(text)
    if not key:
        raise InvalidInputError("text must contain a word")
    if key == normalise(old.text):
        updated = old.model_copy(
            update={"text": text, "kind": new_kind, "confidence": new_confidence, "updated_at": now}
        )
        report.updated.append(old.id)
        vector = embed([text])[0] if text != old.text else state.insight_vectors[old.id]
        return _finish(state, {old.id: updated}, report, new_vectors={old.id: vector}), report, updated
    closed = old.model_copy(update={"valid_to": max(now, old.valid_from), "updated_at": now})
    twin_id = dedupe_index(state).by_text.get(key)
    twin = state.insights.get(twin_id) if twin_id is not None else None
    if twin is not None and twin.is_current:
        merged = list(dict.fromkeys([*twin.evidence, *old.evidence]))
        target = twin.model_copy(update={"evidence": merged, "confidence": new_confidence, "updated_at": now})
        report.updated.append(twin.id)
        report.superseded.append(old.id)
        changed = {old.id: closed.model_copy(update={"superseded_by": twin.id}), twin.id: target}
        return _finish(state, changed, report), report, target
    new = Insight(
        id=stable_id("ins", state.user_id, key, "correction", old.id),
        user_id=state.user_id,
        kind=new_kind,
        text=text,
        confidence=new_confidence,
        evidence=list(old.evidence),
        level=old.level,
        created_at=now,
        updated_at=now,
        valid_from=old.valid_from,
        slot=old.slot,
    )
    report.added.append(new.id)
    report.superseded.append(old.id)
    changed = {old.id: closed.model_copy(update={"superseded_by": new.id}), new.id: new}
    records = _finish(state, changed, report, new_vectors={new.id: embed([text])[0]})
    return records, report, new


def plan_set_card(state: UserState, lines: Iterable[str]) -> tuple[list[Record], CorrectionReport]:
    """Replace the card with ``lines`` (stripped, deduplicated), each linked to the current insight with the
    same text. Raises :class:`InvalidInputError` naming the lines the card guard refuses, or for lines that are
    not non-blank strings of at most :data:`MAX_CARD_LINE_CHARS` characters, or more than :data:`CARD_LIMIT`.
    """
    if isinstance(lines, str) or not isinstance(lines, Iterable):
        raise InvalidInputError("lines must be a list of strings")
    texts: list[str] = []
    for line in lines:
        if not isinstance(line, str) or not line.strip():
            raise InvalidInputError(f"card lines must be non-blank strings, got {line!r}")
        if len(line) > MAX_CARD_LINE_CHARS:
            raise InvalidInputError(f"a card line is {len(line)} characters long; the limit is {MAX_CARD_LINE_CHARS}")
        texts.append(line.strip())
    refused = [t for t in texts if not card_entry_allowed(t)]
    if refused:
        raise InvalidInputError(f"the card guard refuses these lines: {refused!r}")
    held = {normalise(e.text): e for e in state.profile.entries}
    by_text = dedupe_index(state).by_text
    entries: dict[str, CardEntry] = {}
    for text in texts:
        key = normalise(text)
        if not key:
            raise InvalidInputError(f"card line {text!r} has no words")
        if key in entries:
            continue
        links = [
            i
            for i in (held[key].insights if key in held else ())
            if i in state.insights and state.insights[i].is_current
        ]
        if by_text.get(key) is not None and by_text[key] not in links:
            links.append(by_text[key])
        slot = held[key].slot if key in held else None
        slot = slot or next((state.insights[i].slot for i in links if state.insights[i].slot), None)
        entries[key] = CardEntry(text=text, insights=tuple(links), slot=slot)
    if len(entries) > CARD_LIMIT:
        raise InvalidInputError(f"the card holds at most {CARD_LIMIT} lines, got {len(entries)}")
    report = CorrectionReport()
    return _finish(state, {}, report, entries=list(entries.values())), report


def plan_message_deletion(
    state: UserState, message_ids: Collection[str], *, now: datetime, keep_model: bool = False
) -> tuple[list[Record], CorrectionReport]:
    """The cascade of deleting ``message_ids``: those ids leave every insight's evidence, and an insight left
    with no evidence (it had some) is retracted with reason :data:`EVIDENCE_DELETED` (its card line removed),
    unless ``keep_model`` (a chat window reset: the conversation is closed, not shown wrong).

    The caller adds the message deletions to the same transaction.
    """
    gone = set(message_ids)
    report = CorrectionReport()
    changed: dict[str, Insight] = {}
    if not gone:
        return [], report
    for insight in state.insights.values():
        kept = [e for e in insight.evidence if e not in gone]
        if len(kept) == len(insight.evidence):
            continue
        report.stripped_evidence += len(insight.evidence) - len(kept)
        updated = insight.model_copy(update={"evidence": kept, "updated_at": now})
        if not kept and insight.retracted_at is None and not keep_model:
            updated = _retracted(updated, EVIDENCE_DELETED, now)
            report.cascaded_retractions += 1
            report.retracted.append(insight.id)
        changed[insight.id] = updated
    if not changed:
        return [], report
    return _finish(state, changed, report), report
