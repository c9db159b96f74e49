"""``PersonalRunnable``: any chain with per-user message history and the user's context (``memory.wrap``).

For each call it reads ``user_id`` and ``session_id`` from ``config["configurable"]``, loads the session's
history, fetches the user's context for the current input, runs the wrapped runnable, then records the exchange
(which is how the user model learns). It accepts the same input and output shapes as LangChain's
``RunnableWithMessageHistory`` (which is deprecated since langchain-core 1.3.3, so this does not build on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import coerce_to_runnable
from langchain_core.runnables.config import patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs
from pydantic import ValidationError

from personal_core import InvalidInputError, Message, UserModeler

from ._messages import (
    CoreMessage,
    query_text,
    session_id_from,
    to_core_messages,
    to_langchain,
    user_id_from,
    with_context,
)

logger = logging.getLogger(__name__)

USER_ID_SPEC = ConfigurableFieldSpec(
    id="user_id",
    annotation=str,
    name="User ID",
    description="Whose model and history to use (required).",
    is_shared=True,
)
SESSION_ID_SPEC = ConfigurableFieldSpec(
    id="session_id",
    annotation=str,
    name="Session ID",
    description="Which conversation of the user (default 'default'; LangGraph's thread_id is used when set).",
    default="default",
    is_shared=True,
)


@dataclass(frozen=True)
class _Turn:
    user_id: str
    session_id: str
    input: Any
    current: list[BaseMessage]
    records: list[CoreMessage | Message]


def _merge_chunks(chunks: Iterable[Any]) -> Any:
    final: Any = None
    for chunk in chunks:
        final = chunk if final is None else final + chunk
    return final


def _add_chunk(final: Any, chunk: Any) -> Any:
    if final is None:
        return chunk
    try:
        return final + chunk
    except TypeError:
        return chunk


def _as_messages(value: Any, what: str) -> list[BaseMessage]:
    if isinstance(value, str):
        return [HumanMessage(content=value)] if what == "input" else [AIMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and isinstance(value[0], (list, tuple)):
            value = value[0]
        for index, item in enumerate(value):
            if not isinstance(item, BaseMessage):
                raise InvalidInputError(
                    f"{what} message {index} is a {type(item).__name__}, not a LangChain BaseMessage"
                )
        return list(value)
    raise InvalidInputError(
        f"expected the {what} messages as a str, a BaseMessage or a list of BaseMessage, got {type(value).__name__}"
    )


class PersonalRunnable(Runnable[Any, Any]):
    """Adds per-user history and context to ``runnable``; build it with ``PersonalMemory.wrap``.

    Input shapes (as ``RunnableWithMessageHistory``): a dict whose ``input_messages_key`` holds the current input
    (a str, a message or a list of messages), with the history under ``history_messages_key`` when given, else
    prepended to the input messages; or, without keys, a str / message / list of messages (then the history is
    prepended and the context goes in as a leading ``SystemMessage``). For dict input the user's context text is
    put under ``context_key`` (an empty string for a user with no model yet). The output may be a str, a message,
    a list of messages, or a dict holding them under ``output_messages_key``.

    ``config["configurable"]["user_id"]`` is required; ``session_id`` (or LangGraph's ``thread_id``) defaults to
    ``"default"``.
    """

    def __init__(
        self,
        modeler: UserModeler,
        runnable: Any,
        *,
        input_messages_key: str | None = None,
        output_messages_key: str | None = None,
        history_messages_key: str | None = None,
        context_key: str = "user_context",
        max_tokens: int | None = None,
        history_limit: int | None = None,
    ) -> None:
        if not isinstance(modeler, UserModeler):
            raise InvalidInputError(f"modeler must be a UserModeler, got {type(modeler).__name__}")
        if not isinstance(runnable, Runnable) and not callable(runnable):
            raise InvalidInputError(f"wrap() needs a Runnable, got {type(runnable).__name__}")
        for name, key in (
            ("input_messages_key", input_messages_key),
            ("output_messages_key", output_messages_key),
            ("history_messages_key", history_messages_key),
        ):
            if key is not None and (not isinstance(key, str) or not key):
                raise InvalidInputError(f"{name} must be a non-empty str or None, got {key!r}")
        if not isinstance(context_key, str) or not context_key:
            raise InvalidInputError(f"context_key must be a non-empty str, got {context_key!r}")
        if history_messages_key is not None and input_messages_key is None:
            raise InvalidInputError("history_messages_key needs input_messages_key (the key of the current input)")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0
        ):
            raise InvalidInputError(f"max_tokens must be a non-negative int or None, got {max_tokens!r}")
        if history_limit is not None and (
            isinstance(history_limit, bool) or not isinstance(history_limit, int) or history_limit < 0
        ):
            raise InvalidInputError(f"history_limit must be a non-negative int or None, got {history_limit!r}")
        self.modeler = modeler
        self.runnable: Runnable[Any, Any] = coerce_to_runnable(runnable)
        self.input_messages_key = input_messages_key
        self.output_messages_key = output_messages_key
        self.history_messages_key = history_messages_key
        self.context_key = context_key
        self.max_tokens = max_tokens
        self.history_limit = history_limit
        self.name = "PersonalRunnable"

    def __repr__(self) -> str:
        return f"PersonalRunnable({self.runnable!r}, context_key={self.context_key!r})"

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The wrapped runnable's configurable fields plus ``user_id`` and ``session_id``."""
        return get_unique_config_specs([*self.runnable.config_specs, USER_ID_SPEC, SESSION_ID_SPEC])

    # ------------------------------------------------------------------ turn helpers
    def _start(self, value: Any, config: RunnableConfig | None) -> _Turn:
        configurable = (config or {}).get("configurable") or {}
        user_id = user_id_from(None, configurable, "a Runnable made by PersonalMemory.wrap()", runtime_context=False)
        session_id = session_id_from(None, configurable)
        current = self._current_messages(value)
        records: list[CoreMessage | Message] = []
        for index, record in enumerate(to_core_messages(current, keep_system=False)):  # system prompts: the app's
            try:  # validated now, so bad input fails before the wrapped runnable runs
                Message(user_id=user_id, session_id=session_id, **record)
            except ValidationError as exc:
                raise InvalidInputError(f"input message {index} is invalid: {exc.errors()[0]['msg']}") from None
            records.append(record)
        return _Turn(user_id, session_id, value, current, records)

    def _current_messages(self, value: Any) -> list[BaseMessage]:
        if isinstance(value, dict):
            if self.input_messages_key is not None:
                key = self.input_messages_key
            elif len(value) == 1:
                key = next(iter(value))
            else:
                key = "input"
            if key not in value:
                raise InvalidInputError(
                    f"the input dict has no key {key!r} (input_messages_key); keys: {sorted(value)}"
                )
            return _as_messages(value[key], "input")
        if self.input_messages_key is not None:
            raise InvalidInputError(
                f"input_messages_key={self.input_messages_key!r} was given, so the input must be a dict, "
                f"got {type(value).__name__}"
            )
        return _as_messages(value, "input")

    def _assemble(self, turn: _Turn, history: Sequence[Message], context: str) -> Any:
        past = [to_langchain(m) for m in history]
        if isinstance(turn.input, dict):
            prepared = dict(turn.input)
            if self.history_messages_key is not None:
                prepared[self.history_messages_key] = past
            else:
                key = self.input_messages_key or (next(iter(prepared)) if len(prepared) == 1 else "input")
                prepared[key] = past + turn.current
            prepared[self.context_key] = context
            return prepared
        current = list(turn.current)
        system = current[0] if current and isinstance(current[0], SystemMessage) else None
        if system is not None:
            current = current[1:]
        if context.strip():  # one system message: the app's own, with the context appended
            system = with_context(system, context)
        return ([system] if system is not None else []) + past + current

    def _output_messages(self, output: Any) -> list[BaseMessage]:
        value = output
        if isinstance(value, dict):
            if self.output_messages_key is not None:
                key = self.output_messages_key
            elif len(value) == 1:
                key = next(iter(value))
            else:
                key = "output"
            if key not in value:
                logger.warning("the output dict has no key %r (output_messages_key): the reply is not recorded", key)
                return []
            value = value[key]
        try:
            return _as_messages(value, "output")
        except InvalidInputError as exc:
            logger.warning("cannot record the reply: %s", exc)
            return []

    def _records(self, turn: _Turn, output: Any) -> list[CoreMessage | Message]:
        return turn.records + to_core_messages(self._output_messages(output))

    def _record(self, turn: _Turn, output: Any) -> None:
        records = self._records(turn, output)
        if records:
            self.modeler.observe(turn.user_id, records, turn.session_id)

    async def _arecord(self, turn: _Turn, output: Any) -> None:
        records = self._records(turn, output)
        if records:
            await self.modeler.aobserve(turn.user_id, records, turn.session_id)

    def _prepare(self, turn: _Turn) -> Any:
        history = self.modeler.messages(turn.user_id, turn.session_id, self.history_limit)
        context = self.modeler.context(
            turn.user_id, query_text(turn.current), self.max_tokens, exclude_sessions=(turn.session_id,)
        )
        return self._assemble(turn, history, context.text)

    async def _aprepare(self, turn: _Turn) -> Any:
        history, context = await asyncio.gather(
            self.modeler.amessages(turn.user_id, turn.session_id, self.history_limit),
            self.modeler.acontext(
                turn.user_id, query_text(turn.current), self.max_tokens, exclude_sessions=(turn.session_id,)
            ),
        )
        return self._assemble(turn, history, context.text)

    # ------------------------------------------------------------------ Runnable interface
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run one turn: history and context in, the wrapped runnable, the exchange recorded."""
        return self._call_with_config(self._invoke, input, config, **kwargs)

    def _invoke(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig, **kwargs: Any
    ) -> Any:
        turn = self._start(value, config)
        prepared = self._prepare(turn)
        output = self.runnable.invoke(prepared, patch_config(config, callbacks=run_manager.get_child()), **kwargs)
        self._record(turn, output)
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    async def _ainvoke(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig, **kwargs: Any
    ) -> Any:
        turn = self._start(value, config)
        prepared = await self._aprepare(turn)
        output = await self.runnable.ainvoke(
            prepared, patch_config(config, callbacks=run_manager.get_child()), **kwargs
        )
        await self._arecord(turn, output)
        return output

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """Stream the wrapped runnable's output; the exchange is recorded when the stream is exhausted."""
        yield from self.transform(iter([input]), config, **kwargs)

    def transform(self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """Like :meth:`stream`, from an iterator of input chunks."""
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    def _transform(
        self, chunks: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        turn = self._start(_merge_chunks(chunks), config)
        prepared = self._prepare(turn)
        final: Any = None
        for chunk in self.runnable.stream(prepared, patch_config(config, callbacks=run_manager.get_child()), **kwargs):
            yield chunk
            final = _add_chunk(final, chunk)
        self._record(turn, final)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Async :meth:`stream`."""

        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Like :meth:`astream`, from an async iterator of input chunks."""
        async for chunk in self._atransform_stream_with_config(input, self._atransform, config, **kwargs):
            yield chunk

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        turn = self._start(_merge_chunks([chunk async for chunk in chunks]), config)
        prepared = await self._aprepare(turn)
        final: Any = None
        child = patch_config(config, callbacks=run_manager.get_child())
        async for chunk in self.runnable.astream(prepared, child, **kwargs):
            yield chunk
            final = _add_chunk(final, chunk)
        await self._arecord(turn, final)
