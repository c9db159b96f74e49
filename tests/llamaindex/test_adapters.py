"""LlamaIndex LLMs as the reasoner (plain, structured, async) and BaseEmbedding as the embedder; shared modelers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llamaindex.fakes import RecordingLLM
from support.scripted import rules_responder

from llamaindex_personal import (
    AsyncLlamaIndexReasonerLLM,
    LlamaIndexReasonerLLM,
    PersonalChatMemoryBuffer,
    PersonalRetriever,
    as_embedder,
    as_reasoner_llm,
)
from llamaindex_personal._llm import STRUCTURED_GIVE_UP
from personal_core import HashingEmbedder, InvalidInputError, UserModeler

DIET = [
    (r"\bI'm vegetarian\b", {"kind": "preference", "text": "Is vegetarian", "confidence": 0.9}),
    (
        r"\bI eat fish now\b",
        {"kind": "preference", "text": "Eats fish", "confidence": 0.85, "supersedes": "Is vegetarian"},
    ),
]


def as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role.value, "content": m.content or ""} for m in messages]


def scripted_chat_llm() -> RecordingLLM:
    rules = rules_responder(DIET)
    return RecordingLLM(responder=lambda messages: rules(as_dicts(messages)))


def make(path: Path, llm: Any) -> UserModeler:
    return UserModeler(path, llm=llm, embedder=HashingEmbedder(), shards=4, background=False)


def test_plain_chat_llm_as_reasoner(store_path: Path) -> None:
    chat_llm = scripted_chat_llm()
    adapter = as_reasoner_llm(chat_llm)
    assert isinstance(adapter, LlamaIndexReasonerLLM) and adapter.structured is False, "not a function-calling model"
    with make(store_path, adapter) as m:
        m.observe("ann", [{"role": "user", "content": "I'm vegetarian, by the way."}], session_id="s1")
        m.flush()
        m.observe("ann", [{"role": "user", "content": "Update: I eat fish now."}], session_id="s2")
        m.flush()

        assert [method for method, _ in chat_llm.calls] == ["chat", "chat"]
        prompt = chat_llm.calls[0][1]
        assert [msg.role for msg in prompt] == [MessageRole.SYSTEM, MessageRole.USER]
        assert "I'm vegetarian, by the way." in (prompt[1].content or "")

        current = PersonalRetriever("ann", m).retrieve("diet")
        assert [n.node.get_content() for n in current] == ["Eats fish"]
        both = PersonalRetriever("ann", m, include_superseded=True).retrieve("diet")
        old = next(n for n in both if n.node.get_content() == "Is vegetarian")
        assert old.node.metadata["valid_to"] is not None and old.node.metadata["superseded_by"]
        assert m.stats("ann")["llm_calls"] == 2


def structured_script(calls: list[tuple[int, list[str]]], fail: bool = False) -> MockFunctionCallingLLM:
    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        tools = [t.metadata.name for t in kwargs.get("tools") or []]
        calls.append((len(messages), tools))
        if tools:
            if fail:
                return ChatMessage(role="assistant", content="I cannot call tools today.")
            update = {"new_insights": [{"kind": "preference", "text": "Is vegetarian", "evidence": ["m1"]}]}
            return ChatMessage(
                role="assistant", blocks=[ToolCallBlock(tool_call_id="t1", tool_name="ModelUpdate", tool_kwargs=update)]
            )
        update = {"new_insights": [{"kind": "goal", "text": "Wants to cook more", "evidence": ["m1"]}]}
        return ChatMessage(role="assistant", content="```json\n" + json.dumps(update) + "\n```")

    return MockFunctionCallingLLM(response_generator=respond)


def test_structured_output_for_function_calling_models(store_path: Path) -> None:
    calls: list[tuple[int, list[str]]] = []
    adapter = as_reasoner_llm(structured_script(calls))
    assert adapter.structured is True
    with make(store_path, adapter) as m:
        m.observe("ann", [{"role": "user", "content": "I'm vegetarian."}])
        m.flush()
        assert [i.text for i in m.user_model("ann").insights] == ["Is vegetarian"]
    assert calls == [(2, ["ModelUpdate"])], "one structured call, the ModelUpdate schema as the tool"


def test_structured_failure_falls_back_to_plain_chat_then_gives_up(store_path: Path) -> None:
    calls: list[tuple[int, list[str]]] = []
    adapter = as_reasoner_llm(structured_script(calls, fail=True))
    with make(store_path, adapter) as m:
        for n in range(STRUCTURED_GIVE_UP + 1):
            m.observe("ann", [{"role": "user", "content": f"I'm cooking dish number {n} tonight."}])
            m.flush()
        assert [i.text for i in m.user_model("ann").insights] == ["Wants to cook more"], "from the plain replies"
        assert m.stats("ann")["llm_failures"] == 0
    tools_per_call = [tools for _, tools in calls]
    assert tools_per_call == [["ModelUpdate"], []] * STRUCTURED_GIVE_UP + [[]], "then plain chats only"
    assert adapter.structured is False


def answering_script(calls: list[list[str]]) -> MockFunctionCallingLLM:
    """A function-calling LLM: the ModelUpdate tool when offered it, else a plain answer."""

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        tools = [t.metadata.name for t in kwargs.get("tools") or []]
        calls.append(tools)
        if tools:
            update = {"new_insights": [{"kind": "preference", "text": "Is vegetarian", "evidence": ["m1"]}]}
            return ChatMessage(
                role="assistant", blocks=[ToolCallBlock(tool_call_id="t1", tool_name="ModelUpdate", tool_kwargs=update)]
            )
        return ChatMessage(role="assistant", content="The user is vegetarian.")

    return MockFunctionCallingLLM(response_generator=respond)


@pytest.mark.parametrize("use_async", [False, True])
async def test_ask_gets_a_plain_answer_from_a_function_calling_llm(store_path: Path, use_async: bool) -> None:
    """Regression: the adapter asked for a ModelUpdate on every prompt, so ask() returned an empty update's JSON."""
    calls: list[list[str]] = []
    adapter = as_reasoner_llm(answering_script(calls), use_async=use_async)
    assert adapter.structured is True
    async with make(store_path, adapter) as m:
        await m.aobserve("ann", [{"role": "user", "content": "I'm vegetarian."}])
        await m.aflush()
        assert [i.text for i in (await m.auser_model("ann")).insights] == ["Is vegetarian"]
        assert m.ask("ann", "What does the user eat?") == "The user is vegetarian."
        assert await m.aask("ann", "Diet?") == "The user is vegetarian."
    assert calls == [["ModelUpdate"], [], []], "structured output for the derivation only"


