"""FunctionAgent / AgentWorkflow with ``memory=PersonalChatMemoryBuffer``: context injected, turns recorded."""

from __future__ import annotations

from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import MessageRole, ToolCallBlock
from llama_index.core.tools import FunctionTool
from llamaindex.fakes import ToolAgentLLM, all_text

from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import UserModeler


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny and 24C in {city}."


def make_agent(script: ToolAgentLLM) -> FunctionAgent:
    return FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=get_weather)],
        llm=script.llm(),
        system_prompt="You are a travel assistant.",
    )


async def test_function_agent_gets_context_and_records_the_turn(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": "I love hiking and I'm allergic to peanuts."}], "earlier")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="trip")
    script = ToolAgentLLM("get_weather", {"city": "Porto"}, final="Great hiking weather in Porto!")

    result = await make_agent(script).run(user_msg="Is it a good day for a hike in Porto?", memory=memory)

    assert str(result) == "Great hiking weather in Porto!"
    assert len(script.calls) == 2 and script.tools_seen[0] == ["get_weather"]
    for call in script.calls:
        assert call[0].role == MessageRole.SYSTEM and call[0].content == "You are a travel assistant."
        assert call[1].role == MessageRole.SYSTEM and "Loves hiking" in (call[1].content or "")
        assert "Allergic to peanuts" in (call[1].content or "")
    assert script.calls[0][-1].content == "Is it a good day for a hike in Porto?"
    assert script.calls[1][-1].role == MessageRole.TOOL and "Sunny" in (script.calls[1][-1].content or "")

    stored = modeler.messages("ann", "trip")
    assert [m.role.value for m in stored] == ["user", "assistant", "other", "assistant"]
    assert stored[0].content == "Is it a good day for a hike in Porto?"
    assert stored[1].content == '[tool call: get_weather {"city": "Porto"}]'
    assert stored[2].content == "Sunny and 24C in Porto."
    assert stored[3].content == "Great hiking weather in Porto!"


async def test_function_agent_next_run_sees_the_previous_turn_with_its_tool_calls(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="trip")
    first = ToolAgentLLM("get_weather", {"city": "Porto"}, final="Sunny in Porto.")
    await make_agent(first).run(user_msg="I love hiking. Weather in Porto?", memory=memory)

    second = ToolAgentLLM("get_weather", {"city": "Braga"}, final="Cloudy in Braga.")
    await make_agent(second).run(user_msg="And in Braga?", memory=memory)

    sent = second.calls[0]
    assert "Loves hiking" in (sent[1].content or ""), "learnt in the first run"
    history = sent[2:]
    assert [m.role for m in history] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.TOOL,
        MessageRole.ASSISTANT,
        MessageRole.USER,
    ]
    assert history[1].blocks == [
        ToolCallBlock(tool_call_id="call-1", tool_name="get_weather", tool_kwargs={"city": "Porto"})
    ]
    assert history[2].additional_kwargs == {"tool_call_id": "call-1"}
    assert len(modeler.messages("ann", "trip")) == 8


async def test_agent_workflow_with_memory(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("bob", modeler=modeler)
    modeler.observe("bob", [{"role": "user", "content": "My name is Bob and I love sushi."}], "before")
    script = ToolAgentLLM("get_weather", {"city": "Tokyo"}, final="Warm in Tokyo.")
    workflow = AgentWorkflow(agents=[make_agent(script)])

    result = await workflow.run(user_msg="Weather in Tokyo?", memory=memory)

    assert "Warm in Tokyo." in str(result)
    assert "Loves sushi" in all_text(script.calls[0]) and "Name: Bob" in all_text(script.calls[0])
    assert [m.content for m in modeler.messages("bob", "default")][-1] == "Warm in Tokyo."
