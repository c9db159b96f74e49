"""One store, two frameworks: a LangChain app and a LlamaIndex app see one user model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from llama_index.core.base.llms.types import MessageRole
from llama_index.core.chat_engine import SimpleChatEngine
from llamaindex.fakes import RecordingLLM, all_text

from langchain_personal import PersonalMemory
from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import HashingEmbedder, UserModeler

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You are helpful.\n{user_context}"),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ]
)


def langchain_app(memory: PersonalMemory, replies: list[str]):  # type: ignore[no-untyped-def]
    model = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    return memory.wrap(PROMPT | model, input_messages_key="question", history_messages_key="history")


def test_insights_from_a_langchain_chain_are_served_by_the_llamaindex_buffer(modeler: UserModeler) -> None:
    chain = langchain_app(PersonalMemory(modeler=modeler), ["Noted!", "Sure."])
    config = {"configurable": {"user_id": "ann", "session_id": "lc-session"}}
    chain.invoke({"question": "I'm allergic to peanuts and I love hiking."}, config=config)

    llm = RecordingLLM(reply="Try dried fruit.")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="li-session")
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("Snack ideas for the trail?")

    sent = llm.last_messages()
    assert sent[0].role == MessageRole.SYSTEM
    assert "Allergic to peanuts" in (sent[0].content or "") and "Loves hiking" in (sent[0].content or "")
    assert [m.content for m in sent[1:]] == ["Snack ideas for the trail?"], "sessions stay separate"
    assert [m.session_id for m in modeler.messages("ann")] == ["lc-session", "lc-session", "li-session", "li-session"]

    # and back: what the LlamaIndex app learns is served to the LangChain chain
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("By the way, I love jazz music.")
    retriever = PersonalMemory(modeler=modeler).as_retriever(user_id="ann", k=10)
    assert "Loves jazz music" in [d.page_content for d in retriever.invoke("music")]


def test_one_store_used_by_each_framework_in_turn(backend: Backend) -> None:
    with PersonalMemory(**backend.where("store"), embedder=HashingEmbedder()) as lc_memory:
        chain = langchain_app(lc_memory, ["Nice to meet you, Bea."])
        chain.invoke({"question": "My name is Bea and I'm vegetarian."}, config={"configurable": {"user_id": "bea"}})

    llm = RecordingLLM(reply="How about a veggie curry?")
    if backend.server:  # from_defaults opens paths only: hand it a modeler reopened on the server's namespace
        memory = PersonalChatMemoryBuffer.from_defaults("bea", modeler=backend.modeler("store"))
    else:
        memory = PersonalChatMemoryBuffer.from_defaults("bea", path=backend.where("store")["path"])
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("What should I cook?")
    context = llm.last_messages()[0].content or ""
    assert "Name: Bea" in context and "vegetarian" in context.lower()
    # both default to the session "default": the LlamaIndex app continues the LangChain conversation
    assert [m.content for m in memory.get_all()] == [
        "My name is Bea and I'm vegetarian.",
        "Nice to meet you, Bea.",
        "What should I cook?",
        "How about a veggie curry?",
    ]
    assert "Nice to meet you, Bea." in all_text(llm.last_messages())
