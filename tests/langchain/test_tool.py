"""memory.as_tool(): the agent asks the user model a question."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from langchain_personal import PersonalAskTool, PersonalMemory
from personal_core import HashingEmbedder, InvalidInputError


def test_without_an_llm_the_tool_returns_the_relevant_notes(memory, cfg) -> None:
    memory.history("ann").add_messages([HumanMessage("I'm allergic to peanuts and I love hiking.")])
    tool = memory.as_tool()
    assert tool.name == "ask_about_user" and set(tool.args) == {"question"}  # config is injected, not an argument
    answer = tool.invoke({"question": "What is the user allergic to?"}, config=cfg("ann"))
    assert "<user_context>" in answer and "Allergic to peanuts" in answer
    assert memory.as_tool(user_id="bob").invoke({"question": "Allergies?"}) == "Nothing is known about this user yet."


async def test_with_an_llm_the_tool_asks(tmp_path: Path, make_model) -> None:
    model = make_model("The user avoids peanuts.", "Peanuts, again.")
    with PersonalMemory(path=tmp_path / "s", llm=model, embedder=HashingEmbedder(), background=False) as memory:
        memory.history("ann").add_messages([HumanMessage("I'm allergic to peanuts.", id="h1")])
        model.calls.clear()
        tool = memory.as_tool(user_id="ann", name="ask_user", description="Ask about the user.")
        assert tool.invoke({"question": "What should the user avoid?"}) == "The user avoids peanuts."
        assert model.calls[0][0].text.startswith("You answer questions about a user")
        assert model.calls[0][1].text == "What should the user avoid?"
        assert await tool.ainvoke({"question": "Allergies?"}) == "Peanuts, again."
        assert tool.name == "ask_user" and tool.description == "Ask about the user."


async def test_a_failing_llm_falls_back_to_the_notes(tmp_path: Path, failing_model) -> None:
    with PersonalMemory(path=tmp_path / "s", llm=failing_model, embedder=HashingEmbedder(), background=False) as m:
        m.modeler.add_insight("ann", "Allergic to peanuts", "fact")
        tool = m.as_tool(user_id="ann")
        assert "Allergic to peanuts" in tool.invoke({"question": "Allergies?"})
        assert "Allergic to peanuts" in await tool.ainvoke({"question": "Allergies?"})
        assert failing_model.calls >= 2


def test_errors(memory) -> None:
    tool = memory.as_tool()
    with pytest.raises(InvalidInputError, match=r'config\["configurable"\]\["user_id"\] is missing'):
        tool.invoke({"question": "anything?"})
    with pytest.raises(InvalidInputError, match="question must be a non-empty string"):
        memory.as_tool(user_id="ann").invoke({"question": "  "})
    with pytest.raises(InvalidInputError, match="user_id must be a str"):
        memory.as_tool(user_id=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="PersonalMemory or a UserModeler"):
        PersonalAskTool(memory="nope")


async def test_async_tool_outside_an_agent(memory) -> None:
    memory.modeler.add_insight("ann", "Loves tea", "preference")
    assert "Loves tea" in await memory.as_tool(user_id="ann").ainvoke({"question": "Drinks?"})
