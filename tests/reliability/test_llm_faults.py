"""Reasoner-LLM fault matrix, through the user's real chains.

A LangChain chain (``PersonalMemory(...).wrap(prompt | GenericFakeChatModel)``) and a LlamaIndex chat engine
(``SimpleChatEngine`` with ``PersonalChatMemoryBuffer``) share one modeler whose reasoner LLM misbehaves. The
modeler derives inline (inside ``observe()``, i.e. inside the chain call): the harshest place for a fault.
Whatever the reasoner does, every chain call returns the chat model's answer, no message is dropped,
``stats()`` accounts for every batch (formed == done + pending + failed) and every LLM call, failures are
logged at WARNING, and once the LLM is healthy again ``retry_failed()`` + ``flush()`` derive every message.

``tests/core/test_reasoner.py::test_faults_never_raise_and_recover`` covers raises / hangs / prose / wrong
schema / invented ids on the bare modeler; this matrix adds the other faults and runs all of them in chains.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import PrivateAttr
from support.scripted import batch_messages

from langchain_personal import PersonalMemory
from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import HashingEmbedder, UserModeler
from personal_core.repair import MAX_ITEMS_PER_REPLY

LLM_TIMEOUT = 0.25
MARK = re.compile(r"\bzq(\w+?)k\b")


def said(tag: str) -> str:
    return f"Said zq{tag}k zq{tag}kb zq{tag}kc"


def healthy(chat: list[dict[str, str]]) -> str:
    """One distinct insight per user message of the batch."""
    items = []
    for alias, role, _, content in batch_messages(chat):
        mark = MARK.search(content)
        if role == "user" and mark:
            items.append({"kind": "fact", "text": said(mark.group(1)), "confidence": 0.8, "evidence": [alias]})
    return json.dumps({"new_insights": items})


_rng = random.Random(8)
GARBAGE_BYTES = bytes(_rng.randrange(256) for _ in range(4096))
# printable and control characters, quotes, brackets and opening braces, emoji, a lone surrogate, NUL; no "}"
# (so no accidental "{}" - an empty object is a valid empty update)
GARBAGE_TEXT = "".join(_rng.choice('ab{[":,\\\x00\x07\x1b\u2028\ud800🙂é \n\t') for _ in range(20_000))
HUGE_TEXT = "lorem {ipsum} dolor sit amet " * 180_000  # 5.2 MB, 180,000 braces, no JSON object
HUGE_JSON = json.dumps(
    {
        "new_insights": [
            {"kind": "fact", "text": f"Invented fact {i} zzz{i}q", "confidence": 0.5, "evidence": ["m1"]}
            for i in range(10_000)
        ]
    }
)
NESTED = '{"new_insights": ' * 100_000


def invented_ids(chat: list[dict[str, str]]) -> str:
    items = []
    for alias, role, _, content in batch_messages(chat):
        mark = MARK.search(content)
        if role == "user" and mark:
            items.append({"kind": "fact", "text": said(mark.group(1)), "evidence": [alias, "m999", "msg_invented"]})
    return json.dumps(
        {
            "new_insights": items,
            "reinforced": ["i77", "ins_does_not_exist"],
            "supersessions": [{"insight_id": "ins_fake", "replacement": {"kind": "fact", "text": "Is a spy"}}],
        }
    )


def surrogates(chat: list[dict[str, str]]) -> str:
    update = json.loads(healthy(chat))
    for item in update["new_insights"]:
        item["text"] += " \ud800"
    update |= {"summary": "Talks a lot \udfff", "card_add": ["Lives in \udc00 Porto"]}
    return json.dumps(update)  # ASCII JSON with "\ud800" escapes: json.loads gives lone surrogates back


def _hang(llm: FaultyLLM) -> str:
    llm.release.wait(30)  # far past llm_timeout; released at the end of the test
    return "{}"


def _raise(llm: FaultyLLM) -> str:
    raise ConnectionError("the LLM provider is down")


# name -> (what the LLM does, whether the reply is usable after repair)
FAULTS: dict[str, tuple[Callable[[list[dict[str, str]], FaultyLLM], Any], bool]] = {
    "timeout": (lambda chat, llm: _hang(llm), False),
    "exception": (lambda chat, llm: _raise(llm), False),
    "garbage_bytes": (lambda chat, llm: GARBAGE_BYTES, False),
    "garbage_text": (lambda chat, llm: GARBAGE_TEXT, False),
    "truncated_json": (lambda chat, llm: healthy(chat)[: len(healthy(chat)) // 2], False),
    "huge_text_5mb": (lambda chat, llm: HUGE_TEXT, False),
    "huge_json_10k_insights": (lambda chat, llm: HUGE_JSON, True),
    "deeply_nested_json": (lambda chat, llm: NESTED, False),
    "invented_evidence_ids": (lambda chat, llm: invented_ids(chat), True),
    "lone_surrogates": (lambda chat, llm: surrogates(chat), True),
    "json_array": (lambda chat, llm: "[1, 2, 3]", False),
    "empty_string": (lambda chat, llm: "", False),
    "none": (lambda chat, llm: None, False),
}


class FaultyLLM:
    """The reasoner LLM: misbehaves as ``fault`` until ``healthy`` is set. Records every call."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.healthy = False
        self.calls: list[list[dict[str, str]]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, chat: list[dict[str, str]]) -> Any:
        with self._lock:
            self.calls.append(chat)
        if self.healthy:
            return healthy(chat)
        return FAULTS[self.fault][0](chat, self)


