"""Loading one user's records from Chroma a page at a time, with retries (no chromadb import: the store
passes its collection and its guarded call in).

A page is handed to the caller as soon as it is read (:func:`load_pages`), so loading a 100,000-message user
holds one page of raw records at a time instead of every record, and the user's model grows page by page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import StoreError, StoreReadOnlyError
from .records import Record, records_from_get

logger = logging.getLogger(__name__)

FULL = ["documents", "metadatas", "embeddings"]
#: Pauses between the tries of one read (then it fails): a Chroma server occasionally answers "Error creating
#: hnsw segment reader: Nothing found on disk" for a moment (seen with chromadb 1.5.9 under write load).
RETRY_DELAYS = (0.05, 0.2, 0.5)

#: Runs ``get(collection)`` for a load (resolving the collection at call time), retried; returns its result.
Reader = Callable[[Callable[[Any], Any]], Any]


def load_pages(
    read: Reader, user_id: str, dimension: int, apply: Callable[[list[Record]], None], page_size: int
) -> None:
    """Hand ``apply`` the records of ``user_id``: first a filtered ``get`` of ``page_size`` records, and when
    there are more, the remaining ids in pages of ``page_size``. Only the user's own records are handed on
    (defence in depth); a missing embedding is a zero vector of ``dimension``."""
    where = {"user_id": user_id}

    def owned(got: Any) -> list[Record]:
        return [r for r in records_from_get(got, dimension) if r.metadata.get("user_id") == user_id]

    first = read(lambda c: c.get(where=where, include=FULL, limit=page_size))
    apply(owned(first))
    if len(first["ids"]) < page_size:
        return
    seen = set(first["ids"])
    rest = [x for x in read(lambda c: c.get(where=where, include=[]))["ids"] if x not in seen]
    del seen, first
    for start in range(0, len(rest), page_size):
        chunk = rest[start : start + page_size]
        apply(owned(read(_by_ids(chunk))))


def _by_ids(ids: list[str]) -> Callable[[Any], Any]:
    return lambda collection: collection.get(ids=ids, include=FULL)


def retried(call: Callable[[float], Any], load_timeout: float, op_timeout: float) -> Any:
    """``call(timeout)`` (one guarded Chroma read), tried again after :data:`RETRY_DELAYS` within
    ``load_timeout`` seconds; the last :class:`StoreError` says how many tries failed."""
    deadline = time.monotonic() + load_timeout
    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            return call(max(0.1, min(op_timeout, deadline - time.monotonic())))
        except StoreError as exc:
            if delay is None or isinstance(exc, StoreReadOnlyError) or time.monotonic() + delay >= deadline:
                raise type(exc)(f"loading a user from Chroma failed after {attempt + 1} tries: {exc}") from exc
            logger.warning("loading a user from Chroma failed (retrying in %.2fs): %s", delay, exc)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
