"""``UserModeler``: the facade every integration talks to (sync and async, thread-safe).

Reads are served from a per-user in-memory state (loaded once from Chroma, kept in an LRU cache);
writes are committed to a local journal and applied in memory at once, then moved to Chroma by a
background flusher. Async methods run the same sync code in a worker thread: no duplicated logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from . import prompts
from .context import Candidate, PackingPolicy, clean_line, insight_line, message_line, pack
from .deriver import Derived, Deriver, DeriverSettings
from .embedding import Embedder, HashingEmbedder, from_chroma_embedding_function, resolve_embedder
from .erasure import erase_user
from .errors import ClosedError, EmbedderMismatchError, InvalidInputError, PersonalError, StoreError
from .heuristic import HeuristicReasoner
from .journal import JOURNAL_FILE, ClientJournals, Flusher, Journal
from .model import (
    ContextSource,
    Insight,
    InsightKind,
    InsightLevel,
    Message,
    Role,
    UserContext,
    UserModel,
    describe_validation_error,
    utcnow,
    validate_session_id,
    validate_user_id,
)
from .planning import PlanReport, normalise, plan_update, profile_record
from .queue import DeriveQueue, PendingMessage
from .ranking import borrow_evidence, order, rank, relevance
from .reasoner import (
    ChatMessages,
    LLMCallable,
    LLMReasoner,
    ReasonerInput,
    acall_llm,
    call_llm,
    is_async_callable,
)
from .records import Record, StoredMessage, message_record_id, message_to_record
from .state import UserState
from .store import CHROMA_DEFAULT_EMBEDDER, ChromaStore, chroma_default_embedding_function, personal_home
from .text import terms
from .tokens import TokenCounter, resolve_counter
from .update import ModelUpdate, NewInsight

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 500
RELATED_INSIGHTS = 40
MAX_EXCERPT_TOKENS = 60
SHARED_REFRESH_SECONDS = 5.0


@runtime_checkable
class Reasoner(Protocol):
    """Derives a :class:`ModelUpdate` from a batch of one user's messages."""

    name: str

    def derive(self, messages: Sequence[Message]) -> ModelUpdate: ...


class SearchHit(BaseModel):
    """An insight found by :meth:`UserModeler.search`, with its fused relevance score."""

    insight: Insight
    score: float


MessageLike = Message | Mapping[str, Any]


