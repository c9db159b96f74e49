"""Pure planning: turn a reasoner's :class:`ModelUpdate` into the records that change a user's model.

Exact duplicates (after normalisation) and near-duplicates (cosine above a threshold, same kind) reinforce
an existing insight instead of adding one. A supersession closes the old insight (``valid_to``,
``superseded_by``) and adds its replacement; nothing is deleted. New insight ids are derived from the
user, the text and the evidence, so planning the same batch again yields the same records.
"""

from __future__ import annotations

import hashlib
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .dedupe import CurrentInsights
from .ids import stable_id
from .model import Insight, Message
from .ranking import cosines
from .records import CardEntry, Profile, Record, insight_to_record, profile_to_record, split_card_ref
from .safety import card_entry_allowed, defuse
from .state import UserState
from .text import flatten
from .text import normalise as normalise  # re-exported: planning.normalise is public
from .update import CARD_LIMIT, ModelUpdate, NewInsight

Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]

MAX_EVIDENCE = 50


@dataclass(frozen=True)
class DedupeIndex:
    """A snapshot (at ``version``) of the current insights, for duplicate detection. Treat as read-only."""

    version: int
    current: Mapping[str, Insight]  # in ``state.insights``' order
    by_text: Mapping[str, str]  # normalised text -> the latest added current insight with it
    ids: list[str]
    matrix: npt.NDArray[np.float32] | None
    by_slot: Mapping[str, list[str]] = field(default_factory=dict)  # slot -> current holders, in that order


def dedupe_index(state: UserState) -> DedupeIndex:
    """Current insights by id and by normalised text, their vectors and slot holders: what planning compares
    against. Cached on the state until its insights change; the structures behind it follow the insights
    changed (:class:`~personal_core.dedupe.CurrentInsights`), so a write costs what it changed."""
    cached = state.caches.get("dedupe")
    if isinstance(cached, DedupeIndex) and cached.version == state.insights_version:
        return cached
    rows = state.caches.get("dedupe-rows")
    changed = state.changed_insights("dedupe")
    if not isinstance(rows, CurrentInsights) or changed is None:
        rows = CurrentInsights(state.dimension)
        rows.rebuild(state.insights, state.insight_vectors, state.insight_order)
        state.caches["dedupe-rows"] = rows
    else:
        rows.sync(state.insights, state.insight_vectors, state.insight_order, sorted(changed))
    index = DedupeIndex(
        version=state.insights_version,
        current=rows.current,
        by_text=state.current_by_text().latest,
        ids=rows.ids,
        matrix=rows.matrix,
        by_slot=rows.slots,
    )
    state.caches["dedupe"] = index
    return index


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
    #: proposals refused because they restate a retracted insight from the same evidence
    refused_retracted: int = 0
    #: card lines replaced or removed because the insight they state was superseded or retracted
    card_followed: int = 0


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
    current: Mapping[str, Insight],
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
    refuse_retracted: bool = True,
) -> tuple[list[Record], PlanReport]:
    """Records (insights and profile) that apply ``update``, derived from ``batch``, to ``state``.

    Evidence outside the batch and unknown insight ids are dropped and counted in the report. A proposal
    restating a retracted insight (same normalised text) from any of its evidence is refused and counted, unless
    ``refuse_retracted`` is False (a person adding it back by hand).
    """
    report = PlanReport()
    batch_ids = {m.id: m for m in batch}
    index = dedupe_index(state)
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
    proposals = [(p.model_copy(update={"text": defuse(p.text)}), r) for p, r in proposals]
    vectors = embed([p.text for p, _ in proposals]) if proposals else np.zeros((0, state.dimension), np.float32)
    new_vectors: dict[str, npt.NDArray[np.float32]] = {}

    current_ids = index.ids
    matrix = index.matrix

    by_slot: ChainMap[str, list[str]] = ChainMap({}, dict(index.by_slot))  # changes go to the first map

    retracted = state.current_by_text().retracted if proposals else {}
    refused: set[str] = set()

    for (proposal, replaces), vector in zip(proposals, vectors, strict=True):
        evidence = evidence_of(proposal)
        key = normalise(proposal.text)
        if not key:
            continue
        if refuse_retracted and any(set(evidence) & set(r.evidence) for r in retracted.get(key, {}).values()):
            report.refused_retracted += 1  # a person said this is wrong: never derived again from that evidence
            refused.add(key)
            continue
        slot = proposal.slot
        twin_id = by_text.get(key)
        if twin_id is not None and twin_id in changed and not changed[twin_id].is_current:
            twin_id = None  # closed earlier in this batch ("Porto", then "Lisbon", then "Porto" again): a new value
        if twin_id is None and replaces is None and matrix is not None:
            sims = cosines(matrix, vector)  # numpy's loop, not threaded BLAS (see ranking.cosines)
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
            original_kind=proposal.original_kind,
        )
        held = state.insights.get(insight.id)
        if held is not None and held.retracted_at is not None and not refuse_retracted:
            # added back by a person with the evidence of the retracted one: a new insight, history kept
            again = stable_id("ins", state.user_id, key, *evidence, "again", held.retracted_at.isoformat())
            insight = insight.model_copy(update={"id": again})
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
    allowed = [flatten(c) for c in update.card_add if card_entry_allowed(c)]  # stored without invisibles
    report.refused_card += len(update.card_add) - len(allowed)
    allowed = [c for c in allowed if normalise(split_card_ref(c)[1]) not in refused]
    after = ChainMap(changed, state.insights)
    entries, report.card_followed = plan_card(
        state.profile.entries,
        after=after,
        by_text_before=index.by_text,
        by_text_after=by_text,
        remove=update.card_remove,
        add=allowed,
    )
    summary = state.profile.summary if update.summary is None else defuse(update.summary).strip()
    profile = Profile(summary=summary, entries=entries)
    if profile != state.profile or not state.has_profile:
        records.append(profile_record(state, profile))
    return records, report


