"""Pure conversions between model objects and flat storage records (Chroma-shaped, no Chroma import).

A user's data is three kinds of record: messages (``msg``), insights (``ins``) and one profile (``usr``,
holding the card and summary). Record ids never contain the user id itself; they are hashes or random ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from . import vector_codec
from .ids import stable_id
from .model import Insight, InsightKind, InsightLevel, Message, Role
from .text import normalise

logger = logging.getLogger(__name__)

MSG = "msg"
INS = "ins"
USR = "usr"

Scalar = str | int | float | bool


@dataclass
class Record:
    """One stored record: id, owning user, type, document text, flat metadata and its embedding."""

    id: str
    user_id: str
    type: str
    document: str
    metadata: dict[str, Scalar]
    embedding: npt.NDArray[np.float32] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form for the journal (embedding as base64 float32)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "type": self.type,
            "document": self.document,
            "metadata": self.metadata,
            "embedding": base64.b64encode(np.asarray(self.embedding, dtype=np.float32).tobytes()).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        return cls(
            id=data["id"],
            user_id=data["user_id"],
            type=data["type"],
            document=data["document"],
            metadata=data["metadata"],
            embedding=np.frombuffer(base64.b64decode(data["embedding"]), dtype=np.float32).copy(),
        )


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def message_record_id(user_id: str, message_id: str) -> str:
    """Record id of a user's message: stable, so observing the same message twice writes one record."""
    return stable_id("m", user_id, message_id)


def profile_record_id(user_id: str) -> str:
    """Record id of a user's profile (card + summary)."""
    return stable_id("u", user_id)


_MESSAGE_FIELDS = ("id", "user_id", "session_id", "role", "content", "created_at", "metadata", "history_only")


class StoredMessage:
    """A message as held in memory, with its insertion order: plain fields in slots (~1/5 of the memory of a
    pydantic :class:`~personal_core.model.Message`), the ``Message`` built on demand by :attr:`message`.

    Hot paths (ranking, the index, packing) read the fields; :attr:`message` costs a few microseconds, so a
    loop over every stored message should read fields too. Immutable, like the ``Message`` it stands for; one
    slot, :attr:`turn_kind`, caches what the services derive from its content once (:meth:`remember_turn_kind`).
    """

    __slots__ = (
        "content",
        "created_at",
        "history_only",
        "id",
        "metadata",
        "role",
        "seq",
        "session_id",
        "turn_kind",
        "user_id",
    )

    id: str
    user_id: str
    session_id: str
    role: Role
    content: str
    created_at: datetime
    metadata: dict[str, Any] | None  # None when empty
    history_only: bool
    seq: int
    #: what the services derived from the content (how a turn is classified), None until then; a changed message
    #: is a new object, so this never goes stale (not part of equality)
    turn_kind: Any

    def __init__(self, message: Message, seq: int) -> None:
        self._fill(
            message.id,
            message.user_id,
            message.session_id,
            message.role,
            message.content,
            message.created_at,
            message.metadata,
            message.history_only,
            seq,
        )

    @classmethod
    def of(
        cls,
        id: str,
        user_id: str,
        session_id: str,
        role: Role,
        content: str,
        created_at: datetime,
        metadata: dict[str, Any] | None,
        history_only: bool,
        seq: int,
    ) -> StoredMessage:
        """A stored message from trusted fields (already validated when the message was observed)."""
        stored = cls.__new__(cls)
        stored._fill(id, user_id, session_id, role, content, created_at, metadata, history_only, seq)
        return stored

    def _fill(self, *values: Any) -> None:
        setter = object.__setattr__
        for name, value in zip(_STORED_FIELDS, values, strict=True):
            setter(self, name, value)
        setter(self, "metadata", self.metadata or None)
        setter(self, "user_id", sys.intern(self.user_id))  # one string for every message of a user
        setter(self, "session_id", sys.intern(self.session_id))
        setter(self, "turn_kind", None)

    def remember_turn_kind(self, kind: Any) -> None:
        """Cache what was derived from this message's content in :attr:`turn_kind` (the one writable slot)."""
        object.__setattr__(self, "turn_kind", kind)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("StoredMessage is immutable")

    @property
    def message(self) -> Message:
        """The pydantic ``Message`` (built on each access: equal, not identical, from one access to the next)."""
        return _message(
            id=self.id,
            user_id=self.user_id,
            session_id=self.session_id,
            role=self.role,
            content=self.content,
            created_at=self.created_at,
            metadata=self.metadata if self.metadata is not None else {},
            history_only=self.history_only,
        )

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _STORED_FIELDS)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, StoredMessage) else NotImplemented

    def __hash__(self) -> int:
        return hash((self.id, self.seq, self.content))

    def __repr__(self) -> str:
        return f"StoredMessage(id={self.id!r}, seq={self.seq}, role={self.role.value}, session_id={self.session_id!r})"


