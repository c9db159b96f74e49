"""Pure planning: turn a reasoner's :class:`ModelUpdate` into the records that change a user's model.

Exact duplicates (after normalisation) and near-duplicates (cosine above a threshold, same kind) reinforce
an existing insight instead of adding one. A supersession closes the old insight (``valid_to``,
``superseded_by``) and adds its replacement; nothing is deleted. New insight ids are derived from the
user, the text and the evidence, so planning the same batch again yields the same records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .ids import stable_id
from .model import Insight, Message
from .records import Profile, Record, insight_to_record, profile_to_record
from .safety import card_entry_allowed
from .state import UserState
from .update import CARD_LIMIT, ModelUpdate, NewInsight

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]

_NORMALISE = re.compile(r"[^\w]+", re.UNICODE)
MAX_EVIDENCE = 50


def normalise(text: str) -> str:
    """Case-, punctuation- and space-insensitive form of ``text`` for exact-duplicate detection."""
    return _NORMALISE.sub(" ", text.lower()).strip()


@dataclass
class PlanReport:
    """What planning did, for stats and logs."""

    added: list[str] = field(default_factory=list)
    added_kinds: list[str] = field(default_factory=list)
    reinforced: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    dropped_evidence: int = 0
    dropped_ids: int = 0
    refused_card: int = 0


def _reinforce(insight: Insight, new: NewInsight | None, evidence: Sequence[str], now: datetime) -> Insight:
    confidence = min(1.0, insight.confidence + (1.0 - insight.confidence) * 0.25)
    if new is not None:
        confidence = max(confidence, new.confidence)
    merged = list(dict.fromkeys([*insight.evidence, *evidence]))[-MAX_EVIDENCE:]
    return insight.model_copy(
        update={"times_seen": insight.times_seen + 1, "confidence": confidence, "evidence": merged, "updated_at": now}
    )


def _close(
    replaced: Sequence[str],
    by: str,
    changed: dict[str, Insight],
    current: dict[str, Insight],
    valid_from: datetime,
    now: datetime,
    report: PlanReport,
) -> None:
    """Mark the insights ``replaced`` superseded by ``by`` (history kept: ``valid_to`` and ``superseded_by``)."""
    for old_id in replaced:
        old = changed.get(old_id) or current.get(old_id)
        if old is None or not old.is_current:
            continue
        changed[old_id] = old.model_copy(
            update={"valid_to": max(valid_from, old.valid_from), "superseded_by": by, "updated_at": now}
        )
        report.superseded.append(old_id)


def plan_update(
    state: UserState,
    update: ModelUpdate,
    batch: Sequence[Message],
    *,
    now: datetime,
    embed: Embed,
    dedupe_threshold: float = 0.92,
) -> tuple[list[Record], PlanReport]:
    """Records (insights and profile) that apply ``update``, derived from ``batch``, to ``state``.

    Evidence outside the batch and unknown insight ids are dropped and counted in the report.
    """
    report = PlanReport()
    batch_ids = {m.id: m for m in batch}
    index = state.dedupe_index()
    current = index.current
    changed: dict[str, Insight] = {}
    by_text = dict(index.by_text)  # extended below with this batch's new insights

    def evidence_of(new: NewInsight) -> list[str]:
        kept = [e for e in dict.fromkeys(new.evidence) if e in batch_ids]
        report.dropped_evidence += len(new.evidence) - len(kept)
        return kept

    def said_at(evidence: Sequence[str]) -> datetime:
        times = [batch_ids[e].created_at for e in evidence if e in batch_ids]
        return min(times) if times else now

    proposals: list[tuple[NewInsight, str | None]] = [(n, None) for n in update.new_insights]
    for sup in update.supersessions:
        if sup.insight_id in current:
            proposals.append((sup.replacement, sup.insight_id))
        else:
            report.dropped_ids += 1
    vectors = embed([p.text for p, _ in proposals]) if proposals else np.zeros((0, state.dimension), np.float32)
    new_vectors: dict[str, npt.NDArray[np.float32]] = {}

    current_ids = index.ids
    matrix = index.matrix

    by_slot: dict[str, list[str]] = {}
    for insight in current.values():
        if insight.slot:
            by_slot.setdefault(insight.slot, []).append(insight.id)

    for (proposal, replaces), vector in zip(proposals, vectors, strict=True):
        evidence = evidence_of(proposal)
        key = normalise(proposal.text)
        if not key:
            continue
        slot = proposal.slot
        twin_id = by_text.get(key)
        if twin_id is not None and twin_id in changed and not changed[twin_id].is_current:
            twin_id = None  # closed earlier in this batch ("Porto", then "Lisbon", then "Porto" again): a new value
        if twin_id is None and replaces is None and matrix is not None:
            sims = matrix @ vector
            for idx in np.argsort(-sims, kind="stable")[:3]:
                candidate = current[current_ids[int(idx)]]
                if sims[idx] < dedupe_threshold:
                    break
                if candidate.id in changed and not changed[candidate.id].is_current:
                    continue  # closed earlier in this batch
                # a near twin holding the same slot with other words is a change of value, not a repeat
                if candidate.kind == proposal.kind and (slot is None or candidate.slot != slot):
                    twin_id = candidate.id
                    break
        # the current holders of the proposal's slot (other than its twin) are what a slotted insight replaces
        replaced = [replaces] if replaces is not None else []
        if slot is not None and replaces is None:
            replaced = [h for h in by_slot.get(slot, ()) if h != twin_id and h not in replaced]
        if twin_id is not None and twin_id != replaces:
            base = changed.get(twin_id) or current.get(twin_id)
            if base is not None:
                reinforced = _reinforce(base, proposal, evidence, now)
                if slot is not None and base.slot != slot:
                    reinforced = reinforced.model_copy(update={"slot": slot})
                changed[twin_id] = reinforced
                report.reinforced.append(twin_id)
                if slot is not None:
                    _close(replaced, twin_id, changed, current, max(now, base.valid_from), now, report)
                    by_slot[slot] = [twin_id]
                continue
        valid_from = said_at(evidence)
        insight = Insight(
            id=stable_id("ins", state.user_id, key, *evidence),
            user_id=state.user_id,
            kind=proposal.kind,
            text=proposal.text.strip(),
            confidence=proposal.confidence,
            evidence=evidence,
            level=proposal.level,
            created_at=now,
            updated_at=now,
            valid_from=valid_from,
            slot=slot,
        )
        if insight.id in state.insights:  # the same batch planned again: nothing new
            continue
        changed[insight.id] = insight
        new_vectors[insight.id] = vector
        by_text[key] = insight.id
        report.added.append(insight.id)
        report.added_kinds.append(insight.kind.value)
        _close(replaced, insight.id, changed, current, valid_from, now, report)
        if slot is not None:
            by_slot[slot] = [insight.id]

    for insight_id in dict.fromkeys(update.reinforced):
        base = changed.get(insight_id) or current.get(insight_id)
        if base is None:
            report.dropped_ids += 1
            continue
        changed[insight_id] = _reinforce(base, None, [m.id for m in batch if m.role.value == "user"][:5], now)
        report.reinforced.append(insight_id)

    records = [
        insight_to_record(i, new_vectors[i.id] if i.id in new_vectors else state.insight_vectors[i.id])
        for i in changed.values()
    ]
    allowed = [c for c in update.card_add if card_entry_allowed(c)]
    report.refused_card += len(update.card_add) - len(allowed)
    profile = plan_profile(state.profile, update.model_copy(update={"card_add": allowed}))
    if profile != state.profile or not state.has_profile:
        records.append(profile_record(state, profile, embed))
    return records, report


def plan_profile(profile: Profile, update: ModelUpdate) -> Profile:
    """The card and summary after ``update``: removals, then additions (deduplicated, oldest dropped past the cap)."""
    removing = {normalise(c) for c in update.card_remove}
    card = [c for c in profile.card if normalise(c) not in removing]
    present = {normalise(c) for c in card}
    for entry in update.card_add:
        entry = entry.strip()
        if entry and normalise(entry) not in present:
            card.append(entry)
            present.add(normalise(entry))
    card = card[-CARD_LIMIT:]
    summary = profile.summary if update.summary is None else update.summary.strip()
    return Profile(card=tuple(card), summary=summary)


def profile_record(state: UserState, profile: Profile, embed: Embed) -> Record:
    """The profile record for ``profile`` (embedded on its card and summary)."""
    text = " ".join([*profile.card, profile.summary]).strip() or state.user_id
    return profile_to_record(state.user_id, profile, embed([text])[0])
