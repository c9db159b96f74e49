"""The pin of a store (embedder, dimension, shards, schema) read without opening a ``UserModeler`` (for tools)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .store import CHROMA_SQLITE, ChromaStore, default_path


def read_pin(
    path: str | os.PathLike[str] | None = None, *, client: Any | None = None, namespace: str = "personal"
) -> dict[str, Any] | None:
    """The pin of the store at ``path`` (or behind ``client``) without opening a ``UserModeler``, or None.

    The pin is ``{"embedder", "dimension", "shards", "schema"}``. None when no store is there; a path with no
    Chroma store is not created. Raises :class:`StoreLockedError` if another process holds the embedded store.
    """
    if client is None:
        directory = Path(path) if path is not None else default_path()
        if not (directory / CHROMA_SQLITE).is_file():
            return None
        store = ChromaStore(directory, namespace=namespace)
    else:
        store = ChromaStore(client=client, namespace=namespace)
    try:
        return store.read_pin()
    finally:
        store.close()
