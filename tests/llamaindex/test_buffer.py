"""PersonalChatMemoryBuffer on a real store: context first, exact token window, ids, set/reset, chat stores."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.storage.chat_store import SimpleChatStore

from llamaindex_personal import PersonalChatMemoryBuffer
from llamaindex_personal._messages import ORPHAN_ROLES
from llamaindex_personal.buffer import select_window
from personal_core import UserModeler

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


def test_get_returns_context_then_history(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    memory.put(user("Hi! I love hiking and I'm allergic to peanuts."))
    memory.put(assistant("Good to know!"))
    memory.put(user("What should I pack for a day trip?"))

    got = memory.get()

    assert got[0].role == MessageRole.SYSTEM
    assert got[0].content is not None and got[0].content.startswith("<user_context>")
    assert "Loves hiking" in got[0].content and "Allergic to peanuts" in got[0].content
    assert [(m.role, m.content) for m in got[1:]] == [
        (MessageRole.USER, "Hi! I love hiking and I'm allergic to peanuts."),
        (MessageRole.ASSISTANT, "Good to know!"),
        (MessageRole.USER, "What should I pack for a day trip?"),
    ]
    # ids are kept for round trips (get_all) but never handed to the LLM (get)
    assert all("personal_id" not in m.additional_kwargs for m in got)
    assert all(m.additional_kwargs.get("personal_id") for m in memory.get_all())
    # the history is the user's session in the Personal store
    assert [m.content for m in modeler.messages("ann", "default")] == [m.content for m in got[1:]]


def test_no_context_message_for_an_unknown_user(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("zoe", modeler=modeler)
    assert memory.get() == []
    memory.put(user("What time is it?"))
    got = memory.get()
    assert [m.role for m in got] == [MessageRole.USER]


def test_context_follows_input_else_last_user_message(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [
            {"role": "user", "content": "I love hiking in the mountains."},
            {"role": "user", "content": "I love jazz music."},
        ],
        session_id="old",
    )
    # room for the frame, a day line and one insight line only (two need 44 tokens)
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, context_tokens=40)

    by_input = memory.get(input="Any jazz music concerts tonight?")[0].content or ""
    assert "Loves jazz music" in by_input and "hiking" not in by_input

    memory.put(user("Plan a hiking trip in the mountains"))
    by_last_user = memory.get()[0].content or ""
    assert "Loves hiking in the mountains" in by_last_user and "jazz" not in by_last_user


def test_window_is_exact_whole_messages_newest_first(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, context_tokens=0)
    turns = [
        user(f"question number {i} " + "word " * (5 * i)) if i % 2 == 0 else assistant(f"answer {i}") for i in range(12)
    ]
    memory.put_messages(turns)
    counter = modeler.counter
    sizes = [counter.count(m.content or "") for m in turns]

    seen = set()
    for limit in [*range(1, sum(sizes), 7), sum(sizes)]:
        memory.token_limit = limit
        got = memory.get()
        contents = [m.content for m in got]
        seen.add(len(got))
        assert contents == [m.content for m in turns[len(turns) - len(got) :]], "a contiguous suffix of whole messages"
        if sizes[-1] > limit:
            assert contents == [turns[-1].content], "an over-long newest message comes alone"
            continue
        assert sum(counter.count(c or "") for c in contents) <= limit
        if got:
            assert got[0].role == MessageRole.USER, "never starts with an orphan reply"
        # maximal: one more (user) turn would not fit
        start = len(turns) - len(got)
        if start >= 2:
            assert sum(sizes[start - 2 :]) > limit
    assert {0, 1, len(turns)} <= seen and len(seen) > 4


def test_history_never_starts_with_an_orphan_reply(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, context_tokens=0)
    memory.put_messages([user("tell me a long story " * 20), assistant("ok"), user("thanks")])
    memory.token_limit = modeler.counter.count("ok") + modeler.counter.count("thanks")  # fits the last two only
    assert [m.content for m in memory.get()] == ["thanks"]


def test_context_counts_against_the_limit_and_yields_to_the_newest_message(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": "I love hiking. I love jazz. I'm allergic to peanuts."}], "x")
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, context_tokens=200)
    question = user("Which snack is fine for me, given what you know? " * 3)
    memory.put(question)
    counter = modeler.counter
    newest = counter.count(question.content or "")

    for limit in (newest, newest + 30, newest + 60, newest + 400):
        memory.token_limit = limit
        got = memory.get()
        assert got[-1].content == question.content, "the newest message always comes first"
        total = sum(counter.count(m.content or "") for m in got)
        assert total <= limit
        context = [m for m in got if m.role == MessageRole.SYSTEM]
        if limit == newest:
            assert context == []
        if limit == newest + 400:
            assert context and "Allergic to peanuts" in (context[0].content or "")
            assert counter.count(context[0].content or "") <= 200


def test_initial_token_count_is_reserved(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, context_tokens=0, token_limit=50)
    memory.put_messages([user("one two three four five six seven eight nine ten") for _ in range(6)])
    full = memory.get()
    reduced = memory.get(initial_token_count=30)
    counter = modeler.counter
    assert sum(counter.count(m.content or "") for m in reduced) <= 20
    assert len(reduced) < len(full)
    assert len(memory.tokenizer_fn("hello world, how are you?")) == counter.count("hello world, how are you?")


def test_put_is_idempotent_per_message_and_marks_ids(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    message = user("I love hiking.")
    memory.put(message)
    memory.put(message)
    memory.put_messages([message])
    stored = modeler.messages("ann", "default")
    assert len(stored) == 1
    assert message.additional_kwargs["personal_id"] == stored[0].id
    assert modeler.user_model("ann").insights[0].times_seen == 1


def test_context_system_message_is_never_recorded(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    memory.put(user("I love hiking."))
    got = memory.get()
    assert got[0].role == MessageRole.SYSTEM
    memory.put(got[0])
    memory.set(got)  # e.g. an app writing back what it sent: the context is dropped, the rest matched by text
    assert [m.role.value for m in modeler.messages("ann", "default")] == ["user"]


def test_set_with_the_same_history_records_only_new_messages(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    memory.put_messages([user("I love hiking."), assistant("Nice!")])
    ids = [m.id for m in modeler.messages("ann", "default")]

    memory.set([*memory.get_all(), user("And I love jazz.")])  # with ids
    memory.set([user("I love hiking."), assistant("Nice!"), user("And I love jazz."), assistant("Cool.")])  # no ids

    stored = modeler.messages("ann", "default")
    assert [m.id for m in stored[:2]] == ids
    assert [m.content for m in stored] == ["I love hiking.", "Nice!", "And I love jazz.", "Cool."]
    assert {i.text: i.times_seen for i in modeler.user_model("ann").insights} == {"Loves hiking": 1, "Loves jazz": 1}


def test_set_with_another_history_replaces_the_session(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="s1")
    memory.put_messages([user("I love hiking."), assistant("Nice!")])
    memory.set([user("Let's talk about cooking."), assistant("Sure.")])
    assert [m.content for m in memory.get_all()] == ["Let's talk about cooking.", "Sure."]
    assert "Loves hiking" in [i.text for i in modeler.user_model("ann").insights], "the user model is kept"
    memory.set([])
    assert memory.get_all() == []


def test_reset_deletes_only_the_session_history(modeler: UserModeler) -> None:
    one = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="one")
    two = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="two")
    one.put(user("I love hiking."))
    two.put(user("I love jazz."))
    one.reset()
    assert one.get_all() == []
    assert [m.content for m in two.get_all()] == ["I love jazz."]
    assert {i.text for i in modeler.user_model("ann").insights} == {"Loves hiking", "Loves jazz"}
    assert "Loves hiking" in (one.get(input="hiking")[0].content or "")


def test_tool_calls_and_tool_results_round_trip(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    call = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs={"city": "Porto"})],
    )
    result = ChatMessage(role=MessageRole.TOOL, content="Sunny, 24C", additional_kwargs={"tool_call_id": "c1"})
    memory.put_messages([user("Weather in Porto?"), call, result, assistant("It's sunny.")])

    stored = modeler.messages("ann", "default")
    assert [m.role.value for m in stored] == ["user", "assistant", "other", "assistant"]
    assert stored[1].content == '[tool call: weather {"city": "Porto"}]'

    history = memory.get_all()
    assert history[1].blocks == call.blocks, "the tool call comes back as a ToolCallBlock, without placeholder text"
    assert history[2].role == MessageRole.TOOL and history[2].content == "Sunny, 24C"
    assert history[2].additional_kwargs == {"tool_call_id": "c1", "personal_id": stored[2].id}
    sent = memory.get()
    assert sent[-2].additional_kwargs == {"tool_call_id": "c1"}
    counter = modeler.counter
    assert memory.count_tokens(history[1]) == counter.count(history[1].blocks[0].model_dump_json())
    # tool plumbing is session history only: never quoted in a context, never learnt from
    assert [m.history_only for m in stored] == [False, True, True, False]
    quoted = modeler.context("ann", "weather Porto sunny tool call", max_tokens=2000).items
    assert not {i.id for i in quoted if i.source == "message"} & {stored[1].id, stored[2].id}


def test_media_only_messages_keep_a_placeholder(modeler: UserModeler) -> None:
    from llama_index.core.base.llms.types import ImageBlock

    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    memory.put(ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(url="https://example.invalid/cat.png")]))
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, blocks=[]))  # nothing to record
    assert [(m.role, m.blocks) for m in memory.get_all()] == [(MessageRole.USER, [TextBlock(text="[image]")])]


def test_chat_store_is_the_verbatim_history_and_the_session_mirrors_it(modeler: UserModeler) -> None:
    store = SimpleChatStore()
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, chat_store=store, chat_store_key="k1")
    assert memory.session_id == "k1"
    memory.put(user("I love hiking."))
    memory.put(ChatMessage(role=MessageRole.ASSISTANT, content="Great!", additional_kwargs={"custom": [1, 2]}))

    assert [m.content for m in store.get_messages("k1")] == ["I love hiking.", "Great!"]
    assert [m.content for m in modeler.messages("ann", "k1")] == ["I love hiking.", "Great!"]
    assert store.get_messages("k1")[1].additional_kwargs["custom"] == [1, 2]
    got = memory.get()
    assert "Loves hiking" in (got[0].content or "") and [m.content for m in got[1:]] == ["I love hiking.", "Great!"]

    memory.reset()
    assert store.get_messages("k1") == [] and modeler.messages("ann", "k1") == []


def test_from_defaults_chat_history_and_sessions(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults(
        "ann", modeler=modeler, session_id="trip", chat_history=[user("I love hiking."), assistant("Nice")]
    )
    assert [m.content for m in modeler.messages("ann", "trip")] == ["I love hiking.", "Nice"]
    assert [m.content for m in memory.get_all()] == ["I love hiking.", "Nice"]
    other = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, session_id="work")
    assert other.get_all() == []
    assert "Loves hiking" in (other.get(input="weekend hiking")[0].content or ""), "the model spans sessions"


async def test_async_twins(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    await memory.aput(user("I love hiking."))
    await memory.aput_messages([assistant("Nice!"), user("Any trail ideas?")])
    got = await memory.aget()
    assert "Loves hiking" in (got[0].content or "")
    assert [m.content for m in got[1:]] == ["I love hiking.", "Nice!", "Any trail ideas?"]
    assert len(await memory.aget_all()) == 3
    await memory.aset([*(await memory.aget_all())[:1]])
    assert [m.content for m in await memory.aget_all()] == ["I love hiking."]
    await memory.areset()
    assert await memory.aget_all() == []


def test_serialises_its_settings(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler, token_limit=1234, session_id="s")
    data = memory.to_dict()
    assert data["user_id"] == "ann" and data["session_id"] == "s" and data["token_limit"] == 1234
    assert data["class_name"] == "PersonalChatMemoryBuffer"


# ----------------------------------------------------------------------------- the window, property-based
ROLES = [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL, MessageRole.SYSTEM]


@settings(max_examples=300, deadline=None)
@given(
    turns=st.lists(st.tuples(st.sampled_from(ROLES), st.integers(min_value=0, max_value=40)), max_size=20),
    budget=st.integers(min_value=0, max_value=300),
)
def test_select_window_invariants(turns: list[tuple[MessageRole, int]], budget: int) -> None:
    history = [ChatMessage(role=role, content=f"m{i}", additional_kwargs={"n": n}) for i, (role, n) in enumerate(turns)]
    count: Callable[[ChatMessage], int] = lambda m: int(m.additional_kwargs["n"])  # noqa: E731
    window = select_window(history, budget, count)
    if not history:
        assert window == []
        return
    if count(history[-1]) > budget:
        assert window == [history[-1]], "an over-long newest message is returned alone"
        return
    assert window == history[len(history) - len(window) :], "a suffix of whole messages"
    assert sum(count(m) for m in window) <= budget
    if window:
        assert window[0].role not in ORPHAN_ROLES
    # maximal: the longest suffix that fits, minus leading orphan replies
    fits = 0
    total = 0
    for message in reversed(history):
        if total + count(message) > budget:
            break
        total += count(message)
        fits += 1
    longest = history[len(history) - fits :]
    while longest and longest[0].role in ORPHAN_ROLES:
        longest = longest[1:]
    assert window == longest
