"""``PersonalMemoryBlock``: the user's Personal context as a block of LlamaIndex's ``Memory``.

``Memory.from_defaults(session_id=..., memory_blocks=[PersonalMemoryBlock(...)])`` then puts the user context
into what the LLM gets, learns from the messages ``Memory`` flushes out of its short-term queue, and shrinks
the context when ``Memory`` asks it to.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.utils import get_tokenizer

from personal_core import InvalidInputError, UserModeler, validate_session_id, validate_user_id

from ._messages import check_messages, is_context_message, query_of
from ._modelers import resolve_modeler
from .buffer import DEFAULT_CONTEXT_TOKENS, check_int, check_user_id, core_messages

logger = logging.getLogger(__name__)

#: Rendered contexts remembered so ``atruncate`` can re-render them for the same query.
_REMEMBERED = 64


class PersonalMemoryBlock(BaseMemoryBlock[str]):
    """The user's Personal context (profile, relevant insights, summary, message excerpts) as a memory block.

    - ``aget``: the context relevant to the latest user message (or ``Memory``'s input), at most
      ``max_tokens`` tokens; empty (so ``Memory`` leaves it out) when nothing is known yet.
    - ``aput``: observes the messages ``Memory`` flushes out of its short-term queue (``Memory`` only hands
      blocks the messages it ejects when the chat history outgrows ``token_limit * chat_history_token_ratio``).
      They are recorded in the block's ``session_id``, or else ``Memory``'s session id.
    - ``atruncate``: re-renders the context with fewer items so it shrinks by at least the requested number of
      tokens as ``Memory`` counts them (its default tokenizer, or ``tokenizer_fn`` if you set one); returns
      None when nothing fits. ``priority`` defaults to 1 so ``Memory`` may truncate it (0 = never).
    """

    name: str = Field(default="personal_context", description="The block's name (its tag in the memory template).")
    user_id: str = Field(description="The user whose model is rendered.")
    session_id: str | None = Field(default=None, description="Session for observed messages (default: Memory's).")
    max_tokens: int = Field(default=DEFAULT_CONTEXT_TOKENS, description="Most tokens of the rendered context.")
    context_messages: bool = Field(default=True, description="Let the context quote relevant past messages.")
    priority: int = Field(default=1, description="Truncation priority (0 = never truncated).")
    tokenizer_fn: Callable[[str], list[Any]] | None = Field(
        default=None, exclude=True, description="Memory's tokenizer, if not LlamaIndex's default."
    )

    _modeler: UserModeler = PrivateAttr()
    _queries: OrderedDict[str, str] = PrivateAttr(default_factory=OrderedDict)
    _queries_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, *, user_id: str, modeler: UserModeler, **data: Any) -> None:
        uid = check_user_id(user_id)
        if not isinstance(modeler, UserModeler):
            raise InvalidInputError(f"modeler must be a personal_core.UserModeler, got {type(modeler).__name__}")
        check_int("max_tokens", data.get("max_tokens", DEFAULT_CONTEXT_TOKENS), 0)
        check_int("priority", data.get("priority", 1), 0)
        session = data.get("session_id")
        if session is not None and not isinstance(session, str):
            raise InvalidInputError(f"session_id must be a str, got {type(session).__name__}")
        validate_user_id(uid)
        if session is not None:
            validate_session_id(session)
        fields: dict[str, Any] = {**data, "user_id": uid}
        super().__init__(**fields)
        self._modeler = modeler

    @classmethod
    def from_defaults(
        cls,
        user_id: str | None = None,
        modeler: UserModeler | None = None,
        path: str | os.PathLike[str] | None = None,
        llm: Any | None = None,
        embed_model: Any | None = None,
        **data: Any,
    ) -> PersonalMemoryBlock:
        """A block for ``user_id`` on ``modeler``, or on the process-wide modeler of ``path`` (see the buffer)."""
        return cls(user_id=check_user_id(user_id), modeler=resolve_modeler(modeler, path, llm, embed_model), **data)

    @property
    def modeler(self) -> UserModeler:
        """The :class:`~personal_core.UserModeler` behind this block."""
        return self._modeler

    def _remember(self, text: str, query: str) -> None:
        with self._queries_lock:
            self._queries[text] = query
            self._queries.move_to_end(text)
            while len(self._queries) > _REMEMBERED:
                self._queries.popitem(last=False)

    def _query_for(self, text: str) -> str | None:
        with self._queries_lock:
            return self._queries.get(text)

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        history = check_messages(messages or [])
        query = query_of(None, history)
        if self.max_tokens == 0:
            return ""
        context = await self._modeler.acontext(
            self.user_id, query, self.max_tokens, include_messages=self.context_messages
        )
        if context.text:
            self._remember(context.text, query)
        return context.text

    async def _aput(self, messages: list[ChatMessage]) -> None:
        chosen = [m for m in check_messages(messages) if not is_context_message(m)]
        by_session: dict[str | None, list[ChatMessage]] = {}
        for message in chosen:
            session = self.session_id or message.additional_kwargs.get("session_id")
            by_session.setdefault(session if isinstance(session, str) else None, []).append(message)
        for session, group in by_session.items():
            core = core_messages(group)
            if core:
                await self._modeler.aobserve(self.user_id, core, session_id=session)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """``content`` re-rendered at least ``tokens_to_truncate`` tokens shorter, or None if nothing is left."""
        if not isinstance(content, str) or not content:
            return None
        if tokens_to_truncate <= 0:
            return content
        measure = self.tokenizer_fn or get_tokenizer()
        original = len(measure(content))
        goal = original - tokens_to_truncate
        if goal <= 0:
            return None
        query = self._query_for(content)
        counter = self._modeler.counter
        budget = min(self.max_tokens, counter.count(content)) - tokens_to_truncate
        while budget > 0:
            if query is not None:
                candidate = (
                    await self._modeler.acontext(self.user_id, query, budget, include_messages=self.context_messages)
                ).text
            else:
                candidate = counter.truncate(content, budget)
            size = len(measure(candidate)) if candidate else 0
            if not candidate:
                return None
            if size <= goal:
                return candidate
            budget -= max(1, size - goal)
        return None
