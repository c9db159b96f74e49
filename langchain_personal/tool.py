"""``PersonalAskTool``: lets an agent ask the user model a question about the user (``memory.as_tool()``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.runtime import get_runtime
from pydantic import BaseModel, Field

from personal_core import ClosedError, InvalidInputError, PersonalError, UserModeler

from ._messages import check_id, resolve_modeler, user_id_from

logger = logging.getLogger(__name__)

NOTHING_KNOWN = "Nothing is known about this user yet."
DEFAULT_DESCRIPTION = (
    "Ask what is known about the current user: their preferences, goals, facts about them, what they know, "
    "believe or feel (from earlier conversations). Input: a question such as 'What food does the user avoid?'."
)


class AskInput(BaseModel):
    """The tool's arguments."""

    question: str = Field(description="A question about the user, e.g. 'What diet does the user follow?'")


def _runtime_context() -> object:
    try:
        return get_runtime().context
    except (RuntimeError, KeyError, AttributeError, TypeError):  # not inside a LangGraph run
        return None


class PersonalAskTool(BaseTool):
    """Answers a question about the user from their model.

    With an LLM configured (``PersonalMemory(llm=...)``) it calls ``UserModeler.ask``: one LLM call over the
    relevant context. Without one, or if that call fails, it returns the relevant notes themselves (the agent's
    model reads them). The user is ``user_id`` when set, else the agent's runtime context ``user_id``, else
    ``config["configurable"]["user_id"]``.
    """

    name: str = "ask_about_user"
    description: str = DEFAULT_DESCRIPTION
    args_schema: type[BaseModel] = AskInput
    modeler: UserModeler
    user_id: str | None = None
    max_tokens: int | None = None

    def __init__(self, **data: Any) -> None:
        data["modeler"] = resolve_modeler(data.pop("memory", None) or data.get("modeler"), "PersonalAskTool")
        if data.get("user_id") is not None:
            check_id(data["user_id"], "user_id")
        super().__init__(**data)

    def _user(self, config: RunnableConfig | None) -> str:
        if self.user_id is not None:
            return self.user_id
        configurable = (config or {}).get("configurable")
        return user_id_from(
            _runtime_context(), configurable if isinstance(configurable, Mapping) else {}, "the ask_about_user tool"
        )

    def _has_llm(self) -> bool:
        return callable(getattr(self.modeler.reasoner, "llm", None))

    @staticmethod
    def _check(question: object) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("question must be a non-empty string")
        return question

    @staticmethod
    def _fallback(user_id: str, exc: PersonalError) -> None:
        """An LLM answer failed: input and lifecycle errors propagate, anything else falls back to the notes."""
        if isinstance(exc, (InvalidInputError, ClosedError)):
            raise exc
        logger.warning("ask() failed for user %r (%s); answering with the notes", user_id, exc)

    def _run(self, question: str, config: RunnableConfig) -> str:
        user_id, question = self._user(config), self._check(question)
        if self._has_llm():
            try:
                return self.modeler.ask(user_id, question, max_tokens=self.max_tokens)
            except PersonalError as exc:
                self._fallback(user_id, exc)
        return self.modeler.context(user_id, question, self.max_tokens).text or NOTHING_KNOWN

    async def _arun(self, question: str, config: RunnableConfig) -> str:
        user_id, question = self._user(config), self._check(question)
        if self._has_llm():
            try:
                return await self.modeler.aask(user_id, question, max_tokens=self.max_tokens)
            except PersonalError as exc:
                self._fallback(user_id, exc)
        return (await self.modeler.acontext(user_id, question, self.max_tokens)).text or NOTHING_KNOWN
