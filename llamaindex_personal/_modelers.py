"""Which :class:`UserModeler` a memory object talks to: the one you pass, or one shared per store path.

An embedded store belongs to one ``UserModeler`` per process (a second one on the same path gets
``StoreLockedError``), so ``from_defaults(user_id, path=...)`` for several users must share one. Modelers
opened here are kept per path, reused by later ``from_defaults`` calls for that path, and closed at exit (or
by :func:`close_shared_modelers`).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms.llm import LLM

from personal_core import InvalidInputError, UserModeler

from ._embeddings import as_embedder
from ._llm import as_reasoner_llm

logger = logging.getLogger(__name__)


@dataclass
class _Shared:
    modeler: UserModeler
    llm: Any
    embed_model: Any


_LOCK = threading.Lock()
_SHARED: dict[str, _Shared] = {}


def _key(path: str | os.PathLike[str] | None) -> str:
    if path is None:
        return "default:" + os.environ.get("PERSONAL_HOME", "")
    return "path:" + str(Path(path).expanduser().resolve())


def _is_closed(modeler: UserModeler) -> bool:
    return modeler.closed


def _check(llm: Any, embed_model: Any) -> None:
    if llm is not None and not (isinstance(llm, LLM) or callable(llm)):
        raise InvalidInputError(
            f"llm must be a llama_index LLM or a callable taking [{{'role', 'content'}}, ...], got {type(llm).__name__}"
        )
    if embed_model is not None and not isinstance(embed_model, BaseEmbedding):
        raise InvalidInputError(f"embed_model must be a llama_index BaseEmbedding, got {type(embed_model).__name__}")


def _open(path: str | os.PathLike[str] | None, llm: Any, embed_model: Any) -> UserModeler:
    reasoner_llm = as_reasoner_llm(llm) if isinstance(llm, LLM) else llm  # a plain callable is used as is
    embedder = as_embedder(embed_model) if embed_model is not None else None
    return UserModeler(path, llm=reasoner_llm, embedder=embedder)


def resolve_modeler(
    modeler: Any = None,
    path: str | os.PathLike[str] | None = None,
    llm: Any = None,
    embed_model: Any = None,
) -> UserModeler:
    """``modeler`` itself, or the process-wide modeler of ``path`` (opened on first use with ``llm``/``embed_model``).

    Raises :class:`InvalidInputError` for wrong types, for ``modeler`` together with the others, and when the
    path's shared modeler was opened with a different ``llm`` or ``embed_model``.
    """
    if modeler is not None:
        if not isinstance(modeler, UserModeler):
            raise InvalidInputError(f"modeler must be a personal_core.UserModeler, got {type(modeler).__name__}")
        if path is not None or llm is not None or embed_model is not None:
            raise InvalidInputError("pass modeler=, or path=/llm=/embed_model= to open one, not both")
        return modeler
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    _check(llm, embed_model)
    key = _key(path)
    with _LOCK:
        shared = _SHARED.get(key)
        if shared is not None and not _is_closed(shared.modeler):
            for label, given, used in (("llm", llm, shared.llm), ("embed_model", embed_model, shared.embed_model)):
                if given is not None and given is not used:
                    raise InvalidInputError(
                        f"a UserModeler is already open for this store with another {label}; create one "
                        f"UserModeler(...) and pass modeler= to every memory object instead"
                    )
            return shared.modeler
        opened = _open(path, llm, embed_model)
        _SHARED[key] = _Shared(opened, llm, embed_model)
        return opened


def close_shared_modelers() -> None:
    """Close every modeler ``from_defaults(path=...)`` opened (also runs at interpreter exit)."""
    with _LOCK:
        shared = list(_SHARED.values())
        _SHARED.clear()
    for entry in shared:
        try:
            entry.modeler.close()
        except Exception:  # closing the others matters more
            logger.warning("could not close a shared UserModeler", exc_info=True)


atexit.register(close_shared_modelers)
