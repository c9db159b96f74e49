"""The LLM protocol: how the core calls an LLM, what it tells adapters about each call, and how failures map.

An LLM is any callable taking a list of ``{"role", "content"}`` dicts and returning text, or an awaitable of
text (``async def`` functions work too). The LangChain and LlamaIndex integrations adapt their models to this
and share two policies defined here:

- structured output: only derivation prompts (:func:`wants_structured_output`) ask for :data:`STRUCTURED_SCHEMA`;
  ``ask()`` and every other call get a plain reply;
- tracing: the core runs each call under a :class:`CallInfo` (kind, batch id, hash of the user id) that an
  adapter reads with :func:`call_info` to name, tag and annotate its own run.

Every failure of a call (exception, timeout, a reply that is not text) surfaces as :class:`LLMError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from . import prompts
from .errors import LLMError
from .update import ModelUpdate

__all__ = [
    "DERIVE_MARKER",
    "STRUCTURED_SCHEMA",
    "CallInfo",
    "ChatMessages",
    "LLMCallable",
    "LLMError",
    "acall_llm",
    "arun_detached",
    "call_info",
    "call_llm",
    "calling",
    "is_async_callable",
    "is_derivation_prompt",
    "run_detached",
    "structured_text",
    "user_hash",
    "wants_structured_output",
]

ChatMessages = list[dict[str, str]]
LLMCallable = Callable[[ChatMessages], str | Awaitable[str]]
_T = TypeVar("_T")

#: How every derivation system prompt starts.
DERIVE_MARKER = prompts.DERIVE_SYSTEM[:48]

#: The schema a derivation call asks for when the model supports structured output.
STRUCTURED_SCHEMA: type[ModelUpdate] = ModelUpdate


# ---------------------------------------------------------------------------------------------- call metadata
def user_hash(user_id: str) -> str:
    """A short stable pseudonym of ``user_id`` for traces (16 hex digits of a SHA-256; never the id itself).

    It is a pseudonym, not anonymity: whoever can guess an id (an e-mail address, say) can hash it and compare.
    """
    return hashlib.sha256(f"personal:user:{user_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallInfo:
    """What one LLM call of the core is for; adapters turn it into a run name, tags and metadata.

    Attributes:
        kind: ``"derive"`` (a derivation prompt or its re-ask) or ``"ask"``.
        batch_id: the derivation batch, if any.
        user_hash: :func:`user_hash` of the user, if known (never the raw id).
    """

    kind: str
    batch_id: str | None = None
    user_hash: str | None = None

    @classmethod
    def of(cls, kind: str, *, user_id: str | None = None, batch_id: str | None = None) -> CallInfo:
        """A ``CallInfo`` for ``kind``, hashing ``user_id``."""
        return cls(kind, batch_id=batch_id, user_hash=None if user_id is None else user_hash(user_id))

    @property
    def run_name(self) -> str:
        """``personal.<kind>``, e.g. ``personal.derive``."""
        return f"personal.{self.kind}"

    @property
    def tags(self) -> list[str]:
        """``["personal", "personal:<kind>"]``."""
        return ["personal", f"personal:{self.kind}"]

    @property
    def metadata(self) -> dict[str, str]:
        """``personal_kind`` plus, when known, ``personal_batch_id`` and ``personal_user_hash``: no user text."""
        out = {"personal_kind": self.kind}
        if self.batch_id is not None:
            out["personal_batch_id"] = self.batch_id
        if self.user_hash is not None:
            out["personal_user_hash"] = self.user_hash
        return out


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar("personal_llm_call", default=None)


@contextmanager
def calling(info: CallInfo | None) -> Iterator[CallInfo | None]:
    """Run the LLM calls made inside the block under ``info`` (what :func:`call_info` returns in adapters)."""
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)


def call_info(messages: Sequence[dict[str, str]] = ()) -> CallInfo:
    """The :class:`CallInfo` of the call in progress; outside one, a bare one whose kind comes from ``messages``."""
    info = _current.get()
    if info is not None:
        return info
    return CallInfo("derive" if is_derivation_prompt(messages) else "ask")


# ---------------------------------------------------------------------------------------------- structured output
def is_derivation_prompt(messages: Sequence[dict[str, str]]) -> bool:
    """True when ``messages`` is a derivation prompt (or its re-ask): it expects a ``ModelUpdate`` as JSON."""
    return (
        bool(messages)
        and messages[0].get("role") == "system"
        and messages[0].get("content", "").startswith(DERIVE_MARKER)
    )


def wants_structured_output(messages: Sequence[dict[str, str]]) -> bool:
    """The one structured-output policy of every adapter: ask for :data:`STRUCTURED_SCHEMA` only in derivation
    prompts; ``ask()`` and any other call get a plain reply."""
    return is_derivation_prompt(messages)


def structured_text(result: object) -> str | None:
    """A structured reply (a pydantic model or a dict) as JSON text for the core's repair path; None otherwise."""
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if isinstance(result, dict):
        return json.dumps(result, ensure_ascii=False, default=str)
    return None


