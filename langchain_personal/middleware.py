"""``PersonalMiddleware``: the user's model in every ``create_agent`` model call, and every turn recorded."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from personal_core import InvalidInputError, UserModeler

from ._messages import (  # with_context is re-exported for callers of this module
    current_turn,
    query_text,
    resolve_modeler,
    session_id_from,
    to_core_messages,
    user_id_from,
    with_context,
)

logger = logging.getLogger(__name__)

ModelResult = ModelResponse[Any] | AIMessage


def _configurable() -> Mapping[str, Any]:
    try:
        config = get_config()
    except RuntimeError:  # not inside a LangGraph run
        return {}
    configurable = config.get("configurable")
    return configurable if isinstance(configurable, Mapping) else {}


class PersonalMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Agent middleware for ``langchain.agents.create_agent``.

    Before each model call it appends the user's context, relevant to the latest user message, to the system
    prompt. After the agent's turn it records the turn's messages (the core skips ids it already holds, so a
    thread replayed from a checkpointer is not stored twice). Sync and async agents are both supported.

    The user is ``user_id`` of the runtime context (``create_agent(..., context_schema=...)`` and
    ``agent.invoke(..., context={"user_id": ...})``; a dict, dataclass or model), else
    ``config["configurable"]["user_id"]``. The session is ``session_id`` from the same places, else LangGraph's
    ``thread_id``, else ``"default"``.

    Args:
        memory: a :class:`~langchain_personal.PersonalMemory` or a :class:`personal_core.UserModeler`.
        max_tokens: the context budget (default: the modeler's).
        record: record each turn's messages (set False if something else records them).
    """

    def __init__(self, memory: object, *, max_tokens: int | None = None, record: bool = True) -> None:
        super().__init__()
        self.modeler: UserModeler = resolve_modeler(memory, "PersonalMiddleware")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0
        ):
            raise InvalidInputError(f"max_tokens must be a non-negative int or None, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.record = record

    def _ids(self, runtime: Runtime[Any] | None) -> tuple[str, str]:
        context = runtime.context if runtime is not None else None
        configurable = _configurable()
        return user_id_from(context, configurable, "PersonalMiddleware"), session_id_from(context, configurable)

    def _request(self, request: ModelRequest[Any], context: str) -> ModelRequest[Any]:
        if not context.strip():
            return request
        return request.override(system_message=with_context(request.system_message, context))

    # ------------------------------------------------------------------ before each model call
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResult:
        """Call the model with the user's context in the system prompt."""
        user_id, session_id = self._ids(request.runtime)
        context = self.modeler.context(
            user_id, query_text(request.messages), self.max_tokens, exclude_sessions=(session_id,)
        )
        return handler(self._request(request, context.text))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResult:
        """Async :meth:`wrap_model_call`."""
        user_id, session_id = self._ids(request.runtime)
        context = await self.modeler.acontext(
            user_id, query_text(request.messages), self.max_tokens, exclude_sessions=(session_id,)
        )
        return await handler(self._request(request, context.text))

    # ------------------------------------------------------------------ after the turn
    @staticmethod
    def _messages(state: Mapping[str, Any]) -> list[BaseMessage]:
        messages = state.get("messages") or []
        return [m for m in messages if isinstance(m, BaseMessage)]

    @classmethod
    def _records(cls, state: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The run's own messages (from the last human message on), without system prompts: a client that
        resends the whole conversation each turn without a checkpointer does not get it stored again."""
        return to_core_messages(current_turn(cls._messages(state)), keep_system=False)

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Record the messages of the turn."""
        if self.record:
            user_id, session_id = self._ids(runtime)
            records = self._records(state)
            if records:
                self.modeler.observe(user_id, records, session_id)
        return None

    async def aafter_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        if self.record:
            user_id, session_id = self._ids(runtime)
            records = self._records(state)
            if records:
                await self.modeler.aobserve(user_id, records, session_id)
        return None
