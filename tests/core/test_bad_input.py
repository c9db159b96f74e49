"""Bad input gets a typed error and stores nothing; odd but valid input is stored safely."""

from __future__ import annotations

from typing import Any

import pytest

from personal_core import InvalidInputError, Message, UserModeler
from personal_core.model import MAX_USER_ID_CHARS

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


@pytest.mark.parametrize(
    "user_id",
    ["", "   ", None, 42, {"$ne": "x"}, ["ann"], b"ann", "a\x00b", "tab\there", "x" * (MAX_USER_ID_CHARS + 1)],
)
def test_bad_user_ids_are_typed_errors_everywhere(modeler: UserModeler, user_id: Any) -> None:
    calls = [
        lambda: modeler.observe(user_id, [{"role": "user", "content": "I love tea"}]),
        lambda: modeler.context(user_id, "tea"),
        lambda: modeler.search(user_id, "tea"),
        lambda: modeler.user_model(user_id),
        lambda: modeler.export(user_id),
        lambda: modeler.forget(user_id),
        lambda: modeler.messages(user_id),
        lambda: modeler.add_insight(user_id, "Likes tea", "preference"),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            call()
    assert modeler.stats()["journal_pending"] == 0 and modeler.stats()["users_cached"] == 0


@pytest.mark.parametrize(
    "messages",
    [
        "I love tea",
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": "   \n\t"}],
        [{"role": "user"}],
        [{"content": "no role"}],
        [{"role": "user", "content": 42}],
        [{"role": "user", "content": "ok"}, 17],
        [{"role": "user", "content": "x" * 2_000_001}],
        [{"role": "user", "content": "ok", "unexpected": 1}],
        [{"role": "user", "content": "ok", "created_at": "not a date"}],
        42,
        None,
    ],
)
def test_bad_messages_are_typed_errors_and_store_nothing(modeler: UserModeler, messages: Any) -> None:
    modeler.observe("ann", [{"id": "keep", "role": "user", "content": "I love tea"}])
    before = modeler.export("ann")
    with pytest.raises(InvalidInputError):
        modeler.observe("ann", messages)
    assert modeler.export("ann") == before, "a rejected batch must not store part of itself"


def test_message_of_another_user_is_refused(modeler: UserModeler) -> None:
    with pytest.raises(InvalidInputError, match="belongs to user"):
        modeler.observe("ann", [Message(user_id="bob", role="user", content="hi")])  # type: ignore[arg-type]


def test_other_bad_arguments(modeler: UserModeler) -> None:
    for kwargs in ({"max_tokens": -1}, {"max_tokens": "100"}, {"max_tokens": True}, {"max_tokens": 1.5}):
        with pytest.raises(InvalidInputError, match="max_tokens"):
            modeler.context("ann", "q", **kwargs)
    with pytest.raises(InvalidInputError, match="query"):
        modeler.context("ann", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="k must"):
        modeler.search("ann", "q", k=-3)
    with pytest.raises(InvalidInputError, match="kind"):
        modeler.search("ann", "q", kinds=["nonsense"])
    with pytest.raises(InvalidInputError, match="session_id"):
        modeler.observe("ann", [{"role": "user", "content": "hi"}], session_id="")


def test_odd_but_valid_input_is_stored_safely(modeler: UserModeler) -> None:
    big = ("I love tea. " * 90_000)[:1_000_000]  # a 1 MB message
    odd = [
        {"id": "big", "role": "user", "content": big},
        {"id": "ctl", "role": "user", "content": "bell\x07 nul\x00 esc\x1b[31m I love zörg 🙂"},
        {"id": "uni", "role": "user", "content": "我喜欢喝茶。 I'm from Zürich."},
        {"id": "human", "role": "human", "content": "role names of LangChain map too"},
        {"id": "meta", "role": "ai", "content": "with metadata", "metadata": {"k": [1, "x"], "n": None}},
    ]
    stored = modeler.observe("用户 ✓", odd, session_id="s/1")
    assert [m.id for m in stored] == ["big", "ctl", "uni", "human", "meta"]
    assert [m.role.value for m in stored][-2:] == ["user", "assistant"]
    modeler.flush_writes()
    modeler.internals.cache.clear()  # force a reload from Chroma
    back = {m.id: m for m in modeler.messages("用户 ✓")}
    assert back["big"].content == big and back["ctl"].content == odd[1]["content"]
    assert back["meta"].metadata == {"k": [1, "x"], "n": None}
    ctx = modeler.context("用户 ✓", "tea", max_tokens=300)
    assert ctx.tokens <= 300 and "\x00" not in ctx.text and "\x1b" not in ctx.text