class AnswerLLM(CustomLLM):
    """The LlamaIndex app's chat model: answers ``li-answer-<n>``."""

    _n: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="answers")

    def _next(self) -> str:
        with self._lock:
            self._n += 1
            return f"li-answer-{self._n - 1}"

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._next())

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = self._next()

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=text, delta=text)

        return gen()


LC_USER, LI_USER = "lc-ann", "li-ann"
TURNS = 3  # per chain
BATCHES = 2 * TURNS  # one batch per user turn: a reply alone (no user text) makes no LLM call


def check_accounting(m: UserModeler, llm: FaultyLLM) -> dict[str, Any]:
    stats = m.stats()
    formed = stats["batches_formed"]
    assert formed >= 1
    assert formed == stats["batches_done"] + stats["pending_batches"] + stats["failed_batches"], stats
    assert stats["llm_calls"] == len(llm.calls), "every LLM call is counted, and only real calls"
    return stats


def check_messages(m: UserModeler, expected: dict[str, list[tuple[str, str]]]) -> None:
    for user, turns in expected.items():
        got = [(x.role.value, x.content) for x in m.messages(user)]
        assert got == turns, f"messages of {user!r} dropped or altered"


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_chains_survive_reasoner_faults(
    store_path: Path, fault: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    usable = FAULTS[fault][1]
    llm = FaultyLLM(fault)
    m = UserModeler(
        store_path,
        llm=llm,
        embedder=HashingEmbedder(1024),
        shards=4,
        inline=True,  # derivation (and the fault) runs inside the chain call
        background=False,
        llm_timeout=LLM_TIMEOUT,
        max_attempts=2,
        backoff_base=0.0,
        batch_tokens=1,  # every turn is a batch
    )
    expected: dict[str, list[tuple[str, str]]] = {LC_USER: [], LI_USER: []}
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="personal_core"):
            # LangChain: a chain with history and the user's context, sync and async turns
            prompt = ChatPromptTemplate.from_messages(
                [("system", "Assistant.\n{user_context}"), MessagesPlaceholder("history"), ("human", "{question}")]
            )
            answers = [f"lc-answer-{i}" for i in range(TURNS)]
            chat_model = GenericFakeChatModel(messages=iter(answers))
            memory = PersonalMemory(m)
            chain = memory.wrap(prompt | chat_model, input_messages_key="question", history_messages_key="history")
            config = {"configurable": {"user_id": LC_USER, "session_id": "s1"}}
            for i in range(TURNS):
                question = f"Turn {i}: I mention zqlc{i}k today."
                reply = (
                    chain.invoke({"question": question}, config)
                    if i < TURNS - 1
                    else await chain.ainvoke({"question": question}, config)
                )
                assert reply.content == answers[i], "the chain returns the chat model's answer"
                expected[LC_USER] += [("user", question), ("assistant", answers[i])]

            # LlamaIndex: a chat engine with the Personal memory buffer, sync and async turns
            buffer = PersonalChatMemoryBuffer.from_defaults(user_id=LI_USER, modeler=m)
            engine = SimpleChatEngine.from_defaults(llm=AnswerLLM(), memory=buffer)
            for i in range(TURNS):
                question = f"Turn {i}: I mention zqli{i}k today."
                response = engine.chat(question) if i < TURNS - 1 else await engine.achat(question)
                assert str(response) == f"li-answer-{i}", "the engine returns the chat model's answer"
                expected[LI_USER] += [("user", question), ("assistant", f"li-answer-{i}")]
        chains_seconds = time.monotonic() - started

        check_messages(m, expected)
        first = check_accounting(m, llm)
        # inline derivation flushes each observe(): the user message is one batch; the reply alone has no user
        # text and is let go of without an LLM call, so 1 batch per turn, 6 in all
        assert first["batches_formed"] == BATCHES
        if usable:
            assert first["batches_done"] == BATCHES and first["llm_failures"] == 0
            assert first["repaired_items"] > 0 or fault == "lone_surrogates"
        else:
            # each inline flush also retries the user's earlier pending batches: at least one failure per batch
            assert first["batches_done"] == 0 and first["llm_failures"] >= BATCHES
            warnings = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "personal_core.deriver"
            ]
            assert len(warnings) == first["llm_failures"], "every failure is logged at WARNING"
            assert all("failed" in w and "batch_" in w for w in warnings), warnings
            assert any(LC_USER in w for w in warnings) and any(LI_USER in w for w in warnings)

        m.flush()  # the second (last) attempt: the failing batches are now marked failed
        second = check_accounting(m, llm)
        if not usable:
            assert second["failed_batches"] == second["batches_failed"] == BATCHES and second["pending_batches"] == 0

        llm.healthy = True
        assert m.retry_failed() == (0 if usable else BATCHES)
        m.flush()
        final = check_accounting(m, llm)
        assert final["batches_done"] == BATCHES and final["pending_batches"] == final["failed_batches"] == 0
        check_messages(m, expected)
        check_model(m, fault, final)
    finally:
        llm.release.set()
        m.close()
    row = (
        f"{fault:24} chain ok {2 * TURNS}/{2 * TURNS} turns | msgs kept {4 * TURNS}/{4 * TURNS} | "
        f"batches formed {final['batches_formed']} = done "
        f"{first['batches_done']} + pending {first['pending_batches']} + failed {first['failed_batches']} -> "
        f"after 2nd attempt failed {second['failed_batches']} -> after recovery done {final['batches_done']} | "
        f"llm calls {final['llm_calls']} (failures {final['llm_failures']}) | repaired {final['repaired_items']} | "
        f"chain phase {chains_seconds:.1f}s"
    )
    with capsys.disabled():
        print("\n[llm fault] " + row)


