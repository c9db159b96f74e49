"""``PersonalRetriever``: a user's insights as LlamaIndex nodes, ranked for a query."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from personal_core import InsightKind, InvalidInputError, SearchHit, UserModeler, validate_user_id

from ._modelers import resolve_modeler
from .buffer import check_int, check_user_id

#: Node metadata keys hidden from the LLM and from embeddings (ids and bookkeeping).
_HIDDEN = ["user_id", "insight_id", "evidence", "source", "superseded_by", "valid_to", "times_seen"]


def insight_node(hit: SearchHit) -> NodeWithScore:
    """A search hit as ``NodeWithScore(TextNode)``: the insight text, its id, and its attributes as metadata."""
    insight = hit.insight
    metadata: dict[str, Any] = {
        "source": "personal",
        "user_id": insight.user_id,
        "insight_id": insight.id,
        "kind": insight.kind.value,
        "confidence": round(insight.confidence, 4),
        "level": insight.level.value,
        "times_seen": insight.times_seen,
        "valid_from": insight.valid_from.isoformat(),
        "valid_to": insight.valid_to.isoformat() if insight.valid_to else None,
        "superseded_by": insight.superseded_by,
        "evidence": list(insight.evidence),
    }
    node = TextNode(
        id_=insight.id,
        text=insight.text,
        metadata=metadata,
        excluded_llm_metadata_keys=list(_HIDDEN),
        excluded_embed_metadata_keys=list(metadata),
    )
    return NodeWithScore(node=node, score=hit.score)


class PersonalRetriever(BaseRetriever):
    """Retrieves what Personal knows about one user: their insights ranked for the query, best first.

    Each result is ``NodeWithScore(TextNode)``: the node's text is the insight ("Is vegetarian"), its id the
    insight id, its metadata ``kind``, ``confidence``, ``level``, ``times_seen``, ``valid_from``/``valid_to``,
    ``evidence`` (message ids) and ``user_id``. The score is Personal's fused relevance.

    Args:
        user_id: whose insights.
        modeler: the :class:`~personal_core.UserModeler`.
        similarity_top_k: how many insights (default 5).
        kinds: only these insight kinds (e.g. ``["preference", "goal"]``).
        include_superseded: also return insights the user has since contradicted.
    """

    def __init__(
        self,
        user_id: str,
        modeler: UserModeler,
        *,
        similarity_top_k: int = 5,
        kinds: Sequence[InsightKind | str] | None = None,
        include_superseded: bool = False,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self.user_id = check_user_id(user_id)
        if not isinstance(modeler, UserModeler):
            raise InvalidInputError(f"modeler must be a personal_core.UserModeler, got {type(modeler).__name__}")
        self.similarity_top_k = check_int("similarity_top_k", similarity_top_k, 1)
        if kinds is not None:
            if isinstance(kinds, (str, bytes)) or not isinstance(kinds, Sequence):
                raise InvalidInputError("kinds must be a list of insight kinds")
            try:
                self.kinds: list[InsightKind] | None = [InsightKind(k) for k in kinds]
            except ValueError as exc:
                raise InvalidInputError(f"unknown insight kind: {exc}") from None
        else:
            self.kinds = None
        if not isinstance(include_superseded, bool):
            raise InvalidInputError("include_superseded must be a bool")
        self.include_superseded = include_superseded
        validate_user_id(self.user_id)
        self._modeler = modeler
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_defaults(
        cls,
        user_id: str | None = None,
        modeler: UserModeler | None = None,
        path: str | os.PathLike[str] | None = None,
        embed_model: Any | None = None,
        **kwargs: Any,
    ) -> PersonalRetriever:
        """A retriever for ``user_id`` on ``modeler``, or on the process-wide modeler of ``path``."""
        return cls(check_user_id(user_id), resolve_modeler(modeler, path, None, embed_model), **kwargs)

    @property
    def modeler(self) -> UserModeler:
        """The :class:`~personal_core.UserModeler` behind this retriever."""
        return self._modeler

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._modeler.search(
            self.user_id,
            query_bundle.query_str,
            self.similarity_top_k,
            kinds=self.kinds,
            include_superseded=self.include_superseded,
        )
        return [insight_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self._modeler.asearch(
            self.user_id,
            query_bundle.query_str,
            self.similarity_top_k,
            kinds=self.kinds,
            include_superseded=self.include_superseded,
        )
        return [insight_node(hit) for hit in hits]
