"""The services behind a :class:`~personal_core.modeler.UserModeler`, built and wired in one place.

:func:`build_services` opens the storage stack (:class:`~.backend.Backend`) and connects the user cache, the
write path (:class:`~.ingest.Ingest`) and, in LLM mode, the deriver. The reasoner decides once, here, whether
derivation runs inside ``observe`` (the heuristic one, or yours) or from the durable queue (an LLM).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .backend import Backend
from .cache import UserCache
from .deriver import Deriver
from .errors import InvalidInputError
from .heuristic import HeuristicReasoner
from .ingest import Ingest
from .journal import Flusher, Journal
from .queue import DeriveQueue
from .reasoner import LLMReasoner
from .settings import Settings
from .store import ChromaStore
from .tokens import TokenCounter
from .update import Reasoner


@dataclass(frozen=True)
class Internals:
    """The services behind a :class:`~personal_core.UserModeler` (its ``internals``), for tests, benchmarks and
    tools. Not a stable API."""

    backend: Backend
    store: ChromaStore
    journal: Journal
    queue: DeriveQueue
    flusher: Flusher
    cache: UserCache
    ingest: Ingest
    deriver: Deriver | None


def choose_reasoner(llm: Any | None, reasoner: Any | None, timeout: float) -> Reasoner | LLMReasoner:
    """The reasoner for ``llm=`` / ``reasoner=`` (the offline heuristic one when neither is given)."""
    if llm is not None and reasoner is not None:
        raise InvalidInputError("pass llm= or reasoner=, not both")
    if llm is not None:
        return LLMReasoner(llm, timeout=timeout)
    chosen = reasoner if reasoner is not None else HeuristicReasoner()
    if not isinstance(chosen, (LLMReasoner, Reasoner)):
        raise InvalidInputError("reasoner must be an LLMReasoner or have a derive(messages) -> ModelUpdate method")
    return chosen


def build_services(
    path: str | os.PathLike[str] | None,
    *,
    client: Any | None,
    embedder: Any | None,
    settings: Settings,
    reasoner: Reasoner | LLMReasoner,
    counter: TokenCounter,
) -> Internals:
    """Open the store and wire the services (the background workers are started)."""
    backend = Backend.open(
        path,
        client=client,
        namespace=settings.namespace,
        embedder=embedder,
        shards=settings.shards,
        journal_path=settings.journal_path,
        flush_interval=settings.flush_interval,
    )
    cache = UserCache(
        backend.store,
        backend.journal,
        dimension=backend.embedder.dimension,
        capacity=settings.cache_users,
        refresh_after=settings.refresh_after,
    )
    llm_reasoner = reasoner if isinstance(reasoner, LLMReasoner) else None
    ingest = Ingest(
        journal=backend.journal,
        queue=backend.queue,
        cache=cache,
        embedder=backend.embedder,
        counter=counter,
        inline=None if llm_reasoner is not None else reasoner,  # type: ignore[arg-type]
        fresh_profile=settings.refresh_after is not None,
    )
    deriver = None
    if llm_reasoner is not None:
        deriver = Deriver(
            backend.queue,
            llm_reasoner,
            counter,
            cache=cache,
            ingest=ingest,
            embedder=backend.embedder,
            settings=settings.deriver,
            inline=settings.inline,
            background=settings.background,
        )
        deriver.start_background()
    return Internals(backend, backend.store, backend.journal, backend.queue, backend.flusher, cache, ingest, deriver)
