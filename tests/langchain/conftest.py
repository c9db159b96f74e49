"""Fixtures of the LangChain integration tests: fake chat models that record what they receive, a memory.

No ``__init__.py`` here on purpose: with ``pythonpath=["tests"]`` a package named ``langchain`` in this directory
would shadow the real ``langchain`` package.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

from langchain_personal import PersonalMemory
from personal_core import HashingEmbedder


class RecordingChatModel(GenericFakeChatModel):
    """A GenericFakeChatModel that records the exact messages of every call (invoke, stream, async alike).

    Replies come from ``messages``; when they run out it answers ``"ok"``. ``bind_tools`` returns the model
    itself, so it works inside ``create_agent`` (replies may hold tool calls).
    """

    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self.calls.append(list(messages))
            reply = next(self.messages, "ok")
        message = AIMessage(content=reply) if isinstance(reply, str) else reply
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self

    def prompt_text(self, index: int = -1) -> str:
        """All the text of one recorded call."""
        return "\n".join(str(m.text) for m in self.calls[index])

    def system_text(self, index: int = -1) -> str:
        """The system message of one recorded call ("" without one)."""
        return "\n".join(str(m.text) for m in self.calls[index] if m.type == "system")


class FailingChatModel(BaseChatModel):
    """A chat model whose every call raises."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        self.calls += 1
        raise ConnectionError("the model provider is down")


@pytest.fixture
def make_model() -> Callable[..., RecordingChatModel]:
    def make(*replies: AIMessage | str) -> RecordingChatModel:
        return RecordingChatModel(messages=iter(replies))

    return make


@pytest.fixture
def memory(backend: Any) -> Iterator[PersonalMemory]:
    """A memory owning its modeler: on ``tmp_path/lc-store``, or through the Chroma server (``backend``)."""
    with PersonalMemory(**backend.where("lc-store"), embedder=HashingEmbedder(), shards=4) as m:
        yield m


@pytest.fixture
def chat_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages(
        [
            ("system", "You are a helpful assistant.\n{user_context}"),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )


def config(user_id: str | None = None, session_id: str | None = None, **extra: Any) -> dict[str, Any]:
    configurable = {k: v for k, v in (("user_id", user_id), ("session_id", session_id)) if v is not None}
    return {"configurable": {**configurable, **extra}}


@pytest.fixture
def cfg() -> Callable[..., dict[str, Any]]:
    """``cfg("ann", "s1")`` -> ``{"configurable": {"user_id": "ann", "session_id": "s1"}}``."""
    return config


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [chunk async for chunk in stream]


@pytest.fixture
def acollect() -> Callable[[AsyncIterator[Any]], Any]:
    return collect


@pytest.fixture
def failing_model() -> FailingChatModel:
    return FailingChatModel()
