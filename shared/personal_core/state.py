"""One user's model held in memory: built from stored records, updated with the records written for it.

The same :class:`~personal_core.records.Record` objects are written to the journal and applied here, so
memory and storage cannot drift apart. The message ranking corpus is an incremental index
(:class:`~personal_core.index.MessageIndex`: a write appends rows, nothing is rebuilt); so is the insight corpus
(:class:`~personal_core.insight_rows.InsightRows`: a write touches the rows of the insights it changed), and the
structures that follow the insights (current ones by text, retracted ones by text, the dedupe index of
:mod:`.planning`) are brought up to date from the ids of the insights changed since they were last read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .index import MessageIndex, quotable, sort_key
from .insight_rows import InsightRows
from .model import Insight, UserModel
from .ranking import Corpus, IntArray
from .records import (
    INS,
    MSG,
    USR,
    Profile,
    Record,
    StoredMessage,
    message_record_id,
    record_to_insight,
    record_to_message,
    record_to_profile,
)
from .text import normalise, terms

DAY = 86400.0


def _own(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``vector`` itself, or a copy when it is a view (of a page of loaded records: kept, it would keep the page)."""
    return vector if vector.base is None else vector.copy()


class _RecordKeys:
    """Which message a message record id stands for, in 8 bytes a message: ``hash(record id)`` in an int64
    array beside the message ids (a dict from record id strings to message ids cost ~130 bytes a message).
    A hit is confirmed by the message's own record id (``record_id_of``), so a hash collision cannot match."""

    def __init__(self) -> None:
        self._keys = np.zeros(0, dtype=np.int64)
        self._ids: list[str | None] = []
        self._dead = 0

    def add(self, record_id: str, message_id: str) -> None:
        n = len(self._ids)
        if n == len(self._keys):
            grown = np.zeros(max(64, n + n // 4), dtype=np.int64)
            grown[:n] = self._keys
            self._keys = grown
        self._keys[n] = hash(record_id)
        self._ids.append(message_id)

    def pop(self, record_id: str, record_id_of: Callable[[str], str]) -> str | None:
        """The message id of ``record_id``, forgotten here (None: not a message record held here)."""
        rows: list[int] = np.flatnonzero(self._keys[: len(self._ids)] == hash(record_id)).tolist()
        for row in rows:
            message_id = self._ids[row]
            if message_id is not None and record_id_of(message_id) == record_id:
                self._ids[row] = None
                self._dead += 1
                self._compact()
                return message_id
        return None

    def _compact(self) -> None:
        """Drop the dead rows once they are half of all."""
        if self._dead * 2 > len(self._ids):
            alive = [i for i, m in enumerate(self._ids) if m is not None]
            self._keys = self._keys[alive].copy() if alive else np.zeros(0, dtype=np.int64)
            self._ids = [self._ids[i] for i in alive]
            self._dead = 0


C = TypeVar("C")


@dataclass
class UserState:
    """Card, summary, insights and messages of one user, with their vectors and lazy ranking caches."""

    user_id: str
    dimension: int
    profile: Profile = field(default_factory=Profile)
    has_profile: bool = False
    insights: dict[str, Insight] = field(default_factory=dict)
    insight_vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _record_keys: _RecordKeys = field(default_factory=lambda: _RecordKeys(), repr=False)
    evicted: bool = False
    loaded: bool = False
    loaded_at: float = 0.0  # time.monotonic() when loaded from storage
    version: int = 0
    insights_version: int = 0  # bumped only when insights change: their caches survive message writes
    #: insight corpora by key ("insights" / "insights-all"): (insights version, corpus)
    _corpora: dict[str, tuple[int, Corpus]] = field(default_factory=dict, repr=False)
    #: the rows behind them (kept across writes) and the insight ids changed since each was last brought up to date
    _insight_rows: dict[str, InsightRows] = field(default_factory=dict, repr=False)
    _insight_dirty: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _index: MessageIndex | None = field(default=None, repr=False)
    #: vectors of messages not in the index (system / history-only, or waiting for a rebuild of the index)
    _side_vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict, repr=False)
    _newest: float | None = field(default=0.0, repr=False)  # newest message time; None: recompute
    _newest_insight: float | None = field(default=0.0, repr=False)  # newest insight update; None: recompute
    _current: set[str] = field(default_factory=set, repr=False)  # ids of current insights
    _unretracted: set[str] = field(default_factory=set, repr=False)  # ids of insights not retracted
    _insight_seq: dict[str, int] = field(default_factory=dict, repr=False)  # position in ``insights``' order
    _next_insight_seq: int = field(default=0, repr=False)
    _links: dict[tuple[str, bool], tuple[tuple[int, int], tuple[IntArray, IntArray]]] = field(
        default_factory=dict, repr=False
    )
    _terms: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _normalised: dict[str, str] = field(default_factory=dict, repr=False)  # insight text -> normalise(text)
    _content_counts: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)
    #: current insights by normalised text (card evidence; the dedupe index), kept up to date by the ids changed
    _by_text: CurrentByText | None = field(default=None, repr=False)
    #: Caches that services above keep for this user (render caches, dedupe index); dropped by :meth:`reset`.
    caches: dict[str, Any] = field(default_factory=dict, repr=False)

    def cache_of(self, key: str, kind: type[C]) -> C:
        """The ``kind`` object kept in :attr:`caches` under ``key`` (made with ``kind()`` on first use)."""
        cache = self.caches.get(key)
        if not isinstance(cache, kind):
            cache = kind()
            self.caches[key] = cache
        return cache

    def apply(self, upserts: Iterable[Record], deletes: Iterable[str] = ()) -> None:
        """Apply stored records (as written to the journal) to the in-memory model."""
        index = self.message_index
        appended: list[tuple[StoredMessage, npt.NDArray[np.float32]]] = []
        for record in upserts:
            if record.user_id != self.user_id:
                raise ValueError("record of another user applied to a user state")
            if record.type == MSG:
                stored = record_to_message(record)
                message_id = stored.id
                previous = self.messages.get(message_id)
                if previous is not None:
                    self._count_content(previous, -1)
                    self._forget_vector(message_id)
                    if self._newest is not None and previous.created_at.timestamp() >= self._newest:
                        self._newest = None
                self._count_content(stored, 1)
                self.messages[message_id] = stored
                if previous is None:
                    self._record_keys.add(record.id, message_id)
                if self._newest is not None:
                    self._newest = max(self._newest, stored.created_at.timestamp())
                if quotable(stored):
                    appended.append((stored, record.embedding))
                else:
                    self._side_vectors[message_id] = _own(record.embedding)
            elif record.type == INS:
                insight = record_to_insight(record)
                if insight.id not in self.insights:
                    self._insight_seq[insight.id] = self._next_insight_seq
                    self._next_insight_seq += 1
                self._forget_insight(insight.id, insight)
                self._changed_insight(insight.id)
                self.insights[insight.id] = insight
                self.insight_vectors[insight.id] = _own(record.embedding)
                self._track_insight(insight)
                self.insights_version += 1
            elif record.type == USR:
                self.profile = record_to_profile(record)
                self.has_profile = True
        if appended:
            last = {s.id: (s, v) for s, v in appended}  # the same message twice in one change: the last
            ordered = sorted(last.values(), key=lambda sv: sort_key(sv[0]))
            if index.accepts(sort_key(ordered[0][0])):
                index.extend(ordered)
            else:  # out of conversation order: rebuilt on the next read
                index.stale = True
                self._side_vectors.update((s.id, _own(v)) for s, v in ordered)
        for record_id in deletes:
            gone_id = self._record_keys.pop(record_id, self._message_record_id)
            if gone_id is not None:
                gone = self.messages.pop(gone_id, None)
                if gone is not None:
                    self._count_content(gone, -1)
                    if self._newest is not None and gone.created_at.timestamp() >= self._newest:
                        self._newest = None
                self._forget_vector(gone_id)
            if record_id in self.insights:
                self._forget_insight(record_id)
                self._changed_insight(record_id)
                del self.insights[record_id]
                self._insight_seq.pop(record_id, None)
                self.insight_vectors.pop(record_id, None)
                self.insights_version += 1
        index.compact()
        self.version += 1

    def _message_record_id(self, message_id: str) -> str:
        return message_record_id(self.user_id, message_id)

    def _track_insight(self, insight: Insight) -> None:
        if insight.is_current:
            self._current.add(insight.id)
        if insight.retracted_at is None:
            self._unretracted.add(insight.id)
        if self._newest_insight is not None:
            self._newest_insight = max(self._newest_insight, insight.updated_at.timestamp())

    def _forget_insight(self, insight_id: str, replacement: Insight | None = None) -> None:
        old = self.insights.get(insight_id)
        if old is None:
            return
        self._current.discard(insight_id)
        self._unretracted.discard(insight_id)
        if replacement is not None and replacement.updated_at >= old.updated_at:
            return  # the newest time stays a maximum: the replacement is tracked with a time at least as new
        if self._newest_insight is not None and old.updated_at.timestamp() >= self._newest_insight:
            self._newest_insight = None

    def _changed_insight(self, insight_id: str) -> None:
        """Note an insight id whose record changed, for the structures kept across writes."""
        for dirty in self._insight_dirty.values():
            dirty.add(insight_id)
        if self._by_text is not None:
            self._by_text.dirty.add(insight_id)

    def _forget_vector(self, message_id: str) -> None:
        """Drop a message's vector: its index row dies (or, when the index is stale, its waiting vector goes)."""
        self._side_vectors.pop(message_id, None)
        if message_id in self.message_index:
            self.message_index.remove(message_id)

    @property
    def message_index(self) -> MessageIndex:
        """The incremental ranking index of this user's quotable messages."""
        if self._index is None:
            self._index = MessageIndex(self.dimension)
        return self._index

    def message_vector(self, message_id: str) -> npt.NDArray[np.float32] | None:
        """The stored vector of a message (None for an unknown id)."""
        side = self._side_vectors.get(message_id)
        return side if side is not None else self.message_index.vector(message_id)

    def reset(self) -> None:
        """Forget everything held for this user."""
        self.profile = Profile()
        self.has_profile = False
        self.message_index.clear()
        self._record_keys = _RecordKeys()
        self._newest = 0.0
        self._newest_insight = 0.0
        self._current.clear()
        self._unretracted.clear()
        self._insight_seq.clear()
        self._by_text = None
        for holder in (
            self.insights,
            self.insight_vectors,
            self.messages,
            self._side_vectors,
            self._content_counts,
            self._corpora,
            self._insight_rows,
            self._insight_dirty,
            self._links,
            self._terms,
            self._normalised,
            self.caches,
        ):
            holder.clear()
        self.version += 1
        self.insights_version += 1

    def normalised(self, text: str) -> str:
        """:func:`.text.normalise` of an insight's ``text``, cached (the card and dedupe indexes normalise every
        current insight again after each change of the insights)."""
        cached = self._normalised.get(text)
        if cached is None:
            cached = normalise(text)
            self._normalised[text] = cached
        return cached

    @property
    def insight_order(self) -> dict[str, int]:
        """Each insight's place in ``insights``' order (read-only)."""
        return self._insight_seq

    def changed_insights(self, name: str) -> set[str] | None:
        """The ids of the insights changed since the last call with this ``name`` (a structure kept across
        writes follows them); None on the first call and after :meth:`reset` (build it from scratch)."""
        changed = self._insight_dirty.get(name)
        self._insight_dirty[name] = set()
        return changed

    def current_by_text(self) -> CurrentByText:
        """Current insights by normalised text (when several share one, the latest added: ``insights``' order),
        brought up to date with the insights changed since the last call (read-only for callers)."""
        by_text = self._by_text
        if by_text is None:
            by_text = self._by_text = CurrentByText()
            by_text.dirty.update(self.insights)
        by_text.sync(self.insights, self._insight_seq, self.normalised)
        return by_text

    def card_evidence(self) -> dict[str, tuple[str, ...]]:
        """Evidence of current insights by normalised text (card entries borrow it). Read-only: it is the live
        map, valid until the next change."""
        return self.current_by_text().evidence

    def _count_content(self, stored: StoredMessage, delta: int) -> None:
        key = (stored.session_id, stored.role.value, stored.content)
        count = self._content_counts.get(key, 0) + delta
        if count > 0:
            self._content_counts[key] = count
        else:
            self._content_counts.pop(key, None)

    def content_count(self, session_id: str, role: str, content: str) -> int:
        """How many stored messages of ``session_id`` have this role and exactly this content."""
        return self._content_counts.get((session_id, role, content), 0)

    def ordered_messages(self) -> list[StoredMessage]:
        """Messages in the order they were observed."""
        return sorted(self.messages.values(), key=lambda s: (s.seq, s.id))

    def user_model(self) -> UserModel:
        insights = sorted(self.insights.values(), key=lambda i: (i.created_at, i.id))
        return UserModel(
            user_id=self.user_id, card=list(self.profile.card), summary=self.profile.summary, insights=insights
        )

    def _newest_insight_time(self) -> float:
        """Recency of insights is relative to the newest insight (deterministic, independent of the clock)."""
        if self._newest_insight is None:  # the newest insight was rewritten or deleted
            self._newest_insight = max((i.updated_at.timestamp() for i in self.insights.values()), default=0.0)
        return self._newest_insight

    def _newest_message_time(self) -> float:
        if self._newest is None:  # the newest message was deleted or rewritten
            self._newest = max((s.created_at.timestamp() for s in self.messages.values()), default=0.0)
        return self._newest

    def insight_corpus(self, include_superseded: bool = False) -> tuple[Corpus, list[str]]:
        """Ranking corpus over current (or all) insights, and the insight ids in corpus order. Incremental (an
        :class:`~personal_core.insight_rows.InsightRows` kept across writes): valid until the next :meth:`apply`."""
        key = "insights-all" if include_superseded else "insights"
        cached = self._corpora.get(key)
        if cached is not None and cached[0] == self.insights_version:
            return cached[1], cached[1].ids
        rows = self._insight_rows.get(key)
        dirty = self._insight_dirty.get(key, set())
        chosen = self._unretracted if include_superseded else self._current
        if rows is None or rows.worn() or len(dirty) > len(rows) // 2 + 64:  # from scratch
            previous, rows = rows, InsightRows(self.dimension, self._terms_of)
            if previous is not None:
                rows.adopt(previous)
            self._insight_rows[key] = rows
            dirty = set(chosen)
        member = _unretracted if include_superseded else _current
        rows.sync(self.insights, self.insight_vectors, member, sorted(dirty))
        self._insight_dirty[key] = set()
        corpus = rows.corpus(self._newest_insight_time())
        self._corpora[key] = (self.insights_version, corpus)
        return corpus, corpus.ids

    def message_corpus(self) -> tuple[Corpus, list[str]]:
        """Ranking corpus over the messages worth quoting (every role but system, no history-only ones), and
        their ids in corpus order. Incremental: valid until the next :meth:`apply`."""
        index = self.message_index
        if index.stale:
            index.rebuild(self.messages.values(), self._vector_for_rebuild)
            self._side_vectors = {k: v for k, v in self._side_vectors.items() if k not in index}
        corpus = index.corpus(self._newest_message_time())
        return corpus, corpus.ids

    def _vector_for_rebuild(self, message_id: str) -> npt.NDArray[np.float32]:
        vector = self.message_vector(message_id)
        if vector is None:
            raise KeyError(f"no vector held for message {message_id!r}")
        return vector

    def insight_groups(
        self, include_superseded: bool, name: str, classify: Callable[[Insight], frozenset[str] | None]
    ) -> list[tuple[frozenset[str], IntArray]]:
        """The rows of :meth:`insight_corpus` grouped by ``classify`` (see
        :meth:`~personal_core.insight_rows.InsightRows.groups`: each insight classified once per text, kind and
        slot; ``name`` keeps one classifier's results)."""
        self.insight_corpus(include_superseded)  # brings the rows up to date
        return self._insight_rows["insights-all" if include_superseded else "insights"].groups(name, classify)

    def evidence_links(self, include_superseded: bool = False) -> tuple[IntArray, IntArray]:
        """(insight index, message index) pairs: each insight of :meth:`insight_corpus` to its evidence messages
        in :meth:`message_corpus`, in no particular order (kept across writes, extended by appended messages)."""
        key = ("links", include_superseded)
        cached = self._links.get(key)
        if cached is not None and cached[0] == (self.insights_version, self.message_index.version):
            return cached[1]
        self.insight_corpus(include_superseded)  # brings the rows up to date
        self.message_corpus()  # brings the index up to date
        index = self.message_index
        rows = self._insight_rows["insights-all" if include_superseded else "insights"]
        links = rows.links(index.positions(), index.ids, index.generation)
        self._links[key] = ((self.insights_version, index.version), links)
        return links

    def _terms_of(self, text: str) -> list[str]:
        """Tokenised ``text``, cached: corpora are rebuilt after every write, texts rarely change."""
        cached = self._terms.get(text)
        if cached is None:
            cached = terms(text)
            self._terms[text] = cached
        return cached


