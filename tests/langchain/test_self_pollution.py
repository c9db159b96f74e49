"""No self-pollution: what the library or the framework produced never becomes user evidence or context.

Resent conversations are stored once, the ask tool's answer and tool-call plumbing are kept only as history,
and input system prompts are never stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

pytestmark = pytest.mark.both_backends


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def test_a_client_resending_the_whole_conversation_is_stored_once(memory, make_model, cfg) -> None:
    """create_agent without a checkpointer; the client sends the whole conversation as dicts every turn."""
    model = make_model("Noted, no peanuts.", "Try apple slices.", "Porto has great trails.")
    agent = create_agent(model, tools=[], middleware=[memory.middleware()])
    conversation: list[dict[str, str]] = []
    for question in ("I'm allergic to peanuts.", "What snack for my hike?", "Where should I hike?"):
        conversation.append({"role": "user", "content": question})
        result = agent.invoke({"messages": list(conversation)}, config=cfg("ann", "chat"))
        conversation.append({"role": "assistant", "content": str(result["messages"][-1].content)})

    stored = memory.modeler.messages("ann", "chat")
    assert [(m.role.value, m.content) for m in stored] == [(d["role"], d["content"]) for d in conversation]
    (allergy,) = [i for i in memory.modeler.user_model("ann").insights if "peanut" in i.text.lower()]
    assert allergy.times_seen == 1


def test_the_ask_tool_answer_and_tool_plumbing_are_never_quoted_back(memory, make_model, cfg) -> None:
    memory.history("ann", "earlier").add_messages([HumanMessage("I love sailing.")])
    model = make_model(_call("ask_about_user", {"question": "does the user love sailing?"}, "c1"), "You like sailing!")
    agent = create_agent(model, tools=[memory.as_tool()], middleware=[memory.middleware()])
    agent.invoke({"messages": [HumanMessage("What do I like?")]}, config=cfg("ann", "chat"))

    stored = memory.modeler.messages("ann", "chat")
    tool_answers = [m for m in stored if m.role.value == "other"]
    plumbing = [m for m in stored if m.content.startswith("[tool calls]")]
    assert tool_answers and "<user_context>" in tool_answers[0].content  # the tool answered with the context
    assert plumbing and all(m.history_only for m in tool_answers + plumbing)
    later = memory.modeler.context("ann", "what do I like? sailing user context tool calls", max_tokens=1000)
    quoted = {i.id for i in later.items if i.source == "message"}
    assert not quoted & {m.id for m in tool_answers + plumbing}
    assert later.text.count("<user_context>") == 1  # never a block inside the block
    assert "[tool calls]" not in later.text


def test_wrap_never_stores_or_replays_input_system_messages(memory, make_model, cfg) -> None:
    model = make_model("Hello!", "Sure.")
    chain = memory.wrap(model)
    config = cfg("ann", "s1")
    chain.invoke([SystemMessage("You are a pirate."), HumanMessage("Hi, I love jazz.")], config=config)
    chain.invoke([SystemMessage("You are a pirate."), HumanMessage("Play something.")], config=config)
    stored = memory.modeler.messages("ann", "s1")
    assert [m.role.value for m in stored] == ["user", "assistant", "user", "assistant"]
    second_call = model.calls[-1]
    assert sum(1 for m in second_call if m.type == "system") == 1  # only this turn's own system prompt


def test_a_prompt_chain_with_system_template_stores_only_the_exchange(memory, make_model, cfg) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief.\n{user_context}"), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = memory.wrap(
        prompt | make_model("Noted."), input_messages_key="question", history_messages_key="history"
    )
    chain.invoke({"question": "I'm vegetarian."}, config=cfg("ann", "s1"))
    stored = memory.modeler.messages("ann", "s1")
    assert [m.role.value for m in stored] == ["user", "assistant"]
    assert all("<user_context>" not in m.content and "Be brief" not in m.content for m in stored)
