"""The Chroma store: the only module that imports chromadb.

Layout (chosen by measurement, see ``benchmarks/layout.py``): a user's records live in one of ``shards``
collections picked by a hash of the user id, so loading a user is one metadata-filtered ``get`` on a
collection ``1/shards`` the size of the whole store. A ``<namespace>-meta`` collection pins the embedder
name, its dimension and the shard count. Embeddings are always computed by Personal and passed in, so
Chroma never loads or downloads an embedding model.

Embedded mode (a path) is single-process: a lock file makes a second process fail fast with
:class:`StoreLockedError`. For several processes run ``chroma run --path DIR`` and pass an ``HttpClient``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from .errors import EmbedderMismatchError, InvalidInputError, StoreError, StoreLockedError
from .locks import holder_pid, try_lock
from .records import Record

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_SHARDS = 32
LOCK_FILE = ".personal.lock"
CHROMA_SQLITE = "chroma.sqlite3"  # Chroma's SQLite file inside a persistent directory


def personal_home() -> Path:
    """Personal's own folder: ``$PERSONAL_HOME`` or ``~/.personal``."""
    home = os.environ.get("PERSONAL_HOME")
    return Path(home) if home else Path.home() / ".personal"


def default_path() -> Path:
    """Where an embedded store lives when no path is given: ``<personal_home>/store``."""
    return personal_home() / "store"


class _ProcessLock:
    """An exclusive, non-blocking advisory lock on ``<path>/.personal.lock``: one open store per path."""

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
    def _acquire(directory: Path) -> IO[str]:
        handle = try_lock(directory / LOCK_FILE)
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
            self._handle.close()  # closing the descriptor releases the flock


class _SharedLock:
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


def _chroma() -> Any:
    import chromadb

    return chromadb


def _no_telemetry() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def http_client(host: str, port: int) -> Any:
    """A ``chromadb.HttpClient`` for a Chroma server, with telemetry off."""
    return _chroma().HttpClient(host=host, port=port, settings=_no_telemetry())


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


