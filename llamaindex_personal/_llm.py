"""Any LlamaIndex ``LLM`` as the reasoner LLM of Personal's core.

The core calls its LLM with ``[{"role", "content"}, ...]`` and expects text back (a sync callable, or an
``async def`` one). :class:`LlamaIndexReasonerLLM` sends the messages through ``llm.chat`` and returns the reply
text; :class:`AsyncLlamaIndexReasonerLLM` uses ``llm.achat``.

Structured output: for function-calling models (``llm.metadata.is_function_calling_model``) a derivation
prompt (the core's one policy, :func:`personal_core.llm.wants_structured_output`) first goes through
``llm.as_structured_llm(ModelUpdate)`` and the validated update comes back as JSON text, which then flows
through the core's usual repair path; every other call (``ask``) is a plain chat. If the structured call fails
the same request is sent as a plain chat (the core's prompt already asks for JSON); after
:data:`STRUCTURED_GIVE_UP` structured failures in a row whose plain retry worked, structured output is not tried
again by that adapter.

Tracing: each call goes to a shallow copy of ``llm`` (made on first use) whose ``callback_manager`` holds only
the handlers given to the adapter (``callback_manager=``), so the app's handlers (``Settings.callback_manager``
attached to the same LLM) do not see Personal's prompts. The call is detached from the caller's context: its
instrumentation spans are not children of the app's spans, and its events and spans carry instrument tags
``personal_run`` (``personal.derive`` / ``personal.ask``), ``personal_kind``, ``personal_batch_id`` and
``personal_user_hash`` (never the user id or text). Instrumentation event and span handlers are global in
LlamaIndex (the root dispatcher): they still see these events and can filter them on
``event.tags["personal_run"]``. So does a ``set_global_handler`` handler, which LlamaIndex adds to every
``CallbackManager``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.llm import LLM
from llama_index_instrumentation.dispatcher import instrument_tags

from personal_core import InvalidInputError
from personal_core.llm import (
    STRUCTURED_SCHEMA,
    CallInfo,
    arun_detached,
    call_info,
    run_detached,
    structured_text,
    wants_structured_output,
)

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


_T = TypeVar("_T")


def _reply_text(response: ChatResponse) -> str:
    return response.message.content or ""


def _update_text(response: ChatResponse) -> str:
    """A structured reply: the validated update (``raw``) as JSON, else whatever text came back."""
    if isinstance(response.raw, STRUCTURED_SCHEMA):
        return structured_text(response.raw) or ""
    return _reply_text(response)


def _tags(info: CallInfo) -> dict[str, Any]:
    return {"personal_run": info.run_name, **info.metadata}


class _Base:
    def __init__(
        self, llm: LLM, *, structured: bool | None = None, callback_manager: CallbackManager | None = None
    ) -> None:
        if not isinstance(llm, LLM):
            raise InvalidInputError(f"llm must be a llama_index LLM, got {type(llm).__name__}")
        if structured is not None and not isinstance(structured, bool):
            raise InvalidInputError("structured must be True, False or None (auto)")
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise InvalidInputError("callback_manager must be a llama_index CallbackManager")
        self.llm = llm
        self.callback_manager = callback_manager if callback_manager is not None else CallbackManager([])
        if structured is None:
            structured = bool(getattr(llm.metadata, "is_function_calling_model", False))
        self.structured = structured
        self._failures = 0
        self._lock = threading.Lock()
        self._own: LLM | None = None

    @property
    def name(self) -> str:
        """``llamaindex:<ClassName>:<model_name>`` (for logs)."""
        model = getattr(self.llm.metadata, "model_name", "") or "unknown"
        return f"llamaindex:{type(self.llm).__name__}:{model}"

    def _try_structured(self, messages: ChatDicts) -> bool:
        if not wants_structured_output(messages):
            return False
        with self._lock:
            return self.structured

    def _own_llm(self) -> LLM:
        """``llm`` with the adapter's callback manager instead of the app's: a shallow copy made once (it shares
        the settings and client of ``llm`` as they were then, and keeps a client it creates itself)."""
        with self._lock:
            if self._own is None:
                try:
                    self._own = self.llm.model_copy(update={"callback_manager": self.callback_manager})
                except Exception as exc:  # noqa: BLE001 - an LLM that cannot be copied is used as is
                    logger.warning(
                        "%s cannot be copied (%s: %s): callback handlers attached to it will see Personal's calls",
                        self.name,
                        type(exc).__name__,
                        exc,
                    )
                    self._own = self.llm
            return self._own

    def _run(self, messages: ChatDicts, fn: Callable[[LLM], _T]) -> _T:
        tags = _tags(call_info(messages))

        def call() -> _T:
            with instrument_tags(tags):
                return fn(self._own_llm())

        return run_detached(call)

    async def _arun(self, messages: ChatDicts, fn: Callable[[LLM], Any]) -> Any:
        tags = _tags(call_info(messages))

        async def call() -> Any:
            with instrument_tags(tags):
                return await fn(self._own_llm())

        return await arun_detached(call)

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
        structured: in derivation calls, ask for a :class:`~personal_core.ModelUpdate` through
            ``llm.as_structured_llm`` first. ``None`` (default): only for function-calling models.
        callback_manager: the only (legacy) callback handlers that see Personal's calls (see the module docs).

    The core runs it in its background deriver thread (or inline), with its own timeout and retries; an
    exception raised here is counted as an LLM failure and never reaches the chat.
    """

    def __call__(self, messages: ChatDicts) -> str:
        chat = _chat_messages(messages)
        failed = False
        if self._try_structured(messages):
            try:
                text = _update_text(
                    self._run(messages, lambda llm: llm.as_structured_llm(STRUCTURED_SCHEMA).chat(chat))
                )
            except Exception as exc:  # noqa: BLE001 - any structured failure falls back to a plain chat
                self._structured_failed(exc)
                failed = True
            else:
                self._structured_worked()
                return text
        text = _reply_text(self._run(messages, lambda llm: llm.chat(chat)))
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
        if self._try_structured(messages):
            try:
                response = await self._arun(messages, lambda llm: llm.as_structured_llm(STRUCTURED_SCHEMA).achat(chat))
                text = _update_text(response)
            except Exception as exc:  # noqa: BLE001 - any structured failure falls back to a plain chat
                self._structured_failed(exc)
                failed = True
            else:
                self._structured_worked()
                return text
        text = _reply_text(await self._arun(messages, lambda llm: llm.achat(chat)))
        self._plain_worked(failed)
        return text


def as_reasoner_llm(
    llm: LLM,
    *,
    use_async: bool = False,
    structured: bool | None = None,
    callback_manager: CallbackManager | None = None,
) -> LlamaIndexReasonerLLM | AsyncLlamaIndexReasonerLLM:
    """Adapt a LlamaIndex ``LLM`` for ``UserModeler(llm=...)`` (``use_async``: await ``achat`` instead of ``chat``;
    ``callback_manager``: the handlers that see Personal's calls, none by default)."""
    if use_async:
        return AsyncLlamaIndexReasonerLLM(llm, structured=structured, callback_manager=callback_manager)
    return LlamaIndexReasonerLLM(llm, structured=structured, callback_manager=callback_manager)
