"""PersonalChatMessageHistory: per (user, session) messages stored in Personal, observed, round-tripped."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_personal import PersonalChatMessageHistory, to_core, to_langchain
from personal_core import InvalidInputError, Message

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def test_messages_round_trip_with_ids_roles_and_tool_calls(memory) -> None:
    history = memory.history("ann", "s1")
    sent = [
        SystemMessage("Be brief.", id="sys-1"),
        HumanMessage("I'm allergic to peanuts.", id="h-1", name="Ann"),
        AIMessage("", id="a-1", tool_calls=[{"name": "lookup", "args": {"q": "snacks"}, "id": "call-1"}]),
        ToolMessage("trail mix, fruit", tool_call_id="call-1", id="t-1"),
        AIMessage([{"type": "text", "text": "Try fruit."}], id="a-2"),
    ]
    history.add_messages(sent)

    back = history.messages
    assert back == sent  # same types, ids, content (even structured), tool calls, names
    stored = memory.modeler.messages("ann", "s1")
    assert [(m.id, m.role.value) for m in stored] == [
        ("sys-1", "system"),
        ("h-1", "user"),
        ("a-1", "assistant"),
        ("t-1", "other"),
        ("a-2", "assistant"),
    ]
    assert stored[2].content == '[tool calls] lookup({"q": "snacks"})'  # text for search and context
    assert stored[4].content == "Try fruit."
    # the insight's evidence is the LangChain message id
    insight = next(i for i in memory.modeler.user_model("ann").insights if i.text == "Allergic to peanuts")
    assert insight.evidence == ["h-1"]


def test_messages_without_id_get_one_and_repeats_of_an_id_are_stored_once(memory) -> None:
    history = memory.history("ann")
    history.add_messages([HumanMessage("I love chess."), AIMessage("Nice.")])
    first = history.messages
    assert all(m.id for m in first)
    history.add_messages(first)  # same ids again: nothing new
    history.add_message(HumanMessage("I love chess.", id=first[0].id))
    assert history.messages == first
    assert memory.modeler.user_model("ann").insights[0].times_seen == 1


def test_a_turn_repeating_an_earlier_text_is_a_new_turn(memory) -> None:
    """A history appends (as LangChain's do): "yes" said twice, in two turns, is two turns, answers included."""
    history = memory.history("ann")
    for _ in range(2):
        history.add_messages([HumanMessage("yes"), AIMessage("Done.")])
    assert [m.text for m in history.messages] == ["yes", "Done.", "yes", "Done."]
    assert len({m.id for m in history.messages}) == 4


def test_blank_messages_are_skipped(memory) -> None:
    history = memory.history("ann")
    history.add_messages([HumanMessage(""), AIMessage("   "), HumanMessage("hello")])
    assert [m.text for m in history.messages] == ["hello"]


def test_clear_drops_the_session_not_the_model_or_other_sessions(memory) -> None:
    one, two = memory.history("ann", "one"), memory.history("ann", "two")
    one.add_messages([HumanMessage("I love hiking.")])
    two.add_messages([HumanMessage("Hello")])
    one.clear()
    assert one.messages == []
    assert [m.text for m in two.messages] == ["Hello"]
    assert [i.text for i in memory.modeler.user_model("ann").insights] == ["Loves hiking"]


async def test_async_methods(memory) -> None:
    history = memory.history("bob", "s")
    await history.aadd_messages([HumanMessage("My name is Bob."), AIMessage("Hi Bob!")])
    assert [m.text for m in await history.aget_messages()] == ["My name is Bob.", "Hi Bob!"]
    assert "Name: Bob" in memory.modeler.user_model("bob").card
    await history.aclear()
    assert await history.aget_messages() == []


def test_histories_are_per_user(memory) -> None:
    memory.history("ann", "s").add_messages([HumanMessage("ann's secret")])
    assert memory.history("bob", "s").messages == []


def test_limit_reads_the_last_messages(memory) -> None:
    memory.history("ann").add_messages([HumanMessage(str(n)) for n in range(5)])
    assert [m.text for m in memory.history("ann", limit=2).messages] == ["3", "4"]


def test_direct_construction_from_a_modeler(memory) -> None:
    history = PersonalChatMessageHistory(memory.modeler, "ann", "s")
    history.add_user_message("I love tea.")
    history.add_ai_message("Good choice.")
    assert [m.type for m in memory.history("ann", "s").messages] == ["human", "ai"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, "s"), "user_id must be a str, got int"),
        (("ann", ""), "session_id must be a non-empty"),
        (("ann", None), "session_id must be a str"),
    ],
)
def test_bad_ids_are_clear_errors(memory, args, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PersonalChatMessageHistory(memory, *args)


def test_bad_sources_and_messages_are_clear_errors(memory) -> None:
    with pytest.raises(InvalidInputError, match="needs a PersonalMemory or a UserModeler"):
        PersonalChatMessageHistory("not a memory", "ann")
    history = memory.history("ann")
    with pytest.raises(InvalidInputError, match="message 1 is a str, not a LangChain BaseMessage"):
        history.add_messages([HumanMessage("ok"), "plain text"])
    with pytest.raises(InvalidInputError, match="sequence of LangChain messages"):
        history.add_messages("plain text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="limit"):
        memory.history("ann", limit=-1)
    assert history.messages == []  # nothing stored by a rejected call


def test_core_messages_of_other_origins_convert_by_role() -> None:
    for role, cls in (("user", HumanMessage), ("assistant", AIMessage), ("system", SystemMessage)):
        converted = to_langchain(Message(user_id="u", role=role, content="x", id="m1"))
        assert type(converted) is cls and converted.id == "m1"
    other = to_langchain(Message(user_id="u", role="other", content="x"))
    assert isinstance(other, ChatMessage) and other.role == "other"
    assert to_core(ChatMessage(role="assistant", content="hi"))["role"] == "assistant"  # type: ignore[index]
