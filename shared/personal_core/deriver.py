"""The deriver: forms batches from pending messages, runs each through the LLM reasoner, and saves the result.

One batch reads top to bottom in :meth:`Deriver.process`: snapshot what the reasoner needs from the user's
cached model, call the LLM (the sans-I/O :meth:`Deriver._steps` generator says what to send; a sync and an
async shell do the I/O), then save the result and complete the batch in one journal transaction
(:meth:`Ingest.apply_derived <personal_core.ingest.Ingest.apply_derived>`).

It never raises into the caller's chain: an LLM failure (exception, timeout, unusable output after one
re-ask) is logged at WARNING with the user and batch id, counted, and the batch is retried with exponential
backoff until ``max_attempts``, then kept as ``failed`` (see ``UserModeler.retry_failed``). One batch is
derived at a time; a background thread drains the queue, ``flush()`` drains it in the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

from .cache import UserCache
from .candidates import related_insights
from .embedding import Embedder
from .errors import LLMError, OutputError
from .ingest import Derived, Ingest
from .journal_file import user_hash
from .llm import CallInfo, ChatMessages, acall_llm, call_llm, calling, is_async_callable
from .model import Role
from .queue import GONE, PENDING, Batch, DeriveQueue, plan_batches
from .reasoner import LLMReasoner, ReasonerInput
from .settings import DeriverSettings
from .stats import Counters
from .tokens import TokenCounter
from .worker import BackgroundThread

logger = logging.getLogger(__name__)

#: Characters of each user message used to find the insights related to a batch.
QUERY_CHARS = 2000
#: A reply's tokens are counted exactly up to this many characters (a stat); the rest is estimated from them.
COUNTED_REPLY_CHARS = 65_536

__all__ = ["Derived", "Deriver", "DeriverSettings", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """How one batch ended: a result to apply, or the error with what the attempt cost."""

    derived: Derived | None
    error: str
    calls: int
    input_tokens: int
    output_tokens: int


class Deriver(BackgroundThread):
    """Drives the durable :class:`DeriveQueue` through an :class:`LLMReasoner`."""

    thread_name = "personal-deriver"

    def __init__(
        self,
        queue: DeriveQueue,
        reasoner: LLMReasoner,
        counter: TokenCounter,
        *,
        cache: UserCache,
        ingest: Ingest,
        embedder: Embedder,
        settings: DeriverSettings | None = None,
        inline: bool = False,
        background: bool = True,
    ) -> None:
        super().__init__()
        self.inline = inline
        self.background = background
        self._llm_is_async = is_async_callable(reasoner.llm)
        self._task: asyncio.Task[None] | None = None
        self.queue = queue
        self.reasoner = reasoner
        self.counter = counter
        self.cache = cache
        self.ingest = ingest
        self.embedder = embedder
        self.settings = settings or DeriverSettings()
        self._run_lock = threading.Lock()  # one batch at a time; the workers and flush() take turns
        self._async_workers = 0

    # ------------------------------------------------------------------ what observe() triggers
    def after_observe(self, user_id: str) -> None:
        """New messages were queued: derive them now (``inline``) or wake the background worker."""
        if self.inline:
            self.flush_quietly(user_id)
        else:
            self.wake()

    async def aafter_observe(self, user_id: str) -> None:
        """Async :meth:`after_observe`; with an async LLM the worker runs as a task in the caller's loop."""
        if self.inline:
            await self.aflush_quietly(user_id)
            return
        if self.background and self._llm_is_async and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self.aworker())
        self.wake()

    def flush_quietly(self, user_id: str | None) -> None:
        """:meth:`flush` that never raises (failures stay pending and are retried)."""
        try:
            self.flush(user_id)
        except Exception:
            logger.exception("derivation failed; the messages stay pending")

    async def aflush_quietly(self, user_id: str | None) -> None:
        """Async :meth:`flush_quietly`."""
        try:
            await self.aflush(user_id)
        except Exception:
            logger.exception("derivation failed; the messages stay pending")

    def start_background(self) -> None:
        """Start the worker thread when background derivation is on."""
        if self.background:
            self.start()

    def close(self) -> None:
        """Stop the worker thread and end the async worker task (pending work stays durable)."""
        self.stop()
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop may already be closed
                task.get_loop().call_soon_threadsafe(task.cancel)

    async def aclose(self) -> None:
        """Async :meth:`close`: the worker task is cancelled and awaited in its own loop."""
        task, self._task = self._task, None
        self.stop(timeout=0)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self.stop)

    def _delay(self) -> float:
        return self.settings.interval

    def _step(self) -> None:
        if self._async_workers:
            return  # an event-loop task is deriving (async LLM in async use): stand aside
        try:
            self.schedule()
            while not self.stopping and self.run_due(limit=1):
                pass
        except Exception:
            logger.exception("the deriver worker hit an unexpected error; it keeps running")

    # ------------------------------------------------------------------ steps
    def schedule(self, *, user_id: str | None = None, force: bool = False, now: float | None = None) -> int:
        """Turn pending messages into batches where the policy says so; returns how many batches were formed."""
        now = time.time() if now is None else now
        users = [user_id] if user_id is not None else self.queue.pending_users()
        formed = 0
        for uid in users:
            groups, idle = plan_batches(
                self.queue.pending_of(uid),
                batch_tokens=self.settings.batch_tokens,
                max_age=self.settings.max_batch_age,
                now=now,
                force=force,
            )
            if idle:
                self.queue.release_pending(uid, idle)
            if groups:
                formed += len(self.queue.form_batches(uid, groups, now))
        return formed

    def run_due(
        self,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        ignore_backoff: bool = False,
        skip: set[str] | None = None,
    ) -> int:
        """Derive due batches (pending status, backoff elapsed), oldest first; returns how many were attempted.

        Batch ids in ``skip`` are not attempted; attempted ids are added to it.
        """
        skip = set() if skip is None else skip
        done = 0
        while limit is None or done < limit:
            with self._run_lock:
                due_by = None if ignore_backoff else time.time()
                due = [
                    b
                    for b in self.queue.batches(status=PENDING, user_id=user_id, due_by=due_by)
                    if b.batch_id not in skip
                ]
                if not due:
                    return done
                skip.add(due[0].batch_id)
                self.process(due[0])
            done += 1
        return done

    def flush(self, user_id: str | None = None) -> None:
        """Batch everything pending (for one user or all) and derive it now, each batch at most once."""
        self.schedule(user_id=user_id, force=True)
        self.run_due(user_id=user_id, ignore_backoff=True)

    # ------------------------------------------------------------------ one batch (sans-I/O core + two shells)
    def _steps(self, batch: Batch, data: ReasonerInput) -> Generator[ChatMessages, str | LLMError, Outcome]:
        """The per-batch logic without I/O: yields each conversation to send, receives the reply (or error).

        One call, and one re-ask naming the error if the reply is unusable.
        """
        prepared = self.reasoner.prepare(data, self.counter)
        conversation = prepared.prompt
        calls = input_tokens = output_tokens = 0
        error = ""
        for attempt in range(2):
            calls += 1
            input_tokens += sum(self.counter.count(m["content"]) for m in conversation)
            reply = yield conversation
            if isinstance(reply, LLMError):
                error = str(reply)
                break
            output_tokens += self._reply_tokens(reply)
            try:
                update, report = self.reasoner.parse(reply, prepared, self.counter)
            except Exception as exc:  # noqa: BLE001 - OutputError, or anything odd data makes repair raise
                detail = str(exc) if isinstance(exc, OutputError) else f"{type(exc).__name__}: {exc}"
                error = f"unusable reply: {detail}"
                if attempt == 0:
                    conversation = self.reasoner.reask(prepared, reply, detail)
                continue
            if report.drops:
                logger.warning(
                    "dropped from the reply for user %r batch %s: %s",
                    batch.user_id,
                    batch.batch_id,
                    "; ".join(report.drops),
                )
            elif report.total():
                logger.info(
                    "repaired the reply for user %s batch %s: %s", user_hash(batch.user_id), batch.batch_id, report
                )
            return Outcome(Derived(batch, update, report, input_tokens, output_tokens, calls), "", calls, 0, 0)
        return Outcome(None, error, calls, input_tokens, output_tokens)

    def _reply_tokens(self, reply: str) -> int:
        """Tokens of a reply: counted exactly up to :data:`COUNTED_REPLY_CHARS`, the rest of a runaway reply
        estimated (counting megabytes exactly would cost seconds for a stat, inside ``observe()`` in inline mode)."""
        if len(reply) <= COUNTED_REPLY_CHARS:
            return self.counter.count(reply)
        head = self.counter.count(reply[:COUNTED_REPLY_CHARS])
        return head + round(head * (len(reply) - COUNTED_REPLY_CHARS) / COUNTED_REPLY_CHARS)

    def snapshot(self, batch: Batch) -> ReasonerInput | None:
        """What the reasoner needs for ``batch`` (the user's card, summary and related insights, and the batch's
        messages), or None when its messages are gone (forget / delete_session)."""
        with self.cache.user(batch.user_id) as state:
            messages = [
                state.messages[m].message
                for m in batch.message_ids
                if m in state.messages and not state.messages[m].message.history_only
            ]
        if not messages:
            return None
        query = " ".join(m.content[:QUERY_CHARS] for m in messages if m.role is Role.USER) or messages[-1].content
        vector = self.embedder.embed_query(query[: QUERY_CHARS * 4])  # outside the user's lock
        with self.cache.user(batch.user_id) as state:
            related = related_insights(state, query, vector)
            return ReasonerInput(batch.user_id, state.profile.card, state.profile.summary, related, messages)

    def process(self, batch: Batch) -> bool:
        """Derive one batch and save it (sync shell). Failures are recorded, never raised."""
        data = self.snapshot(batch)
        if data is None:
            return self._finish_empty(batch)
        steps = self._steps(batch, data)
        try:
            conversation = next(steps)
            while True:
                try:
                    with calling(self._call_info(batch)):
                        reply: str | LLMError = call_llm(self.reasoner.llm, conversation, self.reasoner.timeout)
                except LLMError as exc:
                    reply = exc
                conversation = steps.send(reply)
        except StopIteration as done:
            return self._finish(batch, done.value)

    async def aprocess(self, batch: Batch) -> bool:
        """Derive one batch and save it (async shell: the LLM is awaited in the running loop)."""
        data = await asyncio.to_thread(self.snapshot, batch)
        if data is None:
            return await asyncio.to_thread(self._finish_empty, batch)
        steps = self._steps(batch, data)
        try:
            conversation = next(steps)
            while True:
                try:
                    with calling(self._call_info(batch)):
                        reply: str | LLMError = await acall_llm(self.reasoner.llm, conversation, self.reasoner.timeout)
                except LLMError as exc:
                    reply = exc
                conversation = steps.send(reply)
        except StopIteration as done:
            return await asyncio.to_thread(self._finish, batch, done.value)

    @staticmethod
    def _call_info(batch: Batch) -> CallInfo:
        """What adapters may put in traces for this batch's calls (the user id only as a hash)."""
        return CallInfo.of("derive", user_id=batch.user_id, batch_id=batch.batch_id)

    def _finish_empty(self, batch: Batch) -> bool:
        """A batch whose messages are gone: completed without an LLM call, counted (``batches_empty``), logged."""
        return self.queue.complete_empty(batch)

    def _finish(self, batch: Batch, outcome: Outcome) -> bool:
        derived = outcome.derived
        if derived is not None:
            try:
                return self.ingest.apply_derived(derived)
            except Exception as exc:  # recorded as a failed attempt below
                # A result that cannot be applied must cost an attempt like any other failure: left untouched,
                # the batch would stay the oldest due one and be retried before every other batch, forever.
                logger.debug("applying user %r batch %s failed", batch.user_id, batch.batch_id, exc_info=True)
                outcome = Outcome(
                    None,
                    f"applying the result failed: {type(exc).__name__}: {exc}",
                    derived.calls,
                    derived.input_tokens,
                    derived.output_tokens,
                )
        self._record_failure(batch, outcome)
        return False

    def _record_failure(self, batch: Batch, outcome: Outcome) -> None:
        """Count the attempt and back off, in one transaction; nothing is written if the user was forgotten."""
        failed = self.queue.fail(
            batch,
            outcome.error,
            now=time.time(),
            max_attempts=self.settings.max_attempts,
            backoff_base=self.settings.backoff_base,
            counters=Counters(
                llm_calls=outcome.calls,
                reasoner_input_tokens=outcome.input_tokens,
                reasoner_output_tokens=outcome.output_tokens,
            ),
        )
        if failed.status == GONE:
            logger.info("batch %s failed, but its user was forgotten meanwhile", batch.batch_id)
            return
        logger.warning(
            "deriving user %r batch %s failed (attempt %d of %d, %s): %s",
            batch.user_id,
            batch.batch_id,
            failed.attempts,
            self.settings.max_attempts,
            "now marked failed; retry_failed() re-runs it" if failed.status != PENDING else "will retry",
            outcome.error,
        )

    # ------------------------------------------------------------------ async use
    async def arun_due(self, *, user_id: str | None = None, ignore_backoff: bool = False) -> int:
        """Async :meth:`run_due`: each due batch once, taking turns with the thread worker."""
        skip: set[str] = set()
        done = 0
        while True:
            await self._aacquire_run_lock()
            try:
                due_by = None if ignore_backoff else time.time()
                batches = await asyncio.to_thread(self.queue.batches, status=PENDING, user_id=user_id, due_by=due_by)
                due = [b for b in batches if b.batch_id not in skip]
                if not due:
                    return done
                skip.add(due[0].batch_id)
                await self.aprocess(due[0])
            finally:
                self._run_lock.release()
            done += 1

    async def _aacquire_run_lock(self) -> None:
        """Take the run lock from the event loop without blocking it, and without leaking it on cancellation.

        Waiting in a worker thread (``to_thread(lock.acquire)``) is not cancellation-safe: a task cancelled while
        waiting (``aclose()``, or its loop ending) leaves the thread to take the lock later, and nobody releases
        it, so every later derivation deadlocks. Polling with non-blocking attempts in the loop's own thread is.
        """
        delay = 0.001
        while not self._run_lock.acquire(blocking=False):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def aflush(self, user_id: str | None = None) -> None:
        """Async :meth:`flush`."""
        await asyncio.to_thread(self.schedule, user_id=user_id, force=True)
        await self.arun_due(user_id=user_id, ignore_backoff=True)

    async def aworker(self) -> None:
        """The task worker for async use: drains the queue in the running event loop until :meth:`stop`."""
        self._async_workers += 1
        try:
            while not self.stopping:
                try:
                    await asyncio.to_thread(self.schedule)
                    await self.arun_due()
                except Exception:
                    logger.exception("the async deriver worker hit an unexpected error; it keeps running")
                await asyncio.sleep(self.settings.interval)
        finally:
            self._async_workers -= 1
