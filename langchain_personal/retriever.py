"""``PersonalRetriever``: a user's insights as LangChain ``Document`` objects, for RAG chains."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

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


SEARCH_TYPES = ("similarity", "similarity_score_threshold")
SEARCH_KWARGS = ("k", "filter", "score_threshold")
_FILTER_HELP = 'filter selects insight kinds: {"kind": "preference"} or {"kind": ["goal", "preference"]}'


def _check_threshold(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"score_threshold must be a number, got {value!r}")
    return float(value)


def kinds_from_filter(where: object) -> list[str] | None:
    """The insight kinds a ``search_kwargs["filter"]`` selects (``{"kind": ...}``, also Chroma's ``$eq``/``$in``)."""
    if where is None:
        return None
    if not isinstance(where, Mapping) or set(where) != {"kind"}:
        raise InvalidInputError(f"unsupported filter {where!r}: {_FILTER_HELP}")
    value = where["kind"]
    if isinstance(value, Mapping):
        if len(value) != 1 or next(iter(value)) not in ("$eq", "$in"):
            raise InvalidInputError(f"unsupported filter {where!r}: {_FILTER_HELP} (or $eq / $in)")
        value = next(iter(value.values()))
    return _check_kinds(value)


def _from_search_kwargs(data: dict[str, Any]) -> None:
    """Check ``search_type``/``search_kwargs`` (as ``VectorStoreRetriever`` takes them) and fold them into
    ``k``/``kinds``/``score_threshold``; a value given both ways must agree."""
    search_type = data.setdefault("search_type", "similarity")
    if search_type not in SEARCH_TYPES:
        raise InvalidInputError(
            f"search_type {search_type!r} is not supported by PersonalRetriever; use one of {', '.join(SEARCH_TYPES)}"
        )
    given = data.get("search_kwargs")
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise InvalidInputError(f"search_kwargs must be a dict, got {type(given).__name__}")
    unknown = sorted(set(given) - set(SEARCH_KWARGS))
    if unknown:
        raise InvalidInputError(
            f"unsupported search_kwargs {unknown}: PersonalRetriever takes {', '.join(SEARCH_KWARGS)}"
        )
    data["search_kwargs"] = dict(given)
    folded = {
        "k": _check_k(given["k"]) if "k" in given else None,
        "kinds": kinds_from_filter(given["filter"]) if "filter" in given else None,
        "score_threshold": _check_threshold(given.get("score_threshold")),
    }
    for field, value in folded.items():
        if value is None:
            continue
        if data.get(field) is not None and data[field] != value:
            raise InvalidInputError(f"{field} is given twice with different values ({data[field]!r} and {value!r})")
        data[field] = value
    if search_type == "similarity_score_threshold" and data.get("score_threshold") is None:
        raise InvalidInputError('search_type "similarity_score_threshold" needs search_kwargs["score_threshold"]')


class PersonalRetriever(BaseRetriever):
    """Retrieves the insights of one user most relevant to the query (current ones unless told otherwise).

    The user is ``user_id`` when set, else ``config["configurable"]["user_id"]`` of each call, so one retriever can
    serve every user of a chain. ``k``, ``kinds``, ``score_threshold`` and ``user_id`` can also be passed per
    call: ``retriever.invoke("query", k=3)``. ``tags`` and ``metadata`` go to every run, as with any retriever.

    Args:
        modeler: the :class:`personal_core.UserModeler` (or pass ``memory=`` a ``PersonalMemory``).
        user_id: whose insights (default: from the run's config).
        k: how many documents at most (default 4).
        kinds: only insights of these kinds (``"preference"``, ``"goal"``, ...).
        score_threshold: only insights whose fused relevance score (``metadata["score"]``) is at least this.
        include_superseded: also return insights the user has since changed their mind about.
        search_type: ``"similarity"`` (default) or ``"similarity_score_threshold"`` (needs ``score_threshold``),
            as for LangChain's vector-store retrievers; others (``"mmr"``) raise :class:`InvalidInputError`.
        search_kwargs: the vector-store way to say the same: ``{"k": 2, "filter": {"kind": "preference"},
            "score_threshold": 0.3}`` (``filter`` selects kinds: ``{"kind": [...]}``, Chroma's ``$eq``/``$in``
            too). Other keys raise :class:`InvalidInputError`.
    """

    modeler: UserModeler
    user_id: str | None = None
    k: int = Field(default=4)
    kinds: list[str] | None = None
    score_threshold: float | None = None
    include_superseded: bool = False
    search_type: Literal["similarity", "similarity_score_threshold"] = "similarity"
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

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
        if data.get("k") is None:
            data.pop("k", None)
        else:
            _check_k(data["k"])
        if "kinds" in data:
            data["kinds"] = _check_kinds(data["kinds"])
        data["score_threshold"] = _check_threshold(data.get("score_threshold"))
        _from_search_kwargs(data)
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

    def _documents(self, hits: Sequence[SearchHit], score_threshold: object) -> list[Document]:
        threshold = self.score_threshold if score_threshold is None else _check_threshold(score_threshold)
        return [hit_to_document(hit) for hit in hits if threshold is None or hit.score >= threshold]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Document]:
        text, uid, count, wanted = self._search_args(query, user_id, k, kinds)
        hits = self.modeler.search(uid, text, count, kinds=wanted, include_superseded=self.include_superseded)
        return self._documents(hits, score_threshold)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        user_id: str | None = None,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[Document]:
        text, uid, count, wanted = self._search_args(query, user_id, k, kinds)
        hits = await self.modeler.asearch(uid, text, count, kinds=wanted, include_superseded=self.include_superseded)
        return self._documents(hits, score_threshold)
