"""PersonalMiddleware in langchain.agents.create_agent: context in the system prompt, turns recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_personal import PersonalMiddleware
from langchain_personal.middleware import with_context
from personal_core import InvalidInputError

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny in {city}"


def _tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def _teach(memory, user_id: str, *texts: str) -> None:
    memory.history(user_id, "earlier").add_messages([HumanMessage(t) for t in texts])


def test_agent_model_sees_the_users_context_and_the_turn_is_recorded(memory, make_model, cfg) -> None:
    _teach(memory, "ann", "I'm vegetarian.", "I love Porto.")
    model = make_model(_tool_call("weather", {"city": "Porto"}), "It's sunny: try a veggie terrace.")
    agent = create_agent(model, tools=[weather], middleware=[memory.middleware()], system_prompt="Be brief.")

    result = agent.invoke(
        {"messages": [{"role": "user", "content": "Where should I eat in Porto today?"}]},
        config=cfg("ann", "trip"),
    )
    assert result["messages"][-1].content == "It's sunny: try a veggie terrace."
    assert len(model.calls) == 2  # before the tool call and after it: both get the context
    for call in model.calls:
        system = call[0]
        assert isinstance(system, SystemMessage)
        assert system.text.startswith("Be brief.\n\n<user_context>")
        assert "Is vegetarian" in system.text and "Loves Porto" in system.text
    stored = memory.history("ann", "trip").messages
    assert [m.type for m in stored] == ["human", "ai", "tool", "ai"]
    assert stored[1].tool_calls[0]["args"] == {"city": "Porto"}  # type: ignore[attr-defined]
    assert [m.id for m in stored] == [m.id for m in result["messages"]]  # LangGraph's ids are kept
    assert all("<user_context>" not in m.text for m in stored)  # the injected context is never stored


def test_other_users_context_never_leaks(memory, make_model, cfg) -> None:
    _teach(memory, "ann", "I love sailing.")
    _teach(memory, "bob", "I love chess.")
    model = make_model()
    agent = create_agent(model, tools=[], middleware=[memory.middleware()])
    agent.invoke({"messages": [HumanMessage("What should I do this weekend?")]}, config=cfg("bob"))
    system = model.system_text(0)
    assert "Loves chess" in system and "sailing" not in system


def test_context_is_fetched_for_the_latest_user_message(memory, make_model, cfg, monkeypatch) -> None:
    queries: list[str] = []
    original = memory.modeler.context

    def spy(user_id: str, query: str = "", max_tokens: int | None = None, **kw: Any) -> Any:
        queries.append(query)
        return original(user_id, query, max_tokens, **kw)

    monkeypatch.setattr(memory.modeler, "context", spy)
    agent = create_agent(make_model(), tools=[], middleware=[memory.middleware(max_tokens=50)])
    agent.invoke(
        {"messages": [HumanMessage("first question"), AIMessage("answer"), HumanMessage("second question")]},
        config=cfg("ann"),
    )
    assert queries == ["second question"]


def test_runtime_context_gives_the_user_and_session(memory, make_model) -> None:
    @dataclass
    class Context:
        user_id: str
        session_id: str

    _teach(memory, "ann", "I'm allergic to peanuts.")
    model = make_model()
    agent = create_agent(model, tools=[], middleware=[memory.middleware()], context_schema=Context)
    agent.invoke({"messages": [HumanMessage("Snack ideas?")]}, context=Context(user_id="ann", session_id="ctx"))
    assert "Allergic to peanuts" in model.system_text(0)
    assert [m.text for m in memory.history("ann", "ctx").messages] == ["Snack ideas?", "ok"]


def test_thread_id_is_the_session_and_checkpointed_turns_are_not_stored_twice(memory, make_model) -> None:
    model = make_model("Hi Ann!", "You said you love tea.")
    agent = create_agent(model, tools=[], middleware=[memory.middleware()], checkpointer=InMemorySaver())
    config = {"configurable": {"user_id": "ann", "thread_id": "t-1"}}
    agent.invoke({"messages": [HumanMessage("I love tea.")]}, config=config)
    agent.invoke({"messages": [HumanMessage("What do I love?")]}, config=config)
    assert len(model.calls[1]) == 4  # the checkpointed thread: system, human, ai, human
    assert "Loves tea" in model.system_text(1)
    stored = memory.history("ann", "t-1").messages
    assert [m.text for m in stored] == ["I love tea.", "Hi Ann!", "What do I love?", "You said you love tea."]
    assert memory.modeler.stats("ann")["messages_observed"] == 4


async def test_async_agent(memory, make_model, cfg) -> None:
    _teach(memory, "ann", "My name is Ann.")
    model = make_model(_tool_call("weather", {"city": "Oslo"}), "Bring a jacket, Ann.")
    agent = create_agent(model, tools=[weather], middleware=[memory.middleware()])
    result = await agent.ainvoke({"messages": [HumanMessage("Weather in Oslo?")]}, config=cfg("ann", "a"))
    assert result["messages"][-1].content == "Bring a jacket, Ann."
    assert all("Name: Ann" in model.system_text(i) for i in range(2))
    assert [m.type for m in await memory.history("ann", "a").aget_messages()] == ["human", "ai", "tool", "ai"]


async def test_async_agent_streaming(memory, make_model, cfg) -> None:
    _teach(memory, "ann", "I love jazz.")
    model = make_model("Try the Blue Note.")
    agent = create_agent(model, tools=[], middleware=[memory.middleware()])
    chunks = [c async for c in agent.astream({"messages": [HumanMessage("Music tonight?")]}, config=cfg("ann", "s"))]
    assert chunks
    assert "Loves jazz" in model.system_text(0)
    assert [m.text for m in memory.history("ann", "s").messages] == ["Music tonight?", "Try the Blue Note."]


def test_missing_user_id_is_a_clear_error(memory, make_model) -> None:
    model = make_model()
    agent = create_agent(model, tools=[], middleware=[memory.middleware()])
    with pytest.raises(InvalidInputError, match=r'config\["configurable"\]\["user_id"\] is missing.*runtime context'):
        agent.invoke({"messages": [HumanMessage("hi")]})
    assert model.calls == []
    with pytest.raises(InvalidInputError, match="runtime context's user_id must be a str, got int"):
        agent.invoke({"messages": [HumanMessage("hi")]}, context={"user_id": 7})


async def test_missing_user_id_async(memory, make_model) -> None:
    agent = create_agent(make_model(), tools=[], middleware=[memory.middleware()])
    with pytest.raises(InvalidInputError, match="user_id"):
        await agent.ainvoke({"messages": [HumanMessage("hi")]})


def test_record_false_leaves_the_store_alone(memory, make_model, cfg) -> None:
    agent = create_agent(make_model(), tools=[], middleware=[memory.middleware(record=False)])
    agent.invoke({"messages": [HumanMessage("I love tea.")]}, config=cfg("ann"))
    assert memory.modeler.messages("ann") == []


def test_new_user_gets_the_prompt_unchanged(memory, make_model, cfg) -> None:
    model = make_model()
    agent = create_agent(model, tools=[], middleware=[memory.middleware()], system_prompt="Be kind.")
    agent.invoke({"messages": [HumanMessage("hello")]}, config=cfg("newcomer"))
    assert model.system_text(0) == "Be kind."


def test_agent_uses_the_ask_tool(memory, make_model, cfg) -> None:
    _teach(memory, "ann", "I'm allergic to peanuts.")
    model = make_model(_tool_call("ask_about_user", {"question": "What is the user allergic to?"}), "No peanuts then.")
    agent = create_agent(model, tools=[memory.as_tool()], middleware=[memory.middleware()])
    result = agent.invoke({"messages": [HumanMessage("Plan a snack.")]}, config=cfg("ann"))
    tool_message = result["messages"][2]
    assert tool_message.type == "tool" and "Allergic to peanuts" in tool_message.text


def test_system_message_helpers_and_arguments(memory) -> None:
    assert with_context(None, "CTX").content == "CTX"
    blocks = with_context(SystemMessage([{"type": "text", "text": "Base"}]), "CTX")
    assert blocks.content == [{"type": "text", "text": "Base"}, {"type": "text", "text": "\n\nCTX"}]
    with pytest.raises(InvalidInputError, match="max_tokens"):
        memory.middleware(max_tokens=-5)
    with pytest.raises(InvalidInputError, match="PersonalMemory or a UserModeler"):
        PersonalMiddleware(object())
