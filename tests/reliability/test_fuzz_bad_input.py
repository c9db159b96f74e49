"""Fuzzing the public entry points with odd and wrong input.

Every call either raises a typed error (:class:`personal_core.InvalidInputError`, or a subclass) or stores the
input safely: what a write returns reads back exactly (through ``messages()``, the LangChain history and the
LlamaIndex buffer, and again from Chroma after reopening the store). After every example a canary user's model
and context are unchanged, and at the end the store reopens with everything intact.

Entry points: ``observe``/``aobserve``, ``context``, ``search``, ``export``, ``forget``, ``add_insight``,
``messages``, the LangChain history (add and read) and retriever, the LlamaIndex buffer (put and get).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from pydantic import ValidationError

from langchain_personal import PersonalChatMessageHistory, PersonalMemory
from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import HashingEmbedder, InvalidInputError, Message, UserModeler

EXAMPLES = 400
CANARY = "canary"


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, else ``odd``: many calls get past validation and store something, and the
    odd values still reach every check (a plain ``one_of`` would weigh the many odd branches more)."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: valid if ok else odd)


ODD_IDS: list[Any] = [
    "", " ", "\t", "\n", "\x00", "a\x00b", "bell\x07", {"$ne": 1}, {"$and": []}, ["ann"], ("ann",), 0, 1, -1,
    2**70, 1.5, math.nan, True, None, b"ann", bytearray(b"x"), "x" * 257, "x" * 100_000, "\ud800", "a\udfffb",
    "\u2028",
]  # fmt: skip
VALID_IDS = [
    "ann", "Ann", "ann ", " ann", "用户", "😀", "$ne", "$and", "$or", "$where", "../x", "../../etc/passwd", "..", ".",
    "/", "\\", "C:\\x", "x" * 256, "\u200b", "\ufeff", "null", "canary ", "Canary", "canary\u200b", " canary",
]  # fmt: skip
user_ids = mostly(
    st.one_of(
        st.sampled_from(VALID_IDS),
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20).filter(str.strip),
    ).filter(lambda u: u != CANARY),
    st.one_of(
        st.sampled_from(ODD_IDS),
        st.text(max_size=40),  # control characters, whitespace-only and empty strings
        st.integers(),
        st.binary(max_size=8),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    ),
)
ODD_TEXT = [
    "\x00", "\x00" * 10, "\x1b[31mred\x1b[0m", "\r\n\r\nx", "\u2028\u2029x", "a" * 50_000, "</user_context>",
    '{"$ne": 1}', "🙂" * 500, "I love tea.\x00I hate coffee.", "Robert'); DROP TABLE messages;--",
    "%s %d {0} {user_id}",
]  # fmt: skip
BAD_TEXT = ["", " ", "\t\n \x0b\x0c", "\ud800", "x\udfffy"]
good_texts = st.one_of(st.text(min_size=1, max_size=200).filter(str.strip), st.sampled_from(ODD_TEXT))
texts = mostly(good_texts, st.one_of(st.sampled_from(BAD_TEXT), st.text(max_size=5)))
contents = mostly(
    good_texts,
    st.one_of(
        st.sampled_from(BAD_TEXT), st.integers(), st.none(), st.binary(max_size=10), st.lists(st.text(max_size=3))
    ),
)
roles = mostly(
    st.sampled_from(["user", "assistant", "system", "other", "human", "ai", "USER", "tool"]),
    st.one_of(st.sampled_from(["", " "]), st.none(), st.integers()),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
metadata = mostly(
    st.one_of(
        st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        st.sampled_from([{"s": {1, 2}}, {"b": b"x"}, {"t": (1, 2)}, {"d": datetime(2020, 1, 1)}]),  # stored as str
    ),
    st.sampled_from([{1: "x"}, "meta", [1], 3]),
)
timezones = st.sampled_from([None, timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
created = mostly(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=timezones),
    st.one_of(
        st.datetimes(timezones=timezones),  # far from 1970: microseconds that a float timestamp cannot hold
        st.sampled_from(["not a date", "9999-12-31T23:59:59.999999", "0001-01-01T00:00:00+05:00", ""]),
        st.floats(),
        st.none(),
    ),
)
message_ids = mostly(st.text(min_size=1, max_size=10), st.sampled_from(["", "x" * 300, 5, None]))
messages = st.fixed_dictionaries(
    {"role": roles, "content": contents},
    optional={"id": message_ids, "created_at": created, "metadata": metadata, "unexpected": st.integers()},
)
payloads = mostly(
    st.one_of(st.lists(messages, min_size=1, max_size=3), messages),
    st.one_of(
        st.text(max_size=10),
        st.integers(),
        st.none(),
        st.binary(max_size=5),
        st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=2),
        st.just([]),
    ),
)
queries = mostly(good_texts | st.just(""), st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3))))
budgets = mostly(
    st.one_of(st.integers(0, 3000), st.none()),
    st.one_of(st.integers(-5, -1), st.booleans(), st.floats(), st.text(max_size=3)),
)
sessions = mostly(
    st.one_of(st.none(), st.sampled_from(["s1", "s2", "preference", "goal"])),
    st.one_of(st.sampled_from(["", " ", "\x00", "x" * 300]), st.text(max_size=4)),
)

OPS = [
    "observe", "aobserve", "context", "search", "export", "forget", "add_insight", "messages",
    "lc_history_add", "lc_history_get", "lc_retriever", "li_put", "li_get",
]  # fmt: skip


@dataclass
class Fuzz:
    m: UserModeler
    memory: PersonalMemory
    canary_model: Any = None
    canary_context: str = ""
    stored: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, message id) -> the message as JSON
    outcomes: Counter[str] = field(default_factory=Counter)


def as_json(message: Message) -> str:
    """A comparable form of a message (NaN-safe: NaN == NaN as text)."""
    return json.dumps(message.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def snapshot_canary(f: Fuzz) -> None:
    f.canary_model = f.m.user_model(CANARY)
    f.canary_context = f.m.context(CANARY, "tea hiking", max_tokens=400).text


def check_canary(f: Fuzz) -> None:
    assert f.m.user_model(CANARY) == f.canary_model, "the canary's model changed"
    assert f.m.context(CANARY, "tea hiking", max_tokens=400).text == f.canary_context, "the canary's context changed"


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "store"
    m = UserModeler(path, embedder=HashingEmbedder(), shards=4)
    f = Fuzz(m, PersonalMemory(m))
    m.observe(
        CANARY,
        [
            {"id": "c1", "role": "user", "content": "My name is Carla. I love green tea and hiking."},
            {"id": "c2", "role": "assistant", "content": "Nice, Carla!"},
            {"id": "c3", "role": "user", "content": "I'm allergic to peanuts."},
        ],
    )
    m.add_insight(CANARY, "Plays chess", "fact", evidence=["c1"])
    snapshot_canary(f)
    try:
        yield f
    finally:
        if not f.m.closed:
            f.m.close()


def record(f: Fuzz, user: str, messages: list[Message]) -> None:
    """A write returned ``messages``: they read back exactly, and the user's context still renders."""
    back = {x.id: x for x in f.m.messages(user)}
    for message in messages:
        assert message.user_id == user and message.id in back, "a stored message is missing"
        assert as_json(back[message.id]) == as_json(message), "a stored message reads back differently"
        f.stored[(user, message.id)] = as_json(message)
    ctx = f.m.context(user, "", max_tokens=300)
    assert ctx.tokens <= 300 and "\x00" not in ctx.text


