"""Any LlamaIndex ``LLM`` as the reasoner LLM of Personal's core.

The core calls its LLM with ``[{"role", "content"}, ...]`` and expects text back (a sync callable, or an
``async def`` one). :class:`LlamaIndexReasonerLLM` sends the messages through ``llm.chat`` and returns the reply
text; :class:`AsyncLlamaIndexReasonerLLM` uses ``llm.achat``.

Structured output: for function-calling models (``llm.metadata.is_function_calling_model``) the request first
goes through ``llm.as_structured_llm(ModelUpdate)`` and the validated update comes back as JSON text, which
then flows through the core's usual repair path. If the structured call fails the same request is sent as a
plain chat (the core's prompt already asks for JSON); after :data:`STRUCTURED_GIVE_UP` structured failures in
a row whose plain retry worked, structured output is not tried again by that adapter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.llms.llm import LLM
from pydantic import BaseModel

from personal_core import InvalidInputError, ModelUpdate

logger = logging.getLogger(__name__)

#: Structured failures in a row (each rescued by a plain chat) after which structured output is abandoned.
STRUCTURED_GIVE_UP = 3

ChatDicts = Sequence[dict[str, str]]


def _chat_messages(messages: ChatDicts) -> list[ChatMessage]:
    out = []
    for item in messages:
        try:
            role = MessageRole(item.get("role", "user"))
        except ValueError:
            role = MessageRole.USER
        out.append(ChatMessage(role=role, content=str(item.get("content", ""))))
    return out


def _reply_text(response: ChatResponse) -> str:
    if isinstance(response.raw, BaseModel) and not (response.message.content or "").strip():
        return response.raw.model_dump_json()
    return response.message.content or ""


class _Base:
    def __init__(self, llm: LLM, *, structured: bool | None = None) -> None:
        if not isinstance(llm, LLM):
            raise InvalidInputError(f"llm must be a llama_index LLM, got {type(llm).__name__}")
        if structured is not None and not isinstance(structured, bool):
            raise InvalidInputError("structured must be True, False or None (auto)")
        self.llm = llm
        if structured is None:
            structured = bool(getattr(llm.metadata, "is_function_calling_model", False))
        self.structured = structured
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``llamaindex:<ClassName>:<model_name>`` (for logs)."""
        model = getattr(self.llm.metadata, "model_name", "") or "unknown"
        return f"llamaindex:{type(self.llm).__name__}:{model}"

    def _try_structured(self) -> bool:
        with self._lock:
            return self.structured

    def _structured_failed(self, exc: BaseException) -> None:
        logger.info("structured output from %s failed (%s: %s); using a plain chat", self.name, type(exc).__name__, exc)

    def _plain_worked(self, after_structured_failure: bool) -> None:
        with self._lock:
            if not after_structured_failure:
                return
            self._failures += 1
            if self._failures >= STRUCTURED_GIVE_UP and self.structured:
                self.structured = False
                logger.warning(
                    "%s failed structured output %d times in a row; sending plain chats from now on",
                    self.name,
                    self._failures,
                )

    def _structured_worked(self) -> None:
        with self._lock:
            self._failures = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, structured={self.structured})"


class LlamaIndexReasonerLLM(_Base):
    """A LlamaIndex ``LLM`` as the core's (synchronous) reasoner LLM: ``llm.chat`` in, reply text out.

    Args:
        llm: any LlamaIndex ``LLM``.
        structured: ask for a :class:`~personal_core.ModelUpdate` through ``llm.as_structured_llm`` first.
            ``None`` (default): only for function-calling models.

    The core runs it in its background deriver thread (or inline), with its own timeout and retries; an
    exception raised here is counted as an LLM failure and never reaches the chat.
    """

    def __call__(self, messages: ChatDicts) -> str:
        chat = _chat_messages(messages)
        failed = False
        if self._try_structured():
            try:
                text = _reply_text(self.llm.as_structured_llm(ModelUpdate).chat(chat))
            except Exception as exc:  # noqa: BLE001 - any structured failure falls back to a plain chat
                self._structured_failed(exc)
                failed = True
            else:
                self._structured_worked()
                return text
        text = _reply_text(self.llm.chat(chat))
        self._plain_worked(failed)
        return text


class AsyncLlamaIndexReasonerLLM(_Base):
    """Like :class:`LlamaIndexReasonerLLM`, awaiting ``llm.achat``.

    The core awaits an async LLM in the event loop that calls ``aobserve``/``aflush`` (its deriver then runs as
    a task there); from synchronous code each call runs in a fresh event loop in a worker thread. Prefer the
    sync adapter unless your LLM client is async-only.
    """

    async def __call__(self, messages: ChatDicts) -> str:
        chat = _chat_messages(messages)
        failed = False
        if self._try_structured():
            try:
                text = _reply_text(await self.llm.as_structured_llm(ModelUpdate).achat(chat))
            except Exception as exc:  # noqa: BLE001 - any structured failure falls back to a plain chat
                self._structured_failed(exc)
                failed = True
            else:
                self._structured_worked()
                return text
        text = _reply_text(await self.llm.achat(chat))
        self._plain_worked(failed)
        return text


def as_reasoner_llm(
    llm: LLM, *, use_async: bool = False, structured: bool | None = None
) -> LlamaIndexReasonerLLM | AsyncLlamaIndexReasonerLLM:
    """Adapt a LlamaIndex ``LLM`` for ``UserModeler(llm=...)`` (``use_async``: await ``achat`` instead of ``chat``)."""
    if use_async:
        return AsyncLlamaIndexReasonerLLM(llm, structured=structured)
    return LlamaIndexReasonerLLM(llm, structured=structured)
