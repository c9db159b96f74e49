"""The LLM reasoner: prompt -> LLM -> validated :class:`ModelUpdate`.

The LLM protocol (what an LLM callable is, how it is called) lives in :mod:`personal_core.llm`. Prompts show
messages and insights under short aliases (``m1``, ``i1``) that models copy reliably; replies may use aliases
or real ids.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import prompts
from .errors import PersonalError
from .llm import ChatMessages, LLMCallable
from .model import Insight, InsightKind, Message
from .records import card_line_id
from .repair import RepairReport, parse_update
from .tokens import TokenCounter
from .update import CARD_LIMIT, ModelUpdate

__all__ = ["LLMReasoner", "Prepared", "ReasonerInput"]


@dataclass(frozen=True)
class ReasonerInput:
    """What the reasoner sees for one batch: the current model (card, summary, related insights) and messages."""

    user_id: str
    card: Sequence[str]
    summary: str
    insights: Sequence[Insight]
    messages: Sequence[Message]


@dataclass(frozen=True)
class Prepared:
    """A built prompt and the alias maps needed to read the reply."""

    prompt: ChatMessages
    message_ids: dict[str, str]
    insight_ids: dict[str, str]
    #: kind of each shown insight (by real id): the kind of a replacement the model gives as plain text
    insight_kinds: dict[str, InsightKind] = field(default_factory=dict)
    #: the batch's messages, lower-cased: the prompt's example texts pass only when the batch backs them
    batch_text: str = ""


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


class LLMReasoner:
    """Derives a :class:`ModelUpdate` from a batch with one LLM call (plus one re-ask on unusable output).

    Args:
        llm: the LLM callable (see module docs).
        timeout: seconds an LLM call may take.
        summary_tokens: bound of the recursive summary.
        assistant_tokens / user_tokens: how much of each message the prompt shows.
    """

    name = "llm"

    def __init__(
        self,
        llm: LLMCallable,
        *,
        timeout: float = 60.0,
        summary_tokens: int = 300,
        assistant_tokens: int = 150,
        user_tokens: int = 1500,
    ) -> None:
        if not callable(llm):
            raise PersonalError("llm must be a callable taking [{'role', 'content'}, ...] and returning text")
        self.llm = llm
        self.timeout = timeout
        self.summary_tokens = summary_tokens
        self.assistant_tokens = assistant_tokens
        self.user_tokens = user_tokens

    def prepare(self, data: ReasonerInput, counter: TokenCounter) -> Prepared:
        """The prompt for one batch, with aliases ``m1..`` for messages and ``i1..`` for insights, and each card
        line shown with its stable id (``[c_...]``) so that ``card_remove`` can name it."""
        message_ids: dict[str, str] = {}
        lines = []
        for n, message in enumerate(data.messages, 1):
            alias = f"m{n}"
            message_ids[alias] = message.id
            message_ids[message.id] = message.id
            limit = self.user_tokens if message.role.value == "user" else self.assistant_tokens
            content = counter.truncate(message.content[: limit * 16], limit)
            when = message.created_at.strftime("%Y-%m-%d %H:%M")
            lines.append(
                f'<message id="{alias}" role="{message.role.value}" time="{when}">{_escape(content)}</message>'
            )
        insight_ids: dict[str, str] = {}
        insight_kinds: dict[str, InsightKind] = {}
        known = []
        for n, insight in enumerate(data.insights, 1):
            alias = f"i{n}"
            insight_ids[alias] = insight.id
            insight_ids[insight.id] = insight.id
            insight_kinds[insight.id] = insight.kind
            since = insight.valid_from.strftime("%Y-%m-%d")
            known.append(
                f"{alias} [{insight.kind.value} {insight.confidence:.2f} since {since}] {_escape(insight.text)}"
            )
        system = prompts.DERIVE_SYSTEM.format(card_limit=CARD_LIMIT, summary_words=int(self.summary_tokens * 0.7))
        user = prompts.DERIVE_USER.format(
            card="\n".join(f"- [{card_line_id(c)}] {_escape(c)}" for c in data.card) or "(empty)",
            summary=_escape(data.summary) or "(none yet)",
            insights="\n".join(known) or "(none yet)",
            messages="\n".join(lines),
        )
        return Prepared(
            prompt=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            message_ids=message_ids,
            insight_ids=insight_ids,
            insight_kinds=insight_kinds,
            batch_text="\n".join(m.content[:20_000] for m in data.messages).lower(),
        )

    def parse(self, reply: str, prepared: Prepared, counter: TokenCounter) -> tuple[ModelUpdate, RepairReport]:
        """Repair ``reply`` into an update; raises :class:`~personal_core.repair.OutputError` if unusable."""
        update, report = parse_update(
            reply, prepared.message_ids, prepared.insight_ids, prepared.insight_kinds, prepared.batch_text
        )
        if update.summary is not None:
            update = update.model_copy(update={"summary": counter.truncate(update.summary, self.summary_tokens)})
        return update, report

    def reask(self, prepared: Prepared, reply: str, error: str) -> ChatMessages:
        """The conversation for the single re-ask after an unusable reply."""
        return [
            *prepared.prompt,
            {"role": "assistant", "content": reply[:4000]},
            {"role": "user", "content": prompts.REASK.format(error=error)},
        ]