def retracted_by_text(insights: Iterable[Insight]) -> dict[str, list[Insight]]:
    """Retracted insights by normalised text (what planning refuses to derive again from the same evidence)."""
    out: dict[str, list[Insight]] = {}
    for insight in insights:
        if insight.retracted_at is not None:
            out.setdefault(normalise(insight.text), []).append(insight)
    return out


def _successor(after: Mapping[str, Insight], insight_id: str) -> Insight | None:
    """The current insight that ``insight_id`` was (transitively) superseded by; None if retracted or unknown."""
    seen: set[str] = set()
    insight = after.get(insight_id)
    while insight is not None and not insight.is_current and insight.id not in seen:
        seen.add(insight.id)
        if insight.retracted_at is not None or insight.superseded_by is None:
            return None
        insight = after.get(insight.superseded_by)
    return insight


def _follow(entry: CardEntry, links: Sequence[str], after: Mapping[str, Insight]) -> CardEntry | None:
    """``entry`` after the insights it states changed: kept (links to current ones), replaced by the text of
    the insight that superseded them, or None (retracted, or the replacement may not be on the card)."""
    known = [i for i in links if i in after]
    current = [i for i in known if after[i].is_current]
    if current:
        slot = entry.slot or next((after[i].slot for i in current if after[i].slot), None)
        return CardEntry(text=entry.text, insights=tuple(current), slot=slot, id=entry.id)
    if not known:
        return CardEntry(text=entry.text, slot=entry.slot, id=entry.id)
    for insight_id in known:
        successor = _successor(after, insight_id)
        if successor is not None:
            if not card_entry_allowed(successor.text):
                return None
            return CardEntry(text=successor.text, insights=(successor.id,), slot=successor.slot)
    return None


