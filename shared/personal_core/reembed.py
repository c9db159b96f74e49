"""Move a store to another embedder: re-embed every record, crash-safe and resumable.

The records of each shard are copied, in pages, into the shard collections of the next *generation*
(``<namespace>.g<N>-shard-NNNN``) with vectors from the new embedder; a marker collection
(``<namespace>-reembed``) records which shards are done. When every shard is copied the pin (embedder, dimension,
generation) is switched in one metadata write, then the old generation's collections and the marker are dropped.

A kill at any point leaves a usable store: before the switch the old pin and collections are untouched (open it
with the old embedder; that abandons the marker, and a rerun restarts), after it the new ones are complete and a
rerun only cleans up. Run it with no :class:`~personal_core.UserModeler` open on the store (close, re-embed,
reopen with the new embedder).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import vector_codec
from .embedding import Embedder, resolve_embedder
from .errors import InvalidInputError, StoreError
from .journal import Flusher, Journal
from .records import USR, Record
from .store import REEMBED_MARKER, ChromaStore

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], object]
"""``progress(done, total)``: records re-embedded so far and the store's record count."""


@dataclass
class ReembedReport:
    """What a re-embedding did."""

    embedder: str
    dimension: int
    generation: int
    records: int = 0
    resumed_at_shard: int = 0
    seconds: float = 0.0


def embedding_text(record: Record) -> str:
    """The text a record's vector is computed from (as the modeler embeds it when writing)."""
    if record.type != USR:
        return record.document
    try:
        data = json.loads(record.document)
        text = " ".join([*data.get("card", []), str(data.get("summary", ""))]).strip()
    except (ValueError, TypeError, AttributeError):
        text = ""
    return text or record.user_id


def reembed_store(
    store: ChromaStore,
    journal: Journal | None,
    new_embedder: Any,
    *,
    batch: int = 256,
    progress: Progress | None = None,
) -> ReembedReport:
    """Re-embed every record of ``store`` (all shards) with ``new_embedder`` and pin it; resumable.

    ``journal``: pending writes are flushed to Chroma first (their vectors are the old embedder's). ``store``
    must not be used by a modeler meanwhile (its pin is not checked: :meth:`ChromaStore.ensure_pin` would
    abandon the run). Raises :class:`StoreError` on a store with no pin.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise InvalidInputError("batch must be a positive int")
    embedder = resolve_embedder(new_embedder)
    started = time.perf_counter()
    pin = store.read_pin()
    if not pin:
        raise StoreError("this store has no pin: nothing to re-embed")
    store.shards = int(pin.get("shards", store.shards))
    store.generation = int(pin.get("generation", 0))
    store.dimension = int(pin.get("dimension", 0))
    if journal is not None:
        Flusher(journal, store.apply).flush()
    report = ReembedReport(embedder.name, embedder.dimension, store.generation)
    if pin.get("embedder") == embedder.name and int(pin.get("dimension", -1)) == embedder.dimension:
        _clean_up(store)  # nothing to do, or a run that switched the pin and stopped before cleaning up
        report.seconds = time.perf_counter() - started
        return report
    target = store.generation + 1
    report.generation = target
    wanted = {"embedder": embedder.name, "dimension": embedder.dimension, "generation": target}
    marker = store.read_meta(REEMBED_MARKER)
    if marker is not None and all(marker.get(k) == v for k, v in wanted.items()):
        report.resumed_at_shard = int(marker.get("next_shard", 0))
        logger.info("resuming a re-embedding at shard %d of %d", report.resumed_at_shard, store.shards)
    else:
        for name in store.collection_names():  # leftovers of an abandoned run
            if store.generation_of(name) == target:
                store.drop_collection(name)
        store.write_meta(REEMBED_MARKER, {**wanted, "next_shard": 0})
    total = sum(int(store.generation_collection(s, store.generation).count()) for s in range(store.shards))
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    for shard in range(report.resumed_at_shard, store.shards):
        _copy_shard(store, embedder, shard, target, batch, tick)
        store.write_meta(REEMBED_MARKER, {**wanted, "next_shard": shard + 1})
    report.records = done
    store.write_meta("meta", {**pin, **wanted, "schema": 2})  # the switch: one metadata write
    store.generation, store.embedder_name, store.dimension = target, embedder.name, embedder.dimension
    _clean_up(store)
    report.seconds = time.perf_counter() - started
    logger.info("re-embedded %d records with %s in %.1fs", done, embedder.name, report.seconds)
    return report


def _copy_shard(
    store: ChromaStore, embedder: Embedder, shard: int, target: int, batch: int, tick: Callable[[int], None]
) -> None:
    """Copy one shard into generation ``target`` with new vectors (idempotent: a rerun upserts the same ids)."""
    source = store.generation_collection(shard, store.generation)
    sink = store.generation_collection(shard, target)
    ids = store.record_ids(source)
    for start in range(0, len(ids), batch):
        records = store.records_by_id(source, ids[start : start + batch])
        vectors = embedder.embed_documents([embedding_text(r) for r in records]) if records else []
        store.upsert_into(sink, [_with_vector(r, v) for r, v in zip(records, vectors, strict=True)])
        tick(len(records))


def _with_vector(record: Record, vector: Sequence[float] | np.ndarray) -> Record:
    stored = vector_codec.as_stored(np.asarray(vector, dtype=np.float32))
    return Record(record.id, record.user_id, record.type, record.document, record.metadata, stored)


def _clean_up(store: ChromaStore) -> None:
    """Drop the shard collections of every other generation, then the marker."""
    for name in store.collection_names():
        generation = store.generation_of(name)
        if generation is not None and generation != store.generation:
            store.drop_collection(name)
    store.drop_collection(f"{store.namespace}-{REEMBED_MARKER}")


def reembed_closed_store(
    path: str | os.PathLike[str] | None,
    client: Any | None,
    namespace: str,
    journal_path: Path | None,
    new_embedder: Any,
    batch: int = 256,
    progress: Progress | None = None,
) -> ReembedReport:
    """:func:`reembed_store` on a store no modeler has open (its journal, if any, is flushed first)."""
    store = ChromaStore(path, client=client, namespace=namespace)
    journal = Journal(journal_path) if journal_path is not None else None
    try:
        return reembed_store(store, journal, new_embedder, batch=batch, progress=progress)
    finally:
        if journal is not None:
            journal.close()
        store.close()
