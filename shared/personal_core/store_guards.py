"""Guards around the Chroma store: one open store per path, a shared/exclusive access lock, deadlines on
Chroma calls (a watchdog thread) and typed errors for what Chroma or the disk under it raise.

Imports nothing of chromadb (that stays in :mod:`.store`).
"""

from __future__ import annotations

import errno
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import (
    PersonalError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreUnavailableError,
)
from .locks import HeldLock, holder_pid, try_lock_directory

logger = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_FILE = ".personal.lock"


class ProcessLock:
    """An exclusive, non-blocking lock on the store directory and ``<path>/.personal.lock``: one open store per
    path, even if the lock file is deleted while the store is open."""

    _held: ClassVar[set[str]] = set()
    _guard = threading.Lock()

    def __init__(self, directory: Path) -> None:
        self.key = str(directory.resolve())
        with self._guard:
            if self.key in self._held:
                raise StoreLockedError(
                    f"the store at {directory} is already open in this process. Share that UserModeler (pass it "
                    "as modeler= to the integrations) or close() it before opening the path again."
                )
            self._handle = self._acquire(directory)
            self._held.add(self.key)
        self._released = False

    @staticmethod
    def _acquire(directory: Path) -> HeldLock:
        handle = try_lock_directory(directory, LOCK_FILE)
        if handle is None:
            owner = holder_pid(directory / LOCK_FILE)
            raise StoreLockedError(
                f"the store at {directory} is already open in another process (pid {owner}). "
                "Chroma's embedded mode is single-process: several writers corrupt its index. To share a store "
                f"between processes, run a server (`chroma run --path {directory} --host 127.0.0.1 --port 8000`) and "
                "pass client=chromadb.HttpClient(host='127.0.0.1', port=8000) instead of a path."
            )
        return handle

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with self._guard:
            self._held.discard(self.key)
            self._handle.close()  # closing the descriptors releases the flocks


class SharedLock:
    """Many holders of :meth:`shared` or one of :meth:`exclusive` (writer-preferring; the exclusive holder may
    also enter :meth:`shared`). Every Chroma call of a store is shared; an erasure's shard rebuild is exclusive.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writers_waiting = 0
        self._owner: int | None = None

    @contextmanager
    def shared(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            yield
            return
        with self._cond:
            while self._owner is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._owner == me:
            yield
            return
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._owner is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._owner = me
        try:
            yield
        finally:
            with self._cond:
                self._owner = None
                self._cond.notify_all()

    @contextmanager
    def exclusive_if_free(self) -> Iterator[bool]:
        """:meth:`exclusive` only if nobody holds or waits for the lock now: yields True while held, or False
        at once (holding nothing) instead of waiting for the others."""
        me = threading.get_ident()
        if self._owner == me:
            yield True
            return
        with self._cond:
            free = self._owner is None and not self._readers and not self._writers_waiting
            if free:
                self._owner = me
        if not free:
            yield False
            return
        try:
            yield True
        finally:
            with self._cond:
                self._owner = None
                self._cond.notify_all()


def typed_store_error(exc: BaseException, doing: str) -> StoreError:
    """A typed :class:`StoreError` for a failure of Chroma (or of the disk under it) while ``doing`` something."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    lowered = text.lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or any(
        s in lowered for s in ("disk is full", "no space left", "disk full", "database or disk is full")
    ):
        return StoreFullError(
            f"{doing} failed: the disk is full ({text}). Nothing journaled is lost: free some space and retry "
            "(pending writes are flushed again automatically)."
        )
    if isinstance(exc, PermissionError) or any(
        s in lowered for s in ("readonly", "read-only", "permission denied", "operation not permitted")
    ):
        return StoreReadOnlyError(
            f"{doing} failed: the store's files cannot be written ({text}). Check the folder's owner and "
            "permissions (and that its file system is mounted read-write), or open a writable copy."
        )
    if isinstance(exc, (ConnectionError, TimeoutError)) or _is_transport_error(exc) or "could not connect" in lowered:
        return StoreUnavailableError(
            f"{doing} failed: the Chroma server did not answer ({type(exc).__name__}: {text}). Check that it "
            "is running and reachable; journaled writes stay pending and are retried."
        )
    return StoreError(f"{doing} failed: {type(exc).__name__}: {text}")


def _is_transport_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a chromadb dependency
        return False
    return isinstance(exc, (httpx.TransportError, httpx.TimeoutException))


def call_with_deadline(fn: Callable[[], T], seconds: float, doing: str) -> T:
    """Run ``fn`` on a watchdog thread; its result, its failure typed, or :class:`StoreUnavailableError` when
    it has not returned after ``seconds`` (the thread is left to finish: a Python thread cannot be killed).

    chromadb's embedded writes can block forever (a full disk); a caller must not block with them.
    """
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=run, name="personal-chroma-call", daemon=True)
    worker.start()
    if not done.wait(seconds):
        raise StoreUnavailableError(
            f"{doing}: Chroma did not answer within {seconds:.0f}s (a stalled server, or a full or hung disk); "
            "journaled writes stay pending. Check the server or the disk, then retry."
        )
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    if isinstance(value, PersonalError) or not isinstance(value, Exception):
        raise value
    raise typed_store_error(value, doing) from value


def ensure_free_space(path: Path, records: Sequence[Any], min_free_bytes: int) -> None:
    """Raise :class:`StoreFullError` when the disk of ``path`` has less free space than ``min_free_bytes``, or
    than twice the estimated size of ``records`` (their documents and float32 embeddings, written three times:
    SQLite, its WAL, the index) if more. Unreadable free space is not an error (logged)."""
    estimate = sum(3 * (len(r.document.encode("utf-8", "surrogatepass")) + 4 * r.embedding.size) for r in records)
    need = max(min_free_bytes, 2 * estimate)
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        logger.debug("could not read the free space of %s: %s", path, exc)
        return
    if free < need:
        raise StoreFullError(
            f"only {free / 2**20:.1f} MB are free on the disk of {path}; writing to Chroma needs "
            f"{need / 2**20:.1f} MB (min_free_bytes). Nothing is lost: the writes stay in the journal and "
            "are flushed once space is freed."
        )
