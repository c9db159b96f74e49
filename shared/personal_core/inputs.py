"""Caller input -> valid values: one place for every check the public API makes (pure, no I/O).

The facade, the command line and both framework adapters use these, so a rule (what a budget may be, which
role names are accepted, how an insight kind is spelled) is written once. Every failure raises
:class:`~personal_core.errors.InvalidInputError` before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from .context import OPEN_TAG, PREAMBLE
from .errors import InvalidInputError
from .ids import stable_id
from .model import InsightKind, Message, Role, describe_validation_error, validate_session_id

#: Role names other libraries use, mapped to ours; any other unknown role becomes ``other``.
ROLE_ALIASES: dict[str, str] = {"human": "user", "ai": "assistant"}

MessageLike = Message | Mapping[str, Any]
#: How every context block Personal renders starts: a message holding it carries Personal's own output.
RENDERED_BLOCK_START = f"{OPEN_TAG}\n{PREAMBLE}"


def check_non_negative_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{name} must be a non-negative int, got {value!r}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    return value


def check_optional_limit(name: str, value: object) -> int | None:
    """``None`` or an int >= 0."""
    return None if value is None else check_non_negative_int(name, value)


def check_seconds(name: str, value: object, *, extra: str = "") -> float:
    """``value`` as float seconds if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        alternatives = f", {extra}" if extra else ""
        raise InvalidInputError(f"{name} must be a number of seconds >= 0{alternatives}; got {value!r}")
    return float(value)


def check_text(name: str, value: object, *, allow_blank: bool = True) -> str:
    """``value`` if it is a str (non-blank unless ``allow_blank``)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a str, got {type(value).__name__}")
    if not allow_blank and not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string")
    return value


def check_str_collection(name: str, value: object) -> set[str]:
    """``value`` (a collection of str, not a str itself) as a set."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
        raise InvalidInputError(f"{name} must be a collection of str, not a {type(value).__name__}")
    items = list(value)
    if not all(isinstance(v, str) for v in items):
        raise InvalidInputError(f"{name} must be a collection of str")
    return set(items)


def check_kind(value: object) -> InsightKind:
    """An insight kind from its enum member or name."""
    try:
        return InsightKind(value)
    except ValueError:
        known = ", ".join(k.value for k in InsightKind)
        raise InvalidInputError(f"unknown insight kind {value!r}; known kinds: {known}") from None


def check_kinds(values: Sequence[InsightKind | str] | None) -> set[InsightKind] | None:
    """``None`` (every kind) or the set of kinds named."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidInputError("kinds must be a list of insight kinds")
    return {check_kind(v) for v in values}


def coerce_role(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a foreign role name (``human``, ``ai``, anything unknown) mapped to ours."""
    role = data.get("role")
    if isinstance(role, str) and role not in Role._value2member_map_:
        data["role"] = ROLE_ALIASES.get(role, Role.OTHER.value)
    return data


@dataclass(frozen=True)
class Coerced:
    """Validated messages, and the ids derived for those given without one (see :func:`content_id`)."""

    messages: list[Message]
    derived_ids: frozenset[str]


def coerce_messages(user_id: str, messages: object, session_id: str | None = None) -> Coerced:
    """Caller messages (``Message`` objects or ``{"role", "content", ...}`` dicts, one or a list) of ``user_id``
    as validated, storable :class:`Message` objects; ``session_id`` overrides theirs when given.

    A message holding a rendered context block (Personal's own output, e.g. an ask-tool answer) is marked
    ``history_only``: kept as history, never quoted back or learnt from.
    """
    if isinstance(messages, (Message, Mapping)):
        messages = [messages]
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError("messages must be a list of Message objects or {'role', 'content'} dicts")
    session = validate_session_id(session_id) if session_id is not None else None
    out: list[Message] = []
    derived: set[str] = set()
    seen: dict[tuple[str, str, str], int] = {}
    for index, item in enumerate(messages):
        try:
            if isinstance(item, Message):
                if item.user_id != user_id:
                    raise InvalidInputError(f"message {index} belongs to user {item.user_id!r}, not {user_id!r}")
                message = item if session is None else item.model_copy(update={"session_id": session})
            elif isinstance(item, Mapping):
                data = coerce_role(dict(item))
                data["user_id"] = user_id
                if session is not None:
                    data["session_id"] = session
                message = Message.model_validate(data)
                if data.get("id") is None:
                    message = message.model_copy(update={"id": content_id(message, seen)})
                    derived.add(message.id)
            else:
                raise InvalidInputError(f"message {index} is a {type(item).__name__}, not a Message or dict")
        except ValidationError as exc:
            raise InvalidInputError(f"message {index} is invalid: {describe_validation_error(exc)}") from None
        except OverflowError as exc:  # not a ValueError, so pydantic lets it through: a created_at out of range
            raise InvalidInputError(f"message {index} is invalid: created_at: {exc}") from None
        if not message.history_only and RENDERED_BLOCK_START in message.content:
            message = message.model_copy(update={"history_only": True})
        out.append(storable(index, message))
    return Coerced(out, frozenset(derived))


def content_id(message: Message, seen: dict[tuple[str, str, str], int]) -> str:
    """The id of a message given without one: derived from its session, role, content and how many identical
    messages came before it in the same call (``seen`` counts them).

    So a conversation resent whole each turn (the usual chat-API pattern) is recognised as already stored,
    while identical turns within one call stay distinct. Pass ids to keep identical turns sent in separate
    calls apart.
    """
    key = (message.session_id, message.role.value, message.content)
    nth = seen.get(key, 0)
    seen[key] = nth + 1
    return stable_id("msg", *key, str(nth))


def storable(index: int, message: Message) -> Message:
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