def _current(insight: Insight) -> bool:
    return insight.is_current


def _unretracted(insight: Insight) -> bool:
    return insight.retracted_at is None


class CurrentByText:
    """Current insights by normalised text: for each text the ids holding it, the latest added of them
    (``insights``' order) and its evidence; and the retracted insights by normalised text. Brought up to date
    by the ids changed (``dirty``) on :meth:`sync`."""

    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.members: dict[str, set[str]] = {}  # normalised text -> current insight ids with it
        self.text_of: dict[str, str] = {}  # current insight id -> its normalised text
        self.latest: dict[str, str] = {}  # normalised text -> the latest added current insight with it
        self.evidence: dict[str, tuple[str, ...]] = {}  # normalised text -> that insight's evidence
        self.retracted: dict[str, dict[str, Insight]] = {}  # normalised text -> retracted insights with it
        self._retracted_text: dict[str, str] = {}  # retracted insight id -> its normalised text

    def sync(self, insights: dict[str, Insight], seq: dict[str, int], normalised: Callable[[str], str]) -> None:
        """Follow the insights changed since the last call."""
        if not self.dirty:
            return
        touched: set[str] = set()
        for insight_id in self.dirty:
            old = self.text_of.pop(insight_id, None)
            if old is not None:
                self.members[old].discard(insight_id)
                touched.add(old)
            insight = insights.get(insight_id)
            was = self._retracted_text.pop(insight_id, None)
            if was is not None:
                del self.retracted[was][insight_id]
                if not self.retracted[was]:
                    del self.retracted[was]
            if insight is not None and insight.retracted_at is not None:
                text = normalised(insight.text)
                self._retracted_text[insight_id] = text
                self.retracted.setdefault(text, {})[insight_id] = insight
            if insight is not None and insight.is_current:
                text = normalised(insight.text)
                self.text_of[insight_id] = text
                self.members.setdefault(text, set()).add(insight_id)
                touched.add(text)
        self.dirty = set()
        for text in touched:
            holders = self.members.get(text)
            if not holders:
                self.members.pop(text, None)
                self.latest.pop(text, None)
                self.evidence.pop(text, None)
                continue
            latest = max(holders, key=seq.__getitem__)
            self.latest[text] = latest
            self.evidence[text] = tuple(insights[latest].evidence)