def check_model(m: UserModeler, fault: str, stats: dict[str, Any]) -> None:
    """After recovery: every user message derived once (or, for usable faults, the repaired result)."""
    for user, prefix in ((LC_USER, "lc"), (LI_USER, "li")):
        model = m.user_model(user)
        texts = [i.text for i in model.insights]
        assert len(texts) == len(set(texts)), "no duplicate insight"
        own = {x.id for x in m.messages(user)}
        assert all(set(i.evidence) <= own for i in model.insights), "evidence only ever names this user's messages"
        user_ids = [x.id for x in m.messages(user) if x.role.value == "user"]
        if fault == "huge_json_10k_insights":
            assert len(model.insights) <= MAX_ITEMS_PER_REPLY * 3
            continue
        wanted = {said(f"{prefix}{i}"): mid for i, mid in enumerate(user_ids)}
        got = {i.text.replace(" \ufffd", ""): i for i in model.insights}
        assert set(got) >= set(wanted), f"a message of {user!r} was never derived"
        for text, mid in wanted.items():
            assert got[text].evidence == [mid] and got[text].times_seen == 1
        if fault == "invented_evidence_ids":
            assert not any("spy" in t for t in got)
        if fault == "lone_surrogates":
            assert model.card == ["Lives in \ufffd Porto"] and "\ufffd" in model.summary
    if fault == "huge_json_10k_insights":
        # every call got the 10,000 items
        assert stats["dropped_items"] == BATCHES * (10_000 - MAX_ITEMS_PER_REPLY), "runaway items dropped, counted"
    if fault == "invented_evidence_ids":
        assert stats["dropped_evidence"] == BATCHES * 2 and stats["dropped_ids"] == BATCHES * 3


def test_a_hung_llm_does_not_starve_later_calls(store_path: Path) -> None:
    """Calls that hang past the timeout keep their threads; later calls must still reach the LLM (a bounded
    pool of call threads would be exhausted by a few hung calls, and every later call would time out unmade)."""
    release = threading.Event()
    entered: list[int] = []

    def llm(chat: list[dict[str, str]]) -> str:
        entered.append(1)
        if len(entered) <= 6:
            release.wait(30)
            return "{}"
        return healthy(chat)

    try:
        with UserModeler(
            store_path,
            llm=llm,
            embedder=HashingEmbedder(1024),
            background=False,
            llm_timeout=LLM_TIMEOUT,
            max_attempts=10,
            backoff_base=0.0,
        ) as m:
            m.observe("ann", [{"id": "x", "role": "user", "content": "I mention zqannk."}])
            for _ in range(7):
                m.flush()
            assert len(entered) == 7, "every attempt reached the LLM while six earlier calls were still hung"
            assert [i.text for i in m.user_model("ann").insights] == [said("ann")]
            assert m.stats()["llm_calls"] == 7 and m.stats()["llm_failures"] == 6
    finally:
        release.set()


async def test_a_hung_sync_llm_does_not_hold_the_event_loops_executor(store_path: Path) -> None:
    """From async code a hung sync LLM must not occupy the loop's default executor, which the app and
    Personal's own async methods (``acontext``, ``aobserve``) need."""
    release = threading.Event()

    def llm(chat: list[dict[str, str]]) -> str:
        release.wait(30)
        return "{}"

    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=4))  # as on a small machine
    m = UserModeler(
        store_path,
        llm=llm,
        embedder=HashingEmbedder(1024),
        background=False,
        inline=True,
        llm_timeout=LLM_TIMEOUT,
        max_attempts=1,
        backoff_base=0.0,
        batch_tokens=1,
    )
    try:
        for i in range(6):  # 6 calls hung past their timeout: more than the executor's 4 workers
            await asyncio.wait_for(m.aobserve("ann", [{"role": "user", "content": f"I say zq{i}k."}]), 30)
        assert m.stats()["llm_failures"] == 6
        probe = await asyncio.wait_for(loop.run_in_executor(None, lambda: "free"), 5)
        assert probe == "free", "the default executor still serves the app"
        ctx = await asyncio.wait_for(m.acontext("ann", "say"), 5)
        assert "zq5k" in ctx.text
    finally:
        release.set()
        await m.aclose()
