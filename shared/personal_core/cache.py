"""The per-process user cache: each user's model loaded once (Chroma + journal overlay), kept in an LRU.

Reads and writes of one user hold that user's lock (:meth:`UserCache.user`); other users are not held up.
With ``refresh_after`` set (server mode), a user cached longer than that is read again on its next use, to
see what other processes wrote.

Memory: after a load of :data:`~personal_core.store.RELEASE_MIN_RECORDS` records or more, chromadb's
in-memory index is dropped and the C heap's freed temporaries are returned to the system
(:meth:`~personal_core.store.ChromaStore.release_memory`). Measured at 100,000 messages x 256 dimensions
(``benchmarks/big_user.py``): the user costs the loading process ~200 MiB; once it writes again, chromadb loads
the shard's HNSW index back (~160 MiB more, ~1.2 KB a record at 256 dimensions; with a Chroma server that
memory is the server's, not this process's).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ClosedError
from .journal import Journal
from .records import Record
from .state import UserState
from .store import RELEASE_MIN_RECORDS, ChromaStore


class UserCache:
    """Loaded :class:`UserState` objects by user id, least recently used evicted past ``capacity``."""

    def __init__(
        self, store: ChromaStore, journal: Journal, *, dimension: int, capacity: int, refresh_after: float | None
    ) -> None:
        self._store = store
        self._journal = journal
        self._dimension = dimension
        self._capacity = capacity
        self.refresh_after = refresh_after
        self.release_after = RELEASE_MIN_RECORDS  # see ChromaStore.release_memory
        self._states: OrderedDict[str, UserState] = OrderedDict()
        self._lock = threading.Lock()
        self.closed = False

    @contextmanager
    def user(self, user_id: str) -> Iterator[UserState]:
        """The user's loaded state with its lock held (loaded from Chroma + journal on a miss)."""
        while True:
            if self.closed:
                raise ClosedError("this UserModeler is closed")
            with self._lock:
                state = self._states.get(user_id)
                if state is None:
                    state = UserState(user_id=user_id, dimension=self._dimension)
                    self._states[user_id] = state
                self._states.move_to_end(user_id)
                self._evict()
            with state.lock:
                if state.evicted:
                    continue  # evicted between the two locks: take a fresh one
                if state.loaded and self._stale(state):
                    self.reload(state)
                if not state.loaded:
                    self._load(state)
                yield state
                return

    def reload(self, state: UserState) -> None:
        """Read ``state`` again from Chroma and the journal (call with its lock held)."""
        state.reset()
        state.loaded = False
        self._load(state)

    def drop(self, state: UserState) -> None:
        """Forget ``state`` entirely (call with its lock held): nothing derived from the user stays cached."""
        state.reset()
        with self._lock:
            state.evicted = True
            if self._states.get(state.user_id) is state:
                del self._states[state.user_id]

    def clear(self) -> None:
        """Drop every idle cached user (the next read loads from storage). Users in use stay until released."""
        with self._lock:
            for user_id, state in list(self._states.items()):
                if state.lock.acquire(blocking=False):
                    try:
                        state.evicted = True
                        del self._states[user_id]
                    finally:
                        state.lock.release()

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def _evict(self) -> None:
        while len(self._states) > self._capacity:
            for user_id, candidate in self._states.items():
                if candidate.lock.acquire(blocking=False):
                    try:
                        candidate.evicted = True
                        del self._states[user_id]
                    finally:
                        candidate.lock.release()
                    break
            else:
                return  # every cached user is in use: over capacity until one is released

    def _stale(self, state: UserState) -> bool:
        return self.refresh_after is not None and time.monotonic() - state.loaded_at > self.refresh_after

    def _load(self, state: UserState) -> None:
        pending = self._journal.for_user(state.user_id)  # read before Chroma: see journal.py
        loaded_at = time.monotonic()
        count = 0

        def apply(page: list[Record]) -> None:
            nonlocal count
            count += len(page)
            state.apply(page)

        try:
            self._store.load_user_pages(state.user_id, apply)  # page by page: no all-records peak
            for entry in pending:
                state.apply(entry.upserts, entry.deletes)
        except BaseException:
            state.reset()  # a load that failed midway leaves nothing half-loaded behind
            raise
        state.loaded = True
        state.loaded_at = loaded_at
        if count >= self.release_after:
            self._store.release_memory()
