"""A LangChain chat model as Personal's LLM: a callable taking ``[{"role", "content"}, ...]`` and returning text.

For the reasoner's derivation prompts the model is asked for a :class:`personal_core.ModelUpdate` through
``with_structured_output`` when it supports it; the update comes back as JSON text and goes through the core's
usual repair path. Every other call (``ask``) and every model without structured output gets a plain reply.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ValidationError

from personal_core import InvalidInputError, ModelUpdate, is_derivation_prompt

logger = logging.getLogger(__name__)

ChatMessages = Sequence[dict[str, str]]


_PARSE_ERRORS = (OutputParserException, ValidationError, json.JSONDecodeError)


def is_derive_prompt(messages: ChatMessages) -> bool:
    """True when ``messages`` is one of the reasoner's derivation prompts (which expect a ``ModelUpdate``)."""
    return is_derivation_prompt(messages)


def to_langchain_chat(messages: ChatMessages) -> list[BaseMessage]:
    """LangChain messages for the core's ``{"role", "content"}`` dicts."""
    out: list[BaseMessage] = []
    for message in messages:
        role, content = message.get("role"), message.get("content", "")
        if role == "system":
            out.append(SystemMessage(content=content))
        elif role == "assistant":
            out.append(AIMessage(content=content))
        else:
            out.append(HumanMessage(content=content))
    return out


def _reply_text(reply: object) -> str:
    if isinstance(reply, BaseMessage):
        return str(reply.text)
    if isinstance(reply, str):
        return reply
    raise TypeError(f"the chat model returned {type(reply).__name__}, not a message")


def _update_text(result: object) -> str | None:
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if isinstance(result, dict):
        return json.dumps(result, ensure_ascii=False, default=str)
    return None


class _ChatModelAdapter:
    def __init__(self, model: BaseChatModel, *, structured_output: bool = True) -> None:
        if not isinstance(model, BaseChatModel):
            raise InvalidInputError(f"llm must be a LangChain BaseChatModel, got {type(model).__name__}")
        self.model = model
        self.structured: Runnable[Any, Any] | None = None
        if structured_output:
            try:
                self.structured = model.with_structured_output(ModelUpdate)
            except NotImplementedError:
                logger.info("%s has no structured output; the reasoner reads its plain replies", type(model).__name__)

    @property
    def name(self) -> str:
        """``langchain:<ChatModelClass>``."""
        return f"langchain:{type(self.model).__name__}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, structured={self.structured is not None})"

    def _structured_failed(self, exc: Exception) -> None:
        logger.warning(
            "structured output from %s failed (%s: %s); asking for a plain reply",
            type(self.model).__name__,
            type(exc).__name__,
            exc,
        )

    def _plain_worked_after(self, exc: Exception) -> None:
        # The plain call worked where the structured one raised something other than a parse error: the
        # provider likely refuses the schema or tool calling, so stop trying it.
        if not isinstance(exc, _PARSE_ERRORS):
            logger.warning("%s: structured output disabled for this adapter", type(self.model).__name__)
            self.structured = None


class ChatModelLLM(_ChatModelAdapter):
    """Adapts a ``BaseChatModel`` to the core's synchronous LLM protocol (``model.invoke``).

    The core then derives in its background thread; this works the same in sync and async apps.

    Args:
        model: any LangChain chat model.
        structured_output: ask for a ``ModelUpdate`` with ``with_structured_output`` in derivation calls when the
            model supports it (it falls back to plain text per call if a structured call fails).
    """

    def __call__(self, messages: ChatMessages) -> str:
        chat = to_langchain_chat(messages)
        structured = self.structured
        if structured is not None and is_derive_prompt(messages):
            try:
                text = _update_text(structured.invoke(chat))
            except Exception as exc:  # noqa: BLE001 - retried as a plain call below
                self._structured_failed(exc)
                reply = _reply_text(self.model.invoke(chat))
                self._plain_worked_after(exc)
                return reply
            if text is not None:
                return text
        return _reply_text(self.model.invoke(chat))


class AsyncChatModelLLM(_ChatModelAdapter):
    """Like :class:`ChatModelLLM` but ``async`` (``model.ainvoke``).

    With an async LLM the core runs derivation as a task in the event loop of the app's ``aobserve`` calls (and
    in a private loop from sync code). Pass it explicitly: ``PersonalMemory(llm=AsyncChatModelLLM(model))``.
    """

    async def __call__(self, messages: ChatMessages) -> str:
        chat = to_langchain_chat(messages)
        structured = self.structured
        if structured is not None and is_derive_prompt(messages):
            try:
                text = _update_text(await structured.ainvoke(chat))
            except Exception as exc:  # noqa: BLE001 - retried as a plain call below
                self._structured_failed(exc)
                reply = _reply_text(await self.model.ainvoke(chat))
                self._plain_worked_after(exc)
                return reply
            if text is not None:
                return text
        return _reply_text(await self.model.ainvoke(chat))


def adapt_llm(llm: object) -> Any:
    """A core LLM callable for ``llm``: a ``BaseChatModel`` is wrapped in :class:`ChatModelLLM`; a callable (the
    core protocol, or an adapter you built) is used as is."""
    if isinstance(llm, BaseChatModel):
        return ChatModelLLM(llm)
    if callable(llm):
        return llm
    raise InvalidInputError(
        f"llm must be a LangChain BaseChatModel or a callable taking [{{'role', 'content'}}, ...], got "
        f"{type(llm).__name__}"
    )