class ChromaStore:
    """Durable storage of user records in Chroma (embedded ``PersistentClient`` or any client).

    Args:
        path: directory of an embedded store (default :func:`default_path`). Ignored when ``client`` is given.
        client: any Chroma client (``HttpClient``, ``CloudClient``, or your own ``PersistentClient``).
        namespace: prefix of the collections, so several models can share one Chroma database.

    Call :meth:`ensure_pin` with the embedder before reading or writing records.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        client: Any | None = None,
        namespace: str = "personal",
    ) -> None:
        if not isinstance(namespace, str) or not namespace.replace("-", "").replace("_", "").isalnum():
            raise InvalidInputError("namespace must be a short alphanumeric string (dashes/underscores allowed)")
        self._lock: _ProcessLock | None = None
        self.path: Path | None = None
        if client is None:
            self.path = Path(path) if path is not None else default_path()
            self._lock = _ProcessLock(self.path)
            try:
                client = _chroma().PersistentClient(path=str(self.path), settings=_no_telemetry())
            except Exception as exc:
                self._lock.release()
                raise StoreError(f"cannot open the Chroma store at {self.path}: {exc}") from exc
        else:
            persist = self._persist_directory(client)
            if persist is not None:
                self.path = persist
                self._lock = _ProcessLock(persist)
        self._client = client
        self.namespace = namespace
        self._collections: dict[int, Any] = {}
        self._collections_lock = threading.Lock()
        self._access = _SharedLock()
        self.scrub_on_close = False  # set by an erasure: zero the HNSW files' unused capacity again on close
        self.shards = DEFAULT_SHARDS
        self.embedder_name = ""
        self.dimension = 0

    @staticmethod
    def _persist_directory(client: Any) -> Path | None:
        try:
            settings = client.get_settings()
        except Exception:  # noqa: BLE001 - not every client exposes settings
            return None
        if getattr(settings, "is_persistent", False) and getattr(settings, "persist_directory", None):
            return Path(settings.persist_directory)
        return None

    @property
    def embedded(self) -> bool:
        """True when the store is a local directory (single-process)."""
        return self.path is not None

    @property
    def client(self) -> Any:
        return self._client

    def identity(self) -> str:
        """A stable description of where the data lives (server address, tenant, database, namespace)."""
        if self.path is not None:
            return f"path:{self.path.resolve()}|{self.namespace}"
        try:
            settings = self._client.get_settings()
            where = f"{settings.chroma_server_host}:{settings.chroma_server_http_port}"
        except Exception:  # noqa: BLE001 - clients without settings
            where = type(self._client).__name__
        tenant = getattr(self._client, "tenant", "")
        database = getattr(self._client, "database", "")
        return f"server:{where}|{tenant}|{database}|{self.namespace}"

    def read_pin(self) -> dict[str, Any] | None:
        """The pin of an existing store (``{"embedder", "dimension", "shards", "schema"}``), or None if new."""
        try:
            collection = self._client.get_collection(f"{self.namespace}-meta", embedding_function=None)
        except Exception:  # noqa: BLE001 - "does not exist" differs across Chroma versions
            return None
        return dict(collection.metadata or {})

    def ensure_pin(self, embedder_name: str, dimension: int, shards: int | None = None) -> None:
        """Pin the embedder (and shard count) on a new store; on an existing one check they match.

        Raises :class:`EmbedderMismatchError` when the store was created with another embedder.
        """
        if shards is not None and (not isinstance(shards, int) or not 1 <= shards <= 1024):
            raise InvalidInputError("shards must be an int between 1 and 1024")
        meta_name = f"{self.namespace}-meta"
        wanted = {
            "embedder": embedder_name,
            "dimension": dimension,
            "shards": shards or DEFAULT_SHARDS,
            "schema": SCHEMA_VERSION,
        }
        try:
            collection = self._client.get_or_create_collection(meta_name, metadata=wanted, embedding_function=None)
        except Exception as exc:
            raise StoreError(f"cannot open Chroma collection {meta_name!r}: {exc}") from exc
        pinned = collection.metadata or {}
        if pinned.get("embedder") != embedder_name or int(pinned.get("dimension", -1)) != dimension:
            raise EmbedderMismatchError(
                f"this store was created with embedder {pinned.get('embedder')!r} "
                f"(dimension {pinned.get('dimension')}), not {embedder_name!r} (dimension {dimension}). "
                "Pass the same embedder, or use a new path/namespace for a different one."
            )
        if int(pinned.get("schema", SCHEMA_VERSION)) > SCHEMA_VERSION:
            raise StoreError(f"store schema {pinned.get('schema')} is newer than this library ({SCHEMA_VERSION})")
        self.shards = int(pinned.get("shards", DEFAULT_SHARDS))
        self.embedder_name = embedder_name
        self.dimension = dimension

    def shard_of(self, user_id: str) -> int:
        """The shard holding ``user_id``'s records (stable across processes and versions)."""
        digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.shards

    def _collection(self, shard: int) -> Any:
        collection = self._collections.get(shard)
        if collection is None:
            with self._collections_lock:
                collection = self._collections.get(shard)
                if collection is None:
                    collection = self._client.get_or_create_collection(
                        f"{self.namespace}-shard-{shard:04d}",
                        metadata={"hnsw:space": "cosine"},
                        embedding_function=None,
                    )
                    self._collections[shard] = collection
        return collection

    def load_user(self, user_id: str) -> list[Record]:
        """Every record of ``user_id`` (one filtered ``get`` on the user's shard)."""
        got: Any = None
        for attempt, delay in enumerate((0.05, 0.2, 0.5, None)):
            try:
                with self._access.shared():
                    got = self._collection(self.shard_of(user_id)).get(
                        where={"user_id": user_id}, include=["documents", "metadatas", "embeddings"]
                    )
                break
            except Exception as exc:
                # A Chroma server occasionally answers "Error creating hnsw segment reader: Nothing found on
                # disk" for a moment (seen with chromadb 1.5.9 under write load): transient, so retry.
                if delay is None:
                    raise StoreError(f"loading a user from Chroma failed after {attempt + 1} tries: {exc}") from exc
                logger.warning("loading a user from Chroma failed (retrying in %.2fs): %s", delay, exc)
                time.sleep(delay)
        # defence in depth: never hand out another user's record
        return [r for r in self._records(got) if r.metadata.get("user_id") == user_id]

    def _records(self, got: Any) -> list[Record]:
        """Records from a Chroma ``get`` result (documents, metadatas, embeddings included)."""
        embeddings = got.get("embeddings")
        records: list[Record] = []
        for i, record_id in enumerate(got["ids"]):
            metadata = dict(got["metadatas"][i] or {})
            vector = np.asarray(embeddings[i], dtype=np.float32) if embeddings is not None else None
            records.append(
                Record(
                    id=record_id,
                    user_id=str(metadata.get("user_id", "")),
                    type=str(metadata.get("type", "")),
                    document=got["documents"][i] or "",
                    metadata=metadata,
                    embedding=vector if vector is not None else np.zeros(self.dimension, dtype=np.float32),
                )
            )
        return records

    def apply(self, upserts: Sequence[Record], deletes: Iterable[tuple[str, str]] = ()) -> None:
        """Upsert ``upserts`` and delete ``(user_id, record_id)`` pairs, grouped by shard, in chunks."""
        by_shard: dict[int, list[Record]] = {}
        for record in upserts:
            by_shard.setdefault(self.shard_of(record.user_id), []).append(record)
        delete_by_shard: dict[int, list[str]] = {}
        for user_id, record_id in deletes:
            delete_by_shard.setdefault(self.shard_of(user_id), []).append(record_id)
        with self._access.shared():
            for shard, records in by_shard.items():
                self._upsert(self._collection(shard), records)
            chunk = self._chunk()
            for shard, ids in delete_by_shard.items():
                collection = self._collection(shard)
                for start in range(0, len(ids), chunk):
                    collection.delete(ids=ids[start : start + chunk])

    def _chunk(self) -> int:
        return max(1, min(4000, self._max_batch()))

    def _upsert(self, collection: Any, records: Sequence[Record]) -> None:
        chunk = self._chunk()
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            collection.upsert(
                ids=[r.id for r in part],
                documents=[r.document for r in part],
                metadatas=[r.metadata for r in part],
                embeddings=np.stack([np.asarray(r.embedding, dtype=np.float32) for r in part]),
            )

    def _max_batch(self) -> int:
        try:
            return int(self._client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older clients
            return 1000

    def delete_user(self, user_id: str) -> None:
        """Delete every record of ``user_id`` from Chroma (gone from every read; see :mod:`.erasure` for disk)."""
        with self._access.shared():
            self._collection(self.shard_of(user_id)).delete(where={"user_id": user_id})

    # ----------------------------------------------------------------- erasure (embedded stores)
    @property
    def sqlite_file(self) -> Path | None:
        """Chroma's SQLite file of an embedded store (None for a server)."""
        return self.path / CHROMA_SQLITE if self.path is not None else None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off every other Chroma call of this store (loads, writes) while the caller rewrites a shard."""
        with self._access.exclusive():
            yield

    def shard_records(self, shard: int) -> list[Record]:
        """Every record of one shard, with documents, metadata and embeddings."""
        with self._access.shared():
            got = self._collection(shard).get(include=["documents", "metadatas", "embeddings"])
        return self._records(got)

    def recreate_shard(self, shard: int, records: Sequence[Record]) -> str:
        """Drop the shard's collection and create it again holding only ``records``; returns the dropped id.

        Dropping the collection (not deleting records) is what takes deleted vectors out of the HNSW files and
        Chroma's log. Call it inside :meth:`exclusive`, with ``records`` saved durably first (the journal).
        """
        name = f"{self.namespace}-shard-{shard:04d}"
        with self._access.exclusive():
            old = str(self._collection(shard).id)
            with self._collections_lock:
                self._collections.pop(shard, None)
            self._client.delete_collection(name)
            self._upsert(self._collection(shard), records)
        return old

    def user_ids(self) -> list[str]:
        """All user ids with at least one record (scans profile records; for tools, not the hot path)."""
        users: set[str] = set()
        with self._access.shared():
            for shard in range(self.shards):
                got = self._collection(shard).get(where={"type": "usr"}, include=["metadatas"])
                users.update(str(m["user_id"]) for m in got["metadatas"] or [] if m and "user_id" in m)
        return sorted(users)

    def close(self) -> None:
        """Release the single-writer lock. The Chroma client itself is left to Chroma's own lifecycle.

        After an erasure in this process, first zero the HNSW files' unused capacity once more: an index
        persisted since then may have carried freed memory of this process (see :mod:`.erasure`).
        """
        if self.scrub_on_close and self.path is not None:
            from .erasure import zero_unused_hnsw_capacity

            try:
                with self._access.exclusive():
                    zero_unused_hnsw_capacity(self.path)
            except OSError as exc:
                logger.error("could not zero the unused capacity of the HNSW files on close: %s", exc)
        self._collections.clear()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def all_user_ids(self, page_size: int = 5000) -> list[str]:
        """Every user id with any record (message, insight or profile), read in pages of metadata only.

        Unlike :meth:`user_ids` it also finds users who have no profile record yet; memory stays bounded by
        ``page_size`` records at a time. For tools (``personal users``), not the hot path.
        """
        if not isinstance(page_size, int) or page_size < 1:
            raise InvalidInputError("page_size must be a positive int")
        users: set[str] = set()
        for shard in range(self.shards):
            offset = 0
            while True:
                with self._access.shared():
                    got = self._collection(shard).get(include=["metadatas"], limit=page_size, offset=offset)
                metadatas = got["metadatas"] or []
                users.update(str(m["user_id"]) for m in metadatas if m and "user_id" in m)
                if len(got["ids"]) < page_size:
                    break
                offset += page_size
        return sorted(users)


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
