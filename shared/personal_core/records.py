"""Pure conversions between model objects and flat storage records (Chroma-shaped, no Chroma import).

A user's data is three kinds of record: messages (``msg``), insights (``ins``) and one profile (``usr``,
holding the card and summary). Record ids never contain the user id itself; they are hashes or random ids.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from .ids import stable_id
from .model import Insight, InsightKind, InsightLevel, Message, Role

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


@dataclass(frozen=True)
class StoredMessage:
    """A message as held in memory, with its insertion order."""

    message: Message
    seq: int


def _pack(user_id: str, kind: str, data: dict[str, Any]) -> dict[str, Scalar]:
    """Chroma metadata: ``user_id`` and ``type`` (filterable), everything else in one JSON field.

    Chroma keeps one row per metadata key; packing makes loading a user ~40% faster (benchmarks/layout.py).
    """
    return {"user_id": user_id, "type": kind, "data": json.dumps(data, ensure_ascii=False, default=str)}


def _unpack(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(str(record.metadata.get("data", "{}")))
    return data


def message_to_record(stored: StoredMessage, embedding: npt.NDArray[np.float32]) -> Record:
    m = stored.message
    data = {
        "message_id": m.id,
        "session_id": m.session_id,
        "role": m.role.value,
        "created_at": _ts(m.created_at),
        "seq": stored.seq,
        "metadata": m.metadata,
        "history_only": m.history_only,
    }
    return Record(message_record_id(m.user_id, m.id), m.user_id, MSG, m.content, _pack(m.user_id, MSG, data), embedding)


def record_to_message(record: Record) -> StoredMessage:
    """Rebuild a stored message (trusted: it was validated before it was written)."""
    data = _unpack(record)
    message = Message.model_construct(
        id=str(data["message_id"]),
        user_id=record.user_id,
        session_id=str(data["session_id"]),
        role=Role(str(data["role"])),
        content=record.document,
        created_at=_dt(data["created_at"]),
        metadata=dict(data.get("metadata") or {}),
        history_only=bool(data.get("history_only", False)),
    )
    return StoredMessage(message=message, seq=int(data["seq"]))


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
    return Record(insight.id, insight.user_id, INS, insight.text, _pack(insight.user_id, INS, data), embedding)


def record_to_insight(record: Record) -> Insight:
    """Rebuild an insight (trusted: it was validated before it was written)."""
    data = _unpack(record)
    valid_to = data.get("valid_to")
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
    )


@dataclass(frozen=True)
class Profile:
    """A user's card and summary."""

    card: tuple[str, ...] = ()
    summary: str = ""


def profile_to_record(user_id: str, profile: Profile, embedding: npt.NDArray[np.float32]) -> Record:
    return Record(
        id=profile_record_id(user_id),
        user_id=user_id,
        type=USR,
        document=json.dumps({"card": list(profile.card), "summary": profile.summary}, ensure_ascii=False),
        metadata={"user_id": user_id, "type": USR},
        embedding=embedding,
    )


def record_to_profile(record: Record) -> Profile:
    data = json.loads(record.document)
    return Profile(card=tuple(data.get("card", [])), summary=str(data.get("summary", "")))
