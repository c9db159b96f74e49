"""Chroma clients: where embedded stores live by default, ``http_client`` with deadlines, dropping chromadb's
per-path cache, and Chroma's default embedding function when its model is already on disk (never downloaded).

With :mod:`.store`, the only modules that import chromadb.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .errors import (
    StoreUnavailableError,
)
from .store_guards import call_with_deadline

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 30.0  # read/write/pool timeout of http_client's requests
HTTP_CONNECT_TIMEOUT = 5.0


def personal_home() -> Path:
    """Personal's own folder: ``$PERSONAL_HOME`` or ``~/.personal``."""
    home = os.environ.get("PERSONAL_HOME")
    return Path(home) if home else Path.home() / ".personal"


def default_path() -> Path:
    """Where an embedded store lives when no path is given: ``<personal_home>/store``."""
    return personal_home() / "store"


def _chroma() -> Any:
    import chromadb

    return chromadb


def forget_cached_system(path: str) -> None:
    """Drop chromadb's process-wide cached ``System`` for the persist directory ``path`` if no client uses it.

    chromadb (1.5.9) keeps one System per path in ``SharedSystemClient._identifier_to_system``: a client made
    later for the same path reuses it, with its in-memory view of the files, even after they changed on disk.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient as Shared
    except ImportError:  # pragma: no cover - a chromadb release that moved it
        return
    with Shared._refcount_lock:
        held = Shared._identifier_to_refcount.get(path, 0)
        system = None if held > 0 else Shared._identifier_to_system.pop(path, None)
    if held > 0:
        logger.warning("another Chroma client of this process still uses %s: it keeps chromadb's cached view", path)
    elif system is not None:
        try:
            system.stop()
        except Exception as exc:  # noqa: BLE001 - already stopped
            logger.debug("stopping chromadb's cached system for %s: %s", path, exc)


def _no_telemetry() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def http_client(
    host: str,
    port: int,
    *,
    timeout: float = HTTP_TIMEOUT,
    connect_timeout: float = HTTP_CONNECT_TIMEOUT,
    ssl: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    """A ``chromadb.HttpClient`` for a Chroma server, with telemetry off and deadlines on every request.

    ``connect_timeout`` bounds connecting, ``timeout`` each read/write (Chroma's own client waits forever).
    Raises :class:`StoreUnavailableError` when the server is down or does not answer in time.
    """
    import httpx

    limits = httpx.Timeout(timeout, connect=connect_timeout)
    where = f"{'https' if ssl else 'http'}://{host}:{port}"
    try:  # a cheap probe with deadlines first: Chroma's constructor itself makes requests without any
        httpx.get(f"{where}/api/v2/heartbeat", timeout=limits, headers=headers).raise_for_status()
    except Exception as exc:
        raise StoreUnavailableError(
            f"no Chroma server answers at {where} ({type(exc).__name__}: {exc}). Start it with "
            f"`chroma run --path DIR --host {host} --port {port}`, or check the address."
        ) from exc

    def connect() -> Any:
        return _chroma().HttpClient(host=host, port=port, ssl=ssl, headers=headers, settings=_no_telemetry())

    client = call_with_deadline(connect, connect_timeout + 2 * timeout, f"connecting to the Chroma server at {where}")
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = limits
    else:  # pragma: no cover - a chromadb release that moved its session
        logger.warning("could not set request timeouts on chromadb's HTTP client; calls are bounded by a watchdog")
    return client


CHROMA_DEFAULT_EMBEDDER = "chroma:default:all-MiniLM-L6-v2"


def chroma_default_embedding_function() -> Any | None:
    """Chroma's default embedding model if its files are already on disk, else None (never downloads)."""
    try:
        from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2
    except Exception:  # noqa: BLE001 - optional runtime pieces (onnxruntime, tokenizers) may be missing
        return None
    folder = Path(ONNXMiniLM_L6_V2.DOWNLOAD_PATH) / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME
    if not ((folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()):
        return None
    try:
        return ONNXMiniLM_L6_V2()
    except Exception as exc:  # noqa: BLE001
        logger.warning("Chroma's default embedding model is on disk but failed to load: %s", exc)
        return None
