"""Scanning messages and merging findings into a :class:`ModelUpdate`: the :class:`HeuristicReasoner`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..model import InsightKind, InsightLevel, Message, Role
from ..safety import card_entry_allowed, looks_like_injection
from ..update import CARD_LIMIT, ModelUpdate, NewInsight
from .builders import _Finding, _name_builder, _Rule
from .changes import self_introduction
from .choices import choice_findings, names_an_option_number, options_in
from .events import event_findings
from .instructions import _instructions, slot_rivals
from .rules import _CALL_RULES, _GREETING, _MY_RULES, _i_rules
from .sentences import (
    _QUESTION_END,
    _SELF_WORDS,
    _SPACES,
    _TRIGGER,
    _WORD,
    _blocked,
    _prepare,
    _sentences,
    own_words,
    split_joined_traits,
)
from .vocabulary import MAX_INSIGHTS, MAX_SCAN_CHARS

logger = logging.getLogger(__name__)


def _apply(rules: Sequence[_Rule], sentence: str, pos: int) -> Iterator[_Finding]:
    for rule in rules:
        match = rule.pattern.match(sentence, pos)
        if match is None:
            continue
        finding = rule.build(match, sentence)
        if finding is not None:
            yield finding


def _scan_sentence(sentence: str) -> Iterator[_Finding]:
    if _QUESTION_END.search(sentence):
        return
    words = _WORD.findall(sentence.lower())
    yield from _instructions(sentence, words)
    if _SELF_WORDS.isdisjoint(words):
        return
    intro = self_introduction(sentence)
    if intro is not None:
        yield intro
    vocabulary = frozenset(words)
    my_rules = tuple(r for r in _MY_RULES if not vocabulary.isdisjoint(r.keys))
    for trigger in _TRIGGER.finditer(sentence):
        start = trigger.start()
        lead = sentence[start]
        rules = _i_rules(sentence, start) if lead in "Ii" else my_rules if lead in "Mm" else _CALL_RULES
        if rules and not _blocked(sentence, start):
            yield from _apply(rules, sentence, start)


def _scan(content: str) -> Iterator[_Finding]:
    """Every finding in one user message (its own words: :func:`.sentences.own_words`), in order of appearance."""
    text = split_joined_traits(own_words(_prepare(content)))
    if looks_like_injection(text):
        logger.debug("heuristic reasoner: skipping a message that looks like prompt injection")
        return
    greeting = _GREETING.match(text)
    if greeting:
        first = next(_sentences(text), "")
        finding = _name_builder(True, greeting=True)(greeting, first)
        if finding is not None:
            yield finding
    for sentence in _sentences(text):
        yield from _scan_sentence(sentence)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def _key(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip(" .!")


@dataclass
class _Merged:
    kind: InsightKind
    text: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    slot: str | None = None


@dataclass
class _Accumulator:
    """Findings merged by text, in order; for a slot, the value stated last comes last (planning supersedes the
    earlier ones with it) and only its card line is kept."""

    insights: dict[str, _Merged] = field(default_factory=dict)
    card: dict[str, str] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # slot -> key of the insight stated last
    card_latest: dict[str, str] = field(default_factory=dict)  # slot -> key of its card line stated last

    def add(self, finding: _Finding, message_id: str) -> None:
        if finding.card is not None and card_entry_allowed(finding.card):
            self._add_card(finding.card, finding.slot)
        if finding.kind is None:
            return
        key = _key(finding.text)
        merged = self.insights.get(key)
        if merged is None:
            if len(self.insights) >= MAX_INSIGHTS:
                return
            merged = self.insights[key] = _Merged(finding.kind, finding.text, finding.confidence)
        elif finding.slot is not None and self.latest.get(finding.slot, key) != key:
            self.insights[key] = self.insights.pop(key)  # said again after another value: it is the latest
        if finding.slot is not None:
            merged.slot = finding.slot
            self.latest[finding.slot] = key
        merged.confidence = max(merged.confidence, finding.confidence)
        if message_id and message_id not in merged.evidence:
            merged.evidence.append(message_id)

    def _add_card(self, card: str, slot: str | None) -> None:
        key = _key(card)
        if slot is not None:
            previous = self.card_latest.get(slot)
            if previous is not None and previous != key:
                self.card.pop(previous, None)
            self.card_latest[slot] = key
        if key not in self.card and len(self.card) < CARD_LIMIT:
            self.card[key] = card

    def _card_remove(self) -> list[str]:
        """For each standing instruction kept, the other instructions of its slot (the card may hold one)."""
        removed: list[str] = []
        for slot, key in self.card_latest.items():
            if slot.startswith("instruction:") and key in self.card:
                removed.extend(slot_rivals(slot, self.card[key]))
        return removed

    def build(self) -> ModelUpdate:
        return ModelUpdate(
            new_insights=[
                NewInsight(
                    kind=m.kind,
                    text=m.text,
                    confidence=m.confidence,
                    level=InsightLevel.EXPLICIT,
                    evidence=m.evidence,
                    slot=m.slot,
                )
                for m in self.insights.values()
            ],
            card_add=list(self.card.values()),
            card_remove=self._card_remove(),
        )


def _last_per_slot(findings: list[_Finding]) -> list[_Finding]:
    """``findings`` of one message, keeping only the last value of each slot ("I'm not vegetarian anymore, I eat
    meat now" states one diet: "Eats meat")."""
    last = {f.slot: i for i, f in enumerate(findings) if f.slot is not None}
    return [f for i, f in enumerate(findings) if f.slot is None or last[f.slot] == i]


class HeuristicReasoner:
    """Derives explicit insights from the user's own messages with regexes (no LLM, no network).

    Deterministic: the same messages always give the same :class:`ModelUpdate`.
    """

    name: str = "heuristic"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        """Explicit insights and card lines stated by the user in ``messages`` (other roles are ignored)."""
        acc = _Accumulator()
        options: list[str] = []  # the list the assistant offered just before (a choice resolves against it)
        for message in messages:
            content = getattr(message, "content", None)
            role = getattr(message, "role", None)
            if role == Role.ASSISTANT and isinstance(content, str):
                options = options_in(content[:MAX_SCAN_CHARS])
                continue
            if role != Role.USER:
                continue
            if not isinstance(content, str) or not content.strip():
                continue
            message_id = str(getattr(message, "id", "") or "")
            try:
                findings = [f for f in _scan(content) if not names_an_option_number(f.text)]
                if not looks_like_injection(content):
                    prepared = own_words(_prepare(content))
                    if options:
                        findings += choice_findings(prepared, options)
                    said = getattr(message, "created_at", None)
                    findings += event_findings(prepared, said.date() if isinstance(said, datetime) else None)
                for finding in _last_per_slot(findings):
                    acc.add(finding, message_id)
            except Exception:  # a bad pattern interaction must never break a turn
                logger.warning("heuristic reasoner failed on message %s", message_id, exc_info=True)
            options = []
        return acc.build()