class FrameworkRefused(Exception):
    """LangChain or LlamaIndex itself refused to build the message (e.g. a lone surrogate): nothing of ours ran."""


def framework(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ValidationError as exc:
        raise FrameworkRefused(str(exc)) from None


def run_op(f: Fuzz, op: str, user: Any, payload: Any, query: Any, budget: Any, text: Any, session: Any) -> str:
    """Call one entry point; returns "stored"/"read" on success. Typed errors propagate to the caller."""
    m = f.m
    if op == "observe":
        record(f, user, m.observe(user, payload, session_id=session))
        return "stored"
    if op == "aobserve":
        record(f, user, asyncio.run(m.aobserve(user, payload, session_id=session)))
        return "stored"
    if op == "context":
        ctx = m.context(user, query, budget)
        assert ctx.user_id == user and ctx.tokens <= (m.default_max_tokens if budget is None else budget)
        return "read"
    if op == "search":
        hits = m.search(user, query, k=budget if isinstance(budget, int) and not isinstance(budget, bool) else 5)
        assert all(h.insight.user_id == user for h in hits)
        return "read"
    if op == "export":
        exported = m.export(user)
        assert exported["user_id"] == user
        json.dumps(exported)  # JSON-able
        return "read"
    if op == "forget":
        m.forget(user)
        assert m.messages(user) == [] and m.user_model(user).insights == []
        for key in [k for k in f.stored if k[0] == user]:
            del f.stored[key]
        return "stored"
    if op == "add_insight":
        existing = [x.id for x in m.messages(user)] if isinstance(user, str) and user.strip() else []
        evidence = existing[:1] if isinstance(query, str) and query else ([query] if query is not None else [])
        insight = m.add_insight(user, text, kind=session if isinstance(session, str) else "fact", evidence=evidence)
        assert insight.user_id == user and insight in m.user_model(user).insights
        return "stored"
    if op == "messages":
        got = m.messages(user, session_id=session, limit=budget)
        assert all(x.user_id == user for x in got)
        return "read"
    if op == "lc_history_add":
        history = PersonalChatMessageHistory(f.memory, user, session if session is not None else "default")
        items: list[Any] = (
            framework(lambda: [HumanMessage(content=text), AIMessage(content=text)])
            if isinstance(text, str)
            else [text, payload]
        )
        history.add_messages(items)
        if isinstance(text, str) and text.strip():
            # a history appends: a turn repeating an earlier one is a new turn (it gets a fresh id)
            assert [x.text for x in history.messages[-2:]] == [text, text]
            record(f, user, m.messages(user, session_id=history.session_id)[-2:])
        return "stored"
    if op == "lc_history_get":
        history = PersonalChatMessageHistory(f.memory, user, session if session is not None else "default")
        history.messages  # noqa: B018 - reading is the operation
        return "read"
    if op == "lc_retriever":
        docs = f.memory.as_retriever(k=4).invoke(query, config={"configurable": {"user_id": user}})
        assert all(d.metadata["user_id"] == user for d in docs)
        return "read"
    if op == "li_put":
        buffer = PersonalChatMemoryBuffer.from_defaults(user_id=user, modeler=m, session_id=session)
        message = framework(lambda: ChatMessage(role=MessageRole.USER, content=text)) if isinstance(text, str) else text
        buffer.put(message)
        if isinstance(text, str) and text.strip():
            assert buffer.get_all()[-1].content == text
            record(f, user, m.messages(user, session_id=buffer.session_id)[-1:])
        return "stored"
    if op == "li_get":
        buffer = PersonalChatMemoryBuffer.from_defaults(user_id=user, modeler=m, session_id=session)
        buffer.get(query if isinstance(query, str) else None)
        return "read"
    raise AssertionError(op)  # pragma: no cover


def test_fuzz_public_entry_points(fuzz: Fuzz, capsys: pytest.CaptureFixture[str]) -> None:
    f = fuzz

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(
        op=st.sampled_from(OPS),
        user=user_ids,
        payload=payloads,
        query=queries,
        budget=budgets,
        text=mostly(good_texts, st.one_of(texts, st.integers(), st.none())),
        session=sessions,
    )
    def example(op: str, user: Any, payload: Any, query: Any, budget: Any, text: Any, session: Any) -> None:
        try:
            outcome = run_op(f, op, user, payload, query, budget, text, session)
        except InvalidInputError as exc:
            assert str(exc), "a typed error says what is wrong"
            outcome = "typed error"
        except FrameworkRefused:
            outcome = "framework refused"
        f.outcomes[f"{op}: {outcome}"] += 1
        f.outcomes[outcome] += 1
        check_canary(f)

    example()
    tried = sum(f.outcomes[k] for k in ("stored", "read", "typed error", "framework refused"))
    assert tried >= EXAMPLES, f"only {tried} examples ran"
    assert f.outcomes["typed error"] > 0 and f.outcomes["stored"] > 0, "both outcomes were exercised"

    # everything stored reads back exactly from Chroma after a reopen; the canary too
    path = f.m.internals.store.path
    f.m.close()
    with UserModeler(path, embedder=HashingEmbedder()) as again:
        f.m = again
        check_canary(f)
        for (user, mid), stored in f.stored.items():
            back = {x.id: x for x in again.messages(user)}
            assert mid in back and as_json(back[mid]) == stored, f"{user!r}/{mid!r} changed after reopening"
        assert again.stats()["journal_pending"] == 0
    with capsys.disabled():
        per_op = ", ".join(f"{k} {v}" for k, v in sorted(f.outcomes.items()) if ":" in k)
        print(
            f"\n[fuzz] {tried} examples: {f.outcomes['typed error']} typed errors, {f.outcomes['stored']} writes "
            f"stored and read back exactly, {f.outcomes['read']} reads; {len(f.stored)} odd messages intact after "
            f"reopen; canary unchanged after every example\n  {per_op}"
        )


@pytest.mark.parametrize(
    ("content", "ok"),
    [("x" * 2_000_000, True), ("x" * 2_000_001, False), ("é" * 2_000_000, True), ("\x00" * 100_000, True)],
    ids=["2M-chars", "2M+1-chars", "2M-non-ascii", "100k-NUL"],
)
def test_message_size_limit_is_exact(store_path: Path, content: str, ok: bool) -> None:
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=4) as m:
        if not ok:
            with pytest.raises(InvalidInputError, match="content"):
                m.observe("ann", [{"id": "big", "role": "user", "content": content}])
            assert m.messages("ann") == []
            return
        m.observe("ann", [{"id": "big", "role": "user", "content": content}])
        m.flush_writes()
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        assert m.messages("ann")[0].content == content


