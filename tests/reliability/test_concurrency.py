"""Concurrency: threads and asyncio tasks observing at once while the deriver and the flusher run.

Invariants: no lost message (every id in ``messages()``/``export()`` after flush, and again after close and
reopen from Chroma), no message derived twice, no duplicate current insight, no deadlock (generous join and
``wait_for`` limits: a hang fails the test instead of blocking CI; they are not performance assertions).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.scripted import ScriptedLLM, batch_messages

from personal_core import HashingEmbedder, UserModeler
from personal_core.planning import MAX_EVIDENCE

THREADS = 8
THREAD_ROUNDS = 20  # each thread: 20 observes, 5 duplicates of the others', 20 context() + search(), 2 flushes
TASKS = 30
TASK_ROUNDS = 6
SHARED = "shared"
DEADLOCK_GUARD = 180.0  # seconds; far above the few seconds the work takes

MARKER = re.compile(r"\bzq(\w+?)k\b")


def respond(chat: list[dict[str, str]]) -> str:
    """One insight per user message (``Mentioned zq..k``), plus ``Is vegetarian`` for each message saying so.

    ``Is vegetarian`` is proposed as new every time (as a model that was not shown the known insight would):
    planning must reinforce the existing insight instead of adding a duplicate.
    """
    items = []
    for alias, role, _, content in batch_messages(chat):
        if role != "user":
            continue
        marker = MARKER.search(content)
        if marker:
            items.append({"kind": "fact", "text": mentioned(marker.group(1)), "evidence": [alias]})
        if "vegetarian" in content:
            items.append({"kind": "preference", "text": "Is vegetarian", "confidence": 0.9, "evidence": [alias]})
    return json.dumps({"new_insights": items})


def mentioned(tag: str) -> str:
    """A distinct insight text per marker (several unique words: the near-duplicate check must not merge two)."""
    return f"Mentioned zq{tag}k zq{tag}kb zq{tag}kc zq{tag}kd"


def message(mid: str, text: str) -> dict[str, str]:
    return {"id": mid, "role": "user", "content": text}


class Ledger:
    """What each user was sent (thread-safe): message id -> content."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def add(self, user: str, mid: str, content: str) -> None:
        with self._lock:
            self.sent.setdefault(user, {})[mid] = content


def content_for(tag: str, i: int) -> str:
    veg = " I'm vegetarian, by the way." if i % 5 == 0 else ""
    return f"Note zq{tag}n{i}k about my day number {i}.{veg}"


def check_model(m: UserModeler, ledger: Ledger, llm_chats: list[list[dict[str, str]]]) -> dict[str, int]:
    """Assert every invariant on a modeler whose work is all done; returns counts for the report."""
    sent_to_llm = Counter(c for chat in llm_chats for _, role, _, c in batch_messages(chat) if role == "user")
    expected_contents = Counter(c for per_user in ledger.sent.values() for c in per_user.values())
    assert sent_to_llm == expected_contents, "every message reached the reasoner exactly once"
    insights_total = 0
    for user, sent in ledger.sent.items():
        stored = m.messages(user)
        assert [x.id for x in stored] and {x.id for x in stored} == set(sent), f"lost or extra messages of {user!r}"
        assert len(stored) == len(sent), f"a message of {user!r} was stored twice"
        assert {x.id: x.content for x in stored} == sent
        exported = m.export(user)
        assert {x["id"] for x in exported["messages"]} == set(sent)
        current = [i for i in m.user_model(user).insights if i.is_current]
        texts = Counter(i.text for i in current)
        assert all(n == 1 for n in texts.values()), f"duplicate insight of {user!r}: {texts.most_common(3)}"
        by_text = {i.text: i for i in current}
        for mid, content in sent.items():
            marker = MARKER.search(content)
            assert marker is not None
            insight = by_text[mentioned(marker.group(1))]
            assert insight.evidence == [mid] and insight.times_seen == 1, "derived exactly once"
        veg = sorted(mid for mid, content in sent.items() if "vegetarian" in content)
        if veg:
            insight = by_text["Is vegetarian"]
            assert insight.times_seen == len(veg), "each vegetarian message reinforced the one insight exactly once"
            assert set(insight.evidence) <= set(veg) and len(insight.evidence) == min(len(veg), MAX_EVIDENCE)
        else:
            assert "Is vegetarian" not in by_text
        insights_total += len(current)
    return {"insights": insights_total, "calls": len(llm_chats)}


