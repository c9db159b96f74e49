"""Conversions between LangChain messages and Personal's messages, and where to find the user and session ids.

LangChain ``HumanMessage`` -> role ``user``, ``AIMessage`` -> ``assistant``, ``SystemMessage`` -> ``system``, anything
else (``ToolMessage``, ...) -> ``other``. A message's LangChain ``id`` becomes the Personal message id (so insight
evidence refers to it); a message without one gets a fresh id. What the text alone does not hold (tool calls, the
tool call id, structured content, names) is kept in the message metadata under ``"langchain"``, so a stored message
comes back as the same kind of LangChain message.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
    messages_from_dict,
)

from personal_core import InvalidInputError, Message, UserModeler

logger = logging.getLogger(__name__)

#: Metadata key under which the LangChain-only parts of a message are kept.
METADATA_KEY = "langchain"
#: Session used when none is configured.
DEFAULT_SESSION = "default"
#: Longest message id Personal accepts; longer LangChain ids are hashed.
MAX_ID_CHARS = 256

CoreMessage = dict[str, Any]


def resolve_modeler(source: object, what: str) -> UserModeler:
    """The :class:`UserModeler` behind ``source`` (a ``UserModeler`` or a ``PersonalMemory``)."""
    if isinstance(source, UserModeler):
        return source
    modeler = getattr(source, "modeler", None)
    if isinstance(modeler, UserModeler):
        return modeler
    raise InvalidInputError(f"{what} needs a PersonalMemory or a UserModeler, got {type(source).__name__}")


def check_id(value: object, name: str) -> str:
    """``value`` if it is a non-blank string, else :class:`InvalidInputError` naming ``name``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty, non-blank string")
    return value


def role_of(message: BaseMessage) -> str:
    """Personal's role for a LangChain message."""
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, ChatMessage):
        return {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant", "system": "system"}.get(
            message.role, "other"
        )
    return "other"


def message_text(message: BaseMessage) -> str:
    """The plain text of a message (text blocks of structured content joined)."""
    return str(message.text)


def _tool_calls_text(message: BaseMessage) -> str:
    if not isinstance(message, AIMessage) or not message.tool_calls:
        return ""
    calls = [
        f"{call['name']}({json.dumps(call.get('args', {}), ensure_ascii=False, default=str)})"
        for call in message.tool_calls
    ]
    return "[tool calls] " + "; ".join(calls)


def _message_id(message: BaseMessage) -> str | None:
    if isinstance(message.id, str) and message.id.strip():
        if len(message.id) <= MAX_ID_CHARS:
            return message.id
        return "lc_" + hashlib.sha256(message.id.encode("utf-8", "surrogatepass")).hexdigest()
    return None  # the core derives one from the session, role and content: a resent turn is stored once


def to_core(message: object, index: int = 0, *, keep_system: bool = True) -> CoreMessage | None:
    """A Personal message dict for a LangChain message, or None when it holds nothing to remember.

    A message without text (an ``AIMessage`` holding only tool calls gets a short text rendering of its calls)
    is skipped, and so are system messages unless ``keep_system``. Tool results and tool-call plumbing are kept
    as history only (``history_only``: replayed to the framework, never quoted in a context or learnt from).
    Anything that is not a ``BaseMessage`` raises :class:`InvalidInputError`.
    """
    if not isinstance(message, BaseMessage):
        raise InvalidInputError(f"message {index} is a {type(message).__name__}, not a LangChain BaseMessage")
    if isinstance(message, BaseMessageChunk):
        message = message_chunk_to_message(message)
    if isinstance(message, SystemMessage) and not keep_system:
        return None
    plain = message_text(message)
    text = plain or _tool_calls_text(message)
    if not text.strip():
        logger.debug("skipping a %s message without text", message.type)
        return None
    extras = message.model_dump(exclude={"content", "id", "type"}, exclude_defaults=True)
    kept: dict[str, Any] = {"type": message.type, **extras}
    if message.content != text:
        kept["content"] = message.content
    core: CoreMessage = {
        "role": role_of(message),
        "content": text,
        "metadata": {METADATA_KEY: kept},
        "history_only": isinstance(message, ToolMessage) or not plain.strip(),
    }
    message_id = _message_id(message)
    if message_id is not None:
        core["id"] = message_id
    return core