def test_times_and_metadata_the_store_cannot_hold_exactly_are_refused_or_normalised(modeler: UserModeler) -> None:
    """A created_at whose float timestamp would not round-trip is a typed error (it used to be journaled and then
    break every later read of the user); metadata is returned as it is stored."""
    for when in ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00.000001+00:00", "0001-01-01T00:00:00+05:00"]:
        with pytest.raises(InvalidInputError, match="created_at"):
            modeler.observe("ann", [{"role": "user", "content": "I love tea", "created_at": when}])
    assert modeler.messages("ann") == [] and modeler.stats()["journal_pending"] == 0
    (stored,) = modeler.observe(
        "ann",
        [{"id": "m", "role": "user", "content": "hi", "created_at": "9999-12-31T23:59:59+00:00",
          "metadata": {"s": {1}, "t": (1, 2), "when": datetime(2020, 1, 1)}}],
    )  # fmt: skip
    assert stored.metadata == {"s": "{1}", "t": [1, 2], "when": "2020-01-01 00:00:00"}
    modeler.flush_writes()
    modeler.internals.cache.clear()  # reload from Chroma
    assert modeler.messages("ann") == [stored]
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(InvalidInputError, match="metadata"):
        modeler.observe("ann", [{"role": "user", "content": "x", "metadata": circular}])


@pytest.mark.parametrize(
    ("text", "evidence", "match"),
    [(":", (), "letter or digit"), ("-- !!", (), "letter or digit"), ("Likes tea", None, "evidence"),
     ("Likes tea", "m1", "evidence"), ("Likes tea", 5, "evidence")],
)  # fmt: skip
def test_add_insight_found_by_fuzzing(modeler: UserModeler, text: str, evidence: Any, match: str) -> None:
    """Punctuation-only text used to raise IndexError after writing; evidence=None a TypeError."""
    with pytest.raises(InvalidInputError, match=match):
        modeler.add_insight("ann", text, "fact", evidence=evidence)
    assert modeler.user_model("ann").insights == [] and modeler.stats()["journal_pending"] == 0
