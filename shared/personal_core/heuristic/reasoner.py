"""Scanning messages and merging findings into a :class:`ModelUpdate`: the :class:`HeuristicReasoner`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..model import InsightKind, InsightLevel, Message, Role
from ..safety import CARD_FORBIDDEN, looks_like_injection
from ..update import CARD_LIMIT, ModelUpdate, NewInsight
from .builders import _Finding, _name_builder, _Rule
from .instructions import _instructions
from .rules import _CALL_RULES, _GREETING, _MY_RULES, _i_rules
from .sentences import _QUESTION_END, _SELF_WORDS, _SPACES, _TRIGGER, _WORD, _blocked, _prepare, _sentences
from .vocabulary import MAX_INSIGHTS

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
    vocabulary = frozenset(words)
    my_rules = tuple(r for r in _MY_RULES if not vocabulary.isdisjoint(r.keys))
    for trigger in _TRIGGER.finditer(sentence):
        start = trigger.start()
        lead = sentence[start]
        rules = _i_rules(sentence, start) if lead in "Ii" else my_rules if lead in "Mm" else _CALL_RULES
        if rules and not _blocked(sentence, start):
            yield from _apply(rules, sentence, start)


def _scan(content: str) -> Iterator[_Finding]:
    """Every finding in one user message, in order of appearance."""
    text = _prepare(content)
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


@dataclass
class _Accumulator:
    insights: dict[str, _Merged] = field(default_factory=dict)
    card: dict[str, str] = field(default_factory=dict)

    def add(self, finding: _Finding, message_id: str) -> None:
        if finding.card is not None and not CARD_FORBIDDEN.search(finding.card):
            key = _key(finding.card)
            if key not in self.card and len(self.card) < CARD_LIMIT:
                self.card[key] = finding.card
        if finding.kind is None:
            return
        key = _key(finding.text)
        merged = self.insights.get(key)
        if merged is None:
            if len(self.insights) >= MAX_INSIGHTS:
                return
            merged = self.insights[key] = _Merged(finding.kind, finding.text, finding.confidence)
        merged.confidence = max(merged.confidence, finding.confidence)
        if message_id and message_id not in merged.evidence:
            merged.evidence.append(message_id)

    def build(self) -> ModelUpdate:
        return ModelUpdate(
            new_insights=[
                NewInsight(
                    kind=m.kind,
                    text=m.text,
                    confidence=m.confidence,
                    level=InsightLevel.EXPLICIT,
                    evidence=m.evidence,
                )
                for m in self.insights.values()
            ],
            card_add=list(self.card.values()),
        )


class HeuristicReasoner:
    """Derives explicit insights from the user's own messages with regexes (no LLM, no network).

    Deterministic: the same messages always give the same :class:`ModelUpdate`.
    """

    name: str = "heuristic"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        """Explicit insights and card lines stated by the user in ``messages`` (other roles are ignored)."""
        acc = _Accumulator()
        for message in messages:
            if getattr(message, "role", None) != Role.USER:
                continue
            content = getattr(message, "content", None)
            if not isinstance(content, str) or not content.strip():
                continue
            message_id = str(getattr(message, "id", "") or "")
            try:
                for finding in _scan(content):
                    acc.add(finding, message_id)
            except Exception:  # a bad pattern interaction must never break a turn
                logger.warning("heuristic reasoner failed on message %s", message_id, exc_info=True)
        return acc.build()
