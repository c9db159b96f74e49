"""``PersonalRetriever``: a user's insights as LangChain ``Document`` objects, for RAG chains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import Field

from personal_core import InsightKind, InvalidInputError, SearchHit, UserModeler

from ._messages import check_id, resolve_modeler, user_id_from


def hit_to_document(hit: SearchHit) -> Document:
    """A ``Document`` for an insight: its text, with id, kind, confidence, evidence and validity in metadata."""
    insight = hit.insight
    return Document(
        id=insight.id,
        page_content=insight.text,
        metadata={
            "id": insight.id,
            "user_id": insight.user_id,
            "kind": insight.kind.value,
            "confidence": insight.confidence,
            "level": insight.level.value,
            "evidence": list(insight.evidence),
            "times_seen": insight.times_seen,
            "valid_from": insight.valid_from.isoformat(),
            "valid_to": insight.valid_to.isoformat() if insight.valid_to is not None else None,
            "score": hit.score,
        },
    )


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InvalidInputError(f"k must be a non-negative int, got {k!r}")
    return k


def _check_kinds(kinds: object) -> list[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, (str, InsightKind)):
        kinds = [kinds]
    if not isinstance(kinds, Sequence):
        raise InvalidInputError(f"kinds must be a list of insight kinds, got {type(kinds).__name__}")
    try:
        return [InsightKind(kind).value for kind in kinds]
    except ValueError as exc:
        known = ", ".join(k.value for k in InsightKind)
        raise InvalidInputError(f"unknown insight kind ({exc}); kinds are: {known}") from None


class PersonalRetriever(BaseRetriever):
    """Retrieves the insights of one user most relevant to the query (current ones unless told otherwise).

    The user is ``user_id`` when set, else ``config["configurable"]["user_id"]`` of each call, so one retriever can
    serve every user of a chain. ``k``, ``kinds`` and ``user_id`` can also be passed per call:
    ``retriever.invoke("query", k=3)``.

    Args:
        modeler: the :class:`personal_core.UserModeler` (or pass ``memory=`` a ``PersonalMemory``).
        user_id: whose insights (default: from the run's config).
        k: how many documents at most.
        kinds: only insights of these kinds (``"preference"``, ``"goal"``, ...).
        include_superseded: also return insights the user has since changed their mind about.
    """

    modeler: UserModeler
    user_id: str | None = None
    k: int = Field(default=4)
    kinds: list[str] | None = None
    include_superseded: bool = False

    def __init__(self, **data: Any) -> None:
        memory = data.pop("memory", None)
        if memory is not None:
            if data.get("modeler") is not None:
                raise InvalidInputError("pass memory= or modeler=, not both")
            data["modeler"] = resolve_modeler(memory, "PersonalRetriever")
        elif "modeler" in data:
            data["modeler"] = resolve_modeler(data["modeler"], "PersonalRetriever")
        else:
            raise InvalidInputError("PersonalRetriever needs modeler= (a UserModeler) or memory= (a PersonalMemory)")
        if data.get("user_id") is not None:
            check_id(data["user_id"], "user_id")
        if "k" in data:
            _check_k(data["k"])
        if "kinds" in data:
            data["kinds"] = _check_kinds(data["kinds"])
        super().__init__(**data)

    def _call_kwargs(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.get("user_id") is None and self.user_id is None:
            configurable = (config or {}).get("configurable") or {}
            kwargs = {**kwargs, "user_id": user_id_from(None, configurable, "PersonalRetriever", runtime_context=False)}
        return kwargs

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Documents for ``input`` (see the class docs for ``k``, ``kinds`` and ``user_id``)."""
        return super().invoke(input, config, **self._call_kwargs(config, kwargs))

    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Async :meth:`invoke`."""
        return await super().ainvoke(input, config, **self._call_kwargs(config, kwargs))

    def _search_args(
        self, query: object, user_id: str | None, k: int | None, kinds: object
    ) -> tuple[str, str, int, list[str] | None]:
        if not isinstance(query, str):
            raise InvalidInputError(f"the query must be a str, got {type(query).__name__}")
        uid = check_id(user_id if user_id is not None else self.user_id, "user_id")
        return query, uid, _check_k(self.k if k is None else k), self.kinds if kinds is None else _check_kinds(kinds)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[Document]:
        text, uid, count, wanted = self._search_args(query, user_id, k, kinds)
        hits = self.modeler.search(uid, text, count, kinds=wanted, include_superseded=self.include_superseded)
        return [hit_to_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[Document]:
        text, uid, count, wanted = self._search_args(query, user_id, k, kinds)
        hits = await self.modeler.asearch(uid, text, count, kinds=wanted, include_superseded=self.include_superseded)
        return [hit_to_document(hit) for hit in hits]