def run_workload(m: UserModeler, ledger: Ledger) -> tuple[int, int]:
    """8 threads and 30 asyncio tasks observing (same and different users) and reading; returns (threads, tasks).

    Half the threads also call ``flush()`` now and then (racing the background worker for the same pending
    messages); the other half leave derivation to the worker.
    """
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def worker(n: int) -> None:
        try:
            start.wait(timeout=60)
            for i in range(THREAD_ROUNDS):
                user = SHARED if i % 2 else f"thread-{n}"
                mid = f"t{n}-{i}"
                text = content_for(f"t{n}", i)
                ledger.add(user, mid, text)
                m.observe(user, [message(mid, text)])
                if i % 4 == 0:
                    # the same message from every thread: stored once
                    dup = f"dup-{i}"
                    dup_text = content_for("dup", i)
                    ledger.add(SHARED, dup, dup_text)
                    m.observe(SHARED, [message(dup, dup_text)])
                m.context(user, f"zq{n}", max_tokens=200)
                m.search(SHARED, "vegetarian", k=5)
                if n < THREADS // 2 and i % 10 == 9:
                    m.flush(user if n % 2 else None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    async def task(k: int) -> None:
        for i in range(TASK_ROUNDS):
            user = SHARED if i % 3 == 0 else f"task-{k}"
            mid = f"a{k}-{i}"
            text = content_for(f"a{k}", i)
            ledger.add(user, mid, text)
            await m.aobserve(user, [message(mid, text)])
            await m.acontext(user, "day", max_tokens=150)
            if i == TASK_ROUNDS - 1 and k % 10 == 0:
                await m.aflush(user)

    async def tasks() -> None:
        await asyncio.wait_for(asyncio.gather(*(task(k) for k in range(TASKS))), DEADLOCK_GUARD)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True, name=f"observer-{n}") for n in range(THREADS)]
    for t in threads:
        t.start()
    start.wait(timeout=60)
    asyncio.run(tasks())
    deadline = time.monotonic() + DEADLOCK_GUARD
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"deadlock guard: threads still running after {DEADLOCK_GUARD}s: {stuck}"
    assert not errors, errors
    return len(threads), TASKS


def flush_with_guard(m: UserModeler, timeout: float = DEADLOCK_GUARD) -> None:
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            m.flush()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(timeout), "deadlock guard: flush() did not return"
    assert not failure, failure


def make(path: Path, llm: Any, **kwargs: Any) -> UserModeler:
    options: dict[str, Any] = {
        "embedder": HashingEmbedder(1024),
        "shards": 4,
        "batch_tokens": 40,
        "max_batch_age": 0.2,
        "flush_interval": 0.05,
        "cache_users": 8,  # fewer than the users: states are evicted and reloaded while others write
    }
    options.update(kwargs)
    return UserModeler(path, llm=llm, **options)