# ---------------------------------------------------------------------------------------------- calling
@contextmanager
def _mapped(timeout: float) -> Generator[None, None, None]:
    """The one error mapping: a timeout, an exception or a non-text reply becomes :class:`LLMError`."""
    try:
        yield
    except (concurrent.futures.TimeoutError, asyncio.TimeoutError):
        raise LLMError(f"the LLM did not answer within {timeout:g}s") from None
    except LLMError:
        raise
    except Exception as exc:
        raise LLMError(f"the LLM call failed: {type(exc).__name__}: {exc}") from exc


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    content = getattr(value, "content", None)  # tolerate message objects with .content
    if isinstance(content, str):
        return content
    raise LLMError(f"the LLM returned {type(value).__name__}, not text")


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _invoke(llm: LLMCallable, messages: ChatMessages) -> str:
    result = llm(messages)
    if inspect.isawaitable(result):
        return _text(asyncio.run(_await(result)))
    return _text(result)


def _start_call(llm: LLMCallable, messages: ChatMessages, info: CallInfo | None) -> concurrent.futures.Future[str]:
    """Run a synchronous LLM call in a thread of its own; its result or error lands in the returned future.

    One daemon thread per call, not a bounded pool: a call that hangs past its timeout keeps its thread until
    it returns, and with a pool a few such calls would hold every worker, so that every later call (to any
    LLM, from any modeler) would time out in the queue without ever being made. The thread runs in a fresh
    context holding only the :class:`CallInfo`: nothing else of the caller's context (a framework's tracing
    state, for one) leaks into the call.
    """
    future: concurrent.futures.Future[str] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(_invoke(llm, messages))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)

    context = contextvars.Context()
    context.run(_current.set, info)
    threading.Thread(target=context.run, args=(run,), name="personal-llm-call", daemon=True).start()
    return future


def call_llm(llm: LLMCallable, messages: ChatMessages, timeout: float, *, info: CallInfo | None = None) -> str:
    """Call ``llm`` (sync or async) from synchronous code, giving up after ``timeout`` seconds.

    ``info`` (default: the one set by :func:`calling`, if any) is what the adapter sees through
    :func:`call_info`. A sync call that hangs keeps its own thread until it returns; the caller moves on.
    """
    future = _start_call(llm, messages, info if info is not None else _current.get())
    with _mapped(timeout):
        return future.result(timeout=timeout)


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


async def acall_llm(llm: LLMCallable, messages: ChatMessages, timeout: float, *, info: CallInfo | None = None) -> str:
    """Call ``llm`` from async code: awaited in the running loop when async, else in a thread of its own
    (not the loop's default executor, which a hung call would hold past its timeout). ``info``: see
    :func:`call_llm`."""
    with _mapped(timeout), calling(info if info is not None else _current.get()):
        if is_async_callable(llm):
            return _text(await asyncio.wait_for(_await(llm(messages)), timeout))  # type: ignore[arg-type]
        return await asyncio.wait_for(asyncio.wrap_future(_start_call(llm, messages, _current.get())), timeout)


def run_detached(fn: Callable[[], _T]) -> _T:
    """``fn()`` in a fresh, empty context: none of the caller's context variables reach it.

    Adapters call a framework's model through this so that the run does not inherit the app's current run
    (its callbacks, tags, metadata, tracing parent), which frameworks propagate through context variables.
    """
    return contextvars.Context().run(fn)


async def arun_detached(make: Callable[[], Awaitable[_T]]) -> _T:
    """Async :func:`run_detached`: awaits ``make()`` as a task started in a fresh, empty context."""
    task: asyncio.Future[_T] = contextvars.Context().run(asyncio.ensure_future, _await(make()))
    return await task
