"""``PersonalChatMemoryBuffer``: a LlamaIndex chat memory that knows the user.

``get()`` returns a system message with what Personal knows about the user that is relevant to the input (or
the last user message), then as much recent history of the session as fits ``token_limit``. ``put()`` records
messages in the user's session and lets Personal learn from them. It is a drop-in ``memory=`` for
``SimpleChatEngine``, ``ContextChatEngine``, ``CondensePlusContextChatEngine`` and ``FunctionAgent`` /
``AgentWorkflow.run(memory=...)``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, overload

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny, field_serializer
from llama_index.core.memory.types import BaseMemory
from llama_index.core.storage.chat_store.base import BaseChatStore

from personal_core import InvalidInputError, Message, UserModeler, validate_session_id, validate_user_id

from ._messages import (
    ID_KEY,
    ORPHAN_ROLES,
    check_message,
    check_messages,
    from_core,
    is_context_message,
    message_id,
    message_tokens,
    query_of,
    text_of,
    to_core,
    without_id,
)
from ._modelers import resolve_modeler

logger = logging.getLogger(__name__)

#: Default ``token_limit`` (the same as LlamaIndex's ``ChatMemoryBuffer``).
DEFAULT_TOKEN_LIMIT = 3000
#: Default ``context_tokens``: most tokens the user-context system message may take.
DEFAULT_CONTEXT_TOKENS = 500
DEFAULT_SESSION = "default"


def _new_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else :class:`InvalidInputError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_user_id(user_id: object) -> str:
    """A clear error for a missing or non-string user id (the core checks the rest)."""
    if user_id is None:
        raise InvalidInputError("user_id is required: the memory belongs to one user (e.g. user_id='ann')")
    if not isinstance(user_id, str):
        raise InvalidInputError(f"user_id must be a str, got {type(user_id).__name__}")
    return user_id


def core_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Core message dicts for ``messages``; each ChatMessage gets an id in ``additional_kwargs`` if it had none."""
    out = []
    for message in messages:
        if message_id(message) is None:
            message.additional_kwargs[ID_KEY] = _new_id()
        core = to_core(message, message_id(message) or _new_id())
        if core is not None:
            out.append(core)
        else:
            logger.debug("a %s message without text or tool calls is not recorded", message.role.value)
    return out


def same_prefix(current: Sequence[ChatMessage], messages: Sequence[ChatMessage]) -> bool:
    """True if ``messages`` starts with ``current``: same ids, or (for messages without id) same role and text.

    Messages without id that match get the stored id, so the same turn is never recorded twice.
    """
    if len(messages) < len(current):
        return False
    for stored, message in zip(current, messages, strict=False):
        mid = message_id(message)
        if mid is not None:
            if mid != message_id(stored):
                return False
        elif message.role == stored.role and text_of(message) == text_of(stored):
            sid = message_id(stored)
            if sid is not None:
                message.additional_kwargs[ID_KEY] = sid
        else:
            return False
    return True


def select_window(
    history: Sequence[ChatMessage], budget: int, count: Callable[[ChatMessage], int]
) -> list[ChatMessage]:
    """The newest whole messages of ``history`` that fit ``budget`` tokens, not starting with an orphan reply.

    If the newest message alone is over budget it is returned alone, so the LLM sees the turn (and can report
    the overflow) instead of an empty conversation.
    """
    if not history:
        return []
    used = 0
    start = len(history)
    for index in range(len(history) - 1, -1, -1):
        cost = count(history[index])
        if used + cost > budget:
            break
        used += cost
        start = index
    if start == len(history):
        return [history[-1]]
    window = list(history[start:])
    while window and window[0].role in ORPHAN_ROLES:
        window.pop(0)
    return window


class _StoredHistory(Sequence[ChatMessage]):
    """A session's core messages as ChatMessages, each rebuilt only when first read (get() reads the tail)."""

    def __init__(self, stored: Sequence[Message]) -> None:
        self._stored = stored
        self._built: dict[int, ChatMessage] = {}

    def __len__(self) -> int:
        return len(self._stored)

    def _at(self, index: int) -> ChatMessage:
        if index not in self._built:
            self._built[index] = from_core(self._stored[index], with_id=True)
        return self._built[index]

    @overload
    def __getitem__(self, index: int) -> ChatMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[ChatMessage]: ...

    def __getitem__(self, index: int | slice) -> ChatMessage | list[ChatMessage]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self._stored)))]
        if index < 0:
            index += len(self._stored)
        if not 0 <= index < len(self._stored):
            raise IndexError(index)
        return self._at(index)


