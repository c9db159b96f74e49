"""The async twins of :class:`~personal_core.modeler.UserModeler`'s methods (mixed into it).

Each runs the sync method in a worker thread, except where an async LLM is awaited in the caller's event loop
(:meth:`aobserve` with derivation, :meth:`aflush`, :meth:`aask`, :meth:`aclose`). Same parameters as the sync
method, always (``tests/core/test_async_twins.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .candidates import SearchHit
from .inputs import MessageLike, coerce_messages
from .llm import CallInfo, acall_llm, calling
from .model import Insight, InsightKind, InsightLevel, Message, UserContext, UserModel, validate_user_id
from .reembed import Progress, ReembedReport

if TYPE_CHECKING:
    from .modeler import UserModeler

_M = TypeVar("_M", bound="AsyncTwins")


def _m(twins: AsyncTwins) -> UserModeler:
    """The modeler these twins belong to (they are only ever mixed into :class:`UserModeler`)."""
    return cast("UserModeler", twins)


class AsyncTwins:
    """``a<name>`` for every public method ``<name>`` of :class:`~personal_core.modeler.UserModeler`."""

    async def aobserve(
        self, user_id: str, messages: MessageLike | Sequence[MessageLike], session_id: str | None = None
    ) -> list[Message]:
        """Async :meth:`observe`. With an async LLM, derivation runs as a task in the running event loop."""
        modeler = _m(self)
        uid = validate_user_id(user_id)
        modeler._check_open()
        coerced = coerce_messages(uid, messages, session_id)
        new = await asyncio.to_thread(modeler._ingest.store_messages, uid, coerced.messages, coerced.derived_ids)
        if modeler._deriver is not None and new:
            await modeler._deriver.aafter_observe(uid)
        return new

    async def adelete_session(self, user_id: str, session_id: str, *, keep_model: bool = False) -> int:
        """Async :meth:`delete_session`."""
        return await asyncio.to_thread(_m(self).delete_session, user_id, session_id, keep_model=keep_model)

    async def adelete_messages(self, user_id: str, message_ids: Collection[str], *, keep_model: bool = False) -> int:
        """Async :meth:`delete_messages`."""
        return await asyncio.to_thread(_m(self).delete_messages, user_id, message_ids, keep_model=keep_model)

    async def aadd_insight(
        self,
        user_id: str,
        text: str,
        kind: InsightKind | str = InsightKind.FACT,
        *,
        confidence: float = 0.9,
        level: InsightLevel | str = InsightLevel.EXPLICIT,
        evidence: Sequence[str] = (),
    ) -> Insight:
        """Async :meth:`add_insight`."""
        return await asyncio.to_thread(
            _m(self).add_insight, user_id, text, kind, confidence=confidence, level=level, evidence=evidence
        )

    async def aretract(self, user_id: str, insight_id: str, reason: str | None = None) -> Insight:
        """Async :meth:`retract`."""
        return await asyncio.to_thread(_m(self).retract, user_id, insight_id, reason)

    async def acorrect(
        self,
        user_id: str,
        insight_id: str,
        text: str,
        *,
        kind: InsightKind | str | None = None,
        confidence: float | None = None,
    ) -> Insight:
        """Async :meth:`correct`."""
        return await asyncio.to_thread(_m(self).correct, user_id, insight_id, text, kind=kind, confidence=confidence)

    async def aset_card(self, user_id: str, lines: Sequence[str]) -> list[str]:
        """Async :meth:`set_card`."""
        return await asyncio.to_thread(_m(self).set_card, user_id, lines)

    async def aforget(self, user_id: str) -> None:
        """Async :meth:`forget`."""
        await asyncio.to_thread(_m(self).forget, user_id)

    async def acontext(
        self,
        user_id: str,
        query: str = "",
        max_tokens: int | None = None,
        *,
        include_superseded: bool = False,
        include_messages: bool = True,
        exclude_message_ids: Collection[str] = (),
        exclude_sessions: Collection[str] = (),
    ) -> UserContext:
        """Async :meth:`context`."""
        return await asyncio.to_thread(
            _m(self).context,
            user_id,
            query,
            max_tokens,
            include_superseded=include_superseded,
            include_messages=include_messages,
            exclude_message_ids=exclude_message_ids,
            exclude_sessions=exclude_sessions,
        )

    async def asearch(
        self,
        user_id: str,
        query: str,
        k: int = 10,
        *,
        kinds: Sequence[InsightKind | str] | None = None,
        include_superseded: bool = False,
    ) -> list[SearchHit]:
        """Async :meth:`search`."""
        return await asyncio.to_thread(
            _m(self).search, user_id, query, k, kinds=kinds, include_superseded=include_superseded
        )

    async def auser_model(self, user_id: str) -> UserModel:
        """Async :meth:`user_model`."""
        return await asyncio.to_thread(_m(self).user_model, user_id)

    async def amessages(self, user_id: str, session_id: str | None = None, limit: int | None = None) -> list[Message]:
        """Async :meth:`messages`."""
        return await asyncio.to_thread(_m(self).messages, user_id, session_id, limit)

    async def aexport(self, user_id: str) -> dict[str, Any]:
        """Async :meth:`export`."""
        return await asyncio.to_thread(_m(self).export, user_id)

    async def astats(self, user_id: str | None = None) -> dict[str, Any]:
        """Async :meth:`stats`."""
        return await asyncio.to_thread(_m(self).stats, user_id)

    async def aask(self, user_id: str, question: str, *, max_tokens: int | None = None) -> str:
        """Async :meth:`ask` (an async LLM is awaited in the running loop)."""
        llm, prompt, timeout = await asyncio.to_thread(_m(self)._ask_prompt, user_id, question, max_tokens)
        with calling(CallInfo.of("ask", user_id=user_id)):
            return await acall_llm(llm, prompt, timeout)

    async def aflush(self, user_id: str | None = None) -> None:
        """Async :meth:`flush` (an async LLM is awaited in the running loop)."""
        modeler = _m(self)
        uid = validate_user_id(user_id) if user_id is not None else None
        modeler._check_open()
        if modeler._deriver is not None:
            await modeler._deriver.aflush_quietly(uid)
        await asyncio.to_thread(modeler._backend.flush_quietly)

    async def aflush_writes(self) -> None:
        """Async :meth:`flush_writes`."""
        await asyncio.to_thread(_m(self).flush_writes)

    async def areembed(self, embedder: Any, *, batch: int = 256, progress: Progress | None = None) -> ReembedReport:
        """Async :meth:`reembed`."""
        return await asyncio.to_thread(_m(self).reembed, embedder, batch=batch, progress=progress)

    async def aretry_quarantined(self, user_id: str | None = None) -> int:
        """Async :meth:`retry_quarantined`."""
        return await asyncio.to_thread(_m(self).retry_quarantined, user_id)

    async def auser_ids(self) -> list[str]:
        """Async :meth:`user_ids`."""
        return await asyncio.to_thread(_m(self).user_ids)

    async def aretry_failed(self, user_id: str | None = None) -> int:
        """Async :meth:`retry_failed`."""
        return await asyncio.to_thread(_m(self).retry_failed, user_id)

    async def aclose(self) -> None:
        """Async :meth:`close` (also ends the async deriver task)."""
        modeler = _m(self)
        if modeler._deriver is not None and not modeler._closed:
            await modeler._deriver.aclose()
        await asyncio.to_thread(modeler.close)

    async def __aenter__(self: _M) -> _M:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await _m(self).aclose()
