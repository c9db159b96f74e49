"""What a reasoner returns for a batch of messages: a :class:`ModelUpdate`. Every field has a default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .model import InsightKind, InsightLevel, Message

#: Most entries a user's card may hold.
CARD_LIMIT = 40
#: Slot names: lowercase words joined by ``_ : . -``.
SLOT_PATTERN = r"^[a-z0-9][a-z0-9_:.\-]*$"
SLOT_MAX_CHARS = 80
#: Slot prefixes a user can hold several values of at once: they need a thing after ":" ("food:peanuts"); a bare
#: one would make every new allergy supersede the last.
MULTI_VALUED_SLOTS = frozenset(
    {"allergy", "dislike", "favorite", "fear", "food", "health", "instruction", "like", "only", "habit", "taste"}
)


class NewInsight(BaseModel):
    """An insight proposed by a reasoner; ``evidence`` are ids of messages in the batch."""

    model_config = ConfigDict(extra="ignore")

    kind: InsightKind
    text: str = Field(min_length=1, max_length=4000)
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    level: InsightLevel = InsightLevel.EXPLICIT
    evidence: list[str] = Field(default_factory=list)
    #: What the insight is about when only one value can hold at a time ("residence", "name", "diet",
    #: "taste:jazz"...): a new current insight with a slot supersedes the current one holding the same slot.
    slot: str | None = Field(default=None, max_length=SLOT_MAX_CHARS, pattern=SLOT_PATTERN)
    #: The reasoner's own kind name when it was mapped to ``kind`` (e.g. "allergy" -> fact); stored on the insight.
    original_kind: str | None = Field(default=None, max_length=40)


class Supersession(BaseModel):
    """The user changed their mind: ``insight_id`` is closed and ``replacement`` becomes current."""

    model_config = ConfigDict(extra="ignore")

    insight_id: str
    replacement: NewInsight


class ModelUpdate(BaseModel):
    """Changes to one user's model derived from one batch of messages. ``ModelUpdate()`` changes nothing."""

    model_config = ConfigDict(extra="ignore")

    new_insights: list[NewInsight] = Field(default_factory=list)
    reinforced: list[str] = Field(default_factory=list)
    supersessions: list[Supersession] = Field(default_factory=list)
    card_add: list[str] = Field(default_factory=list)
    card_remove: list[str] = Field(default_factory=list)
    summary: str | None = None

    def is_empty(self) -> bool:
        """True when applying the update would change nothing."""
        return (
            not (self.new_insights or self.reinforced or self.supersessions or self.card_add or self.card_remove)
            and self.summary is None
        )


@runtime_checkable
class Reasoner(Protocol):
    """Derives a :class:`ModelUpdate` from a batch of one user's messages.

    :class:`~personal_core.heuristic.HeuristicReasoner` (no LLM) and any reasoner of yours implement it and run
    inside ``observe()``; :class:`~personal_core.reasoner.LLMReasoner` implements it too, and is run by the
    durable background deriver instead.

    ``derive`` gets the newly observed messages of one user, in order. When they open with the user's reply to an
    assistant turn stored earlier in the same session, that turn leads them, marked ``history_only``: context
    to read (the options a "the second one" refers to), never something to learn from.
    """

    name: str

    def derive(self, messages: Sequence[Message]) -> ModelUpdate: ...