class PersonalChatMemoryBuffer(BaseMemory):
    """Chat memory for one user: their Personal context first, then the session's recent history.

    Create it with :meth:`from_defaults`. History is the user's session in the Personal store
    (``modeler.messages(user_id, session_id)``), or, when ``chat_store`` is given, that LlamaIndex chat store
    under ``chat_store_key`` (kept verbatim, while the Personal session mirrors it).

    ``get(input)`` returns ``[system message with the user context] + recent history``:

    - the context is ``modeler.context(user_id, input or last user message, context_tokens)``; it is left
      out when nothing is known yet;
    - tokens are counted exactly with ``modeler.counter`` (tiktoken ``o200k_base`` by default): the context
      message and the history together stay within ``token_limit - initial_token_count``; the newest message
      always fits first (the context shrinks for it), then whole older messages newest-first; the history
      never starts with an assistant/tool message whose turn was cut off.

    ``put`` / ``put_messages`` record messages (each ChatMessage gets its core id in
    ``additional_kwargs["personal_id"]``, so putting it again is a no-op) and Personal learns from them. ``set``
    replaces the session's history, ``reset`` deletes it (the user model stays). Every method has an async
    twin. Reasoner (LLM) failures never surface here: derivation runs in Personal's background worker.
    """

    user_id: str = Field(description="The user this memory belongs to.")
    session_id: str = Field(default=DEFAULT_SESSION, description="The user's session holding the history.")
    token_limit: int = Field(default=DEFAULT_TOKEN_LIMIT, description="Most tokens get() returns.")
    context_tokens: int = Field(default=DEFAULT_CONTEXT_TOKENS, description="Most tokens of the context message.")
    context_messages: bool = Field(
        default=True,
        description="Let the context quote relevant raw messages of the user's other sessions.",
    )
    chat_store: SerializeAsAny[BaseChatStore] | None = Field(
        default=None, description="Optional LlamaIndex chat store used as the verbatim history."
    )
    chat_store_key: str = Field(default=DEFAULT_SESSION, description="Key of the history in chat_store.")

    _modeler: UserModeler = PrivateAttr()
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _async_lock: asyncio.Lock = PrivateAttr(default_factory=asyncio.Lock)

    def __init__(
        self,
        *,
        user_id: str,
        modeler: UserModeler,
        session_id: str | None = None,
        token_limit: int = DEFAULT_TOKEN_LIMIT,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        context_messages: bool = True,
        chat_store: BaseChatStore | None = None,
        chat_store_key: str | None = None,
    ) -> None:
        uid = check_user_id(user_id)
        if not isinstance(modeler, UserModeler):
            raise InvalidInputError(f"modeler must be a personal_core.UserModeler, got {type(modeler).__name__}")
        check_int("token_limit", token_limit, 1)
        check_int("context_tokens", context_tokens, 0)
        if not isinstance(context_messages, bool):
            raise InvalidInputError("context_messages must be a bool")
        if chat_store is not None and not isinstance(chat_store, BaseChatStore):
            raise InvalidInputError(f"chat_store must be a llama_index BaseChatStore, got {type(chat_store).__name__}")
        for name, value in (("session_id", session_id), ("chat_store_key", chat_store_key)):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{name} must be a str, got {type(value).__name__}")
        session = session_id or chat_store_key or DEFAULT_SESSION
        validate_user_id(uid)
        validate_session_id(session)
        fields: dict[str, Any] = {
            "user_id": uid,
            "session_id": session,
            "token_limit": token_limit,
            "context_tokens": context_tokens,
            "context_messages": context_messages,
            "chat_store": chat_store,
            "chat_store_key": chat_store_key or session,
        }
        super().__init__(**fields)
        self._modeler = modeler

    @field_serializer("chat_store")
    def _serialize_chat_store(self, chat_store: BaseChatStore | None) -> dict[str, Any] | None:
        if chat_store is None:
            return None
        data = chat_store.model_dump()
        data["class_name"] = chat_store.class_name()
        return data

    @classmethod
    def class_name(cls) -> str:
        return "PersonalChatMemoryBuffer"

    @classmethod
    def from_defaults(
        cls,
        user_id: str | None = None,
        modeler: UserModeler | None = None,
        path: str | os.PathLike[str] | None = None,
        llm: Any | None = None,
        embed_model: Any | None = None,
        token_limit: int | None = None,
        chat_store: BaseChatStore | None = None,
        chat_store_key: str | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        *,
        session_id: str | None = None,
        chat_history: list[ChatMessage] | None = None,
        context_messages: bool = True,
        **kwargs: Any,
    ) -> PersonalChatMemoryBuffer:
        """A memory for ``user_id``.

        Args:
            user_id: whose memory this is (required).
            modeler: the :class:`~personal_core.UserModeler` to use. Without it, the process-wide modeler of
                ``path`` is used (opened on first use; ``None`` is the default store under ``$PERSONAL_HOME``).
            path: store directory, when no ``modeler`` is given.
            llm: a LlamaIndex ``LLM`` for Personal's theory-of-mind reasoner (when the modeler is opened here).
                Without one the offline heuristic reasoner is used. Not the chat LLM.
            embed_model: a LlamaIndex ``BaseEmbedding`` for the store (when the modeler is opened here).
            token_limit: most tokens ``get()`` returns (default 3000).
            chat_store / chat_store_key: an optional LlamaIndex chat store holding the verbatim history.
            context_tokens: most tokens of the user-context system message (default 500; 0 disables it).
            session_id: the session (default: ``chat_store_key``, else ``"default"``).
            chat_history: messages to start the session with (as ``set()``).
            context_messages: let the context quote relevant raw messages of the user's other sessions
                (default True; the current session is the history window, so it is never quoted twice).

        Raises:
            InvalidInputError: missing/invalid ``user_id``, wrong types, or conflicting modeler arguments.
        """
        if kwargs:
            raise InvalidInputError(f"unexpected arguments: {sorted(kwargs)}")
        uid = check_user_id(user_id)
        if token_limit is None:
            token_limit = DEFAULT_TOKEN_LIMIT
        memory = cls(
            user_id=uid,
            modeler=resolve_modeler(modeler, path, llm, embed_model),
            session_id=session_id,
            token_limit=token_limit,
            context_tokens=context_tokens,
            context_messages=context_messages,
            chat_store=chat_store,
            chat_store_key=chat_store_key,
        )
        if chat_history is not None:
            memory.set(chat_history)
        return memory

    # ----------------------------------------------------------------- accessors
    @property
    def modeler(self) -> UserModeler:
        """The :class:`~personal_core.UserModeler` behind this memory."""
        return self._modeler

    @property
    def tokenizer_fn(self) -> Callable[[str], Sequence[int]]:
        """Token counting in LlamaIndex's shape (``len(tokenizer_fn(text))``), with ``modeler.counter``.

        Chat engines use it to count their prefix messages into ``initial_token_count``.
        """
        counter = self._modeler.counter

        def tokens(text: str) -> Sequence[int]:
            return range(counter.count(text))

        return tokens

    def count_tokens(self, message: ChatMessage) -> int:
        """Tokens of ``message`` as counted by ``get()``: its text plus its tool calls as JSON."""
        return message_tokens(check_message(message), self._modeler.counter)

    # ----------------------------------------------------------------- history
    def _history(self) -> Sequence[ChatMessage]:
        if self.chat_store is not None:
            return list(self.chat_store.get_messages(self.chat_store_key))
        return _StoredHistory(self._modeler.messages(self.user_id, self.session_id))

    def get_all(self) -> list[ChatMessage]:
        """The whole session history, oldest first (each message keeps its ``personal_id``)."""
        return list(self._history())

    async def aget_all(self) -> list[ChatMessage]:
        """Async :meth:`get_all`."""
        return await asyncio.to_thread(self.get_all)

    def get(
        self, input: str | ChatMessage | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """The context system message (if anything is known) and the recent history, within ``token_limit``.

        Args:
            input: the text to find relevant context for (default: the last user message of the history).
            initial_token_count: tokens already used by the caller's prefix messages.
        """
        initial = check_int("initial_token_count", initial_token_count, 0)
        history = self._history()
        query = query_of(input, history)
        budget = max(0, self.token_limit - initial)
        count = self._counting()
        context_budget = self._context_budget(history, budget, count)
        context = ""
        used = 0
        if context_budget > 0:
            rendered = self._modeler.context(
                self.user_id,
                query,
                context_budget,
                include_messages=self.context_messages,
                exclude_sessions=(self.session_id,),
            )
            context, used = rendered.text, rendered.tokens
        return self._assemble(history, context, budget - used, count)

    async def aget(
        self, input: str | ChatMessage | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, input, initial_token_count, **kwargs)

    def _counting(self) -> Callable[[ChatMessage], int]:
        counter = self._modeler.counter
        cache: dict[int, int] = {}

        def count(message: ChatMessage) -> int:
            key = id(message)
            if key not in cache:
                cache[key] = message_tokens(message, counter)
            return cache[key]

        return count

    def _context_budget(self, history: Sequence[ChatMessage], budget: int, count: Callable[[ChatMessage], int]) -> int:
        newest = count(history[-1]) if history else 0
        return max(0, min(self.context_tokens, budget - newest))

    @staticmethod
    def _assemble(
        history: Sequence[ChatMessage], context: str, budget: int, count: Callable[[ChatMessage], int]
    ) -> list[ChatMessage]:
        out = [ChatMessage(role=MessageRole.SYSTEM, content=context)] if context else []
        out.extend(without_id(m) for m in select_window(history, budget, count))
        return out

    # ----------------------------------------------------------------- writes
    def put(self, message: ChatMessage) -> None:
        """Record one message in the session and learn from it (the context system message is never recorded)."""
        self.put_messages([check_message(message)])

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        await self.aput_messages([check_message(message)])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Record messages in the session, in order, and learn from them."""
        chosen = [m for m in check_messages(messages) if not is_context_message(m)]
        if not chosen:
            return
        with self._lock:
            core = core_messages(chosen)
            if core:
                self._modeler.observe(self.user_id, core, session_id=self.session_id)
            if self.chat_store is not None:
                for message in chosen:
                    self.chat_store.add_message(self.chat_store_key, message)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages` (an async reasoner LLM then runs in this event loop)."""
        chosen = [m for m in check_messages(messages) if not is_context_message(m)]
        if not chosen:
            return
        async with self._async_lock:  # coroutines of this loop take turns (the RLock below is per thread)
            await _acquire(self._lock)  # threads calling put_messages take turns with us
            try:
                core = core_messages(chosen)
                if core:
                    await self._modeler.aobserve(self.user_id, core, session_id=self.session_id)
                if self.chat_store is not None:
                    for message in chosen:
                        await self.chat_store.async_add_message(self.chat_store_key, message)
            finally:
                self._lock.release()

    def set(self, messages: list[ChatMessage]) -> None:
        """Make ``messages`` the session's history.

        If they start with the current history (same ids, or same roles and texts), only the new ones are
        recorded. Otherwise the session's stored messages are deleted and ``messages`` recorded again; the
        user model is kept, and messages it already learnt from may reinforce what it knows.
        """
        chosen = [m for m in check_messages(messages) if not is_context_message(m)]
        with self._lock:
            current = self._history()
            if same_prefix(current, chosen):
                fresh = chosen[len(current) :]
            else:
                self._modeler.delete_session(self.user_id, self.session_id, keep_model=True)
                fresh = chosen
            core = core_messages(fresh)
            if core:
                self._modeler.observe(self.user_id, core, session_id=self.session_id)
            if self.chat_store is not None:
                self.chat_store.set_messages(self.chat_store_key, list(chosen))

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        await asyncio.to_thread(self.set, messages)

    def reset(self) -> None:
        """Delete the session's history (the user model and other sessions stay)."""
        with self._lock:
            self._modeler.delete_session(self.user_id, self.session_id, keep_model=True)
            if self.chat_store is not None:
                self.chat_store.delete_messages(self.chat_store_key)

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        await asyncio.to_thread(self.reset)


async def _acquire(lock: Any) -> None:
    """Take a threading lock from the event loop without blocking it (polling; cancellation-safe)."""
    delay = 0.001
    while not lock.acquire(blocking=False):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