class UserModeler:
    """Builds, stores and serves a theory-of-mind model of each user.

    Args:
        path: directory of an embedded store (default ``$PERSONAL_HOME`` or ``~/.personal/store``).
            Single-process; a second process gets :class:`~personal_core.errors.StoreLockedError`.
        client: any Chroma client instead of a path (``chromadb.HttpClient`` for several processes).
        llm: an LLM for the theory-of-mind reasoner: a callable taking ``[{"role", "content"}, ...]`` and
            returning text (sync or async). Messages are then batched and derived in the background by
            :class:`LLMReasoner`. Without it the offline :class:`HeuristicReasoner` derives during ``observe``.
        reasoner: an :class:`LLMReasoner` you configured, or any :class:`Reasoner` (derives inline).
        embedder: an :class:`Embedder` or Chroma embedding function. Default: what the store was created
            with; for a new store Chroma's default model when it is already on disk, else the offline
            :class:`HashingEmbedder` (with a warning).
        token_counter: encoding name, tiktoken ``Encoding`` or :class:`TokenCounter` (default o200k_base).
        namespace: collection-name prefix inside the Chroma database.
        shards: shard collections of a new store (default 32; pinned in the store).
        cache_users: how many users' models stay in memory.
        refresh_after: seconds after which a user's model held in memory is read again from Chroma on its next
            use, to see what other processes wrote. ``"auto"`` (default): 5 s with a ``client`` (several
            processes may share the server), never for a ``path`` (one process owns it); ``None``: never.
        journal_path: journal file (default: inside the store path; with a client, one journal per process
            under ``$PERSONAL_HOME/journals`` — journals left by a crashed process are replayed on open).
        flush_interval: seconds between background moves of the journal to Chroma (the journal is durable and
            reads overlay it, so this only delays when other processes see the writes in server mode).
        default_max_tokens: budget of :meth:`context` when none is given.
        batch_tokens / max_batch_age: an LLM batch forms at this much new user text (tokens) or when its
            oldest message waited this long (seconds), or on :meth:`flush`.
        inline: derive LLM batches inside ``observe`` (serverless use) instead of in the background.
        llm_timeout / max_attempts / backoff_base: LLM call limit (s), attempts before a batch is marked
            failed, and the first retry delay (s, doubling).
        background: run the background deriver thread (LLM mode).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        client: Any | None = None,
        llm: Any | None = None,
        reasoner: Reasoner | None = None,
        embedder: Any | None = None,
        token_counter: Any | None = None,
        namespace: str = "personal",
        shards: int | None = None,
        cache_users: int = 1024,
        refresh_after: float | Literal["auto"] | None = "auto",
        journal_path: str | os.PathLike[str] | None = None,
        flush_interval: float = 1.0,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        packing: PackingPolicy | None = None,
        batch_tokens: int = 512,
        max_batch_age: float = 300.0,
        inline: bool = False,
        llm_timeout: float = 60.0,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        background: bool = True,
    ) -> None:
        if not isinstance(cache_users, int) or cache_users < 1:
            raise InvalidInputError("cache_users must be a positive int")
        if not isinstance(batch_tokens, int) or batch_tokens < 1:
            raise InvalidInputError("batch_tokens must be a positive int")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInputError("max_attempts must be a positive int")
        self._check_budget(default_max_tokens)
        if llm is not None and reasoner is not None:
            raise InvalidInputError("pass llm= or reasoner=, not both")
        self._refresh_after = self._check_refresh(refresh_after, shared=client is not None)
        chosen: Reasoner | LLMReasoner
        if llm is not None:
            chosen = LLMReasoner(llm, timeout=llm_timeout)
        else:
            chosen = reasoner if reasoner is not None else HeuristicReasoner()
        if not isinstance(chosen, (LLMReasoner, Reasoner)):
            raise InvalidInputError("reasoner must be an LLMReasoner or have a derive(messages) -> ModelUpdate method")
        self.reasoner = chosen
        self.inline = inline
        self.counter: TokenCounter = resolve_counter(token_counter)
        self.default_max_tokens = default_max_tokens
        self.packing = packing or PackingPolicy()
        self._closed = False
        self._store = ChromaStore(path, client=client, namespace=namespace)
        try:
            self.embedder: Embedder = self._choose_embedder(embedder, self._store.read_pin())
            self._store.ensure_pin(self.embedder.name, self.embedder.dimension, shards)
            self._client_journals: ClientJournals | None = None
            self._journal = self._open_journal(journal_path, namespace)
            self._queue = DeriveQueue(self._journal)
            if self._client_journals is not None:
                self._adopt_orphans()
        except BaseException:
            self._store.close()
            raise
        self._flusher = Flusher(self._journal, self._store.apply, interval=flush_interval)
        self._deriver: Deriver | None = None
        if isinstance(self.reasoner, LLMReasoner):
            self._deriver = Deriver(
                self._queue,
                self.reasoner,
                self.counter,
                snapshot=self._snapshot,
                apply=self._apply_derived,
                settings=DeriverSettings(
                    batch_tokens=batch_tokens,
                    max_batch_age=max_batch_age,
                    max_attempts=max_attempts,
                    backoff_base=backoff_base,
                ),
            )
        self._cache_users = cache_users
        self._states: OrderedDict[str, UserState] = OrderedDict()
        self._states_lock = threading.Lock()
        self._seq = itertools.count(time.time_ns())
        self._seq_lock = threading.Lock()
        self._flusher.start()
        self._background = background
        self._llm_is_async = isinstance(self.reasoner, LLMReasoner) and is_async_callable(self.reasoner.llm)
        self._async_worker: asyncio.Task[None] | None = None
        if self._deriver is not None and background:
            self._deriver.start()

    # ----------------------------------------------------------------- set-up helpers
    @staticmethod
    def _check_refresh(value: object, *, shared: bool) -> float | None:
        if value == "auto":
            return SHARED_REFRESH_SECONDS if shared else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise InvalidInputError(f"refresh_after must be a number of seconds >= 0, 'auto' or None; got {value!r}")
        return float(value)

    @staticmethod
    def _choose_embedder(embedder: Any | None, pin: dict[str, Any] | None) -> Embedder:
        if embedder is not None:
            return resolve_embedder(embedder)
        if pin is not None and pin.get("embedder"):
            name = str(pin["embedder"])
            hashing = HashingEmbedder.from_name(name)
            if hashing is not None:
                return hashing
            if name == CHROMA_DEFAULT_EMBEDDER:
                ef = chroma_default_embedding_function()
                if ef is not None:
                    return from_chroma_embedding_function(ef, name=CHROMA_DEFAULT_EMBEDDER)
            raise EmbedderMismatchError(
                f"this store was created with embedder {name!r}; pass embedder= with that embedder to open it"
            )
        ef = chroma_default_embedding_function()
        if ef is not None:
            return from_chroma_embedding_function(ef, name=CHROMA_DEFAULT_EMBEDDER)
        logger.warning(
            "no embedder given and Chroma's default model is not on disk: using the offline HashingEmbedder "
            "(word overlap, not meaning). Pass embedder= for semantic search."
        )
        return HashingEmbedder()

    def _open_journal(self, journal_path: str | os.PathLike[str] | None, namespace: str) -> Journal:
        if journal_path is not None:
            return Journal(journal_path)
        if self._store.path is not None:
            name = JOURNAL_FILE if namespace == "personal" else f"{namespace}-{JOURNAL_FILE}"
            return Journal(self._store.path / name)
        key = hashlib.sha256(self._store.identity().encode()).hexdigest()[:16]
        self._client_journals = ClientJournals(personal_home() / "journals" / key)
        return self._client_journals.journal

    def _adopt_orphans(self) -> None:
        assert self._client_journals is not None
        moved = self._client_journals.adopt_orphans(
            self._store.apply, on_orphan=lambda journal: self._queue.absorb(DeriveQueue(journal))
        )
        if moved:
            logger.warning("replayed %d journal entries left by a process that stopped before flushing", moved)

    @staticmethod
    def _check_budget(max_tokens: object) -> int:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise InvalidInputError(f"max_tokens must be a non-negative int, got {max_tokens!r}")
        return max_tokens

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this UserModeler is closed")

    # ----------------------------------------------------------------- user state cache
    @contextmanager
    def _user(self, user_id: str) -> Iterator[UserState]:
        """The user's loaded state with its lock held (loads from Chroma + journal on a miss)."""
        self._check_open()
        while True:
            with self._states_lock:
                state = self._states.get(user_id)
                if state is None:
                    state = UserState(user_id=user_id, dimension=self.embedder.dimension)
                    self._states[user_id] = state
                self._states.move_to_end(user_id)
                self._evict()
            with state.lock:
                if state.evicted:
                    continue
                if state.loaded and self._refresh_after is not None and self._stale(state):
                    self._reload(state)
                if not state.loaded:
                    self._load(state)
                yield state
                return

    def _evict(self) -> None:
        while len(self._states) > self._cache_users:
            for user_id, candidate in self._states.items():
                if candidate.lock.acquire(blocking=False):
                    try:
                        candidate.evicted = True
                        del self._states[user_id]
                    finally:
                        candidate.lock.release()
                    break
            else:
                return

    def _stale(self, state: UserState) -> bool:
        assert self._refresh_after is not None
        return time.monotonic() - state.loaded_at > self._refresh_after

    def _load(self, state: UserState) -> None:
        pending = self._journal.for_user(state.user_id)  # read before Chroma: see journal.py
        loaded_at = time.monotonic()
        state.apply(self._store.load_user(state.user_id))
        for entry in pending:
            state.apply(entry.upserts, entry.deletes)
        state.loaded = True
        state.loaded_at = loaded_at

    def _next_seq(self) -> int:
        with self._seq_lock:
            return max(next(self._seq), time.time_ns())

    def _write(
        self,
        state: UserState,
        upserts: Sequence[Record],
        deletes: Sequence[str] = (),
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Commit to the journal (with ``also``'s statements, atomically), then apply in memory."""
        if not upserts and not deletes and also is None:
            return
        self._journal.append(state.user_id, upserts, deletes, also=also)
        state.apply(upserts, deletes)

    # ----------------------------------------------------------------- input normalisation
    def _messages(self, user_id: str, messages: object, session_id: str | None) -> list[Message]:
        if isinstance(messages, (Message, Mapping)):
            messages = [messages]
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
            raise InvalidInputError("messages must be a list of Message objects or {'role', 'content'} dicts")
        session = validate_session_id(session_id) if session_id is not None else None
        out: list[Message] = []
        for index, item in enumerate(messages):
            try:
                if isinstance(item, Message):
                    if item.user_id != user_id:
                        raise InvalidInputError(f"message {index} belongs to user {item.user_id!r}, not {user_id!r}")
                    message = item if session is None else item.model_copy(update={"session_id": session})
                elif isinstance(item, Mapping):
                    data = dict(item)
                    role = data.get("role")
                    if isinstance(role, str) and role not in Role._value2member_map_:
                        data["role"] = {"human": "user", "ai": "assistant"}.get(role, "other")
                    data["user_id"] = user_id
                    if session is not None:
                        data["session_id"] = session
                    message = Message.model_validate(data)
                else:
                    raise InvalidInputError(f"message {index} is a {type(item).__name__}, not a Message or dict")
            except ValidationError as exc:
                raise InvalidInputError(f"message {index} is invalid: {describe_validation_error(exc)}") from None
            except OverflowError as exc:  # not a ValueError, so pydantic lets it through: a created_at out of range
                raise InvalidInputError(f"message {index} is invalid: created_at: {exc}") from None
            out.append(self._storable(index, message))
        return out

    @staticmethod
    def _storable(index: int, message: Message) -> Message:
        """``message`` exactly as reads will return it, or :class:`InvalidInputError` if it cannot be stored.

        The store keeps ``created_at`` as a float timestamp: a time it cannot hold exactly (microseconds far from
        1970) or at all (a round trip past year 9999) is refused here, before anything is written; otherwise its
        record would be journaled and then fail to load on every later read of the user. Metadata is stored as
        JSON, values JSON cannot hold as their ``str()``: it goes through that round trip now, so the returned
        message equals what later reads return.
        """
        when = message.created_at
        try:
            back: datetime | None = datetime.fromtimestamp(float(when.timestamp()), tz=timezone.utc)
        except (OverflowError, ValueError, OSError):
            back = None
        if back != when:
            raise InvalidInputError(
                f"message {index}: created_at {when.isoformat()} cannot be stored exactly (timestamps are floats: "
                "far from 1970 the microseconds are lost, and nothing past year 9999 UTC fits); round it"
            )
        if message.metadata:
            try:
                metadata = json.loads(json.dumps(message.metadata, ensure_ascii=False, default=str))
            except (ValueError, TypeError, RecursionError) as exc:  # circular, or nested too deep
                raise InvalidInputError(f"message {index}: metadata cannot be stored as JSON: {exc}") from None
            if metadata != message.metadata:
                message = message.model_copy(update={"metadata": metadata})
        return message

    # ----------------------------------------------------------------- public API
    def observe(
        self, user_id: str, messages: MessageLike | Sequence[MessageLike], session_id: str | None = None
    ) -> list[Message]:
        """Record messages of ``user_id``'s conversation and learn from them.

        ``messages`` are :class:`Message` objects or ``{"role", "content"}`` dicts (optional ``id``,
        ``created_at``, ``metadata``). Invalid input raises :class:`InvalidInputError` before anything is
        stored. Messages already observed (same id) are skipped. Returns the newly stored messages.
        """
        uid = validate_user_id(user_id)
        new = self._store_messages(uid, self._messages(uid, messages, session_id))
        if self._deriver is not None and new:
            if self.inline:
                self._derive_now(uid)
            else:
                self._deriver.wake()
        return new

    def _store_messages(self, uid: str, batch: list[Message]) -> list[Message]:
        """Journal new messages (and, without an LLM, what the heuristic derives from them)."""
        with self._user(uid) as state:
            fresh: dict[str, Message] = {}
            for message in batch:
                if message.id not in state.messages and message.id not in fresh:
                    fresh[message.id] = message
            new = list(fresh.values())
            if not new:
                return []
            vectors = self.embedder.embed_documents([m.content for m in new])
            stored = [StoredMessage(m, self._next_seq()) for m in new]
            records: list[Record] = [message_to_record(sm, vectors[i]) for i, sm in enumerate(stored)]
            if isinstance(self.reasoner, LLMReasoner):
                planned: list[Record] = []
                report = PlanReport()
                now = time.time()
                pending = [PendingMessage(sm.message.id, sm.seq, self._user_tokens(sm.message), now) for sm in stored]
            else:
                planned, report = self._plan(state, self.reasoner.derive(new), new)
                pending = []
            if not state.has_profile and not any(r.type == "usr" for r in planned):
                planned.append(profile_record(state, state.profile, self.embedder.embed_documents))
            counts = {"messages_observed": len(new), **self._report_counts(report, planned)}

            def also(db: sqlite3.Connection) -> None:
                DeriveQueue.add_pending(db, uid, pending)
                DeriveQueue.add_counters(db, uid, counts)

            self._write(state, records + planned, also=also)
        return new

    def _user_tokens(self, message: Message) -> int:
        """Tokens a message adds toward a batch: the user's own text only (other turns are context)."""
        return self.counter.count(message.content[:20_000]) if message.role is Role.USER else 0

    @staticmethod
    def _report_counts(report: PlanReport, records: Sequence[Record]) -> dict[str, float]:
        counts: dict[str, float] = {
            "insights_added": len(report.added),
            "insights_reinforced": len(report.reinforced),
            "insights_superseded": len(report.superseded),
            "dropped_evidence": report.dropped_evidence,
            "dropped_ids": report.dropped_ids,
            "refused_card": report.refused_card,
        }
        for kind in report.added_kinds:
            counts[f"insights_added:{kind}"] = counts.get(f"insights_added:{kind}", 0) + 1
        return counts

    def _derive_now(self, user_id: str | None) -> None:
        """Inline derivation: never raises (failures stay pending and are retried)."""
        assert self._deriver is not None
        try:
            self._deriver.flush(user_id)
        except Exception:
            logger.exception("inline derivation failed; the messages stay pending")

    # ----------------------------------------------------------------- deriver callbacks
    def _snapshot(self, user_id: str, message_ids: tuple[str, ...]) -> ReasonerInput | None:
        """What the LLM reasoner needs for a batch (taken under the user's lock, used without it)."""
        with self._user(user_id) as state:
            messages = [state.messages[m].message for m in message_ids if m in state.messages]
            if not messages:
                return None
            query = " ".join(m.content[:2000] for m in messages if m.role is Role.USER) or messages[-1].content
            corpus, ids = state.insight_corpus()
            related = [
                state.insights[ids[i]]
                for i, _ in rank(corpus, terms(query), self.embedder.embed_query(query[:8000]))[:RELATED_INSIGHTS]
            ]
            return ReasonerInput(user_id, state.profile.card, state.profile.summary, related, messages)

    def _apply_derived(self, derived: Derived) -> bool:
        """Apply a derived batch and complete it in one journal transaction (exactly once)."""
        batch = derived.batch
        with self._user(batch.user_id) as state:
            if not self._queue.has_batch(batch.batch_id):
                return False  # forgotten meanwhile
            messages = [state.messages[m].message for m in batch.message_ids if m in state.messages]
            records, report = self._plan(state, derived.update, messages)
            counts = self._report_counts(report, records)
            repair = derived.report
            counts["dropped_evidence"] += repair.dropped_evidence
            counts["dropped_ids"] += repair.dropped_ids
            counts = {
                **counts,
                "dropped_items": repair.dropped_items,
                "mapped_kinds": repair.mapped_kinds,
                "clamped_confidences": repair.clamped,
                "batches_done": 1,
                "llm_calls": derived.calls,
                "reasoner_input_tokens": derived.input_tokens,
                "reasoner_output_tokens": derived.output_tokens,
                "repaired_items": derived.report.total(),
            }

            def also(db: sqlite3.Connection) -> None:
                DeriveQueue.complete(db, batch.batch_id)
                DeriveQueue.add_counters(db, batch.user_id, counts)

            self._write(state, records, also=also)
        return True

    def _plan(self, state: UserState, update: ModelUpdate, batch: Sequence[Message]) -> tuple[list[Record], PlanReport]:
        if self._refresh_after is not None and (update.card_add or update.card_remove or update.summary is not None):
            # The card and summary are one record: when other processes share the store, plan a change to it
            # on a fresh copy, so their card lines are kept rather than overwritten by our older one.
            self._reload(state)
        return plan_update(state, update, batch, now=utcnow(), embed=self.embedder.embed_documents)

    def _reload(self, state: UserState) -> None:
        state.reset()
        state.loaded = False
        self._load(state)

    def context(
        self,
        user_id: str,
        query: str = "",
        max_tokens: int | None = None,
        *,
        include_superseded: bool = False,
        include_messages: bool = True,
        exclude_message_ids: Collection[str] = (),
        exclude_sessions: Collection[str] = (),
    ) -> UserContext:
        """The user's model, relevant to ``query``, rendered within ``max_tokens`` (by the real counter).

        Card first, then the most relevant current insights, the summary, then raw message excerpts.
        Messages already in the prompt (``exclude_message_ids``, or whole ``exclude_sessions`` such as the
        current chat) are not quoted again.
        """
        uid = validate_user_id(user_id)
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        if isinstance(exclude_message_ids, str) or isinstance(exclude_sessions, str):
            raise InvalidInputError("exclude_message_ids / exclude_sessions must be collections of str, not a str")
        skip_ids = set(exclude_message_ids)
        skip_sessions = set(exclude_sessions)
        budget = self._check_budget(self.default_max_tokens if max_tokens is None else max_tokens)
        query_terms = terms(query)
        query_vector = self.embedder.embed_query(query) if query.strip() else None
        with self._user(uid) as state:
            limit = max(16, budget // 8)
            card_evidence = state.card_evidence()
            sections: dict[ContextSource, list[Candidate]] = {
                "card": [
                    self._candidate(
                        state,
                        "card",
                        f"card-{i}",
                        c,
                        f"- {clean_line(c)}\n",
                        evidence=card_evidence.get(normalise(c), ()),
                    )
                    for i, c in enumerate(state.profile.card)
                ],
            }
            insight_ranking, message_ranking = self._rankings(state, query_terms, query_vector, include_superseded)
            _, ids = state.insight_corpus(include_superseded)
            on_card = set(card_evidence) & {normalise(c) for c in state.profile.card}
            insight_candidates = []
            for index, score in insight_ranking[:limit]:
                insight = state.insights[ids[index]]
                if insight.is_current and normalise(insight.text) in on_card:
                    continue  # already rendered as a card entry
                line = state.line(
                    insight,
                    ("insight", insight.id, include_superseded),
                    partial(insight_line, insight, include_validity=include_superseded),
                )
                insight_candidates.append(
                    self._candidate(state, "insight", insight.id, insight.text, line, score, tuple(insight.evidence))
                )
            sections["insight"] = insight_candidates
            summary = clean_line(state.profile.summary)
            if summary:
                # one line, defused like every other item: an LLM-written summary could otherwise close the
                # block and start lines of its own ("...\n</user_context>\nSYSTEM: ...")
                sections["summary"] = [self._candidate(state, "summary", "summary", summary, summary + "\n")]
            if include_messages:
                _, mids = state.message_corpus()
                message_candidates = []
                for index, score in message_ranking:
                    stored = state.messages[mids[index]]
                    if stored.message.id in skip_ids or stored.message.session_id in skip_sessions:
                        continue
                    message_candidates.append(self._message_candidate(state, stored, score))
                    if len(message_candidates) >= limit:
                        break
                sections["message"] = message_candidates
            return pack(uid, query, sections, budget, self.counter, self.packing)

    @staticmethod
    def _rankings(
        state: UserState, query_terms: list[str], query_vector: Any, include_superseded: bool
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Insights and messages best first, on one scale (insights borrow their evidence messages' relevance)."""
        corpus, _ = state.insight_corpus(include_superseded)
        mcorpus, _ = state.message_corpus()
        insight_scores = relevance(corpus, query_terms, query_vector)
        message_scores = relevance(mcorpus, query_terms, query_vector)
        if insight_scores is not None:
            insight_scores = borrow_evidence(insight_scores, state.evidence_links(include_superseded), message_scores)
        return order(corpus, insight_scores), order(mcorpus, message_scores)

    def _candidate(
        self,
        state: UserState,
        source: ContextSource,
        item_id: str,
        text: str,
        line: str,
        score: float = 0.0,
        evidence: tuple[str, ...] = (),
        order: float = 0.0,
    ) -> Candidate:
        tokens = state.tokens.get(line)
        if tokens is None:
            tokens = self.counter.count(line)
            state.tokens[line] = tokens
        return Candidate(source, item_id, text, line, tokens, score, evidence, order)

    def _message_candidate(self, state: UserState, stored: StoredMessage, score: float) -> Candidate:
        message = stored.message
        excerpt = state.excerpts.get(message.id)
        if excerpt is None:
            cut = self.counter.truncate(message.content[: MAX_EXCERPT_TOKENS * 16], MAX_EXCERPT_TOKENS)
            excerpt = message.content if cut == message.content else cut.rstrip() + " ..."
            state.excerpts[message.id] = excerpt
        render = partial(message_line, message.role.value, message.created_at, excerpt)
        line = state.line(stored, ("message", message.id, False), render)
        return self._candidate(
            state, "message", message.id, excerpt, line, score, (message.id,), order=float(stored.seq)
        )

    def search(
        self,
        user_id: str,
        query: str,
        k: int = 10,
        *,
        kinds: Sequence[InsightKind | str] | None = None,
        include_superseded: bool = False,
    ) -> list[SearchHit]:
        """The ``k`` insights most relevant to ``query`` (optionally only some kinds), best first."""
        uid = validate_user_id(user_id)
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise InvalidInputError(f"k must be a non-negative int, got {k!r}")
        wanted = None
        if kinds is not None:
            try:
                wanted = {InsightKind(x) for x in kinds}
            except ValueError as exc:
                raise InvalidInputError(f"unknown insight kind: {exc}") from None
        query_vector = self.embedder.embed_query(query) if query.strip() else None
        with self._user(uid) as state:
            _, ids = state.insight_corpus(include_superseded)
            insight_ranking, _ = self._rankings(state, terms(query), query_vector, include_superseded)
            hits: list[SearchHit] = []
            for index, score in insight_ranking:
                insight = state.insights[ids[index]]
                if wanted is None or insight.kind in wanted:
                    hits.append(SearchHit(insight=insight, score=score))
                    if len(hits) >= k:
                        break
            return hits

    def user_model(self, user_id: str) -> UserModel:
        """Everything known about ``user_id``: card, summary and all insights (superseded included)."""
        uid = validate_user_id(user_id)
        with self._user(uid) as state:
            return state.user_model()

    def messages(self, user_id: str, session_id: str | None = None, limit: int | None = None) -> list[Message]:
        """The user's stored messages in observation order (one session, or all), the last ``limit``."""
        uid = validate_user_id(user_id)
        session = validate_session_id(session_id) if session_id is not None else None
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError("limit must be a non-negative int or None")
        with self._user(uid) as state:
            chosen = [s.message for s in state.ordered_messages() if session is None or s.message.session_id == session]
        return chosen if limit is None else chosen[len(chosen) - limit :] if limit else []

    def delete_session(self, user_id: str, session_id: str) -> int:
        """Delete one session's messages (the user model is kept). Returns how many were deleted."""
        uid = validate_user_id(user_id)
        session = validate_session_id(session_id)
        with self._user(uid) as state:
            doomed = [
                message_record_id(uid, s.message.id) for s in state.messages.values() if s.message.session_id == session
            ]
            self._write(state, [], doomed)
            return len(doomed)

    def delete_messages(self, user_id: str, message_ids: Collection[str]) -> int:
        """Delete some of the user's messages by id (the user model is kept). Returns how many were deleted."""
        uid = validate_user_id(user_id)
        if isinstance(message_ids, str) or not all(isinstance(m, str) for m in message_ids):
            raise InvalidInputError("message_ids must be a collection of str")
        with self._user(uid) as state:
            doomed = [message_record_id(uid, m) for m in set(message_ids) if m in state.messages]
            self._write(state, [], doomed)
            return len(doomed)

    def add_insight(
        self,
        user_id: str,
        text: str,
        kind: InsightKind | str = InsightKind.FACT,
        *,
        confidence: float = 0.9,
        level: InsightLevel | str = InsightLevel.EXPLICIT,
        evidence: Sequence[str] = (),
    ) -> Insight:
        """Add (or reinforce, if already known) an insight by hand. ``evidence`` must be the user's message ids."""
        uid = validate_user_id(user_id)
        if isinstance(evidence, (str, bytes)) or not isinstance(evidence, Sequence):
            raise InvalidInputError(f"evidence must be a list of message ids, got {type(evidence).__name__}")
        try:
            proposal = NewInsight(kind=kind, text=text, confidence=confidence, level=level, evidence=list(evidence))  # type: ignore[arg-type]
        except ValidationError as exc:
            raise InvalidInputError(f"invalid insight: {describe_validation_error(exc)}") from None
        if not normalise(proposal.text):  # planning keys insights on this form: punctuation alone is nothing
            raise InvalidInputError("insight text must contain at least one letter or digit")
        with self._user(uid) as state:
            unknown = [e for e in proposal.evidence if e not in state.messages]
            if unknown:
                raise InvalidInputError(f"evidence ids are not messages of this user: {unknown[:5]}")
            batch = [state.messages[e].message for e in proposal.evidence]
            records, report = self._plan(state, ModelUpdate(new_insights=[proposal]), batch)
            self._write(state, records)
            insight_id = (report.added or report.reinforced)[0]
            return state.insights[insight_id]

    def forget(self, user_id: str) -> None:
        """Erase everything of ``user_id``: memory, journal, derivation queue and Chroma, and on disk.

        Embedded store (a path): on return no file under the store path holds the user's texts, user id or
        vectors (checked by scanning every file in ``tests/reliability/test_erasure.py``). To get there the
        user's shard collection is rebuilt without them (the other users' records of that shard are journaled
        first, so a crash loses nothing), Chroma's SQLite file is VACUUMed after merging its full-text index,
        the old HNSW segment folder is removed, the never-used capacity of the HNSW files (uninitialised memory
        Chroma writes to disk) is zeroed, here and again on :meth:`close`, and the journal is VACUUMed with its
        WAL truncated. Cost: Chroma
        re-indexing the shard (1.2 s for 2,000 records, 15 s for 20,000 here; ``benchmarks/erasure.py``) plus a
        VACUUM of ``chroma.sqlite3``; this store's other reads and writes wait meanwhile.

        Server mode (``client=``): the records are deleted through Chroma's API and vanish from every read, and
        this process's journal is scrubbed, but the server's files keep traces until its operator scrubs them;
        see ``docs/privacy.md``. Files outside the store (logs, backups, copies from :meth:`export`) are yours.

        Raises :class:`~personal_core.errors.StoreError` if the on-disk scrub failed after the user was already
        deleted from every read: call ``forget`` again to finish it.
        """
        uid = validate_user_id(user_id)
        with self._flusher.lock:
            with self._user(uid) as state:
                self._journal.drop_user(uid, also=lambda db: DeriveQueue.drop_user(db, uid))
                try:
                    self._store.delete_user(uid)
                finally:
                    state.reset()
                    with self._states_lock:  # drop the object too: nothing derived from the user stays cached
                        state.evicted = True
                        if self._states.get(uid) is state:
                            del self._states[uid]
            try:
                report = erase_user(self._store, self._journal, uid)
            except Exception as exc:
                raise StoreError(
                    f"the user was deleted, but scrubbing the files failed ({exc}); call forget() again to finish"
                ) from exc
        phases = {k: round(v, 3) for k, v in report.seconds.items()}
        if report.on_disk:
            logger.info("forgot a user (shard %d rebuilt, %d records): %s", report.shard, report.kept_records, phases)
        else:
            logger.info("forgot a user through the Chroma API (the server's files are not scrubbed): %s", phases)

    def export(self, user_id: str) -> dict[str, Any]:
        """A JSON-able dict of everything held about ``user_id`` (model and messages)."""
        uid = validate_user_id(user_id)
        with self._user(uid) as state:
            model = state.user_model()
            messages = [s.message.model_dump(mode="json") for s in state.ordered_messages()]
        return {
            "user_id": uid,
            "card": model.card,
            "summary": model.summary,
            "insights": [i.model_dump(mode="json") for i in model.insights],
            "messages": messages,
        }

    def flush_writes(self) -> None:
        """Move every journaled write to Chroma now (normally the background flusher does it)."""
        self._check_open()
        self._flusher.flush()

    def flush(self, user_id: str | None = None) -> None:
        """Derive every pending message now (one user, or all) and wait for it; then write through to Chroma.

        Batches whose LLM call fails stay pending (or failed, after ``max_attempts``); this never raises for
        reasoner failures.
        """
        self._check_open()
        uid = validate_user_id(user_id) if user_id is not None else None
        if self._deriver is not None:
            self._derive_now(uid)
        try:
            self._flusher.flush()
        except Exception as exc:  # noqa: BLE001 - the journal keeps it; the flusher retries
            logger.warning("could not move the journal to Chroma yet (it stays journaled): %s", exc)

    def retry_failed(self, user_id: str | None = None) -> int:
        """Put batches marked failed back in the queue; returns how many. Run :meth:`flush` to derive them now."""
        self._check_open()
        uid = validate_user_id(user_id) if user_id is not None else None
        count = self._queue.retry_failed(uid)
        if self._deriver is not None:
            self._deriver.wake()
        return count

    def stats(self, user_id: str | None = None) -> dict[str, Any]:
        """Monitoring figures, for one user or all.

        Queue sizes (pending messages and batches, failed batches), counters kept in the journal (LLM calls,
        failures, batches formed/done/failed, reasoner input/output tokens, insights added/reinforced/superseded,
        messages observed), insights by kind (current ones for a user; added so far for all), and store state.
        Every batch formed is done, pending or failed: ``batches_formed == batches_done + pending_batches +
        failed_batches`` (until ``forget`` drops a user's counters).
        """
        self._check_open()
        uid = validate_user_id(user_id) if user_id is not None else None
        counters = self._queue.counters(uid)
        out: dict[str, Any] = {**self._queue.sizes(uid)}
        for name in (
            "messages_observed",
            "llm_calls",
            "llm_failures",
            "batches_formed",
            "batches_done",
            "batches_failed",
            "reasoner_input_tokens",
            "reasoner_output_tokens",
            "insights_added",
            "insights_reinforced",
            "insights_superseded",
            "repaired_items",
            "dropped_evidence",
            "dropped_ids",
            "dropped_items",
            "mapped_kinds",
            "clamped_confidences",
            "refused_card",
        ):
            out[name] = int(counters.get(name, 0))
        if uid is not None:
            with self._user(uid) as state:
                by_kind: dict[str, int] = {}
                for insight in state.insights.values():
                    if insight.is_current:
                        by_kind[insight.kind.value] = by_kind.get(insight.kind.value, 0) + 1
            out["insights_by_kind"] = by_kind
        else:
            out["insights_by_kind"] = {
                name.split(":", 1)[1]: int(v) for name, v in counters.items() if name.startswith("insights_added:")
            }
        with self._states_lock:
            out["users_cached"] = len(self._states)
        out.update(
            journal_pending=self._journal.pending(),
            flush_failures=self._flusher.failures,
            embedder=self.embedder.name,
            token_counter=self.counter.name,
            reasoner=self.reasoner.name,
        )
        return out

    def ask(self, user_id: str, question: str, *, max_tokens: int | None = None) -> str:
        """Answer a question about the user from their model: one LLM call over :meth:`context`.

        Needs an LLM (``llm=``). LLM failures raise :class:`~personal_core.reasoner.LLMError`.
        """
        llm, prompt = self._ask_prompt(user_id, question, max_tokens)
        return call_llm(llm, prompt, self._llm_timeout())

    async def aask(self, user_id: str, question: str, *, max_tokens: int | None = None) -> str:
        """Async :meth:`ask` (an async LLM is awaited in the running loop)."""
        llm, prompt = await asyncio.to_thread(self._ask_prompt, user_id, question, max_tokens)
        return await acall_llm(llm, prompt, self._llm_timeout())

    def _ask_prompt(self, user_id: str, question: str, max_tokens: int | None) -> tuple[LLMCallable, ChatMessages]:
        if not isinstance(self.reasoner, LLMReasoner):
            raise PersonalError("ask() needs an LLM: create the UserModeler with llm=...")
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("question must be a non-empty string")
        context = self.context(user_id, question, max_tokens)
        system = prompts.ASK_SYSTEM.format(context=context.text or "(nothing is known about this user yet)")
        return self.reasoner.llm, [{"role": "system", "content": system}, {"role": "user", "content": question}]

    def _llm_timeout(self) -> float:
        return self.reasoner.timeout if isinstance(self.reasoner, LLMReasoner) else 60.0

    def close(self) -> None:
        """Stop the flusher, move what it can to Chroma (the rest stays journaled) and release the store."""
        if self._closed:
            return
        self._closed = True
        if self._deriver is not None:
            self._deriver.stop()
        task, self._async_worker = self._async_worker, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop may already be closed
                task.get_loop().call_soon_threadsafe(task.cancel)
        self._flusher.stop()
        try:
            self._flusher.flush()
        except Exception as exc:  # noqa: BLE001 - pending writes stay in the journal for the next open
            logger.warning("could not move the journal to Chroma on close; it stays pending: %s", exc)
        if self._client_journals is not None:
            self._client_journals.close()
        else:
            self._journal.close()
        self._store.close()

    def __enter__(self) -> UserModeler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- async twins
    async def aobserve(
        self, user_id: str, messages: MessageLike | Sequence[MessageLike], session_id: str | None = None
    ) -> list[Message]:
        """Async :meth:`observe`. With an async LLM, derivation runs as a task in the running event loop."""
        uid = validate_user_id(user_id)
        batch = self._messages(uid, messages, session_id)
        new = await asyncio.to_thread(self._store_messages, uid, batch)
        if self._deriver is not None and new:
            if self.inline:
                await self._aderive_now(uid)
            else:
                self._ensure_async_worker()
                self._deriver.wake()
        return new

    async def _aderive_now(self, user_id: str | None) -> None:
        assert self._deriver is not None
        try:
            await self._deriver.aflush(user_id)
        except Exception:
            logger.exception("inline derivation failed; the messages stay pending")

    def _ensure_async_worker(self) -> None:
        """With an async LLM and background work on, run the deriver as a task in the caller's event loop."""
        if self._deriver is None or not self._background or not self._llm_is_async:
            return
        task = self._async_worker
        if task is not None and not task.done():
            return
        self._async_worker = asyncio.get_running_loop().create_task(self._deriver.aworker())

    async def acontext(
        self, user_id: str, query: str = "", max_tokens: int | None = None, **kwargs: Any
    ) -> UserContext:
        """Async :meth:`context`."""
        return await asyncio.to_thread(self.context, user_id, query, max_tokens, **kwargs)

    async def asearch(self, user_id: str, query: str, k: int = 10, **kwargs: Any) -> list[SearchHit]:
        """Async :meth:`search`."""
        return await asyncio.to_thread(self.search, user_id, query, k, **kwargs)

    async def auser_model(self, user_id: str) -> UserModel:
        """Async :meth:`user_model`."""
        return await asyncio.to_thread(self.user_model, user_id)

    async def amessages(self, user_id: str, session_id: str | None = None, limit: int | None = None) -> list[Message]:
        """Async :meth:`messages`."""
        return await asyncio.to_thread(self.messages, user_id, session_id, limit)

    async def adelete_messages(self, user_id: str, message_ids: Collection[str]) -> int:
        """Async :meth:`delete_messages`."""
        return await asyncio.to_thread(self.delete_messages, user_id, message_ids)

    async def adelete_session(self, user_id: str, session_id: str) -> int:
        """Async :meth:`delete_session`."""
        return await asyncio.to_thread(self.delete_session, user_id, session_id)

    async def aadd_insight(
        self, user_id: str, text: str, kind: InsightKind | str = InsightKind.FACT, **kwargs: Any
    ) -> Insight:
        """Async :meth:`add_insight`."""
        return await asyncio.to_thread(self.add_insight, user_id, text, kind, **kwargs)

    async def aforget(self, user_id: str) -> None:
        """Async :meth:`forget`."""
        await asyncio.to_thread(self.forget, user_id)

    async def aexport(self, user_id: str) -> dict[str, Any]:
        """Async :meth:`export`."""
        return await asyncio.to_thread(self.export, user_id)

    async def aflush(self, user_id: str | None = None) -> None:
        """Async :meth:`flush` (an async LLM is awaited in the running loop)."""
        self._check_open()
        uid = validate_user_id(user_id) if user_id is not None else None
        if self._deriver is not None:
            await self._aderive_now(uid)
        try:
            await asyncio.to_thread(self._flusher.flush)
        except Exception as exc:  # noqa: BLE001 - the journal keeps it; the flusher retries
            logger.warning("could not move the journal to Chroma yet (it stays journaled): %s", exc)

    async def aretry_failed(self, user_id: str | None = None) -> int:
        """Async :meth:`retry_failed`."""
        return await asyncio.to_thread(self.retry_failed, user_id)

    async def astats(self, user_id: str | None = None) -> dict[str, Any]:
        """Async :meth:`stats`."""
        return await asyncio.to_thread(self.stats, user_id)

    async def aclose(self) -> None:
        """Async :meth:`close` (also ends the async deriver task)."""
        task, self._async_worker = self._async_worker, None
        if self._deriver is not None:
            self._deriver.stop(timeout=0)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> UserModeler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