_STORED_FIELDS = (*_MESSAGE_FIELDS, "seq")
_FIELDS_SET = frozenset(_MESSAGE_FIELDS)


def _constructed(**values: Any) -> Message:
    return Message.model_construct(**values)


def _direct(**values: Any) -> Message:
    """``Message.model_construct`` without its per-field loop (3x faster), as pydantic 2 lays a model out."""
    message = Message.__new__(Message)
    setter = object.__setattr__
    setter(message, "__dict__", values)
    setter(message, "__pydantic_fields_set__", set(_FIELDS_SET))
    setter(message, "__pydantic_extra__", None)
    setter(message, "__pydantic_private__", None)
    return message


def _fast_path_agrees() -> bool:
    """Whether :func:`_direct` builds exactly what ``model_construct`` does (checked once, at import)."""
    sample = {
        "id": "m",
        "user_id": "u",
        "session_id": "s",
        "role": Role.USER,
        "content": "x",
        "created_at": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "metadata": {},
        "history_only": False,
    }
    try:
        want, got = _constructed(**sample), _direct(**dict(sample))
        return (
            want == got
            and want.__dict__ == got.__dict__
            and want.__pydantic_fields_set__ == got.__pydantic_fields_set__
            and getattr(want, "__pydantic_extra__", None) is None
            and getattr(want, "__pydantic_private__", None) is None
            and want.model_dump() == got.model_dump()
        )
    except Exception:  # noqa: BLE001 - another pydantic layout: use the public constructor
        return False


_message = _direct if _fast_path_agrees() else _constructed


def _pack(user_id: str, kind: str, data: dict[str, Any]) -> dict[str, Scalar]:
    """Chroma metadata: ``user_id`` and ``type`` (filterable), everything else in one JSON field.

    Chroma keeps one row per metadata key; packing makes loading a user ~40% faster (benchmarks/layout.py).
    """
    return {"user_id": user_id, "type": kind, "data": json.dumps(data, ensure_ascii=False, default=str)}


