"""The write path: new messages, a derived update or a hand-made change -> one journal transaction.

Every write is planned on the user's in-memory state (pure planning), committed to the journal together with
its queue and counter rows (one SQLite transaction), then applied in memory; the flusher moves it to Chroma.
Embedding happens outside the user's lock where it can (a slow remote embedder does not hold up reads of
that user): new texts are embedded first, then the change is re-checked and written under the lock.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .cache import UserCache
from .corrections import (
    CorrectionReport,
    plan_correct,
    plan_message_deletion,
    plan_retract,
    plan_set_card,
)
from .embedding import Embedder
from .errors import InvalidInputError
from .journal import Journal
from .model import Insight, InsightKind, Message, Role, utcnow
from .planning import PlanReport, plan_update, profile_record, proposal_texts
from .queue import Batch, DeriveQueue, PendingMessage
from .records import Record, StoredMessage, message_record_id, message_to_record
from .repair import RepairReport
from .state import UserState
from .stats import Counters
from .tokens import TokenCounter
from .update import ModelUpdate, NewInsight, Reasoner

Vectors = npt.NDArray[np.float32]
#: Characters of a message that count toward a batch's size (the rest is counted by the reasoner's prompt).
USER_TOKEN_CHARS = 20_000


@dataclass(frozen=True)
class Derived:
    """A batch's validated result from the LLM reasoner, ready to apply, with what it cost."""

    batch: Batch
    update: ModelUpdate
    report: RepairReport
    input_tokens: int
    output_tokens: int
    calls: int


def plan_counters(report: PlanReport) -> Counters:
    """What a planned change adds to the counters."""
    by_kind: dict[str, int] = {}
    for kind in report.added_kinds:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return Counters(
        insights_added=len(report.added),
        insights_reinforced=len(report.reinforced),
        insights_superseded=len(report.superseded),
        dropped_evidence=report.dropped_evidence,
        dropped_ids=report.dropped_ids,
        refused_card=report.refused_card,
        refused_retracted=report.refused_retracted,
        card_followed=report.card_followed,
        added_by_kind=by_kind,
    )


def derived_counters(derived: Derived) -> Counters:
    """What applying an LLM result adds to the counters, beyond planning's own."""
    repair = derived.report
    return Counters(
        dropped_evidence=repair.dropped_evidence,
        dropped_ids=repair.dropped_ids,
        dropped_items=repair.dropped_items,
        mapped_kinds=repair.mapped_kinds,
        clamped_confidences=repair.clamped,
        repaired_items=repair.total(),
        echoed_items=repair.echoed,
        dropped_slots=repair.dropped_slots,
        batches_done=1,
        llm_calls=derived.calls,
        reasoner_input_tokens=derived.input_tokens,
        reasoner_output_tokens=derived.output_tokens,
    )