def plan_card(
    entries: Sequence[CardEntry],
    *,
    after: Mapping[str, Insight],
    by_text_before: Mapping[str, str],
    by_text_after: Mapping[str, str],
    remove: Sequence[str] = (),
    add: Sequence[str] = (),
) -> tuple[tuple[CardEntry, ...], int]:
    """The card lines after a change, and how many lines followed a changed insight.

    ``after`` holds every insight as it will be (changed ones included); ``by_text_before`` / ``by_text_after``
    map normalised texts to current insight ids before and after. Lines in ``remove`` (by id or text) go; each
    remaining line follows the insights it states (or, for lines stored without links, the current insight
    with the same text); ``add`` lines are appended, linked to the insight with the same text. Lines are
    deduplicated by normalised text and the oldest dropped past :data:`CARD_LIMIT`. Guards are the caller's.
    """
    removing_ids: set[str] = set()
    removing_texts: set[str] = set()
    for item in remove:
        ref, text = split_card_ref(item)
        if ref is not None:
            removing_ids.add(ref)
        if normalise(text):
            removing_texts.add(normalise(text))
    followed = 0
    out: dict[str, CardEntry] = {}

    def put(entry: CardEntry) -> None:
        key = normalise(entry.text)
        if not key:
            return
        held = out.get(key)
        if held is None:
            out[key] = entry
        else:
            links = tuple(dict.fromkeys([*held.insights, *entry.insights]))
            out[key] = CardEntry(text=held.text, insights=links, slot=held.slot or entry.slot, id=held.id)

    for entry in entries:
        key = normalise(entry.text)
        if entry.id in removing_ids or key in removing_texts:
            continue
        links = list(entry.insights)
        linked = by_text_before.get(key)
        if linked is not None and linked not in links:
            links.append(linked)
        kept = _follow(entry, links, after)
        if kept is None or kept.text != entry.text:
            followed += 1
        if kept is not None:
            put(kept)
    for text in add:
        ref, text = split_card_ref(text)
        key = normalise(text)
        if not key or key in out:
            continue
        linked = by_text_after.get(key)
        insight = after.get(linked) if linked is not None else None
        if insight is not None and insight.is_current:
            put(CardEntry(text=text, insights=(insight.id,), slot=insight.slot))
        else:
            put(CardEntry(text=text))
    return tuple(out.values())[-CARD_LIMIT:], followed


def plan_profile(profile: Profile, update: ModelUpdate) -> Profile:
    """The card and summary after ``update`` alone (no insight changes): removals, then additions."""
    entries, _ = plan_card(
        profile.entries, after={}, by_text_before={}, by_text_after={}, remove=update.card_remove, add=update.card_add
    )
    summary = profile.summary if update.summary is None else defuse(update.summary).strip()
    return Profile(summary=summary, entries=entries)


def profile_record(state: UserState, profile: Profile) -> Record:
    """The profile record for ``profile``.

    Its vector is a fixed unit vector derived from the user id, not an embedding: nothing searches profiles by
    vector (they are read by id with the user), so a card edit never needs the embedder (the CLI can retract or
    set card lines on a store opened without its model) and costs no embedding call.
    """
    return profile_to_record(state.user_id, profile, _profile_vector(state.user_id, state.dimension))


def _profile_vector(user_id: str, dimension: int) -> npt.NDArray[np.float32]:
    """A one-hot unit vector picked by a hash of the user id (exactly unit length in float32, so Chroma's
    cosine space stores it as given)."""
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).digest()
    vector = np.zeros(dimension, dtype=np.float32)
    vector[int.from_bytes(digest[:8], "big") % dimension] = 1.0
    return vector


def proposal_texts(update: ModelUpdate) -> list[str]:
    """The texts :func:`plan_update` embeds for ``update``'s proposals (defused as they will be stored), so a
    caller can embed them ahead, outside any lock."""
    return [defuse(n.text) for n in update.new_insights] + [defuse(s.replacement.text) for s in update.supersessions]