def _unpack(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(str(record.metadata.get("data", "{}")))
    return data


def message_to_record(stored: StoredMessage, embedding: npt.NDArray[np.float32]) -> Record:
    m = stored
    data = {
        "message_id": m.id,
        "session_id": m.session_id,
        "role": m.role.value,
        "created_at": _ts(m.created_at),
        "seq": stored.seq,
        "metadata": m.metadata or {},
        "history_only": m.history_only,
    }
    record_id = message_record_id(m.user_id, m.id)
    return Record(record_id, m.user_id, MSG, m.content, _pack(m.user_id, MSG, data), vector_codec.as_stored(embedding))


def record_to_message(record: Record) -> StoredMessage:
    """Rebuild a stored message (trusted: it was validated before it was written)."""
    data = _unpack(record)
    return StoredMessage.of(
        id=str(data["message_id"]),
        user_id=record.user_id,
        session_id=str(data["session_id"]),
        role=Role(str(data["role"])),
        content=record.document,
        created_at=_dt(data["created_at"]),
        metadata=dict(data.get("metadata") or {}) or None,
        history_only=bool(data.get("history_only", False)),
        seq=int(data["seq"]),
    )


def insight_to_record(insight: Insight, embedding: npt.NDArray[np.float32]) -> Record:
    data = {
        "kind": insight.kind.value,
        "confidence": float(insight.confidence),
        "evidence": insight.evidence,
        "level": insight.level.value,
        "times_seen": insight.times_seen,
        "created_at": _ts(insight.created_at),
        "updated_at": _ts(insight.updated_at),
        "valid_from": _ts(insight.valid_from),
        "valid_to": _ts(insight.valid_to) if insight.valid_to else None,
        "superseded_by": insight.superseded_by,
        "slot": insight.slot,
    }
    if insight.retracted_at is not None:
        data["retracted_at"] = _ts(insight.retracted_at)
        data["retraction_reason"] = insight.retraction_reason
    if insight.original_kind is not None:
        data["original_kind"] = insight.original_kind
    packed = _pack(insight.user_id, INS, data)
    return Record(insight.id, insight.user_id, INS, insight.text, packed, vector_codec.as_stored(embedding))


def record_to_insight(record: Record) -> Insight:
    """Rebuild an insight (trusted: it was validated before it was written)."""
    data = _unpack(record)
    valid_to = data.get("valid_to")
    retracted_at = data.get("retracted_at")
    return Insight.model_construct(
        id=record.id,
        user_id=record.user_id,
        kind=InsightKind(str(data["kind"])),
        text=record.document,
        confidence=float(data["confidence"]),
        evidence=list(data.get("evidence") or []),
        level=InsightLevel(str(data.get("level", "explicit"))),
        times_seen=int(data.get("times_seen", 1)),
        created_at=_dt(data["created_at"]),
        updated_at=_dt(data["updated_at"]),
        valid_from=_dt(data["valid_from"]),
        valid_to=_dt(valid_to) if valid_to else None,
        superseded_by=data.get("superseded_by") or None,
        slot=data.get("slot") or None,
        retracted_at=_dt(retracted_at) if retracted_at else None,
        retraction_reason=data.get("retraction_reason") or None,
        original_kind=data.get("original_kind") or None,
    )


def card_line_id(text: str) -> str:
    """The stable id of a card line (``c_`` and 8 hex digits): a function of its normalised text, so the same
    line keeps its id across writes and reopens, and an LLM can name it."""
    return "c_" + hashlib.sha256(normalise(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]


_CARD_REF = re.compile(r"^\s*\[?\s*(c_[0-9a-f]{8})\b\s*\]?\s*[:\-]?\s*(.*)$", re.S)


def split_card_ref(text: str) -> tuple[str | None, str]:
    """``("c_1a2b3c4d", "Lives in Porto")`` for ``"[c_1a2b3c4d] Lives in Porto"``; ``(None, text)`` without an id."""
    match = _CARD_REF.match(text)
    if match is None:
        return None, text.strip()
    return match.group(1), match.group(2).strip()


@dataclass(frozen=True)
class CardEntry:
    """One card line: its stable id, text, and the insights (or the slot) it states.

    ``insights`` are ids of the insights the line states; superseding, retracting or correcting them updates or
    removes the line. ``slot`` is the single-valued aspect the line is about, when known.
    """

    text: str
    insights: tuple[str, ...] = ()
    slot: str | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", card_line_id(self.text))


@dataclass(frozen=True)
class Profile:
    """A user's card (``entries``; ``card`` is their texts) and summary.

    Build it from ``entries``, or from ``card`` texts alone (lines then state no insight yet).
    """

    card: tuple[str, ...] = ()
    summary: str = ""
    entries: tuple[CardEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.entries:
            object.__setattr__(self, "card", tuple(e.text for e in self.entries))
        elif self.card:
            object.__setattr__(self, "entries", tuple(CardEntry(text=t) for t in self.card))


def profile_to_record(user_id: str, profile: Profile, embedding: npt.NDArray[np.float32]) -> Record:
    entries = [
        {"id": e.id, "text": e.text, "insights": list(e.insights), **({"slot": e.slot} if e.slot else {})}
        for e in profile.entries
    ]
    return Record(
        id=profile_record_id(user_id),
        user_id=user_id,
        type=USR,
        document=json.dumps(
            {"card": list(profile.card), "summary": profile.summary, "entries": entries}, ensure_ascii=False
        ),
        metadata={"user_id": user_id, "type": USR},
        embedding=vector_codec.as_stored(embedding),
    )


def record_to_profile(record: Record) -> Profile:
    """Rebuild a profile; an old record whose card is only a list of strings gives unlinked entries."""
    data = json.loads(record.document)
    summary = str(data.get("summary", ""))
    raw = data.get("entries")
    if isinstance(raw, list) and raw:
        entries = tuple(
            CardEntry(
                text=str(e["text"]),
                insights=tuple(str(i) for i in e.get("insights") or ()),
                slot=e.get("slot") or None,
                id=str(e.get("id") or ""),
            )
            for e in raw
            if isinstance(e, dict) and isinstance(e.get("text"), str)
        )
        return Profile(summary=summary, entries=entries)
    return Profile(card=tuple(str(c) for c in data.get("card", [])), summary=summary)


#: Collection metadata key saying where a shard keeps its records' vectors. ``"metadata"``: in each record's
#: metadata under :data:`VECTOR_KEY` (:func:`.vector_codec.encode`: int8 codes with a scale, the form every record
#: is built with: :func:`.vector_codec.as_stored`), while Chroma's own index holds a two-number placeholder.
#: Personal never asks Chroma to search (it ranks in memory), and chromadb loads a collection's whole HNSW index
#: into memory at its first touch and keeps it: ~1.2 KB a record at 256 dimensions (170 MB at 100,000), ~150
#: bytes with the placeholder. Shards created before this layout (no key) keep vectors in the index.
VECTORS_AT = "personal_vectors"
VECTORS_IN_METADATA = "metadata"
VECTOR_KEY = "personal_vector"


def vectors_in_metadata(collection_metadata: dict[str, Any] | None) -> bool:
    """Whether a shard collection with this metadata keeps vectors in its records' metadata."""
    return (collection_metadata or {}).get(VECTORS_AT) == VECTORS_IN_METADATA


def chroma_rows(
    records: Sequence[Record], in_metadata: bool
) -> tuple[list[dict[str, Scalar]], npt.NDArray[np.float32]]:
    """The ``metadatas`` and ``embeddings`` of a Chroma upsert of ``records``: their vectors as embeddings, or
    (``in_metadata``) inside each metadata with a distinct two-number placeholder per record as the embedding."""
    if not in_metadata:
        return [r.metadata for r in records], np.stack([np.asarray(r.embedding, dtype=np.float32) for r in records])
    metadatas: list[dict[str, Scalar]] = [
        {**r.metadata, VECTOR_KEY: vector_codec.encode(r.embedding, as_int8=True)} for r in records
    ]
    # distinct points on the unit circle: many equal points make hnswlib's inserts slow, and a cosine index
    # writes each vector's norm to its length.bin (an "l2" one leaves that buffer uninitialised: freed heap)
    angles = np.array([zlib.crc32(r.id.encode()) / 2**32 * 2 * np.pi for r in records], dtype=np.float64)
    return metadatas, np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


#: Ids of records whose damaged vector was logged already (once per process; bounded).
_DAMAGE_LOGGED: set[str] = set()


def _decoded(text: str, dimension: int, record_id: str) -> npt.NDArray[np.float32]:
    """The vector a record keeps in its metadata; a damaged one (not decodable, or not ``dimension`` finite
    numbers) is read as zeros and logged (ERROR, once per record and process), so one bad record never makes its
    user unloadable: it is still found by its words. Its vector is lost: a later rewrite of the record (an
    update, an erasure's shard rebuild) stores the zeros; observing the message again under a new id, or
    ``reembed()`` to another embedder, computes a new one."""
    try:
        vector = vector_codec.decode(text)
        if vector.shape != (dimension,) or not np.isfinite(vector).all():
            raise ValueError(f"{vector.size} numbers, expected {dimension} finite ones")
    except ValueError as exc:
        if record_id not in _DAMAGE_LOGGED:
            if len(_DAMAGE_LOGGED) > 100_000:
                _DAMAGE_LOGGED.clear()
            _DAMAGE_LOGGED.add(record_id)
            logger.error("record %s has a damaged vector in its metadata (%s); read as zeros", record_id, exc)
        return np.zeros(dimension, dtype=np.float32)
    return vector


def records_from_get(got: Any, dimension: int) -> list[Record]:
    """Records from a Chroma ``get`` result (documents, metadatas, embeddings included); a vector kept in the
    metadata (:data:`VECTOR_KEY`) wins over the embedding, and a missing vector is a zero vector of ``dimension``
    (a damaged one too, logged: see :func:`_decoded`)."""
    metadatas = [dict(m or {}) for m in got["metadatas"]]
    kept = [m.pop(VECTOR_KEY, None) for m in metadatas]
    embeddings = got.get("embeddings")
    # one float32 array for the page (rows are views of it): no small array per record to fragment the heap;
    # whoever keeps a record's vector beyond the page copies it (UserState.apply does)
    matrix = np.asarray(embeddings, dtype=np.float32) if embeddings is not None and len(embeddings) else None
    if matrix is not None and matrix.ndim == 2 and matrix.shape[1] != dimension:
        matrix = None  # the index holds placeholders: a vector not in the metadata is a zero vector
    if any(isinstance(k, str) for k in kept):
        if matrix is None:
            matrix = np.zeros((len(kept), dimension), np.float32)
        for i, text in enumerate(kept):
            if isinstance(text, str):
                matrix[i] = _decoded(text, dimension, got["ids"][i])
    records: list[Record] = []
    for i, record_id in enumerate(got["ids"]):
        metadata = metadatas[i]
        vector = matrix[i] if matrix is not None else None
        records.append(
            Record(
                id=record_id,
                user_id=str(metadata.get("user_id", "")),
                type=str(metadata.get("type", "")),
                document=got["documents"][i] or "",
                metadata=metadata,
                embedding=vector if vector is not None else np.zeros(dimension, dtype=np.float32),
            )
        )
    return records