async def test_async_adapter_awaits_achat(store_path: Path) -> None:
    chat_llm = scripted_chat_llm()
    adapter = as_reasoner_llm(chat_llm, use_async=True)
    assert isinstance(adapter, AsyncLlamaIndexReasonerLLM)
    async with make(store_path, adapter) as m:
        await m.aobserve("ann", [{"role": "user", "content": "I'm vegetarian."}])
        await m.aflush()
        assert [i.text for i in (await m.auser_model("ann")).insights] == ["Is vegetarian"]
    assert [method for method, _ in chat_llm.calls] == ["achat"]


class RecordingEmbedding(BaseEmbedding):
    """Tells documents from queries: documents get a 1 in slot 0, queries in slot 1 (plus a word hash)."""

    _seen: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    def _vector(self, text: str, slot: int) -> list[float]:
        vec = [0.0] * 8
        vec[slot] = 1.0
        vec[2 + len(text) % 6] = 0.5
        return vec

    def _get_text_embedding(self, text: str) -> list[float]:
        self._seen.append(("doc", text))
        return self._vector(text, 0)

    def _get_query_embedding(self, query: str) -> list[float]:
        self._seen.append(("query", query))
        return self._vector(query, 1)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def test_embedding_adapter(store_path: Path) -> None:
    embed = RecordingEmbedding(model_name="rec-8")
    embedder = as_embedder(embed)
    assert embedder.name == "llamaindex:RecordingEmbedding:rec-8"
    assert embedder.dimension == 8
    assert embed._seen == [("doc", "dimension probe")], "dimension probed once"
    with UserModeler(store_path, embedder=embedder, shards=4) as m:
        m.observe("ann", [{"role": "user", "content": "I love hiking."}])
        m.search("ann", "outdoor weekend")
        assert ("query", "outdoor weekend") in embed._seen
        assert ("doc", "I love hiking.") in embed._seen
        assert m.stats()["embedder"] == "llamaindex:RecordingEmbedding:rec-8"
    assert as_embedder(MockEmbedding(embed_dim=16)).name == "llamaindex:MockEmbedding:unknown"
    with pytest.raises(InvalidInputError, match="BaseEmbedding"):
        as_embedder("text-embedding-3-small")  # type: ignore[arg-type]


def test_from_defaults_opens_one_shared_modeler_per_path(tmp_path: Path) -> None:
    path = tmp_path / "store"
    llm = scripted_chat_llm()
    embed = MockEmbedding(embed_dim=8)
    ann = PersonalChatMemoryBuffer.from_defaults("ann", path=path, llm=llm, embed_model=embed)
    bob = PersonalChatMemoryBuffer.from_defaults("bob", path=str(path))  # same store, same modeler
    assert ann.modeler is bob.modeler
    stats = ann.modeler.stats()
    assert stats["embedder"] == "llamaindex:MockEmbedding:unknown" and stats["reasoner"] == "llm"
    assert isinstance(ann.modeler.reasoner.llm, LlamaIndexReasonerLLM)  # type: ignore[union-attr]
    assert ann.modeler.reasoner.llm.llm is llm  # type: ignore[union-attr]

    with pytest.raises(InvalidInputError, match="another llm"):
        PersonalChatMemoryBuffer.from_defaults("carl", path=path, llm=scripted_chat_llm())
    with pytest.raises(InvalidInputError, match="not both"):
        PersonalChatMemoryBuffer.from_defaults("carl", modeler=ann.modeler, path=path)

    ann.put(ChatMessage(role="user", content="I'm vegetarian."))
    ann.modeler.flush()
    assert "Is vegetarian" in (bob.modeler.context("ann", "food").text)
    assert "Is vegetarian" not in (bob.modeler.context("bob", "food").text)
