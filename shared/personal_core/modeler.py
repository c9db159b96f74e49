"""``UserModeler``: the facade every integration talks to (sync and async, thread-safe).

It validates input (:mod:`.inputs`) and hands each call to one service: writes to :class:`~.ingest.Ingest`
(journal first, then memory; the flusher moves the journal to Chroma), reads to :mod:`.candidates` over the
user cache (:class:`~.cache.UserCache`), derivation to :class:`~.deriver.Deriver` (LLM mode; without an LLM
the reasoner runs inside ``observe``), erasure to :func:`~.erasure.forget_user`. Async methods run the same
code in a worker thread, except where an async LLM is awaited in the caller's loop.
See ``docs/architecture.md`` for the layers and the observe / context flows.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from . import prompts
from .candidates import SearchHit, build_context, search
from .context import PackingPolicy
from .embedding import Embedder, resolve_embedder
from .erasure import forget_user
from .errors import ClosedError, ConfigurationError, InvalidInputError
from .inputs import (
    MessageLike,
    check_kind,
    check_kinds,
    check_non_negative_int,
    check_optional_limit,
    check_positive_int,
    check_str_collection,
    check_text,
    coerce_messages,
)
from .llm import CallInfo, ChatMessages, LLMCallable, call_llm, calling
from .model import (
    Insight,
    InsightKind,
    InsightLevel,
    Message,
    UserContext,
    UserModel,
    describe_validation_error,
    validate_session_id,
    validate_user_id,
)
from .modeler_async import AsyncTwins
from .reasoner import LLMReasoner
from .reembed import Progress, ReembedReport, reembed_closed_store
from .services import Internals, build_services, choose_reasoner
from .settings import DEFAULT_MAX_TOKENS, Settings
from .stats import build_stats
from .text import normalise
from .tokens import TokenCounter, resolve_counter
from .update import NewInsight, Reasoner
from .views import current_by_kind, export_of, messages_of

__all__ = ["Internals", "Reasoner", "SearchHit", "UserModeler"]


class UserModeler(AsyncTwins):
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
        packing: how :meth:`context` shares its budget (:class:`PackingPolicy`).
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
        reasoner: Reasoner | LLMReasoner | None = None,
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
        self._opened_with: dict[str, Any] = {  # to reopen after reembed()
            k: v for k, v in locals().items() if k not in ("self", "embedder", "__class__")
        }
        self.settings = Settings.build(
            shared=client is not None,
            namespace=namespace,
            shards=shards,
            cache_users=cache_users,
            refresh_after=refresh_after,
            journal_path=journal_path,
            flush_interval=flush_interval,
            default_max_tokens=default_max_tokens,
            packing=packing,
            batch_tokens=batch_tokens,
            max_batch_age=max_batch_age,
            inline=inline,
            llm_timeout=llm_timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            background=background,
        )
        self.reasoner: Reasoner | LLMReasoner = choose_reasoner(llm, reasoner, self.settings.llm_timeout)
        self.counter: TokenCounter = resolve_counter(token_counter)
        self._closed = False
        self.internals = build_services(
            path, client=client, embedder=embedder, settings=self.settings, reasoner=self.reasoner, counter=self.counter
        )
        self.embedder: Embedder = self.internals.backend.embedder
        self._backend, self._cache = self.internals.backend, self.internals.cache
        self._ingest, self._deriver = self.internals.ingest, self.internals.deriver

    @property
    def default_max_tokens(self) -> int:
        """Budget of :meth:`context` when none is given."""
        return self.settings.default_max_tokens

    @property
    def packing(self) -> PackingPolicy:
        """How :meth:`context` shares its budget."""
        return self.settings.packing

    @property
    def inline(self) -> bool:
        """True when LLM batches are derived inside ``observe``."""
        return self.settings.inline

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this UserModeler is closed")

    # ----------------------------------------------------------------- writes
    def observe(
        self, user_id: str, messages: MessageLike | Sequence[MessageLike], session_id: str | None = None
    ) -> list[Message]:
        """Record messages of ``user_id``'s conversation and learn from them.

        ``messages`` are :class:`Message` objects or ``{"role", "content"}`` dicts (optional ``id``,
        ``created_at``, ``metadata``). Invalid input raises :class:`InvalidInputError` before anything is
        stored. Messages already observed (same id) are skipped; a dict without an ``id`` gets one derived from
        its session, role and content, so a conversation resent whole is stored once. Returns the newly stored
        messages.
        """
        uid = validate_user_id(user_id)
        self._check_open()
        coerced = coerce_messages(uid, messages, session_id)
        new = self._ingest.store_messages(uid, coerced.messages, coerced.derived_ids)
        if self._deriver is not None and new:
            self._deriver.after_observe(uid)
        return new

    def delete_session(self, user_id: str, session_id: str, *, keep_model: bool = False) -> int:
        """Delete one session's messages; returns how many. Insights lose those messages as evidence, and one
        left without evidence is retracted (``stats()``: ``stripped_evidence``, ``cascaded_retractions``) —
        unless ``keep_model`` (what the frameworks' history ``clear()``/``reset()`` use: a chat closed, not
        shown wrong)."""
        uid = validate_user_id(user_id)
        session = validate_session_id(session_id)
        self._check_open()
        return self._ingest.delete_messages(uid, lambda s: s.session_id == session, keep_model=keep_model)

    def delete_messages(self, user_id: str, message_ids: Collection[str], *, keep_model: bool = False) -> int:
        """Delete some of the user's messages by id; returns how many. The model follows as in
        :meth:`delete_session`."""
        uid = validate_user_id(user_id)
        doomed = check_str_collection("message_ids", message_ids)
        self._check_open()
        return self._ingest.delete_messages(uid, lambda s: s.id in doomed, keep_model=keep_model)

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
            proposal = NewInsight(
                kind=check_kind(kind),
                text=text,
                confidence=confidence,
                level=level,  # type: ignore[arg-type]  # pydantic validates a str
                evidence=list(evidence),
            )
        except ValidationError as exc:
            raise InvalidInputError(f"invalid insight: {describe_validation_error(exc)}") from None
        if not normalise(proposal.text):  # planning keys insights on this form: punctuation alone is nothing
            raise InvalidInputError("insight text must contain at least one letter or digit")
        self._check_open()
        return self._ingest.add_insight(uid, proposal)

    def retract(self, user_id: str, insight_id: str, reason: str | None = None) -> Insight:
        """Mark an insight wrong. It stays in history (``retracted_at``, ``retraction_reason``; in
        :meth:`user_model` and :meth:`export`), leaves context, search and the card, and is never derived again
        from the same evidence (also after a reopen, or when that message is observed again). Returns it."""
        uid = validate_user_id(user_id)
        check_text("insight_id", insight_id, allow_blank=False)
        if reason is not None:
            check_text("reason", reason)
        self._check_open()
        return self._ingest.retract(uid, insight_id, reason)

    def correct(
        self,
        user_id: str,
        insight_id: str,
        text: str,
        *,
        kind: InsightKind | str | None = None,
        confidence: float | None = None,
    ) -> Insight:
        """Replace an insight with a corrected one: a supersession made by a person (the old one kept in history
        with ``superseded_by``; its card line follows). Returns the new insight."""
        uid = validate_user_id(user_id)
        check_text("insight_id", insight_id, allow_blank=False)
        check_text("text", text, allow_blank=False)
        self._check_open()
        return self._ingest.correct(uid, insight_id, text, kind, confidence)

    def set_card(self, user_id: str, lines: Sequence[str]) -> list[str]:
        """Replace the user's card (at most 40 lines, each through the card guard: a refused line raises
        :class:`InvalidInputError` naming it and nothing changes). Returns the card as stored."""
        uid = validate_user_id(user_id)
        if isinstance(lines, (str, bytes)) or not isinstance(lines, Sequence):
            raise InvalidInputError(f"lines must be a list of str, got {type(lines).__name__}")
        self._check_open()
        return self._ingest.set_card(uid, lines)

    def forget(self, user_id: str) -> None:
        """Erase everything of ``user_id``: memory, journal, derivation queue and Chroma, and on disk.

        Embedded store: on return no file under the store path holds the user's texts, id or vectors (the shard is
        rebuilt without them, SQLite vacuumed, HNSW leftovers zeroed; ~1 s per 2,000 records in the shard). Server
        mode: deleted through Chroma's API and this process's journal; the server's files are the operator's to
        scrub (``docs/privacy.md``). Raises :class:`~personal_core.errors.StoreError` (or a subclass) if the scrub
        failed after the user was deleted from every read: call ``forget`` again to finish it.
        """
        uid = validate_user_id(user_id)
        self._check_open()
        forget_user(self._backend.store, self._backend.journal, self._cache, self._backend.flusher.lock, uid)

    # ----------------------------------------------------------------- reads
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

        Card first, then the standing preferences whose domain fits the query (diet for food or travel, ...),
        then the most relevant current insights, the summary and raw message excerpts down to a relevance floor
        (``PackingPolicy.min_score``: a context may be shorter than the budget). Messages already in the prompt
        (``exclude_message_ids``, or whole ``exclude_sessions`` such as the current chat) are not quoted again.
        """
        uid = validate_user_id(user_id)
        check_text("query", query)
        skip_ids = check_str_collection("exclude_message_ids", exclude_message_ids)
        skip_sessions = check_str_collection("exclude_sessions", exclude_sessions)
        budget = check_non_negative_int("max_tokens", self.default_max_tokens if max_tokens is None else max_tokens)
        self._check_open()
        vector = self.embedder.embed_query(query) if query.strip() else None
        with self._cache.user(uid) as state:
            return build_context(
                state,
                query,
                vector,
                budget,
                self.counter,
                self.packing,
                include_superseded=include_superseded,
                include_messages=include_messages,
                skip_ids=skip_ids,
                skip_sessions=skip_sessions,
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
        check_text("query", query)
        check_non_negative_int("k", k)
        wanted = check_kinds(kinds)
        self._check_open()
        vector = self.embedder.embed_query(query) if query.strip() else None
        with self._cache.user(uid) as state:
            return search(state, query, vector, k, wanted, include_superseded)

    def user_model(self, user_id: str) -> UserModel:
        """Everything known about ``user_id``: card, summary and all insights (superseded included)."""
        uid = validate_user_id(user_id)
        self._check_open()
        with self._cache.user(uid) as state:
            return state.user_model()

    def messages(self, user_id: str, session_id: str | None = None, limit: int | None = None) -> list[Message]:
        """The user's stored messages in observation order (one session, or all), the last ``limit``."""
        uid = validate_user_id(user_id)
        session = validate_session_id(session_id) if session_id is not None else None
        limit = check_optional_limit("limit", limit)
        self._check_open()
        with self._cache.user(uid) as state:
            return messages_of(state, session, limit)

    def export(self, user_id: str) -> dict[str, Any]:
        """A JSON-able dict of everything held about ``user_id`` (model and messages)."""
        uid = validate_user_id(user_id)
        self._check_open()
        with self._cache.user(uid) as state:
            return export_of(uid, state)

    def stats(self, user_id: str | None = None) -> dict[str, Any]:
        """Monitoring figures, for one user or all.

        Queue sizes (pending messages and batches, failed batches), counters kept in the journal (LLM calls,
        failures, batches formed/done/failed/empty, reasoner input/output tokens, insights added/reinforced/
        superseded, messages observed, what reply repair did), insights by kind (current ones for a user; added
        so far for all), and store state. Every batch formed is done, pending or failed: ``batches_formed ==
        batches_done + pending_batches + failed_batches`` (until ``forget`` drops a user's counters).
        """
        uid = validate_user_id(user_id) if user_id is not None else None
        self._check_open()
        queue = self._backend.queue
        by_kind: dict[str, int] | None = None
        if uid is not None:
            with self._cache.user(uid) as state:
                by_kind = current_by_kind(state)
        return build_stats(
            queue.counters(uid),
            queue.sizes(uid),
            insights_by_kind=by_kind,
            users_cached=len(self._cache),
            journal_pending=self._backend.journal.pending(),
            journal_quarantined=self._backend.journal.quarantined(uid),
            flush_failures=self._backend.flusher.failures,
            embedder=self.embedder.name,
            token_counter=self.counter.name,
            reasoner=self.reasoner.name,
        )

    def ask(self, user_id: str, question: str, *, max_tokens: int | None = None) -> str:
        """Answer a question about the user from their model: one LLM call over :meth:`context`.

        Needs an LLM (``llm=``; else :class:`~personal_core.errors.ConfigurationError`). LLM failures raise
        :class:`~personal_core.LLMError`.
        """
        llm, prompt, timeout = self._ask_prompt(user_id, question, max_tokens)
        with calling(CallInfo.of("ask", user_id=user_id)):
            return call_llm(llm, prompt, timeout)

    def _ask_prompt(
        self, user_id: str, question: str, max_tokens: int | None
    ) -> tuple[LLMCallable, ChatMessages, float]:
        if not isinstance(self.reasoner, LLMReasoner):
            raise ConfigurationError("ask() needs an LLM: create the UserModeler with llm=...")
        check_text("question", question, allow_blank=False)
        context = self.context(user_id, question, max_tokens)
        system = prompts.ASK_SYSTEM.format(context=context.text or "(nothing is known about this user yet)")
        prompt: ChatMessages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return self.reasoner.llm, prompt, self.reasoner.timeout

    # ----------------------------------------------------------------- derivation and storage
    def flush(self, user_id: str | None = None) -> None:
        """Derive every pending message now (one user, or all) and wait for it; then write through to Chroma.

        Batches whose LLM call fails stay pending (or failed, after ``max_attempts``); this never raises for
        reasoner failures.
        """
        uid = validate_user_id(user_id) if user_id is not None else None
        self._check_open()
        if self._deriver is not None:
            self._deriver.flush_quietly(uid)
        self._backend.flush_quietly()

    def flush_writes(self) -> None:
        """Move every journaled write to Chroma now (normally the background flusher does it)."""
        self._check_open()
        self._backend.flusher.flush()

    def retry_quarantined(self, user_id: str | None = None) -> int:
        """Put journal entries Chroma refused (quarantined, see ``stats()["journal_quarantined"]``) back in line
        for the flusher; returns how many."""
        uid = validate_user_id(user_id) if user_id is not None else None
        self._check_open()
        count = self._backend.journal.retry_quarantined(uid)
        self._backend.flusher.wake()
        return count

    def user_ids(self) -> list[str]:
        """Every user with something stored (after moving the journal to Chroma), sorted."""
        self._check_open()
        self._backend.flush_quietly()
        return sorted(self._backend.store.all_user_ids())

    def retry_failed(self, user_id: str | None = None) -> int:
        """Put batches marked failed back in the queue; returns how many. Run :meth:`flush` to derive them now."""
        uid = validate_user_id(user_id) if user_id is not None else None
        self._check_open()
        count = self._backend.queue.retry_failed(uid)
        if self._deriver is not None:
            self._deriver.wake()
        return count

    def reembed(self, embedder: Any, *, batch: int = 256, progress: Progress | None = None) -> ReembedReport:
        """Move the store to another embedder: every record (messages, insights, profiles) of every user is
        re-embedded in batches of ``batch`` (``progress(done, total)`` is called as it goes), then the store's pin
        switches to the new embedder and this modeler reopens with it.

        Crash-safe: until the switch the old collections are untouched; a rerun after a kill resumes where it
        stopped (see :mod:`personal_core.reembed`). Other processes must not have the store open (server mode:
        stop them first). Pending LLM derivation stays journaled and resumes after the reopen.
        """
        self._check_open()
        check_positive_int("batch", batch)
        new = resolve_embedder(embedder)
        store = self._backend.store
        journal_path = self.settings.journal_path or (None if store.path is None else self._backend.journal.file)
        options = dict(self._opened_with)
        self.close()
        report = reembed_closed_store(
            options["path"], options["client"], self.settings.namespace, journal_path, new, batch, progress
        )
        self.__init__(**options, embedder=new)  # type: ignore[misc]
        return report

    def close(self) -> None:
        """Stop the workers, move what it can to Chroma (the rest stays journaled) and release the store."""
        if self._closed:
            return
        self._closed = True
        self._cache.closed = True
        if self._deriver is not None:
            self._deriver.close()
        self._backend.close()

    def __enter__(self) -> UserModeler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