def test_threads_and_tasks_with_background_deriver_and_flusher(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ScriptedLLM(respond)
    ledger = Ledger()
    m = make(store_path, llm)
    try:
        assert m.internals.deriver is not None and m.internals.deriver._thread is not None, (
            "the background deriver runs"
        )
        threads, tasks = run_workload(m, ledger)
        flush_with_guard(m)
        counts = check_model(m, ledger, llm.calls)
        stats = m.stats()
        total = sum(len(v) for v in ledger.sent.values())
        assert stats["messages_observed"] == total
        assert stats["pending_messages"] == 0 and stats["pending_batches"] == 0 and stats["failed_batches"] == 0
        assert stats["llm_calls"] == len(llm.calls) == stats["batches_done"] == stats["batches_formed"]
        assert stats["llm_failures"] == 0
        before = {user: m.user_model(user) for user in ledger.sent}
    finally:
        m.close()

    # reopen: everything comes back from Chroma (the journal was drained on close)
    again = ScriptedLLM(respond)
    with UserModeler(store_path, llm=again, embedder=HashingEmbedder(1024), background=False) as reopened:
        assert reopened.stats()["journal_pending"] == 0
        for user, model in before.items():
            assert reopened.user_model(user) == model
        check_model(reopened, ledger, llm.calls)
        reopened.flush()
        assert again.calls == [], "nothing left to derive after reopening"
    with capsys.disabled():
        print(
            f"\n[concurrency] {total} messages "
            f"({len(ledger.sent)} users) from {threads} threads + {tasks} asyncio tasks -> {counts['calls']} batches/"
            f"LLM calls, {counts['insights']} current insights; 0 lost, 0 derived twice, 0 duplicate insights"
        )


async def test_async_llm_worker_in_the_loop_with_threads(store_path: Path) -> None:
    """An async LLM: the deriver runs as a task in this loop while threads observe through the sync API."""
    chats: list[list[dict[str, str]]] = []

    async def allm(chat: list[dict[str, str]]) -> str:
        chats.append(chat)
        await asyncio.sleep(0.001)
        return respond(chat)

    ledger = Ledger()
    m = make(store_path, allm)
    m.internals.deriver.settings = type(m.internals.deriver.settings)(batch_tokens=40, max_batch_age=0.2, interval=0.05)  # type: ignore[union-attr]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(12):
                mid, text = f"t{n}-{i}", content_for(f"t{n}", i)
                ledger.add(SHARED, mid, text)
                m.observe(SHARED, [message(mid, text)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    async def task(k: int) -> None:
        for i in range(4):
            user = SHARED if i % 2 else f"task-{k}"
            mid, text = f"a{k}-{i}", content_for(f"a{k}", i)
            ledger.add(user, mid, text)
            await m.aobserve(user, [message(mid, text)])

    try:
        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
        for t in threads:
            t.start()
        await asyncio.wait_for(asyncio.gather(*(task(k) for k in range(TASKS))), DEADLOCK_GUARD)
        assert m.internals.deriver._task is not None, "the async LLM is driven by a task in this loop"
        for t in threads:
            await asyncio.to_thread(t.join, DEADLOCK_GUARD)
        assert not any(t.is_alive() for t in threads) and not errors, errors
        await asyncio.wait_for(m.aflush(), DEADLOCK_GUARD)
        check_model(m, ledger, chats)
        stats = await m.astats()
        assert stats["pending_batches"] == stats["failed_batches"] == stats["pending_messages"] == 0
        assert stats["llm_calls"] == len(chats) == stats["batches_done"]
    finally:
        await asyncio.wait_for(m.aclose(), DEADLOCK_GUARD)


async def test_cancelled_async_worker_never_leaks_the_run_lock(store_path: Path) -> None:
    """The async worker is cancelled (aclose, or its loop ending) while it waits for the run lock, which the
    thread side holds. The lock must be free afterwards: a leaked lock deadlocks every later flush()."""
    calls: list[int] = []

    async def allm(chat: list[dict[str, str]]) -> str:
        calls.append(1)
        return respond(chat)

    m = make(store_path, allm, background=False)
    deriver = m.internals.deriver
    assert deriver is not None
    try:
        m.observe("ann", [message("x1", content_for("ann", 1))])
        deriver.schedule(force=True)
        deriver._run_lock.acquire()  # the thread side is busy deriving
        worker = asyncio.get_running_loop().create_task(deriver.arun_due())
        await asyncio.sleep(0.2)  # the task now waits for the lock
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        deriver._run_lock.release()
        await asyncio.sleep(0.3)  # let any acquisition still under way finish
        assert deriver._run_lock.acquire(timeout=5), "the cancelled task left the run lock held: deadlock"
        deriver._run_lock.release()
        await asyncio.wait_for(m.aflush(), DEADLOCK_GUARD)
        assert len(calls) == 1 and m.stats("ann")["batches_done"] == 1
    finally:
        await asyncio.wait_for(m.aclose(), DEADLOCK_GUARD)


def test_wait_helpers_fail_rather_than_hang() -> None:
    """The deadlock guards themselves can fail: a flush that never returns is reported."""

    release = threading.Event()

    class Stuck:
        def flush(self) -> None:
            release.wait(60)

    try:
        with pytest.raises(AssertionError, match="deadlock guard"):
            flush_with_guard(Stuck(), timeout=0.2)  # type: ignore[arg-type]
    finally:
        release.set()
