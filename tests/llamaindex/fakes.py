"""Offline LlamaIndex LLMs for the tests: one that records exactly what it receives, and failing ones."""

from __future__ import annotations

import copy
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM


class RecordingLLM(CustomLLM):
    """A chat model that records the exact messages of every call and answers ``reply`` (or ``responder(msgs)``).

    ``calls`` holds ``(method, messages)`` with deep copies, for chat/achat/stream_chat/astream_chat and
    ``(method, prompt)`` for completions.
    """

    reply: str = "Sure."
    responder: Callable[[list[ChatMessage]], str] | None = Field(default=None, exclude=True)
    fail_with: Exception | None = Field(default=None, exclude=True)
    _calls: list[tuple[str, Any]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, context_window=32000, num_output=256, model_name="recording")

    @property
    def calls(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self._calls)

    def chat_calls(self) -> list[tuple[str, list[ChatMessage]]]:
        return [(m, msgs) for m, msgs in self.calls if m in {"chat", "achat", "stream_chat", "astream_chat"}]

    def last_messages(self) -> list[ChatMessage]:
        return self.chat_calls()[-1][1]

    def _record(self, method: str, payload: Any) -> str:
        with self._lock:
            self._calls.append((method, copy.deepcopy(payload)))
        if self.fail_with is not None:
            raise self.fail_with
        if self.responder is not None and isinstance(payload, list):
            return self.responder(payload)
        return self.reply

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._record("complete", prompt))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self._record("stream_complete", prompt)

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=text, delta=text)

        return gen()

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._record("chat", list(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._record("achat", list(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        text = self._record("stream_chat", list(messages))

        def gen() -> Generator[ChatResponse, None, None]:
            so_far = ""
            for word in text.split(" "):
                delta = word if not so_far else " " + word
                so_far += delta
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far), delta=delta)

        return gen()

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        text = self._record("astream_chat", list(messages))

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            so_far = ""
            for word in text.split(" "):
                delta = word if not so_far else " " + word
                so_far += delta
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far), delta=delta)

        return gen()


def all_text(messages: Sequence[ChatMessage]) -> str:
    """Every message's text, joined (what a test searches for a preference)."""
    return "\n".join(m.content or "" for m in messages)


class ToolAgentLLM:
    """A response generator for ``MockFunctionCallingLLM``: calls ``tool_name`` once, then answers ``final``.

    Records the messages of every call in ``calls``.
    """

    def __init__(self, tool_name: str, tool_kwargs: dict[str, Any], final: str) -> None:
        self.tool_name = tool_name
        self.tool_kwargs = tool_kwargs
        self.final = final
        self.calls: list[list[ChatMessage]] = []
        self.tools_seen: list[list[str]] = []

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.calls.append(copy.deepcopy(list(messages)))
        self.tools_seen.append([t.metadata.name for t in kwargs.get("tools") or []])
        last = messages[-1]
        if last.role == MessageRole.TOOL:
            return ChatMessage(role=MessageRole.ASSISTANT, content=self.final)
        call_id = f"call-{len(self.calls)}"
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[ToolCallBlock(tool_call_id=call_id, tool_name=self.tool_name, tool_kwargs=self.tool_kwargs)],
        )

    def llm(self) -> MockFunctionCallingLLM:
        return MockFunctionCallingLLM(response_generator=self, is_chat_model=True)
