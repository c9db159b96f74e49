"""``PersonalMemory``: the one object a LangChain app adds to get a per-user theory-of-mind model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import Embeddings

from personal_core import Insight, InsightKind, InvalidInputError, UserModeler

from ._embeddings import LangChainEmbedder
from ._llm import adapt_llm
from ._messages import DEFAULT_SESSION
from .history import PersonalChatMessageHistory
from .middleware import PersonalMiddleware
from .retriever import PersonalRetriever
from .tool import DEFAULT_DESCRIPTION, PersonalAskTool
from .wrap import PersonalRunnable


class PersonalMemory:
    """Personal for LangChain: chains with history, retrievers and agent middleware over one user model store.

    Args:
        modeler: an existing :class:`personal_core.UserModeler` (then pass none of the options below).
        path: directory of an embedded store (default ``$PERSONAL_HOME`` or ``~/.personal/store``).
        client: any Chroma client instead of a path (``chromadb.HttpClient`` to share a store between processes).
        llm: the theory-of-mind reasoner's LLM: any LangChain ``BaseChatModel`` (adapted with
            :class:`~langchain_personal.ChatModelLLM`, structured output where the model supports it) or a core
            LLM callable such as :class:`~langchain_personal.AsyncChatModelLLM`. Without it the offline heuristic
            reasoner is used.
        reasoner_callbacks: LangChain callback handlers for the reasoner's own LLM calls (runs named
            ``personal.derive`` / ``personal.ask``). Those calls never reach the app's callbacks: only these.
        embeddings: any LangChain ``Embeddings`` (adapted with :class:`~langchain_personal.LangChainEmbedder`).
        **options: any other :class:`personal_core.UserModeler` argument (``embedder``, ``token_counter``,
            ``default_max_tokens``, ``inline``, ``batch_tokens``, ...).

    A ``PersonalMemory`` that built its modeler closes it in :meth:`close` (or ``with``); one given a modeler
    leaves it to its owner.
    """

    def __init__(
        self,
        modeler: UserModeler | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        client: Any | None = None,
        llm: Any | None = None,
        reasoner_callbacks: Sequence[BaseCallbackHandler] | None = None,
        embeddings: Embeddings | None = None,
        **options: Any,
    ) -> None:
        if modeler is not None:
            if not isinstance(modeler, UserModeler):
                raise InvalidInputError(f"modeler must be a personal_core.UserModeler, got {type(modeler).__name__}")
            given = [
                name
                for name, value in (
                    ("path", path),
                    ("client", client),
                    ("llm", llm),
                    ("reasoner_callbacks", reasoner_callbacks),
                    ("embeddings", embeddings),
                )
                if value is not None
            ]
            if given or options:
                raise InvalidInputError(
                    f"pass modeler= or the options to build one, not both (got {', '.join(given + sorted(options))})"
                )
            self.modeler = modeler
            self._owns_modeler = False
            return
        if embeddings is not None:
            if options.get("embedder") is not None:
                raise InvalidInputError("pass embeddings= (LangChain) or embedder= (Personal), not both")
            options["embedder"] = LangChainEmbedder(embeddings)
        if llm is not None:
            options["llm"] = adapt_llm(llm, callbacks=reasoner_callbacks)
        elif reasoner_callbacks is not None:
            raise InvalidInputError("reasoner_callbacks need an llm= (the heuristic reasoner makes no LLM calls)")
        self.modeler = UserModeler(path, client=client, **options)
        self._owns_modeler = True

    def __repr__(self) -> str:
        return f"PersonalMemory({self.modeler.embedder.name}, reasoner={self.modeler.reasoner.name})"

    # ------------------------------------------------------------------ surfaces
    def history(
        self, user_id: str, session_id: str = DEFAULT_SESSION, *, limit: int | None = None
    ) -> PersonalChatMessageHistory:
        """The chat message history of one user's session (see :class:`PersonalChatMessageHistory`)."""
        return PersonalChatMessageHistory(self.modeler, user_id, session_id, limit=limit)

    def wrap(
        self,
        runnable: Any,
        *,
        input_messages_key: str | None = None,
        history_messages_key: str | None = None,
        output_messages_key: str | None = None,
        context_key: str = "user_context",
        max_tokens: int | None = None,
        history_limit: int | None = None,
    ) -> PersonalRunnable:
        """``runnable`` with per-user history and context (see :class:`PersonalRunnable`).

        Call it with ``config={"configurable": {"user_id": ..., "session_id": ...}}``. For a prompt such as
        ``ChatPromptTemplate([("system", "...{user_context}"), MessagesPlaceholder("history"), ("human",
        "{question}")])`` use ``input_messages_key="question", history_messages_key="history"``.

        Args:
            runnable: the chain to wrap (a ``Runnable``, or a callable LangChain can coerce).
            input_messages_key: the input dict's key of the current input (needed for dict input).
            history_messages_key: the key under which the history goes (default: prepended to the input messages).
            output_messages_key: the output dict's key of the reply (for dict output).
            context_key: the input key that receives the user's context text.
            max_tokens: the context budget (default: the modeler's).
            history_limit: load only the last ``history_limit`` messages of the session.
        """
        return PersonalRunnable(
            self.modeler,
            runnable,
            input_messages_key=input_messages_key,
            history_messages_key=history_messages_key,
            output_messages_key=output_messages_key,
            context_key=context_key,
            max_tokens=max_tokens,
            history_limit=history_limit,
        )

    def as_retriever(
        self,
        user_id: str | None = None,
        *,
        k: int | None = None,
        kinds: Sequence[InsightKind | str] | None = None,
        include_superseded: bool = False,
        search_type: str = "similarity",
        search_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PersonalRetriever:
        """A retriever of the user's insights as ``Document`` objects (see :class:`PersonalRetriever`).

        Without ``user_id`` each call takes it from ``config["configurable"]["user_id"]``. ``search_type`` and
        ``search_kwargs`` (``k``, ``filter`` by kind, ``score_threshold``) work as for a vector store's
        ``as_retriever``; ``k`` defaults to 4.
        """
        return PersonalRetriever(
            modeler=self.modeler,
            user_id=user_id,
            k=k,
            kinds=kinds,
            include_superseded=include_superseded,
            search_type=search_type,
            search_kwargs=search_kwargs,
            **kwargs,
        )

    def middleware(self, *, max_tokens: int | None = None, record: bool = True) -> PersonalMiddleware:
        """Agent middleware for ``create_agent(..., middleware=[memory.middleware()])`` (see
        :class:`PersonalMiddleware`)."""
        return PersonalMiddleware(self.modeler, max_tokens=max_tokens, record=record)

    def as_tool(
        self,
        user_id: str | None = None,
        *,
        name: str = "ask_about_user",
        description: str = DEFAULT_DESCRIPTION,
        max_tokens: int | None = None,
    ) -> PersonalAskTool:
        """A tool with which an agent asks the user model a question (see :class:`PersonalAskTool`)."""
        return PersonalAskTool(
            modeler=self.modeler, user_id=user_id, name=name, description=description, max_tokens=max_tokens
        )

    # ------------------------------------------------------------------ corrections (see UserModeler)
    def retract(self, user_id: str, insight_id: str, reason: str | None = None) -> Insight:
        """Mark an insight wrong: kept in history, gone from context and card, never derived again from the same
        message (``UserModeler.retract``)."""
        return self.modeler.retract(user_id, insight_id, reason)

    async def aretract(self, user_id: str, insight_id: str, reason: str | None = None) -> Insight:
        """Async :meth:`retract`."""
        return await self.modeler.aretract(user_id, insight_id, reason)

    def correct(
        self,
        user_id: str,
        insight_id: str,
        text: str,
        *,
        kind: InsightKind | str | None = None,
        confidence: float | None = None,
    ) -> Insight:
        """Replace an insight with a corrected one, history kept (``UserModeler.correct``)."""
        return self.modeler.correct(user_id, insight_id, text, kind=kind, confidence=confidence)

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
        return await self.modeler.acorrect(user_id, insight_id, text, kind=kind, confidence=confidence)

    def set_card(self, user_id: str, lines: Sequence[str]) -> list[str]:
        """Replace the user's card, each line through the card guard (``UserModeler.set_card``)."""
        return self.modeler.set_card(user_id, lines)

    async def aset_card(self, user_id: str, lines: Sequence[str]) -> list[str]:
        """Async :meth:`set_card`."""
        return await self.modeler.aset_card(user_id, lines)

    # ------------------------------------------------------------------ lifecycle
    def flush(self, user_id: str | None = None) -> None:
        """Derive pending messages now and write through to Chroma (see ``UserModeler.flush``)."""
        self.modeler.flush(user_id)

    async def aflush(self, user_id: str | None = None) -> None:
        """Async :meth:`flush`."""
        await self.modeler.aflush(user_id)

    def close(self) -> None:
        """Close the modeler if this object built it."""
        if self._owns_modeler:
            self.modeler.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        if self._owns_modeler:
            await self.modeler.aclose()

    def __enter__(self) -> PersonalMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> PersonalMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
