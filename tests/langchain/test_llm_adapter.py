"""A LangChain chat model as the reasoner's LLM: structured output where supported, plain text otherwise."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import Field

from langchain_personal import AsyncChatModelLLM, ChatModelLLM, PersonalMemory
from langchain_personal._llm import adapt_llm
from personal_core import HashingEmbedder, InvalidInputError, prompts
from personal_core.llm import is_async_callable
from personal_core.llm import wants_structured_output as is_derive_prompt

VEGETARIAN = {
    "new_insights": [
        {"kind": "preference", "text": "Is vegetarian", "confidence": 0.9, "level": "explicit", "evidence": ["m1"]}
    ]
}


class ToolCallingModel(GenericFakeChatModel):
    """Supports tools: structured calls get a ``ModelUpdate`` tool call (or ``structured_error`` is raised);
    plain calls answer from ``messages``."""

    messages: Any = Field(default_factory=lambda: iter(()))
    update: dict[str, Any] = Field(default_factory=lambda: VEGETARIAN)
    structured_error: Any = None
    bound: list[dict[str, Any]] = Field(default_factory=list)
    structured_prompts: list[list[BaseMessage]] = Field(default_factory=list)
    plain_prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        self.bound.append({"tools": list(tools), **kwargs})

        def reply(messages: list[BaseMessage]) -> AIMessage:
            self.structured_prompts.append(messages)
            if self.structured_error is not None:
                raise self.structured_error
            return AIMessage(content="", tool_calls=[{"name": "ModelUpdate", "args": self.update, "id": "c1"}])

        return RunnableLambda(reply)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.plain_prompts.append(messages)
        return super()._generate(messages, stop, run_manager, **kw)


def _memory(tmp_path: Path, llm: Any) -> PersonalMemory:
    return PersonalMemory(path=tmp_path / "store", llm=llm, embedder=HashingEmbedder(), background=False)


def test_derive_prompt_marker_matches_the_cores_prompts() -> None:
    derive = [{"role": "system", "content": prompts.DERIVE_SYSTEM.format(card_limit=40, summary_words=200)}]
    ask = [{"role": "system", "content": prompts.ASK_SYSTEM.format(context="You maintain a theory-of-mind model")}]
    assert is_derive_prompt([*derive, {"role": "user", "content": "..."}])
    assert not is_derive_prompt([*ask, {"role": "user", "content": "What does the user like?"}])
    assert not is_derive_prompt([{"role": "user", "content": prompts.DERIVE_SYSTEM}])
    assert not is_derive_prompt([])


def test_structured_output_feeds_the_reasoner(tmp_path: Path) -> None:
    model = ToolCallingModel()
    with _memory(tmp_path, model) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian, by the way."}])
        memory.flush()
        assert [i.text for i in memory.modeler.user_model("ann").insights] == ["Is vegetarian"]
        stats = memory.modeler.stats("ann")
        assert stats["llm_calls"] == 1 and stats["llm_failures"] == 0
    assert model.bound and model.bound[0]["tools"][0].__name__ == "ModelUpdate"
    assert len(model.structured_prompts) == 1 and model.plain_prompts == []
    prompt = model.structured_prompts[0]
    assert prompt[0].type == "system" and "I'm vegetarian, by the way." in prompt[1].text


def test_models_without_structured_output_answer_in_text(tmp_path: Path) -> None:
    model = GenericFakeChatModel(messages=iter(["```json\n" + json.dumps(VEGETARIAN) + "\n```"]))
    adapter = ChatModelLLM(model)
    assert adapter.structured is None  # GenericFakeChatModel has no bind_tools
    with _memory(tmp_path, adapter) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian."}])
        memory.flush()
        assert [i.text for i in memory.modeler.user_model("ann").insights] == ["Is vegetarian"]


def test_structured_failure_falls_back_to_text_and_schema_refusal_disables_it(tmp_path: Path) -> None:
    model = ToolCallingModel(
        messages=iter([json.dumps(VEGETARIAN), "{}"]), structured_error=ValueError("schema not supported")
    )
    adapter = ChatModelLLM(model)
    with _memory(tmp_path, adapter) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian."}])
        memory.flush()
        assert [i.text for i in memory.modeler.user_model("ann").insights] == ["Is vegetarian"]
        assert memory.modeler.stats("ann")["llm_failures"] == 0
        assert adapter.structured is None  # the provider refused the schema: plain text from now on
        memory.modeler.observe("ann", [{"role": "user", "content": "Hello again."}])
        memory.flush()
    assert len(model.structured_prompts) == 1 and len(model.plain_prompts) == 2


def test_a_parse_error_keeps_structured_output_on(tmp_path: Path) -> None:
    model = ToolCallingModel(messages=iter([json.dumps(VEGETARIAN)]), structured_error=OutputParserException("bad"))
    adapter = ChatModelLLM(model)
    with _memory(tmp_path, adapter) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian."}])
        memory.flush()
        assert [i.text for i in memory.modeler.user_model("ann").insights] == ["Is vegetarian"]
    assert adapter.structured is not None


def test_ask_gets_a_plain_answer_even_from_a_structured_model(tmp_path: Path) -> None:
    model = ToolCallingModel(messages=iter(["The user is vegetarian."]))
    with _memory(tmp_path, model) as memory:
        memory.modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian."}])
        memory.flush()
        assert memory.modeler.ask("ann", "What does the user eat?") == "The user is vegetarian."
    assert len(model.structured_prompts) == 1  # only the derivation
    ask = model.plain_prompts[-1]
    assert ask[0].text.startswith("You answer questions") and "Is vegetarian" in ask[0].text
    assert ask[1].text == "What does the user eat?"


async def test_async_adapter_derives_in_the_event_loop(tmp_path: Path) -> None:
    model = ToolCallingModel(messages=iter(["The user is vegetarian."]))
    adapter = AsyncChatModelLLM(model)
    assert is_async_callable(adapter) and not is_async_callable(ChatModelLLM(model))
    async with _memory(tmp_path, adapter) as memory:
        await memory.modeler.aobserve("ann", [{"role": "user", "content": "I'm vegetarian."}])
        await memory.aflush()
        assert [i.text for i in (await memory.modeler.auser_model("ann")).insights] == ["Is vegetarian"]
        assert await memory.modeler.aask("ann", "Diet?") == "The user is vegetarian."
    assert len(model.structured_prompts) == 1 and len(model.plain_prompts) == 1


async def test_async_adapter_falls_back_to_text(tmp_path: Path) -> None:
    model = ToolCallingModel(messages=iter([json.dumps(VEGETARIAN)]), structured_error=ValueError("no schema"))
    adapter = AsyncChatModelLLM(model)
    async with _memory(tmp_path, adapter) as memory:
        await memory.modeler.aobserve("ann", [{"role": "user", "content": "I'm vegetarian."}])
        await memory.aflush()
        assert [i.text for i in (await memory.modeler.auser_model("ann")).insights] == ["Is vegetarian"]
    assert adapter.structured is None


def test_adapter_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="BaseChatModel"):
        ChatModelLLM("gpt")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="llm must be a LangChain BaseChatModel or a callable"):
        adapt_llm(42)
    plain = ChatModelLLM(ToolCallingModel(), structured_output=False)
    assert plain.structured is None and plain.name == "langchain:ToolCallingModel"

    def core_llm(messages: list[dict[str, str]]) -> str:
        return "{}"

    assert adapt_llm(core_llm) is core_llm
    assert isinstance(adapt_llm(GenericFakeChatModel(messages=iter([]))), ChatModelLLM)
