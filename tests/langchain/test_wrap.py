"""memory.wrap(prompt | model): history and the user's context reach the model; every exchange is recorded."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda

from langchain_personal import PersonalMemory, PersonalRunnable
from personal_core import HashingEmbedder, InvalidInputError

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def _chain(memory: PersonalMemory, prompt: Any, model: Any) -> PersonalRunnable:
    return memory.wrap(prompt | model, input_messages_key="question", history_messages_key="history")


def test_stated_preferences_reach_the_next_prompt(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model("Noted!", "Try a peanut-free trail mix.")
    chain = _chain(memory, chat_prompt, model)

    first = chain.invoke({"question": "I love hiking and I'm allergic to peanuts."}, config=cfg("ann", "s1"))
    assert first.content == "Noted!"
    assert "Loves hiking" not in model.system_text(0)  # nothing known before the first turn

    chain.invoke({"question": "What snack should I take on my hike?"}, config=cfg("ann", "s1"))
    system = model.system_text(1)
    assert system.startswith("You are a helpful assistant.")
    assert "<user_context>" in system and "Loves hiking" in system and "Allergic to peanuts" in system
    # the history of the session comes before the current question, in order
    assert [(m.type, m.text) for m in model.calls[1][1:]] == [
        ("human", "I love hiking and I'm allergic to peanuts."),
        ("ai", "Noted!"),
        ("human", "What snack should I take on my hike?"),
    ]
    stored = memory.modeler.messages("ann", "s1")
    assert [m.role.value for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[-1].content == "Try a peanut-free trail mix."


def test_two_users_never_see_each_other(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = _chain(memory, chat_prompt, model)
    chain.invoke({"question": "I love sailing and my name is Ann."}, config=cfg("ann", "s"))
    chain.invoke({"question": "I'm vegetarian and I love chess."}, config=cfg("bob", "s"))

    chain.invoke({"question": "Plan my weekend around what I love."}, config=cfg("ann", "s"))
    ann = model.prompt_text(-1)
    chain.invoke({"question": "Plan my weekend around what I love."}, config=cfg("bob", "s"))
    bob = model.prompt_text(-1)

    assert "Loves sailing" in ann and "Name: Ann" in ann
    assert "Loves chess" not in ann and "vegetarian" not in ann.lower()
    assert "Loves chess" in bob and "Is vegetarian" in bob
    assert "sailing" not in bob.lower() and "Ann" not in bob
    assert len(memory.modeler.messages("bob")) == 4 and len(memory.modeler.messages("ann")) == 4


async def test_async_invoke_and_astream(memory, make_model, chat_prompt, cfg, acollect) -> None:
    model = make_model("Sure thing.", "Here is a long answer")
    chain = _chain(memory, chat_prompt, model)
    reply = await chain.ainvoke({"question": "I love jazz."}, config=cfg("ann", "a"))
    assert reply.content == "Sure thing."

    chunks = await acollect(chain.astream({"question": "Recommend some music."}, config=cfg("ann", "a")))
    assert len(chunks) > 1  # really streamed, token by token
    assert "".join(c.content for c in chunks) == "Here is a long answer"
    assert "Loves jazz" in model.system_text(1)
    stored = await memory.modeler.amessages("ann", "a")
    assert [m.content for m in stored] == [
        "I love jazz.",
        "Sure thing.",
        "Recommend some music.",
        "Here is a long answer",
    ]
    assert (await memory.history("ann", "a").aget_messages())[-1].type == "ai"  # a chunk is stored as a message


def test_stream_records_the_whole_reply(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model("one two three", "fine")
    chain = _chain(memory, chat_prompt, model)
    chunks = list(chain.stream({"question": "I love tea."}, config=cfg("ann")))
    assert [c.content for c in chunks] == ["one", " ", "two", " ", "three"]
    assert [m.content for m in memory.modeler.messages("ann", "default")] == ["I love tea.", "one two three"]
    chain.invoke({"question": "What should I drink?"}, config=cfg("ann"))
    assert "Loves tea" in model.system_text(-1)


def test_batch_keeps_each_users_config(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = _chain(memory, chat_prompt, model)
    chain.invoke({"question": "I love opera."}, config=cfg("ann"))
    outputs = chain.batch(
        [{"question": "Any plans?"}, {"question": "Any plans?"}],
        config=[cfg("ann"), cfg("bob")],
    )
    assert [o.content for o in outputs] == ["ok", "ok"]
    prompts = [call for call in model.calls[1:]]
    with_opera = [p for p in prompts if any("Loves opera" in str(m.text) for m in p)]
    assert len(with_opera) == 1 and len(memory.modeler.messages("bob")) == 2


def test_message_list_input_gets_a_leading_system_context(memory, make_model, cfg) -> None:
    model = make_model("Hello!", "Pasta with pesto.")
    chain = memory.wrap(model)
    chain.invoke([HumanMessage("I'm vegetarian.")], config=cfg("ann"))
    assert all(m.type != "system" for m in model.calls[0])  # no context yet: no empty system message
    chain.invoke("What should I cook?", config=cfg("ann"))
    call = model.calls[1]
    assert isinstance(call[0], SystemMessage) and "Is vegetarian" in call[0].text
    assert [m.text for m in call[1:]] == ["I'm vegetarian.", "Hello!", "What should I cook?"]


def test_input_key_without_history_key_prepends_history(memory, make_model, cfg) -> None:
    model = make_model()
    prompt = ChatPromptTemplate.from_messages([("system", "ctx: {user_context}"), MessagesPlaceholder("messages")])
    chain = memory.wrap(prompt | model, input_messages_key="messages")
    chain.invoke({"messages": [HumanMessage("My name is Zoe.")]}, config=cfg("zoe"))
    chain.invoke({"messages": [HumanMessage("Who am I?")]}, config=cfg("zoe"))
    assert [m.text for m in model.calls[1][1:]] == ["My name is Zoe.", "ok", "Who am I?"]
    assert "Name: Zoe" in model.system_text(1)


def test_dict_output_is_recorded_with_output_key(memory, cfg) -> None:
    inner = RunnableLambda(lambda d: {"answer": AIMessage("42"), "sources": []})
    chain = memory.wrap(inner, input_messages_key="question", output_messages_key="answer")
    out = chain.invoke({"question": "What is the answer?"}, config=cfg("ann"))
    assert out["answer"].content == "42"
    assert [m.content for m in memory.modeler.messages("ann")] == ["What is the answer?", "42"]


def test_session_ids_separate_histories_but_share_the_model(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = _chain(memory, chat_prompt, model)
    chain.invoke({"question": "I love climbing."}, config=cfg("ann", "monday"))
    chain.invoke({"question": "Ideas for today?"}, config=cfg("ann", "tuesday"))
    assert [m.type for m in model.calls[1]] == ["system", "human"]  # no monday history on tuesday
    assert "Loves climbing" in model.system_text(1)  # but the user model is shared
    chain.invoke({"question": "Ideas?"}, config={"configurable": {"user_id": "ann", "thread_id": "monday"}})
    assert len(model.calls[2]) == 4  # thread_id selects the session when session_id is absent


def test_missing_user_id_is_a_clear_error_and_nothing_runs(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = _chain(memory, chat_prompt, model)
    for config in (None, {"configurable": {"session_id": "s"}}):
        with pytest.raises(InvalidInputError, match=r'config\["configurable"\]\["user_id"\] is missing'):
            chain.invoke({"question": "I love hiking."}, config=config)
    assert model.calls == []


async def test_missing_user_id_async_and_stream(memory, make_model, chat_prompt, acollect) -> None:
    chain = _chain(memory, chat_prompt, make_model())
    with pytest.raises(InvalidInputError, match="user_id"):
        await chain.ainvoke({"question": "hi"})
    with pytest.raises(InvalidInputError, match="user_id"):
        list(chain.stream({"question": "hi"}))
    with pytest.raises(InvalidInputError, match="user_id"):
        await acollect(chain.astream({"question": "hi"}))


@pytest.mark.parametrize(
    ("configurable", "message"),
    [
        ({"user_id": 42}, r'config\["configurable"\]\["user_id"\] must be a str, got int'),
        ({"user_id": "  "}, "non-blank"),
        ({"user_id": "ann", "session_id": 7}, r'config\["configurable"\]\["session_id"\] must be a str'),
    ],
)
def test_wrong_id_types_are_clear_errors(memory, make_model, chat_prompt, configurable, message) -> None:
    model = make_model()
    with pytest.raises(InvalidInputError, match=message):
        _chain(memory, chat_prompt, model).invoke({"question": "hi"}, config={"configurable": configurable})
    assert model.calls == []


def test_wrong_input_shapes_are_clear_errors(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = _chain(memory, chat_prompt, model)
    with pytest.raises(InvalidInputError, match="must be a dict"):
        chain.invoke("just a string", config=cfg("ann"))
    with pytest.raises(InvalidInputError, match="no key 'question'"):
        chain.invoke({"query": "hi"}, config=cfg("ann"))
    with pytest.raises(InvalidInputError, match="expected the input messages"):
        chain.invoke({"question": 12}, config=cfg("ann"))
    with pytest.raises(InvalidInputError, match="not a LangChain BaseMessage"):
        memory.wrap(model).invoke([HumanMessage("hi"), "not a message", 3], config=cfg("ann"))
    with pytest.raises(InvalidInputError, match="input message 0 is invalid"):
        chain.invoke({"question": "x" * 2_000_001}, config=cfg("ann"))  # over the core's 2 MB message limit
    assert model.calls == []
    assert memory.modeler.messages("ann") == []


def test_wrap_arguments_are_checked(memory, make_model) -> None:
    with pytest.raises(InvalidInputError, match="needs a Runnable"):
        memory.wrap(42)
    with pytest.raises(InvalidInputError, match="history_messages_key needs input_messages_key"):
        memory.wrap(make_model(), history_messages_key="history")
    with pytest.raises(InvalidInputError, match="context_key"):
        memory.wrap(make_model(), context_key="")
    with pytest.raises(InvalidInputError, match="max_tokens"):
        memory.wrap(make_model(), max_tokens=-1)


def test_config_specs_and_no_deprecated_langchain_api(memory, make_model, chat_prompt) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # RunnableWithMessageHistory would warn (deprecated in langchain-core 1.3.3)
        chain = _chain(memory, chat_prompt, make_model())
    ids = {spec.id for spec in chain.config_specs}
    assert {"user_id", "session_id"} <= ids


def test_context_budget_and_history_limit(memory, make_model, chat_prompt, cfg) -> None:
    model = make_model()
    chain = memory.wrap(
        chat_prompt | model,
        input_messages_key="question",
        history_messages_key="history",
        max_tokens=0,
        history_limit=2,
    )
    for text in ("I love hiking.", "I love tea.", "Hello again."):
        chain.invoke({"question": text}, config=cfg("ann"))
    assert "<user_context>" not in model.system_text(-1)  # a zero budget renders nothing
    assert [m.text for m in model.calls[-1][1:]] == ["I love tea.", "ok", "Hello again."]


def test_a_failing_reasoner_llm_never_fails_the_chain(backend, make_model, chat_prompt, cfg, failing_model) -> None:
    with PersonalMemory(
        **backend.where("store"), llm=failing_model, embedder=HashingEmbedder(), background=False, max_attempts=1
    ) as memory:
        model = make_model("First answer.", "Second answer.")
        chain = _chain(memory, chat_prompt, model)
        assert chain.invoke({"question": "I love hiking."}, config=cfg("ann")).content == "First answer."
        memory.flush()  # derives now: the reasoner's LLM raises
        assert chain.invoke({"question": "And now?"}, config=cfg("ann")).content == "Second answer."
        stats = memory.modeler.stats("ann")
        assert failing_model.calls >= 1
        assert stats["llm_failures"] >= 1 and stats["batches_failed"] == 1
        assert stats["messages_observed"] == 4  # every exchange was still recorded


def test_a_choice_made_in_the_next_turn_is_learned(memory, make_model, chat_prompt, cfg) -> None:
    """LangChain records each exchange in its own call: the offered list and the choice resolve across them."""
    offer = "Here are some ideas:\n1. Take a guided kayak tour.\n2. Visit the modern art museum.\n3. Try pottery."
    model = make_model(offer, "Enjoy it!")
    chain = _chain(memory, chat_prompt, model)
    chain.invoke({"question": "What should I do this weekend?"}, config=cfg("ann", "s1"))
    chain.invoke({"question": "I'll go with the second one."}, config=cfg("ann", "s1"))
    texts = [i.text for i in memory.modeler.user_model("ann").insights]
    assert "Chose: Visit the modern art museum" in texts
