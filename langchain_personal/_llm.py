"""A LangChain chat model as Personal's LLM: a callable taking ``[{"role", "content"}, ...]`` and returning text.

For the reasoner's derivation prompts the model is asked for a :class:`personal_core.ModelUpdate` through
``with_structured_output`` when it supports it (the core's one policy,
:func:`personal_core.llm.wants_structured_output`); the update comes back as JSON text and goes through the
core's usual repair path. Every other call (``ask``) and every model without structured output gets a plain reply.

Tracing: each call runs with a config of its own: ``run_name`` ``personal.derive`` / ``personal.ask``, tags
``["personal", "personal:derive"]``, metadata ``personal_kind``, ``personal_batch_id``, ``personal_user_hash``
(a hash, never the user id or text), and as callbacks only the ones given to the adapter. The call is detached
from the caller's context, so a derivation made inside an app's chain (``inline=True``) does not show up in that
chain's callbacks or traces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ValidationError

from personal_core import InvalidInputError
from personal_core.llm import (
    STRUCTURED_SCHEMA,
    arun_detached,
    call_info,
    run_detached,
    structured_text,
    wants_structured_output,
)

logger = logging.getLogger(__name__)

ChatMessages = Sequence[dict[str, str]]


_PARSE_ERRORS = (OutputParserException, ValidationError, json.JSONDecodeError)


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


def _callbacks(callbacks: Sequence[BaseCallbackHandler] | None) -> list[BaseCallbackHandler]:
    if callbacks is None:
        return []
    if isinstance(callbacks, BaseCallbackHandler) or not all(isinstance(c, BaseCallbackHandler) for c in callbacks):
        raise InvalidInputError("callbacks must be a list of LangChain BaseCallbackHandler objects")
    return list(callbacks)


class _ChatModelAdapter:
    def __init__(
        self,
        model: BaseChatModel,
        *,
        structured_output: bool = True,
        callbacks: Sequence[BaseCallbackHandler] | None = None,
    ) -> None:
        if not isinstance(model, BaseChatModel):
            raise InvalidInputError(f"llm must be a LangChain BaseChatModel, got {type(model).__name__}")
        self.model = model
        self.callbacks = _callbacks(callbacks)
        self.structured: Runnable[Any, Any] | None = None
        if structured_output:
            try:
                self.structured = model.with_structured_output(STRUCTURED_SCHEMA)
            except NotImplementedError:
                logger.info("%s has no structured output; the reasoner reads its plain replies", type(model).__name__)

    def _config(self, messages: ChatMessages) -> RunnableConfig:
        """The call's own config: nothing inherited from the caller's run, only the adapter's callbacks."""
        info = call_info(messages)
        return RunnableConfig(
            callbacks=list(self.callbacks),
            run_name=info.run_name,
            tags=info.tags,
            metadata=dict(info.metadata),
            configurable={},
        )

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
        callbacks: the only callback handlers that see Personal's calls (see the module docs on tracing).
    """

    def __call__(self, messages: ChatMessages) -> str:
        chat = to_langchain_chat(messages)
        config = self._config(messages)
        structured = self.structured
        if structured is not None and wants_structured_output(messages):
            try:
                text = structured_text(run_detached(lambda: structured.invoke(chat, config)))
            except Exception as exc:  # noqa: BLE001 - retried as a plain call below
                self._structured_failed(exc)
                reply = _reply_text(run_detached(lambda: self.model.invoke(chat, config)))
                self._plain_worked_after(exc)
                return reply
            if text is not None:
                return text
        return _reply_text(run_detached(lambda: self.model.invoke(chat, config)))


class AsyncChatModelLLM(_ChatModelAdapter):
    """Like :class:`ChatModelLLM` but ``async`` (``model.ainvoke``).

    With an async LLM the core runs derivation as a task in the event loop of the app's ``aobserve`` calls (and
    in a private loop from sync code). Pass it explicitly: ``PersonalMemory(llm=AsyncChatModelLLM(model))``.
    """

    async def __call__(self, messages: ChatMessages) -> str:
        chat = to_langchain_chat(messages)
        config = self._config(messages)
        structured = self.structured
        if structured is not None and wants_structured_output(messages):
            try:
                text = structured_text(await arun_detached(lambda: structured.ainvoke(chat, config)))
            except Exception as exc:  # noqa: BLE001 - retried as a plain call below
                self._structured_failed(exc)
                reply = _reply_text(await arun_detached(lambda: self.model.ainvoke(chat, config)))
                self._plain_worked_after(exc)
                return reply
            if text is not None:
                return text
        return _reply_text(await arun_detached(lambda: self.model.ainvoke(chat, config)))


def adapt_llm(llm: object, *, callbacks: Sequence[BaseCallbackHandler] | None = None) -> Any:
    """A core LLM callable for ``llm``: a ``BaseChatModel`` is wrapped in :class:`ChatModelLLM` (with
    ``callbacks``); a callable (the core protocol, or an adapter you built) is used as is."""
    if isinstance(llm, BaseChatModel):
        return ChatModelLLM(llm, callbacks=callbacks)
    if callbacks is not None:
        raise InvalidInputError(
            "reasoner callbacks go with a LangChain chat model; for an adapter you built, pass them to it: "
            "ChatModelLLM(model, callbacks=[...])"
        )
    if callable(llm):
        return llm
    raise InvalidInputError(
        f"llm must be a LangChain BaseChatModel or a callable taking [{{'role', 'content'}}, ...], got "
        f"{type(llm).__name__}"
    )
