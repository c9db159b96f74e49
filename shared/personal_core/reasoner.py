"""The LLM reasoner: prompt -> LLM -> validated :class:`ModelUpdate`, and the tiny LLM protocol.

An LLM is any callable taking a list of ``{"role", "content"}`` dicts and returning text, or an awaitable of
text (async functions work too). The LangChain and LlamaIndex integrations adapt their models to this.
Prompts show messages and insights under short aliases (``m1``, ``i1``) that models copy reliably; replies
may use aliases or real ids.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import inspect
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import prompts
from .errors import PersonalError
from .model import Insight, InsightKind, Message
from .records import card_line_id
from .repair import RepairReport, parse_update
from .tokens import TokenCounter
from .update import CARD_LIMIT, ModelUpdate

ChatMessages = list[dict[str, str]]
LLMCallable = Callable[[ChatMessages], str | Awaitable[str]]


class LLMError(PersonalError):
    """The LLM call failed, timed out, or returned something that is not text."""


def _start_call(llm: LLMCallable, messages: ChatMessages) -> concurrent.futures.Future[str]:
    """Run a synchronous LLM call in a thread of its own; its result or error lands in the returned future.

    One daemon thread per call, not a bounded pool: a call that hangs past its timeout keeps its thread until
    it returns, and with a pool a few such calls would hold every worker, so that every later call (to any
    LLM, from any modeler) would time out in the queue without ever being made.
    """
    future: concurrent.futures.Future[str] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(_invoke(llm, messages))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=run, name="personal-llm-call", daemon=True).start()
    return future


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    content = getattr(value, "content", None)  # tolerate message objects with .content
    if isinstance(content, str):
        return content
    raise LLMError(f"the LLM returned {type(value).__name__}, not text")


def _invoke(llm: LLMCallable, messages: ChatMessages) -> str:
    result = llm(messages)
    if inspect.isawaitable(result):
        return _text(asyncio.run(_await(result)))
    return _text(result)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def call_llm(llm: LLMCallable, messages: ChatMessages, timeout: float) -> str:
    """Call ``llm`` (sync or async) from synchronous code, giving up after ``timeout`` seconds.

    A sync call that hangs keeps its own thread until it returns; the caller moves on.
    """
    future = _start_call(llm, messages)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise LLMError(f"the LLM did not answer within {timeout:g}s") from None
    except LLMError:
        raise
    except Exception as exc:
        raise LLMError(f"the LLM call failed: {type(exc).__name__}: {exc}") from exc


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


async def acall_llm(llm: LLMCallable, messages: ChatMessages, timeout: float) -> str:
    """Call ``llm`` from async code: awaited in the running loop when async, else in a thread of its own
    (not the loop's default executor, which a hung call would hold past its timeout)."""
    try:
        if is_async_callable(llm):
            return _text(await asyncio.wait_for(_await(llm(messages)), timeout))  # type: ignore[arg-type]
        return await asyncio.wait_for(asyncio.wrap_future(_start_call(llm, messages)), timeout)
    except asyncio.TimeoutError:
        raise LLMError(f"the LLM did not answer within {timeout:g}s") from None
    except LLMError:
        raise
    except Exception as exc:
        raise LLMError(f"the LLM call failed: {type(exc).__name__}: {exc}") from exc


def is_derivation_prompt(messages: Sequence[dict[str, str]]) -> bool:
    """True when ``messages`` is a derivation prompt of :class:`LLMReasoner` (it expects a ``ModelUpdate`` as JSON).

    LLM adapters use it to switch on structured output only for these calls (not for ``ask``).
    """
    return (
        bool(messages)
        and messages[0].get("role") == "system"
        and messages[0].get("content", "").startswith(DERIVE_MARKER)
    )


#: How every derivation system prompt starts.
DERIVE_MARKER = prompts.DERIVE_SYSTEM[:48]


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
