"""Pydantic types of the user model: messages, insights, the model itself and a rendered context."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .errors import InvalidInputError
from .ids import new_id

#: Longest accepted user id, in characters.
MAX_USER_ID_CHARS = 256
#: Longest accepted message, in characters (about 2 MB of text): its content plus the JSON of its metadata.
MAX_MESSAGE_CHARS = 2_000_000


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def describe_validation_error(exc: Exception) -> str:
    """A one-line, field-naming summary of a pydantic ``ValidationError``."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors()[:3]:
        where = ".".join(str(x) for x in error.get("loc", ())) or "value"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is an acceptable user id, else raise :class:`InvalidInputError`.

    A user id is a non-blank string of at most :data:`MAX_USER_ID_CHARS` characters without control
    characters. It is used verbatim (never stripped or lower-cased): ``"Ann"`` and ``"ann"`` are two users.
    """
    if not isinstance(user_id, str):
        raise InvalidInputError(f"user_id must be a str, got {type(user_id).__name__}")
    if not user_id.strip():
        raise InvalidInputError("user_id must be a non-empty, non-blank string")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidInputError(f"user_id is {len(user_id)} characters long; the limit is {MAX_USER_ID_CHARS}")
    if _has_control_chars(user_id):
        raise InvalidInputError("user_id must not contain control characters")
    return user_id


def validate_session_id(session_id: object) -> str:
    """Like :func:`validate_user_id`, for session ids."""
    try:
        return validate_user_id(session_id)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("user_id", "session_id")) from None


class Role(str, Enum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    OTHER = "other"


class InsightKind(str, Enum):
    """What an insight says about the user."""

    FACT = "fact"
    PREFERENCE = "preference"
    GOAL = "goal"
    BELIEF = "belief"
    KNOWLEDGE = "knowledge"
    EMOTION = "emotion"
    TRAIT = "trait"
    RELATIONSHIP = "relationship"


class InsightLevel(str, Enum):
    """Whether the user said it (explicit) or it was inferred from what they said."""

    EXPLICIT = "explicit"
    INFERRED = "inferred"


class Message(BaseModel):
    """One conversation turn. ``id`` is yours to set; insight evidence refers to it.

    Size limit: ``content`` plus the JSON text of ``metadata`` (as stored: non-JSON values as their ``str()``)
    may hold at most :data:`MAX_MESSAGE_CHARS` characters together. Metadata is stored with the message, so a
    30 MB image in it is refused like a 30 MB text (:class:`InvalidInputError` from ``observe``, before
    anything is stored); keep large attachments elsewhere and put a reference in the metadata.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: new_id("msg"), min_length=1, max_length=256)
    user_id: str
    session_id: str = "default"
    role: Role
    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    created_at: datetime = Field(default_factory=utcnow)
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: Kept only as session history for the framework to replay (a tool result, tool-call plumbing, text
    #: Personal itself produced): never ranked, quoted in a context, or derived from.
    history_only: bool = False

    @field_validator("user_id")
    @classmethod
    def _check_user_id(cls, value: str) -> str:
        return validate_user_id(value)

    @field_validator("session_id")
    @classmethod
    def _check_session_id(cls, value: str) -> str:
        return validate_session_id(value)

    @field_validator("content")
    @classmethod
    def _check_content(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message content must not be blank")
        return value

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("metadata")
    @classmethod
    def _check_metadata_size(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if not value:
            return value
        content = info.data.get("content")
        budget = MAX_MESSAGE_CHARS - (len(content) if isinstance(content, str) else 0)
        try:
            size = len(json.dumps(value, ensure_ascii=False, default=str))
        except (ValueError, TypeError, RecursionError):
            return value  # not storable as JSON at all: refused with its own message when stored
        if size > budget:
            raise ValueError(
                f"metadata is {size:,} characters of JSON; content and metadata together may hold at most "
                f"{MAX_MESSAGE_CHARS:,} characters (store large attachments elsewhere and keep a reference)"
            )
        return value


class Insight(BaseModel):
    """Something the model believes about a user, with confidence, evidence and validity interval."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("ins"))
    user_id: str
    kind: InsightKind
    text: str = Field(min_length=1, max_length=4000)
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)
    level: InsightLevel = InsightLevel.EXPLICIT
    times_seen: int = Field(default=1, ge=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    valid_from: datetime = Field(default_factory=utcnow)
    valid_to: datetime | None = None
    superseded_by: str | None = None
    #: The single-valued aspect this insight states ("residence", "diet", "taste:jazz"), if any.
    slot: str | None = None
    #: When a person (or the deletion of all its evidence) retracted the insight: it stays in history but is never
    #: shown in context, search or the card, and is not derived again from the same evidence.
    retracted_at: datetime | None = None
    retraction_reason: str | None = None
    #: The kind the reasoner gave when it was not one of :class:`InsightKind` (e.g. "allergy" mapped to fact).
    original_kind: str | None = None

    @field_validator("user_id")
    @classmethod
    def _check_user_id(cls, value: str) -> str:
        return validate_user_id(value)

    @field_validator("created_at", "updated_at", "valid_from", "valid_to", "retracted_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @property
    def is_current(self) -> bool:
        """True unless the insight was superseded, closed (``valid_to`` set) or retracted."""
        return self.valid_to is None and self.retracted_at is None

    @property
    def is_retracted(self) -> bool:
        """True when the insight was retracted (wrong, not merely outdated)."""
        return self.retracted_at is not None


class UserModel(BaseModel):
    """Everything Personal holds about one user."""

    user_id: str
    card: list[str] = Field(default_factory=list)
    summary: str = ""
    insights: list[Insight] = Field(default_factory=list)

    def current_insights(self) -> list[Insight]:
        """Insights that have not been superseded."""
        return [i for i in self.insights if i.is_current]


ContextSource = Literal["card", "insight", "summary", "message"]


class ContextItem(BaseModel):
    """One piece of a rendered :class:`UserContext`."""

    source: ContextSource
    id: str
    text: str
    tokens: int
    evidence: list[str] = Field(default_factory=list)
    score: float = 0.0


class UserContext(BaseModel):
    """What goes into a prompt: rendered ``text`` (exactly ``tokens`` tokens) and the items it holds."""

    user_id: str
    query: str = ""
    text: str = ""
    tokens: int = 0
    max_tokens: int = 0
    items: list[ContextItem] = Field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    @property
    def evidence(self) -> list[str]:
        """Message ids covered by the items (insight evidence and raw message ids), in order, unique."""
        seen: dict[str, None] = {}
        for item in self.items:
            if item.source == "message":
                seen.setdefault(item.id, None)
            for ev in item.evidence:
                seen.setdefault(ev, None)
        return list(seen)
