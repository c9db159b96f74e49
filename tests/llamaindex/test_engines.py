"""The buffer as ``memory=`` of LlamaIndex chat engines: what the LLM receives on the next turn."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import MessageRole
from llama_index.core.chat_engine import CondensePlusContextChatEngine, ContextChatEngine, SimpleChatEngine
from llamaindex.fakes import RecordingLLM, all_text

from llamaindex_personal import PersonalChatMemoryBuffer, PersonalRetriever
from personal_core import UserModeler

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def simple_engine(modeler: UserModeler, user_id: str, llm: RecordingLLM, **kwargs: object) -> SimpleChatEngine:
    memory = PersonalChatMemoryBuffer.from_defaults(user_id, modeler=modeler, **kwargs)  # type: ignore[arg-type]
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="You are a helpful assistant.")


def test_simple_chat_engine_sees_stated_preferences_next_turn(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Noted.")
    engine = simple_engine(modeler, "ann", llm)

    engine.chat("Hi, I'm allergic to peanuts and I love hiking.")
    first = llm.last_messages()
    engine.chat("Suggest a snack for my hike.")
    second = llm.last_messages()

    assert [m.role for m in second[:2]] == [MessageRole.SYSTEM, MessageRole.SYSTEM]
    assert second[0].content == "You are a helpful assistant."
    context = second[1].content or ""
    assert context.startswith("<user_context>") and "Allergic to peanuts" in context and "Loves hiking" in context
    assert [(m.role, m.content) for m in second[2:]] == [
        (MessageRole.USER, "Hi, I'm allergic to peanuts and I love hiking."),
        (MessageRole.ASSISTANT, "Noted."),
        (MessageRole.USER, "Suggest a snack for my hike."),
    ]
    assert "Allergic to peanuts" in all_text(first), "derived at once by the offline reasoner"
    # the turn is recorded in the user's session
    assert [m.content for m in modeler.messages("ann", "default")][-2:] == ["Suggest a snack for my hike.", "Noted."]


def test_two_users_never_see_each_other(modeler: UserModeler) -> None:
    ann_llm, bob_llm = RecordingLLM(reply="ok"), RecordingLLM(reply="ok")
    ann = simple_engine(modeler, "ann", ann_llm)
    bob = simple_engine(modeler, "bob", bob_llm)

    ann.chat("I'm allergic to peanuts. My name is Ann.")
    bob.chat("I love sushi. My name is Bob.")
    ann.chat("What should I eat tonight?")
    bob.chat("What should I eat tonight?")

    ann_sees, bob_sees = all_text(ann_llm.last_messages()), all_text(bob_llm.last_messages())
    assert "Allergic to peanuts" in ann_sees and "Name: Ann" in ann_sees
    assert "sushi" not in ann_sees.lower() and "Bob" not in ann_sees
    assert "Loves sushi" in bob_sees and "Name: Bob" in bob_sees
    assert "peanut" not in bob_sees.lower() and "Ann" not in bob_sees


async def test_simple_chat_engine_achat(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Got it.")
    engine = simple_engine(modeler, "ann", llm)
    await engine.achat("I love jazz music.")
    response = await engine.achat("Any plans for tonight?")
    assert str(response) == "Got it."
    method, messages = llm.chat_calls()[-1]
    assert method == "achat"
    assert "Loves jazz music" in (messages[1].content or "")
    assert [m.content for m in modeler.messages("ann", "default")] == [
        "I love jazz music.",
        "Got it.",
        "Any plans for tonight?",
        "Got it.",
    ]


def test_simple_chat_engine_stream_chat(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Here are three ideas.")
    engine = simple_engine(modeler, "ann", llm)
    first = engine.stream_chat("I love climbing.")
    assert "".join(first.response_gen) == "Here are three ideas."  # returns once the reply is in memory

    second = engine.stream_chat("What should I do this weekend?")
    assert "".join(second.response_gen) == "Here are three ideas."

    method, messages = llm.chat_calls()[-1]
    assert method == "stream_chat"
    assert "Loves climbing" in (messages[1].content or "")
    assert [m.content for m in modeler.messages("ann", "default")][-2:] == [
        "What should I do this weekend?",
        "Here are three ideas.",
    ]


async def test_simple_chat_engine_astream_chat(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Try the coast trail.")
    engine = simple_engine(modeler, "ann", llm)
    first = await engine.astream_chat("I love hiking.")
    assert "".join([t async for t in first.async_response_gen()]) == "Try the coast trail."
    second = await engine.astream_chat("Where should I go?")
    assert "".join([t async for t in second.async_response_gen()]) == "Try the coast trail."
    method, messages = llm.chat_calls()[-1]
    assert method == "astream_chat" and "Loves hiking" in (messages[1].content or "")
    assert [m.content for m in modeler.messages("ann", "default")][-1] == "Try the coast trail."


def test_token_limit_holds_with_the_engine_prefix(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="A fairly long answer " * 10)
    engine = simple_engine(modeler, "ann", llm, token_limit=120, context_tokens=60)
    for i in range(6):
        engine.chat(f"I love topic number {i}. Tell me more about it please.")
    counter = modeler.counter
    sent = llm.last_messages()
    assert sum(counter.count(m.content or "") for m in sent) <= 120, "prefix + context + history within token_limit"
    assert sent[-1].content == "I love topic number 5. Tell me more about it please."
    assert sent[2].role == MessageRole.USER


def test_condense_plus_context_chat_engine(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Noted.")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=PersonalRetriever("ann", modeler), llm=llm, memory=memory
    )
    engine.chat("I'm vegetarian and I love hiking.")
    engine.chat("What should I cook tonight?")

    sent = llm.last_messages()
    ours = [m for m in sent if m.role == MessageRole.SYSTEM and (m.content or "").startswith("<user_context>")]
    assert len(ours) == 1 and "Is vegetarian" in (ours[0].content or "") and "Loves hiking" in (ours[0].content or "")
    assert [m.content for m in sent[-3:]][::2] == ["I'm vegetarian and I love hiking.", "What should I cook tonight?"]
    assert "Is vegetarian" in (sent[0].content or ""), "the retriever's insights fill the engine's context slot"
    # the condense step saw the personal context as part of the history
    condense = [p for method, p in llm.calls if method == "complete"]
    assert condense and "Is vegetarian" in condense[-1]
    stored = [m.content for m in modeler.messages("ann", "default")]
    assert len(stored) == 4 and stored[0] == "I'm vegetarian and I love hiking."
    assert stored[2:] == ["What should I cook tonight?", "Noted."]


async def test_condense_plus_context_chat_engine_two_users_async(modeler: UserModeler) -> None:
    llms = {"ann": RecordingLLM(reply="ok"), "bob": RecordingLLM(reply="ok")}
    engines = {
        user: CondensePlusContextChatEngine.from_defaults(
            retriever=PersonalRetriever(user, modeler),
            llm=llms[user],
            memory=PersonalChatMemoryBuffer.from_defaults(user, modeler=modeler),
        )
        for user in llms
    }
    await engines["ann"].achat("I'm allergic to peanuts.")
    await engines["bob"].achat("I love sushi.")
    await engines["ann"].achat("Dinner ideas?")
    await engines["bob"].achat("Dinner ideas?")
    ann_sees, bob_sees = all_text(llms["ann"].last_messages()), all_text(llms["bob"].last_messages())
    assert "Allergic to peanuts" in ann_sees and "sushi" not in ann_sees.lower()
    assert "Loves sushi" in bob_sees and "peanut" not in bob_sees.lower()


def test_context_chat_engine(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Sure.")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    engine = ContextChatEngine.from_defaults(retriever=PersonalRetriever("ann", modeler), llm=llm, memory=memory)
    engine.chat("I love jazz music.")
    engine.chat("Any concerts this week?")
    sent = llm.last_messages()
    assert "Loves jazz music" in all_text(sent)
    assert sent[-1].content == "Any concerts this week?"
    assert len(modeler.messages("ann", "default")) == 4


def test_condense_plus_context_chat_engine_stream_chat(modeler: UserModeler) -> None:
    llm = RecordingLLM(reply="Try a lentil curry.")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=PersonalRetriever("ann", modeler), llm=llm, memory=memory, skip_condense=True
    )
    engine.chat("I'm vegetarian.")
    response = engine.stream_chat("What should I cook tonight?")
    assert "".join(response.response_gen) == "Try a lentil curry."

    method, sent = llm.chat_calls()[-1]
    assert method == "stream_chat"
    ours = [m for m in sent if (m.content or "").startswith("<user_context>")]
    assert len(ours) == 1 and "Is vegetarian" in (ours[0].content or "")
    assert sent[-1].content == "What should I cook tonight?"
    assert [m.content for m in modeler.messages("ann", "default")][-2:] == [
        "What should I cook tonight?",
        "Try a lentil curry.",
    ]