def to_core_messages(messages: Sequence[object], *, keep_system: bool = True) -> list[CoreMessage]:
    """:func:`to_core` over a sequence, skipping messages without text (and system ones unless ``keep_system``)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError(f"messages must be a sequence of LangChain messages, got {type(messages).__name__}")
    out = []
    for index, message in enumerate(messages):
        converted = to_core(message, index, keep_system=keep_system)
        if converted is not None:
            out.append(converted)
    return out


def current_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages of the latest turn: from the last human message on (all of them if there is none).

    What an agent run adds; earlier messages were recorded by earlier runs, or are history a client resent.
    """
    for index in range(len(messages) - 1, -1, -1):
        if role_of(messages[index]) == "user":
            return list(messages[index:])
    return list(messages)


def to_langchain(message: Message) -> BaseMessage:
    """The LangChain message for a stored Personal message (same id; same type when it came from LangChain)."""
    kept = message.metadata.get(METADATA_KEY)
    if isinstance(kept, Mapping) and isinstance(kept.get("type"), str):
        data = {k: v for k, v in kept.items() if k != "type"}
        data.setdefault("content", message.content)
        data["id"] = message.id
        try:
            return messages_from_dict([{"type": kept["type"], "data": data}])[0]
        except Exception as exc:  # noqa: BLE001 - fall back to the role: the text is what matters
            logger.debug("could not rebuild LangChain message %s (%s); using its role", message.id, exc)
    role = message.role.value
    if role == "user":
        return HumanMessage(content=message.content, id=message.id)
    if role == "assistant":
        return AIMessage(content=message.content, id=message.id)
    if role == "system":
        return SystemMessage(content=message.content, id=message.id)
    return ChatMessage(role=role, content=message.content, id=message.id)


def query_text(messages: Sequence[BaseMessage]) -> str:
    """The text to fetch context for: the latest human message, else the latest message with text."""
    for message in reversed(messages):
        if role_of(message) == "user" and message_text(message).strip():
            return message_text(message)
    for message in reversed(messages):
        if message_text(message).strip():
            return message_text(message)
    return ""


def _lookup(source: object, key: str) -> object | None:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def user_id_from(
    context: object, configurable: Mapping[str, Any] | None, who: str, *, runtime_context: bool = True
) -> str:
    """The user id from a runtime context (``user_id`` key or attribute) or ``config["configurable"]``.

    Raises :class:`InvalidInputError` naming ``config["configurable"]["user_id"]`` (and the runtime context,
    where ``who`` has one) when neither holds one, or when the value is not a non-blank str.
    """
    value = _lookup(context, "user_id")
    where = "the runtime context's user_id"
    if value is None:
        value = (configurable or {}).get("user_id")
        where = 'config["configurable"]["user_id"]'
    if value is None:
        alternative = " or in the agent's runtime context (context={'user_id': ...})" if runtime_context else ""
        raise InvalidInputError(
            f'{who} needs the user id, and config["configurable"]["user_id"] is missing: call it with '
            f"config={{'configurable': {{'user_id': ...}}}}{alternative}"
        )
    return check_id(value, where)


def session_id_from(context: object, configurable: Mapping[str, Any] | None) -> str:
    """The session id: ``session_id`` of the runtime context, then ``config["configurable"]["session_id"]``,
    then ``config["configurable"]["thread_id"]`` (LangGraph's conversation id), else ``"default"``."""
    value = _lookup(context, "session_id")
    where = "the runtime context's session_id"
    for key in ("session_id", "thread_id"):
        if value is not None:
            break
        value = (configurable or {}).get(key)
        where = f'config["configurable"]["{key}"]'
    if value is None:
        return DEFAULT_SESSION
    return check_id(value, where)


def with_context(system: SystemMessage | None, context: str) -> SystemMessage:
    """``system`` with the user's context appended (or a new system message holding only the context)."""
    if system is None:
        return SystemMessage(content=context)
    if isinstance(system.content, str):
        base = system.content.rstrip()
        return SystemMessage(content=f"{base}\n\n{context}" if base else context)
    return SystemMessage(content=[*system.content, {"type": "text", "text": f"\n\n{context}"}])
