"""Bad input gives clear typed errors (nothing stored); a failing reasoner LLM never fails the chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llamaindex.fakes import RecordingLLM

from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import InvalidInputError, UserModeler


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "user_id is required"),
        ({"user_id": None}, "user_id is required"),
        ({"user_id": 42}, "user_id must be a str"),
        ({"user_id": ""}, "non-empty"),
        ({"user_id": "   "}, "non-empty"),
        ({"user_id": "ann\x00"}, "control characters"),
        ({"user_id": "a" * 300}, "limit"),
        ({"user_id": "ann", "session_id": 7}, "session_id must be a str"),
        ({"user_id": "ann", "session_id": "bad\nsession"}, "session_id must not contain control"),
        ({"user_id": "ann", "token_limit": 0}, "token_limit"),
        ({"user_id": "ann", "token_limit": True}, "token_limit"),
        ({"user_id": "ann", "token_limit": "3000"}, "token_limit"),
        ({"user_id": "ann", "context_tokens": -1}, "context_tokens"),
        ({"user_id": "ann", "chat_store": {"k": []}}, "chat_store"),
        ({"user_id": "ann", "chat_store_key": 3}, "chat_store_key"),
        ({"user_id": "ann", "tokenizer_fn": len}, "unexpected arguments"),
    ],
)
def test_from_defaults_rejects_bad_input(modeler: UserModeler, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        PersonalChatMemoryBuffer.from_defaults(modeler=modeler, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"modeler": "a modeler"}, "modeler must be a personal_core.UserModeler"),
        ({"llm": "gpt-4o"}, "llm must be a llama_index LLM or a callable"),
        ({"embed_model": object()}, "embed_model must be a llama_index BaseEmbedding"),
        ({"path": 3.5}, "path must be a str"),
    ],
)
def test_from_defaults_rejects_wrong_modeler_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        PersonalChatMemoryBuffer.from_defaults("ann", **{"path": tmp_path / "store", **kwargs})


def test_wrong_message_types_store_nothing(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    with pytest.raises(InvalidInputError, match="must be a llama_index ChatMessage"):
        memory.put("I love hiking.")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="must be a list of ChatMessage"):
        memory.put_messages("I love hiking.")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"messages\[1\]"):
        memory.put_messages([ChatMessage(role="user", content="I love hiking."), {"role": "user"}])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match=r"messages\[0\]"):
        memory.set([{"role": "user", "content": "hi"}])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match=r"content"):
        memory.put(ChatMessage(role="user", content="x" * 2_000_001))
    assert modeler.messages("ann") == [] and modeler.user_model("ann").insights == []


def test_wrong_get_arguments(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    with pytest.raises(InvalidInputError, match="input must be a str"):
        memory.get(input=123)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="initial_token_count"):
        memory.get(initial_token_count=-5)


async def test_wrong_async_arguments(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    with pytest.raises(InvalidInputError):
        await memory.aput(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await memory.aput_messages([None])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        await memory.aget(input=["x"])  # type: ignore[arg-type]
    assert modeler.messages("ann") == []


def test_failing_reasoner_llm_never_fails_the_chat(tmp_path: Path) -> None:
    broken = RecordingLLM(fail_with=RuntimeError("reasoner provider is down"))
    memory = PersonalChatMemoryBuffer.from_defaults("ann", path=tmp_path / "store", llm=broken)
    chat_llm = RecordingLLM(reply="Happy to help!")
    engine = SimpleChatEngine.from_defaults(llm=chat_llm, memory=memory)

    assert str(engine.chat("I'm vegetarian and I love hiking.")) == "Happy to help!"
    memory.modeler.flush()  # derive now: the reasoner LLM raises
    assert str(engine.chat("What should I cook?")) == "Happy to help!"
    memory.modeler.flush()

    stats = memory.modeler.stats("ann")
    assert stats["llm_failures"] >= 2 and stats["llm_failures"] == stats["llm_calls"]
    assert stats["batches_done"] == 0 and stats["insights_added"] == 0
    assert stats["pending_batches"] + stats["failed_batches"] >= 1, "kept for a retry, not lost"
    assert len(broken.calls) >= 2, "the reasoner was really called"
    assert [m.content for m in memory.get_all()] == [
        "I'm vegetarian and I love hiking.",
        "Happy to help!",
        "What should I cook?",
        "Happy to help!",
    ]
    assert chat_llm.last_messages()[-1].content == "What should I cook?"


async def test_failing_reasoner_llm_never_fails_achat(tmp_path: Path) -> None:
    broken = RecordingLLM(fail_with=TimeoutError("slow provider"))
    memory = PersonalChatMemoryBuffer.from_defaults("ann", path=tmp_path / "store", llm=broken)
    engine = SimpleChatEngine.from_defaults(llm=RecordingLLM(reply="ok"), memory=memory)
    assert str(await engine.achat("I'm vegetarian.")) == "ok"
    await memory.modeler.aflush()
    assert str(await engine.achat("Dinner?")) == "ok"
    assert (await memory.modeler.astats("ann"))["llm_failures"] >= 1
