"""PersonalMemoryBlock inside LlamaIndex's ``Memory``: content reaches the LLM, flushes are observed, truncation."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import Memory
from llama_index.core.utils import get_tokenizer
from llamaindex.fakes import RecordingLLM

from llamaindex_personal import PersonalMemoryBlock
from personal_core import InvalidInputError, UserModeler

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server

FACTS = (
    "My name is Ann. I live in Porto. I love hiking. I love jazz music. I love Italian food. "
    "I'm allergic to peanuts. I want to run a marathon next year. I'm learning Japanese."
)


def test_block_content_appears_in_what_the_llm_gets(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": FACTS}], session_id="earlier")
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler)
    memory = Memory.from_defaults(session_id="chat-1", memory_blocks=[block])
    llm = RecordingLLM(reply="Enjoy!")
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory)

    engine.chat("Any snack ideas for my hike?")

    sent = llm.last_messages()
    assert sent[0].role == MessageRole.SYSTEM
    system = sent[0].content or ""
    assert "<personal_context>" in system and "<user_context>" in system
    assert "Allergic to peanuts" in system and "Loves hiking" in system
    assert sent[-1].content == "Any snack ideas for my hike?"


async def test_aget_renders_context_for_the_latest_user_message(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [
            {"role": "user", "content": "I love hiking in the mountains."},
            {"role": "user", "content": "I love jazz music."},
        ],
        session_id="earlier",
    )
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler, max_tokens=60, context_messages=False)
    jazz = await block.aget([ChatMessage(role="user", content="Any jazz music concerts?")])
    hiking = await block.aget([ChatMessage(role="user", content="A hiking trip in the mountains?")])
    assert "Loves jazz music" in jazz and "hiking" not in jazz
    assert "Loves hiking in the mountains" in hiking and "jazz" not in hiking
    assert await PersonalMemoryBlock(user_id="nobody", modeler=modeler).aget([]) == ""


async def test_flushed_messages_are_observed(modeler: UserModeler) -> None:
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler)
    memory = Memory.from_defaults(session_id="chat-1", memory_blocks=[block], token_limit=60, token_flush_size=10)
    await memory.aput(ChatMessage(role="user", content="I love hiking and I'm allergic to peanuts."))
    assert modeler.messages("ann") == [], "not flushed yet: Memory keeps it in its short-term queue"
    for i in range(6):
        await memory.aput(ChatMessage(role="assistant", content=f"Sure, here is a longer answer number {i}."))
        await memory.aput(ChatMessage(role="user", content=f"Thanks, question {i}?"))

    stored = modeler.messages("ann")
    assert stored, "Memory flushed its oldest messages into the block"
    assert stored[0].content == "I love hiking and I'm allergic to peanuts."
    assert {m.session_id for m in stored} == {"chat-1"}, "recorded in Memory's session"
    assert {"Loves hiking", "Allergic to peanuts"} <= {i.text for i in modeler.user_model("ann").insights}

    assert "Allergic to peanuts" in await block.aget([ChatMessage(role="user", content="A peanut snack?")])


async def test_fixed_session_and_ignoring_short_term_flushes(modeler: UserModeler) -> None:
    fixed = PersonalMemoryBlock(user_id="ann", modeler=modeler, session_id="personal")
    await fixed.aput([ChatMessage(role="user", content="I love jazz.")], from_short_term_memory=True, session_id="x")
    assert [m.session_id for m in modeler.messages("ann")] == ["personal"]
    deaf = PersonalMemoryBlock(user_id="bob", modeler=modeler, accept_short_term_memory=False)
    await deaf.aput([ChatMessage(role="user", content="I love jazz.")], from_short_term_memory=True)
    assert modeler.messages("bob") == []


async def test_atruncate_shrinks_by_the_requested_tokens(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": FACTS}], session_id="earlier")
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler, max_tokens=400)
    content = await block.aget([ChatMessage(role="user", content="What should I eat before my run?")])
    measure = get_tokenizer()
    size = len(measure(content))
    assert size > 60

    for request in (1, 10, 25, size - 40):
        smaller = await block.atruncate(content, request)
        assert smaller is not None
        assert len(measure(smaller)) <= size - request, f"asked for {request} fewer tokens"
        assert smaller.startswith("<user_context>") and smaller.endswith("</user_context>"), "still a whole block"
    assert await block.atruncate(content, size) is None
    assert await block.atruncate(content, 0) == content


async def test_memory_truncation_is_respected(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": FACTS}], session_id="earlier")
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler, max_tokens=400, priority=1)
    roomy = Memory.from_defaults(session_id="s-roomy", memory_blocks=[block], token_limit=2000)
    tight = Memory.from_defaults(session_id="s-tight", memory_blocks=[block], token_limit=80)
    question = ChatMessage(role="user", content="What should I eat before my long run tomorrow morning?")
    for memory in (roomy, tight):
        await memory.aput(question.model_copy())

    measure = get_tokenizer()
    full = (await roomy.aget())[0].content or ""
    cut_messages = await tight.aget()
    cut = cut_messages[0].content or ""
    assert "<user_context>" in full and "<user_context>" in cut
    assert len(measure(cut)) < len(measure(full))
    history_tokens = len(measure(question.content or ""))
    block_text = cut[cut.index("<user_context>") : cut.index("</user_context>") + len("</user_context>")]
    block_tokens = len(measure(block_text))  # what Memory counts for the block
    assert block_tokens + history_tokens <= 80
    assert cut_messages[-1].content == question.content


async def test_priority_zero_is_never_truncated(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": FACTS}], session_id="earlier")
    block = PersonalMemoryBlock(user_id="ann", modeler=modeler, max_tokens=400, priority=0)
    memory = Memory.from_defaults(session_id="s", memory_blocks=[block], token_limit=80)
    await memory.aput(ChatMessage(role="user", content="What should I eat before my long run?"))
    content = (await memory.aget())[0].content or ""
    assert len(get_tokenizer()(content)) > 80


def test_block_bad_input(modeler: UserModeler) -> None:
    with pytest.raises(InvalidInputError, match="user_id is required"):
        PersonalMemoryBlock.from_defaults(modeler=modeler)
    with pytest.raises(InvalidInputError, match="user_id"):
        PersonalMemoryBlock(user_id=" ", modeler=modeler)
    with pytest.raises(InvalidInputError, match="modeler"):
        PersonalMemoryBlock(user_id="ann", modeler="not a modeler")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="max_tokens"):
        PersonalMemoryBlock(user_id="ann", modeler=modeler, max_tokens=-1)
    with pytest.raises(InvalidInputError, match="session_id"):
        PersonalMemoryBlock(user_id="ann", modeler=modeler, session_id=3)
