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


def message_to_record(stored: StoredMessage, embedding: npt.NDArray[np.float32]) -> Record:
    m = stored.message
    return Record(
        id=message_record_id(m.user_id, m.id),
        user_id=m.user_id,
        type=MSG,
        document=m.content,
        metadata={
            "user_id": m.user_id,
            "type": MSG,
            "message_id": m.id,
            "session_id": m.session_id,
            "role": m.role.value,
            "created_at": _ts(m.created_at),
            "seq": stored.seq,
            "meta_json": json.dumps(m.metadata, default=str, ensure_ascii=False),
        },
        embedding=embedding,
    )


def record_to_message(record: Record) -> StoredMessage:
    md = record.metadata
    message = Message(
        id=str(md["message_id"]),
        user_id=record.user_id,
        session_id=str(md["session_id"]),
        role=Role(str(md["role"])),
        content=record.document,
        created_at=_dt(md["created_at"]),
        metadata=json.loads(str(md.get("meta_json", "{}"))),
    )
    return StoredMessage(message=message, seq=int(md["seq"]))


def insight_to_record(insight: Insight, embedding: npt.NDArray[np.float32]) -> Record:
    return Record(
        id=insight.id,
        user_id=insight.user_id,
        type=INS,
        document=insight.text,
        metadata={
            "user_id": insight.user_id,
            "type": INS,
            "kind": insight.kind.value,
            "confidence": float(insight.confidence),
            "evidence_json": json.dumps(insight.evidence, ensure_ascii=False),
            "level": insight.level.value,
            "times_seen": insight.times_seen,
            "created_at": _ts(insight.created_at),
            "updated_at": _ts(insight.updated_at),
            "valid_from": _ts(insight.valid_from),
            "valid_to": _ts(insight.valid_to) if insight.valid_to else 0.0,
            "superseded_by": insight.superseded_by or "",
        },
        embedding=embedding,
    )


def record_to_insight(record: Record) -> Insight:
    md = record.metadata
    valid_to = float(md.get("valid_to", 0.0) or 0.0)
    return Insight(
        id=record.id,
        user_id=record.user_id,
        kind=InsightKind(str(md["kind"])),
        text=record.document,
        confidence=float(md["confidence"]),
        evidence=json.loads(str(md.get("evidence_json", "[]"))),
        level=InsightLevel(str(md.get("level", "explicit"))),
        times_seen=int(md.get("times_seen", 1)),
        created_at=_dt(md["created_at"]),
        updated_at=_dt(md["updated_at"]),
        valid_from=_dt(md["valid_from"]),
        valid_to=_dt(valid_to) if valid_to else None,
        superseded_by=str(md.get("superseded_by") or "") or None,
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
