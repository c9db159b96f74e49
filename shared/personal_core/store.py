"""The Chroma store (with :mod:`.chroma_client`, the only modules that import chromadb).

Layout (chosen by measurement, see ``benchmarks/layout.py``): a user's records live in one of ``shards``
collections picked by a hash of the user id, so loading a user is one metadata-filtered ``get`` on a
collection ``1/shards`` the size of the whole store. A ``<namespace>-meta`` collection pins the embedder
name, its dimension and the shard count. Embeddings are always computed by Personal and passed in, so
Chroma never loads or downloads an embedding model.

Embedded mode (a path) is single-process: a lock file makes a second process fail fast with
:class:`StoreLockedError`. For several processes run ``chroma run --path DIR`` and pass an ``HttpClient``.

Limits kept here: every ``get`` that can grow is paged (chromadb fails past 32,766 records in one get); every
Chroma call runs under a watchdog (:func:`.store_guards.call_with_deadline`) and fails typed; an embedded write
first checks the free disk space (:class:`StoreFullError`, the journal keeps the data); closing an embedded store
drops chromadb's per-path cache, so a reopen reads the disk. Memory: chromadb keeps the HNSW index of every shard
it reads or writes in memory (~1.2 KB a record at 256 dimensions); :meth:`ChromaStore.release_memory` drops it
(the user cache does after a large load), and the C heap is trimmed every :data:`TRIM_EVERY` records written.
After :mod:`.reembed` the shard collections of generation ``g`` are ``<namespace>.g<g>-shard-NNNN``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .chroma_client import CHROMA_DEFAULT_EMBEDDER as CHROMA_DEFAULT_EMBEDDER  # re-exported names
from .chroma_client import _chroma, _no_telemetry, forget_cached_system
from .chroma_client import chroma_default_embedding_function as chroma_default_embedding_function
from .chroma_client import default_path as default_path
from .chroma_client import http_client as http_client
from .chroma_client import personal_home as personal_home
from .errors import (
    EmbedderMismatchError,
    InvalidInputError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    StoreUnavailableError,
)
from .heap import cap_arenas, trim_heap
from .records import Record, chroma_rows, records_from_get, vectors_in_metadata
from .scrub import zero_unused_hnsw_capacity
from .store_generations import SHARD_METADATA as SHARD_METADATA  # re-exported
from .store_generations import GenerationAccess
from .store_guards import ProcessLock, SharedLock, call_with_deadline, ensure_free_space, typed_store_error
from .store_load import FULL, load_pages, retried

logger = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 2  # the newest layout this library reads (2: shard collections of a generation)
NEW_STORE_SCHEMA = 1  # what a new store is pinned with (generation 0 is layout 1)
REEMBED_MARKER = "reembed"  # <namespace>-reembed: progress of an unfinished re-embedding
DEFAULT_SHARDS = 32
CHROMA_SQLITE = "chroma.sqlite3"  # Chroma's SQLite file inside a persistent directory
# chromadb 1.5.9 fetches a get's metadata with one SQL "IN (...)" over every matched id: more than 32,766 fail
# ("too many SQL variables"), so every get that can grow is paged by this many records.
PAGE = 5000
MIN_FREE_BYTES = 50 * 2**20  # an embedded flush needs this much free disk (or twice the batch, if more)
OP_TIMEOUT = 300.0  # seconds one Chroma call may take before the caller gets a typed error (a watchdog)
LOAD_TIMEOUT = 60.0  # seconds a load may take, retries included
TRIM_EVERY = 5_000  # records written between two returns of the C heap's free pages (see trim_heap; ~10 ms)
#: Records written between two :meth:`ChromaStore.release_idle_memory` calls by the writer itself: while writes go
#: on, chromadb's memory for a big shard grows past its index (a process that had written 100,000 records held
#: ~100 MiB more than one that had written once); giving it back on the way bounds that (~0.1 s, then ~0.2 s to
#: load the index at the next write, at 100,000 records; only when the shards opened hold
#: :data:`RELEASE_MIN_RECORDS`, after a tenth of what they hold was written, and when no other call is using the
#: store: see :meth:`ChromaStore._release_on_the_way`).
RELEASE_EVERY = 10_000
#: chromadb's in-memory indexes are given back (:meth:`ChromaStore.release_idle_memory`) after a load of this
#: many records, and when the flusher goes idle while the shards opened hold this many (~0.4 KB a record with
#: the vectors in the metadata, ~1.2 KB at 256 dimensions in a shard of the older layout); the next read or
#: write of a shard loads its index again.
RELEASE_MIN_RECORDS = 20_000


class ChromaStore(GenerationAccess):
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
        if client is None or self._persist_directory(client) is not None:
            cap_arenas()  # chromadb's memory is this process's: see heap.py
        self._lock: ProcessLock | None = None
        self.path: Path | None = None
        self._owns_client = False
        if client is None:
            self.path = Path(path) if path is not None else default_path()
            self._lock = ProcessLock(self.path)
            try:
                forget_cached_system(str(self.path))  # reopening must read the disk, not chromadb's cache
                client = _chroma().PersistentClient(path=str(self.path), settings=_no_telemetry())
            except Exception as exc:
                self._lock.release()
                raise typed_store_error(exc, f"opening the Chroma store at {self.path}") from exc
            self._owns_client = True
        else:
            persist = self._persist_directory(client)
            if persist is not None:
                self.path = persist
                self._lock = ProcessLock(persist)
        self._client = client
        self.namespace = namespace
        self._collections: dict[int, Any] = {}
        self._collections_lock = threading.Lock()
        self._access = SharedLock()
        self.scrub_on_close = False  # set by an erasure: zero the HNSW files' unused capacity again on close
        self.shards = DEFAULT_SHARDS
        self.generation = 0  # shard collections of generation g > 0 are named <namespace>-g<g>-shard-NNNN
        self.embedder_name = ""
        self.dimension = 0
        self.op_timeout = OP_TIMEOUT
        self.load_timeout = LOAD_TIMEOUT
        self.min_free_bytes = MIN_FREE_BYTES
        self._max_batch_size: int | None = None
        self._written_since_trim = 0
        self._written_since_release = 0

    def _call(self, fn: Callable[[], T], doing: str, timeout: float | None = None) -> T:
        """One Chroma call under the watchdog, its failures typed."""
        return call_with_deadline(fn, self.op_timeout if timeout is None else timeout, doing)

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
            collection = self._call(
                lambda: self._client.get_collection(f"{self.namespace}-meta", embedding_function=None),
                "reading the pin",
            )
        except (StoreUnavailableError, StoreReadOnlyError, StoreFullError):
            raise
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
            "schema": NEW_STORE_SCHEMA,
        }
        collection = self._call(
            lambda: self._client.get_or_create_collection(meta_name, metadata=wanted, embedding_function=None),
            f"opening Chroma collection {meta_name!r}",
        )
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
        self.generation = int(pinned.get("generation", 0))
        self.embedder_name = embedder_name
        self.dimension = dimension
        if self.read_meta(REEMBED_MARKER) is not None:  # opened with the old embedder: it may write now
            logger.warning("an unfinished re-embedding of this store was abandoned: run it again to restart it")
            self.drop_collection(f"{self.namespace}-{REEMBED_MARKER}")  # a rerun restarts: shards may change

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
                        self.shard_name(shard), metadata=SHARD_METADATA, embedding_function=None
                    )
                    self._collections[shard] = collection
        return collection

    def shard_name(self, shard: int, generation: int | None = None) -> str:
        """The collection name of ``shard`` (of this store's generation unless one is given)."""
        gen = self.generation if generation is None else generation
        # "." cannot occur in a namespace, so another namespace's names never look like a generation of this one
        return f"{self.namespace}-shard-{shard:04d}" if gen == 0 else f"{self.namespace}.g{gen}-shard-{shard:04d}"

    def get_all(self, collection: Any, where: dict[str, Any] | None, include: list[str]) -> Any:
        """Every record of ``collection`` matching ``where``: one ``get`` when it is small, else paged by ids."""
        first = collection.get(where=where, include=include, limit=PAGE)
        if len(first["ids"]) < PAGE:
            return first
        ids = list(collection.get(where=where, include=[])["ids"])
        merged: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
        for start in range(0, len(ids), PAGE):
            part = collection.get(ids=ids[start : start + PAGE], include=include)
            for key, values in merged.items():
                got = part[key]
                values.extend(list(got) if got is not None else [])
        return merged

    def load_user(self, user_id: str) -> list[Record]:
        """Every record of ``user_id`` (see :meth:`load_user_pages`)."""
        records: list[Record] = []
        self.load_user_pages(user_id, records.extend)
        return records

    def load_user_pages(
        self, user_id: str, apply: Callable[[list[Record]], None], page_size: int | None = None
    ) -> None:
        """Hand the records of ``user_id`` to ``apply`` a page at a time (:func:`.store_load.load_pages`;
        :data:`PAGE` records a page unless told), so the caller never holds every record at once. The whole
        load is one shared hold of the store: a shard rebuild (:meth:`recreate_shard`) waits for it.

        Each Chroma call is retried a few times within :attr:`load_timeout` seconds, else a typed
        :class:`StoreError` (after earlier pages were applied: the caller discards what it loaded).
        """
        shard = self.shard_of(user_id)

        def read(get: Callable[[Any], Any]) -> Any:
            def call(timeout: float) -> Any:
                return self._call(lambda: get(self._collection(shard)), "loading a user", timeout=timeout)

            return retried(call, self.load_timeout, self.op_timeout)

        with self._access.shared():
            load_pages(read, user_id, self.dimension, apply, page_size or PAGE)

    def apply(self, upserts: Sequence[Record], deletes: Iterable[tuple[str, str]] = ()) -> None:
        """Upsert ``upserts`` and delete ``(user_id, record_id)`` pairs, grouped by shard, in chunks."""
        by_shard: dict[int, list[Record]] = {}
        for record in upserts:
            by_shard.setdefault(self.shard_of(record.user_id), []).append(record)
        delete_by_shard: dict[int, list[str]] = {}
        for user_id, record_id in deletes:
            delete_by_shard.setdefault(self.shard_of(user_id), []).append(record_id)
        if not by_shard and not delete_by_shard:
            return
        self.check_space(upserts)
        with self._access.shared():
            for shard, records in by_shard.items():
                self._upsert(self._call(partial(self._collection, shard), "opening a shard"), records)
            chunk = self._chunk()
            for shard, ids in delete_by_shard.items():
                collection = self._call(partial(self._collection, shard), "opening a shard")
                for start in range(0, len(ids), chunk):
                    part = ids[start : start + chunk]
                    self._call(partial(collection.delete, ids=part), "deleting records from Chroma")
        self._written_since_trim += len(upserts)
        self._written_since_release += len(upserts)
        if self._written_since_release >= RELEASE_EVERY:  # chromadb's memory of big shards (see RELEASE_EVERY)
            self._release_on_the_way()
        if self._written_since_trim >= TRIM_EVERY:  # chromadb's and the writer's freed temporaries
            self._written_since_trim = 0
            trim_heap()

    def _release_on_the_way(self) -> None:
        """Between writes: :meth:`release_memory` if the opened shards hold :data:`RELEASE_MIN_RECORDS` and at
        least a tenth of them were written since the last release (each release makes the next touch of a shard
        load its index again: the cost stays proportional to what is written), unless a load or another call is
        using the store right now (then later). A failure is logged: the write itself has landed."""
        try:
            held = self.held_records()
            if held >= RELEASE_MIN_RECORDS and self._written_since_release >= max(RELEASE_EVERY, held // 10):
                self.release_memory(wait=False)
        except Exception as exc:  # noqa: BLE001 - memory housekeeping; the write landed
            logger.warning("could not give chromadb's memory back between writes: %s", exc)

    def check_space(self, records: Sequence[Record]) -> None:
        """Raise :class:`StoreFullError` when an embedded store's disk lacks the space a write of ``records``
        needs (see :func:`.store_guards.ensure_free_space`): chromadb's embedded writes can hang on a full disk."""
        if self.path is not None:
            ensure_free_space(self.path, records, self.min_free_bytes)

    def _chunk(self) -> int:
        return max(1, min(4000, self._max_batch()))

    def _upsert(self, collection: Any, records: Sequence[Record]) -> None:
        """Upsert in chunks, vectors placed as the collection's layout says (:func:`.records.chroma_rows`)."""
        chunk = self._chunk()
        in_metadata = vectors_in_metadata(collection.metadata)
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            metadatas, embeddings = chroma_rows(part, in_metadata)
            write = partial(
                collection.upsert,
                ids=[r.id for r in part],
                documents=[r.document for r in part],
                metadatas=metadatas,
                embeddings=embeddings,
            )
            self._call(write, "writing records to Chroma")

    def _max_batch(self) -> int:
        if self._max_batch_size is None:
            try:
                self._max_batch_size = int(self._client.get_max_batch_size())
            except Exception:  # noqa: BLE001 - older clients
                return 1000
        return self._max_batch_size

    def held_records(self) -> int:
        """Records of the shard collections opened since the client was (re)opened: chromadb holds each one's
        HNSW index in memory (0 for a client passed in or a server: not this process's memory)."""
        if not self._owns_client or self.path is None:
            return 0
        with self._collections_lock:
            opened = list(self._collections.values())
        with self._access.shared():
            return sum(int(self._call(c.count, "counting records")) for c in opened)

    def release_idle_memory(self, min_records: int = RELEASE_MIN_RECORDS) -> bool:
        """:meth:`release_memory` when the shards opened hold at least ``min_records`` records, else only return
        the C heap's free pages (a burst of writes leaves freed temporaries); returns whether it released."""
        if self.held_records() >= min_records and self.release_memory():
            return True
        trim_heap()
        return False

    def release_memory(self, wait: bool = True) -> bool:
        """Make chromadb drop what it holds in memory for this store: the HNSW index of every shard read or
        written since it was opened (each record's links, id and placeholder, ~0.4 KB a record; in a shard of
        the older layout also its vector: ~1.2 KB a record at 256 dimensions, 170 MB at 100,000), by closing
        and reopening an embedded client this store opened. The next read or write of a shard loads its index
        again (~0.2-1 s at 100,000 records). The C heap's free pages are returned to the system before and
        after. Returns False when there is nothing to do (a client passed in, a server: its memory is not this
        process's), or when ``wait`` is False and another call is using the store.
        """
        if not self._owns_client or self.path is None:
            return False
        trim_heap()  # the C heap's freed temporaries first, then chromadb's index, then what that freed
        with self._access.exclusive() if wait else self._access.exclusive_if_free() as held:
            if held is False:
                return False
            self._written_since_release = self._written_since_trim = 0
            with self._collections_lock:
                self._collections.clear()
            try:
                self._client.close()
            except Exception as exc:  # noqa: BLE001 - reopened below either way
                logger.warning("closing the Chroma client of %s failed: %s", self.path, exc)
            forget_cached_system(str(self.path))
            if self.scrub_on_close:  # indexes persisted by the close may carry freed memory (see close())
                try:
                    zero_unused_hnsw_capacity(self.path)
                except OSError as exc:
                    logger.error("could not zero the unused capacity of the HNSW files: %s", exc)
            try:
                self._client = _chroma().PersistentClient(path=str(self.path), settings=_no_telemetry())
            except Exception as exc:
                raise typed_store_error(exc, f"reopening the Chroma store at {self.path}") from exc
        trim_heap()
        return True

    def delete_user(self, user_id: str) -> None:
        """Delete every record of ``user_id`` from Chroma (gone from every read; see :mod:`.erasure` for disk)."""
        shard = self.shard_of(user_id)
        with self._access.shared():
            self._call(lambda: self._collection(shard).delete(where={"user_id": user_id}), "deleting a user")

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
            got = self._call(lambda: self.get_all(self._collection(shard), None, FULL), "reading a shard")
        return records_from_get(got, self.dimension)

    def recreate_shard(self, shard: int, records: Sequence[Record]) -> str:
        """Drop the shard's collection and create it again holding only ``records``; returns the dropped id.

        Dropping the collection (not deleting records) is what takes deleted vectors out of the HNSW files and
        Chroma's log. Call it inside :meth:`exclusive`, with ``records`` saved durably first (the journal).
        """
        name = self.shard_name(shard)
        self.check_space(records)  # before dropping anything
        with self._access.exclusive():
            old = str(self._call(lambda: self._collection(shard), "opening a shard").id)
            with self._collections_lock:
                self._collections.pop(shard, None)
            self._call(lambda: self._client.delete_collection(name), "dropping a shard")
            self._upsert(self._call(lambda: self._collection(shard), "creating a shard"), records)
        return old

    def user_ids(self) -> list[str]:
        """All user ids with at least one record (scans profile records; for tools, not the hot path)."""
        users: set[str] = set()
        with self._access.shared():
            for shard in range(self.shards):
                collection = self._call(partial(self._collection, shard), "opening a shard")
                got = self._call(partial(self.get_all, collection, {"type": "usr"}, ["metadatas"]), "listing users")
                users.update(str(m["user_id"]) for m in got["metadatas"] or [] if m and "user_id" in m)
        return sorted(users)

    def _release_client(self) -> None:
        """Close a Chroma client this store opened and drop chromadb's cached system for its path, so a
        reopen in this process reads the disk (another process's writes, a restored backup, a deleted folder).
        """
        if not self._owns_client or self.path is None:
            return
        self._owns_client = False
        try:
            self._client.close()
        except Exception as exc:  # noqa: BLE001 - a failed close must not keep the lock
            logger.warning("closing the Chroma client of %s failed: %s", self.path, exc)
        forget_cached_system(str(self.path))

    def close(self) -> None:
        """Release the single-writer lock, and close the Chroma client if this store opened it.

        After an erasure in this process, first zero the HNSW files' unused capacity once more: an index
        persisted since then may have carried freed memory of this process (see :mod:`.erasure`).
        """
        if self.scrub_on_close and self.path is not None:
            try:
                with self._access.exclusive():
                    zero_unused_hnsw_capacity(self.path)
            except OSError as exc:
                logger.error("could not zero the unused capacity of the HNSW files on close: %s", exc)
        self._collections.clear()
        self._release_client()
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
