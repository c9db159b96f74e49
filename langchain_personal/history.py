"""``PersonalChatMessageHistory``: one user's session as a LangChain chat message history, stored in Personal."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from personal_core import InvalidInputError, UserModeler

from ._messages import DEFAULT_SESSION, CoreMessage, check_id, resolve_modeler, to_core_messages, to_langchain


class PersonalChatMessageHistory(BaseChatMessageHistory):
    """The messages of one ``(user_id, session_id)``, persisted in the Personal store and learned from.

    Adding messages stores them and feeds them to the user's model (``observe``): the offline reasoner derives
    insights at once, an LLM reasoner in the background. A message's LangChain ``id`` is kept as its Personal id
    (messages without one get a fresh id, visible on the messages read back), and adding a message whose id is
    already stored does nothing. Adding appends, as LangChain's histories do: a message without an id is a new
    turn even when an earlier turn said the same ("yes" twice is two turns). Messages without text are skipped.

    Args:
        memory: a :class:`~langchain_personal.PersonalMemory` or a :class:`personal_core.UserModeler`.
        user_id: whose messages these are.
        session_id: which conversation (default ``"default"``).
        limit: read only the last ``limit`` messages (default: all of the session).
    """

    def __init__(
        self, memory: object, user_id: str, session_id: str = DEFAULT_SESSION, *, limit: int | None = None
    ) -> None:
        self.modeler: UserModeler = resolve_modeler(memory, "PersonalChatMessageHistory")
        self.user_id = check_id(user_id, "user_id")
        self.session_id = check_id(session_id, "session_id")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative int or None, got {limit!r}")
        self.limit = limit

    def __repr__(self) -> str:
        return f"PersonalChatMessageHistory(user_id={self.user_id!r}, session_id={self.session_id!r})"

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first, as LangChain messages."""
        return [to_langchain(m) for m in self.modeler.messages(self.user_id, self.session_id, self.limit)]

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages`."""
        stored = await self.modeler.amessages(self.user_id, self.session_id, self.limit)
        return [to_langchain(m) for m in stored]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store ``messages`` in this session and observe them (invalid input raises before anything is stored)."""
        converted = _appended(to_core_messages(messages))
        if converted:
            self.modeler.observe(self.user_id, converted, self.session_id)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        converted = _appended(to_core_messages(messages))
        if converted:
            await self.modeler.aobserve(self.user_id, converted, self.session_id)

    def clear(self) -> None:
        """Delete this session's messages. The user model (insights, card, summary) is kept."""
        self.modeler.delete_session(self.user_id, self.session_id, keep_model=True)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.modeler.adelete_session(self.user_id, self.session_id, keep_model=True)


def _appended(converted: list[CoreMessage]) -> list[CoreMessage]:
    """``converted`` with a fresh id on each message that has none: a history appends, so a repeated text is a new
    turn (the core would take an id-less repeat in the same session for a resend of the conversation)."""
    for message in converted:
        if "id" not in message:
            message["id"] = f"msg_{uuid.uuid4().hex}"
    return converted
