"""The deriver: forms batches from pending messages and runs them through the LLM reasoner.

It never raises into the caller's chain: an LLM failure (exception, timeout, unusable output after one
re-ask) is logged at WARNING with the user and batch id, counted, and the batch is retried with exponential
backoff until ``max_attempts``, then kept as ``failed`` (see ``UserModeler.retry_failed``). One batch is
derived at a time; a background thread drains the queue, ``flush()`` drains it in the caller.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from .errors import LLMError, OutputError
from .llm import ChatMessages, acall_llm, call_llm
from .queue import PENDING, Batch, DeriveQueue, plan_batches
from .reasoner import LLMReasoner, ReasonerInput
from .repair import MAX_REPLY_CHARS, RepairReport
from .tokens import TokenCounter
from .update import ModelUpdate
from .worker import BackgroundThread

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeriverSettings:
    """Batching and retry policy."""

    batch_tokens: int = 512
    max_batch_age: float = 300.0
    max_attempts: int = 5
    backoff_base: float = 2.0
    interval: float = 0.5


@dataclass(frozen=True)
class Outcome:
    """How one batch ended: a result to apply, or the error with what the attempt cost."""

    derived: Derived | None
    error: str
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Derived:
    """A batch's validated result, ready to apply."""

    batch: Batch
    update: ModelUpdate
    report: RepairReport
    input_tokens: int
    output_tokens: int
    calls: int


Snapshot = Callable[[str, tuple[str, ...]], ReasonerInput | None]
Apply = Callable[[Derived], bool]


class Deriver(BackgroundThread):
    """Drives the durable :class:`DeriveQueue` through an :class:`LLMReasoner`."""

    thread_name = "personal-deriver"

    def __init__(
        self,
        queue: DeriveQueue,
        reasoner: LLMReasoner,
        counter: TokenCounter,
        *,
        snapshot: Snapshot,
        apply: Apply,
        settings: DeriverSettings = DeriverSettings(),
    ) -> None:
        super().__init__()
        self.queue = queue
        self.reasoner = reasoner
        self.counter = counter
        self.settings = settings
        self._snapshot = snapshot
        self._apply = apply
        self._run_lock = threading.Lock()  # one batch at a time; the workers and flush() take turns
        self._async_workers = 0

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
            groups = plan_batches(
                self.queue.pending_of(uid),
                batch_tokens=self.settings.batch_tokens,
                max_age=self.settings.max_batch_age,
                now=now,
                force=force,
            )
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
            if report.total():
                logger.info("repaired the reply for user %r batch %s: %s", batch.user_id, batch.batch_id, report)
            return Outcome(Derived(batch, update, report, input_tokens, output_tokens, calls), "", calls, 0, 0)
        return Outcome(None, error, calls, input_tokens, output_tokens)

    def _reply_tokens(self, reply: str) -> int:
        """Tokens of a reply: counted exactly up to what repair reads, the rest of a runaway reply estimated
        (counting megabytes exactly would cost seconds for a stat, inside ``observe()`` in inline mode)."""
        if len(reply) <= MAX_REPLY_CHARS:
            return self.counter.count(reply)
        head = self.counter.count(reply[:MAX_REPLY_CHARS])
        return head + round(head * (len(reply) - MAX_REPLY_CHARS) / MAX_REPLY_CHARS)

    def process(self, batch: Batch) -> bool:
        """Derive one batch and apply it (sync shell). Failures are recorded, never raised."""
        data = self._snapshot(batch.user_id, batch.message_ids)
        if data is None or not data.messages:  # its messages were deleted (forget / delete_session)
            return self._apply(Derived(batch, ModelUpdate(), RepairReport(), 0, 0, 0))
        steps = self._steps(batch, data)
        try:
            conversation = next(steps)
            while True:
                try:
                    reply: str | LLMError = call_llm(self.reasoner.llm, conversation, self.reasoner.timeout)
                except LLMError as exc:
                    reply = exc
                conversation = steps.send(reply)
        except StopIteration as done:
            return self._finish(batch, done.value)

    async def aprocess(self, batch: Batch) -> bool:
        """Derive one batch and apply it (async shell: the LLM is awaited in the running loop)."""
        data = await asyncio.to_thread(self._snapshot, batch.user_id, batch.message_ids)
        if data is None or not data.messages:
            return await asyncio.to_thread(self._apply, Derived(batch, ModelUpdate(), RepairReport(), 0, 0, 0))
        steps = self._steps(batch, data)
        try:
            conversation = next(steps)
            while True:
                try:
                    reply: str | LLMError = await acall_llm(self.reasoner.llm, conversation, self.reasoner.timeout)
                except LLMError as exc:
                    reply = exc
                conversation = steps.send(reply)
        except StopIteration as done:
            return await asyncio.to_thread(self._finish, batch, done.value)

    def _finish(self, batch: Batch, outcome: Outcome) -> bool:
        derived = outcome.derived
        if derived is not None:
            try:
                return self._apply(derived)
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
        self.queue.count(
            {
                "llm_calls": outcome.calls,
                "reasoner_input_tokens": outcome.input_tokens,
                "reasoner_output_tokens": outcome.output_tokens,
            },
            batch.user_id,
        )
        failed = self.queue.fail(
            batch,
            outcome.error,
            now=time.time(),
            max_attempts=self.settings.max_attempts,
            backoff_base=self.settings.backoff_base,
        )
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
