"""The collections of a store beyond its current shards: the pin's and a re-embedding's metadata collections,
shard collections of other generations (see :mod:`.reembed`), listed, created, read and dropped. A mixin of
:class:`~personal_core.store.ChromaStore` (its Chroma calls go through the store's watchdog)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from .errors import StoreError, StoreFullError, StoreReadOnlyError, StoreUnavailableError
from .records import VECTORS_AT, VECTORS_IN_METADATA, Record, records_from_get
from .store_load import FULL

T = TypeVar("T")

#: Metadata of every shard collection this library creates: vectors in the records' metadata (see
#: :data:`.records.VECTORS_AT`). "cosine": hnswlib then fills the norms file (length.bin) it persists; with "l2"
#: that file is uninitialised memory, which can hold any text the process had freed. Nothing searches chromadb's
#: index of placeholders, so its graph is kept sparse: M=4 holds 41 instead of 62 MiB at 100,000 records, and
#: writes faster (measured with chromadb 1.5.9).
SHARD_METADATA: dict[str, Any] = {
    "hnsw:space": "cosine",
    "hnsw:M": 4,
    "hnsw:construction_ef": 8,
    VECTORS_AT: VECTORS_IN_METADATA,
}


class _Store(Protocol):
    """What the mixin uses of :class:`~personal_core.store.ChromaStore`."""

    namespace: str
    dimension: int
    _client: Any

    def _call(self, fn: Callable[[], T], doing: str, timeout: float | None = None) -> T: ...
    def shard_name(self, shard: int, generation: int | None = None) -> str: ...
    def check_space(self, records: Sequence[Record]) -> None: ...
    def _upsert(self, collection: Any, records: Sequence[Record]) -> None: ...
    def collection_names(self) -> list[str]: ...


class GenerationAccess:
    """Collections of other generations and metadata collections (see the module doc)."""

    def read_meta(self: _Store, name: str) -> dict[str, Any] | None:
        """Metadata of the collection ``<namespace>-<name>`` (``meta`` is the pin), or None if it does not exist."""
        full = f"{self.namespace}-{name}"
        try:
            collection = self._call(partial(self._client.get_collection, full, embedding_function=None), "reading meta")
        except (StoreUnavailableError, StoreReadOnlyError, StoreFullError):
            raise
        except StoreError:  # "does not exist" differs across Chroma versions
            return None
        return dict(collection.metadata or {})

    def write_meta(self: _Store, name: str, metadata: dict[str, Any]) -> None:
        """Set the metadata of ``<namespace>-<name>`` in one step (created if needed); used to switch the pin."""
        full = f"{self.namespace}-{name}"
        get = partial(self._client.get_or_create_collection, full, metadata=metadata, embedding_function=None)
        collection = self._call(get, f"writing {full}")
        self._call(partial(collection.modify, metadata=metadata), f"writing {full}")

    def collection_names(self: _Store) -> list[str]:
        """Names of every collection of the database (all namespaces)."""
        listed = self._call(self._client.list_collections, "listing collections")
        return [c if isinstance(c, str) else str(c.name) for c in listed]

    def drop_collection(self: _Store, name: str) -> None:
        """Delete the collection ``name`` if it exists."""
        if name in self.collection_names():
            self._call(partial(self._client.delete_collection, name), f"dropping {name}")

    def generation_of(self: _Store, name: str) -> int | None:
        """The generation of a shard collection name of this namespace, or None if it is not one."""
        if name.startswith(f"{self.namespace}-shard-"):
            return 0
        head, _, tail = name.partition("-shard-")
        prefix = f"{self.namespace}.g"
        if tail and head.startswith(prefix) and head[len(prefix) :].isdigit():
            return int(head[len(prefix) :])
        return None

    def generation_collection(self: _Store, shard: int, generation: int) -> Any:
        """The shard collection of another generation (created if needed; not cached)."""
        create = partial(
            self._client.get_or_create_collection,
            self.shard_name(shard, generation),
            metadata=SHARD_METADATA,
            embedding_function=None,
        )
        return self._call(create, "opening a shard")

    def record_ids(self: _Store, collection: Any) -> list[str]:
        """Every record id of ``collection`` (no metadata read: not bounded by SQLite's variables)."""
        return list(self._call(partial(collection.get, include=[]), "listing record ids")["ids"])

    def records_by_id(self: _Store, collection: Any, ids: Sequence[str]) -> list[Record]:
        """Records of ``collection`` with these ids (at most :data:`~personal_core.store.PAGE`)."""
        got = self._call(partial(collection.get, ids=list(ids), include=FULL), "reading records")
        return records_from_get(got, self.dimension)

    def upsert_into(self: _Store, collection: Any, records: Sequence[Record]) -> None:
        """Upsert ``records`` into ``collection`` (in chunks, after the free-space check)."""
        self.check_space(records)
        self._upsert(collection, records)