class Ingest:
    """Writes one user's changes atomically (journal + memory).

    Args:
        inline: the reasoner that derives inside ``observe`` (the heuristic one, or yours), or ``None`` when
            an LLM reasoner derives later from the durable queue (new messages are then queued as pending).
        fresh_profile: re-read a user before planning a card or summary change (server mode: the card and
            summary are one record other processes may have changed).
    """

    def __init__(
        self,
        *,
        journal: Journal,
        queue: DeriveQueue,
        cache: UserCache,
        embedder: Embedder,
        counter: TokenCounter,
        inline: Reasoner | None,
        fresh_profile: bool,
    ) -> None:
        self.journal = journal
        self.queue = queue
        self.cache = cache
        self.embedder = embedder
        self.counter = counter
        self.inline = inline
        self.fresh_profile = fresh_profile
        self._seq = itertools.count(time.time_ns())
        self._seq_lock = threading.Lock()

    # ------------------------------------------------------------------ the one write primitive
    def write(
        self,
        state: UserState,
        upserts: Sequence[Record],
        deletes: Sequence[str] = (),
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Commit to the journal (with ``also``'s statements, atomically), then apply in memory."""
        if not upserts and not deletes and also is None:
            return
        self.journal.append(state.user_id, upserts, deletes, also=also)
        state.apply(upserts, deletes)

    def next_seq(self) -> int:
        """A strictly increasing observation number (orders messages within and across processes)."""
        with self._seq_lock:
            return max(next(self._seq), time.time_ns())

    # ------------------------------------------------------------------ messages
    def store_messages(
        self, user_id: str, batch: Sequence[Message], derived_ids: Collection[str] = ()
    ) -> list[Message]:
        """Journal the messages not stored yet (and what the inline reasoner derives from them); returns them.

        ``derived_ids`` are ids made from content for messages given without one: such a message is already
        stored when its session holds as many messages of that role and content as came before it in the batch
        (a conversation resent whole, whose earlier turns may have been stored under other ids).
        """
        with self.cache.user(user_id) as state:
            new = _unseen(state, batch, derived_ids)
            before = _turn_before(state, new[0]) if new and self.inline is not None else None
        if not new:
            return []
        vectors = self.embedder.embed_documents([m.content for m in new])  # outside the lock
        update = self._derive_inline(new, before)
        embed = self._embedder_with(_texts_of(update)) if update is not None else self.embedder.embed_documents
        with self.cache.user(user_id) as state:
            keep = {m.id for m in _unseen(state, new, derived_ids)}  # another thread may have stored some
            if not keep:
                return []
            if len(keep) < len(new):
                vectors = np.stack([v for m, v in zip(new, vectors, strict=True) if m.id in keep])
                new = [m for m in new if m.id in keep]
                update = self._derive_inline(new, before)
            stored = [StoredMessage(m, self.next_seq()) for m in new]
            records: list[Record] = [message_to_record(sm, vectors[i]) for i, sm in enumerate(stored)]
            planned: list[Record] = []
            counters = Counters(messages_observed=len(new))
            pending: list[PendingMessage] = []
            if update is not None:
                planned, report = self.plan(state, update, new, embed)
                counters = counters + plan_counters(report)
            else:
                now = time.time()
                pending = [PendingMessage(sm.message.id, sm.seq, self._user_tokens(sm.message), now) for sm in stored]
            if not state.has_profile and not any(r.type == "usr" for r in planned):
                planned.append(profile_record(state, state.profile))

            def also(db: sqlite3.Connection) -> None:
                DeriveQueue.add_pending(db, user_id, pending)
                DeriveQueue.add_counters(db, user_id, counters)

            self.write(state, records + planned, also=also)
            newest = state.caches.setdefault(_NEWEST_TURN, {})
            for sm in stored:  # in observation order: the last of each session is its newest turn
                newest[sm.session_id] = sm.id
        return new

    def _derive_inline(self, new: Sequence[Message], before: Message | None = None) -> ModelUpdate | None:
        """What the inline reasoner learns from ``new`` (history-only messages are not shown to it).

        ``before`` (the assistant turn stored just before ``new`` in its session) leads the batch as history-only
        context when the batch opens with the user's reply to it: a choice resolves against the options it lists.
        """
        if self.inline is None:
            return None
        learnable = [m for m in new if not m.history_only]
        if not learnable:
            return ModelUpdate()
        first = learnable[0]
        if (
            before is not None
            and before.role is Role.ASSISTANT
            and first.role is Role.USER
            and before.session_id == first.session_id
        ):
            learnable.insert(0, before.model_copy(update={"history_only": True}))
        return self.inline.derive(learnable)

    def _user_tokens(self, message: Message) -> int:
        """Tokens a message adds toward a batch: the user's own text only (other turns are context)."""
        if message.role is not Role.USER or message.history_only:
            return 0
        return self.counter.count(message.content[:USER_TOKEN_CHARS])

    def delete_messages(
        self, user_id: str, chosen: Callable[[StoredMessage], bool], *, keep_model: bool = False
    ) -> int:
        """Delete the user's stored messages ``chosen`` returns True for; returns how many.

        The model follows in the same transaction: the ids leave every insight's evidence, and an insight left
        without evidence is retracted (its card line removed) unless ``keep_model``.
        """
        with self.cache.user(user_id) as state:
            ids = [s.id for s in state.messages.values() if chosen(s)]
            if not ids:
                return 0
            self._fresh_for_profile(state)
            records, report = plan_message_deletion(state, ids, now=utcnow(), keep_model=keep_model)
            self._write_counted(state, records, report, deletes=[message_record_id(user_id, m) for m in ids])
            return len(ids)

    # ------------------------------------------------------------------ corrections made by a person
    def retract(self, user_id: str, insight_id: str, reason: str | None) -> Insight:
        """Retract an insight (history kept; never derived again from the same evidence)."""
        with self.cache.user(user_id) as state:
            self._fresh_for_profile(state)
            records, report = plan_retract(state, insight_id, reason, now=utcnow())
            self._write_counted(state, records, report)
            return state.insights[insight_id]

    def correct(
        self, user_id: str, insight_id: str, text: str, kind: InsightKind | str | None, confidence: float | None
    ) -> Insight:
        """Supersede an insight with a corrected one (a supersession made by a person); returns the new one."""
        with self.cache.user(user_id) as state:
            self._fresh_for_profile(state)
            records, report, new = plan_correct(
                state,
                insight_id,
                text,
                kind=kind,
                confidence=confidence,
                now=utcnow(),
                embed=self.embedder.embed_documents,
            )
            self._write_counted(state, records, report)
            return state.insights[new.id]

    def set_card(self, user_id: str, lines: Sequence[str]) -> list[str]:
        """Replace the user's card (through the card guard); returns the card as stored."""
        with self.cache.user(user_id) as state:
            self._fresh_for_profile(state)
            records, report = plan_set_card(state, lines)
            self._write_counted(state, records, report)
            return list(state.profile.card)

    def _write_counted(
        self, state: UserState, records: Sequence[Record], report: CorrectionReport, deletes: Sequence[str] = ()
    ) -> None:
        counters = Counters.from_rows(report.counts())

        def also(db: sqlite3.Connection) -> None:
            DeriveQueue.add_counters(db, state.user_id, counters)

        self.write(state, records, deletes, also=also)

    def _fresh_for_profile(self, state: UserState) -> None:
        """Server mode: the card and summary are one record other processes may have rewritten; planning a
        change to it on a fresh copy keeps their card lines instead of overwriting them with our older one."""
        if self.fresh_profile:
            self.cache.reload(state)

    # ------------------------------------------------------------------ model changes
    def plan(
        self,
        state: UserState,
        update: ModelUpdate,
        batch: Sequence[Message],
        embed: Callable[[Sequence[str]], Vectors] | None = None,
        *,
        derived: bool = True,
    ) -> tuple[list[Record], PlanReport]:
        """Records applying ``update`` (derived from ``batch``) to ``state`` (call with the user's lock held).

        A ``derived`` update (a reasoner's) never re-learns what a person retracted from the same evidence.
        """
        if _may_change_profile(update):
            self._fresh_for_profile(state)
        return plan_update(
            state, update, batch, now=utcnow(), embed=embed or self.embedder.embed_documents, refuse_retracted=derived
        )

    def apply_derived(self, derived: Derived) -> bool:
        """Apply an LLM batch's result and complete the batch in one journal transaction (exactly once).

        Returns False when the batch is gone (its user was forgotten meanwhile): nothing is written.
        """
        batch = derived.batch
        embed = self._embedder_with(_texts_of(derived.update))  # outside the lock
        with self.cache.user(batch.user_id) as state:
            if not self.queue.has_batch(batch.batch_id):
                return False
            messages = [state.messages[m].message for m in batch.message_ids if m in state.messages]
            records, report = self.plan(state, derived.update, messages, embed)
            counters = plan_counters(report) + derived_counters(derived)

            def also(db: sqlite3.Connection) -> None:
                DeriveQueue.complete(db, batch.batch_id)
                DeriveQueue.add_counters(db, batch.user_id, counters)

            self.write(state, records, also=also)
        return True

    def add_insight(self, user_id: str, proposal: NewInsight) -> Insight:
        """Add (or reinforce) one insight made by hand; its evidence must be the user's stored messages."""
        embed = self._embedder_with(proposal_texts(ModelUpdate(new_insights=[proposal])))
        with self.cache.user(user_id) as state:
            unknown = [e for e in proposal.evidence if e not in state.messages]
            if unknown:
                raise InvalidInputError(f"evidence ids are not messages of this user: {unknown[:5]}")
            batch = [state.messages[e].message for e in proposal.evidence]
            records, report = self.plan(state, ModelUpdate(new_insights=[proposal]), batch, embed, derived=False)
            counters = plan_counters(report)

            def also(db: sqlite3.Connection) -> None:
                DeriveQueue.add_counters(db, user_id, counters)

            self.write(state, records, also=also)
            insight_id = (report.added or report.reinforced)[0]
            return state.insights[insight_id]

    def _embedder_with(self, texts: Sequence[str]) -> Callable[[Sequence[str]], Vectors]:
        """An embed function that answers ``texts`` from vectors computed now (outside any lock) and embeds
        anything else when asked."""
        unique = list(dict.fromkeys(t for t in texts if t))
        known: dict[str, Vectors] = {}
        if unique:
            known = dict(zip(unique, self.embedder.embed_documents(unique), strict=True))

        def embed(batch: Sequence[str]) -> Vectors:
            missing = [t for t in batch if t not in known]
            if missing:
                known.update(zip(missing, self.embedder.embed_documents(missing), strict=True))
            if not batch:
                return np.zeros((0, self.embedder.dimension), dtype=np.float32)
            return np.stack([known[t] for t in batch]).astype(np.float32, copy=False)

        return embed


def _may_change_profile(update: ModelUpdate) -> bool:
    """Whether planning ``update`` may rewrite the card or summary (card lines follow their insights)."""
    return bool(
        update.card_add
        or update.card_remove
        or update.summary is not None
        or update.supersessions
        or any(n.slot for n in update.new_insights)
    )


def _unseen(state: UserState, batch: Sequence[Message], derived_ids: Collection[str]) -> list[Message]:
    """Messages of ``batch`` not stored yet, each id once (see :meth:`Ingest.store_messages`)."""
    fresh: dict[str, Message] = {}
    earlier: dict[tuple[str, str, str], int] = {}
    for message in batch:
        if message.id in derived_ids:
            key = (message.session_id, message.role.value, message.content)
            nth = earlier.get(key, 0)
            earlier[key] = nth + 1
            if state.content_count(*key) > nth:
                continue  # resent: the session already holds this turn
        if message.id not in state.messages and message.id not in fresh:
            fresh[message.id] = message
    return list(fresh.values())


#: Key in :attr:`UserState.caches`: session id -> id of that session's newest stored message.
_NEWEST_TURN = "ingest.newest_turn"


def _turn_before(state: UserState, first: Message) -> Message | None:
    """The newest stored message of ``first``'s session (what a new turn answers), or None.

    Remembered per session as messages are stored; looked up once by observation order after a load or when
    that message was deleted.
    """
    newest: dict[str, str] = state.caches.setdefault(_NEWEST_TURN, {})
    known = newest.get(first.session_id)
    stored = state.messages.get(known) if known is not None else None
    if stored is None:
        in_session = (s for s in state.messages.values() if s.session_id == first.session_id)
        stored = max(in_session, key=lambda s: (s.seq, s.id), default=None)
        if stored is None:
            return None
        newest[first.session_id] = stored.id
    return stored.message


def _texts_of(update: ModelUpdate | None) -> list[str]:
    """The texts planning will embed for ``update``'s proposals."""
    return [] if update is None else proposal_texts(update)
