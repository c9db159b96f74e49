"""Conversions between LlamaIndex ``ChatMessage`` and Personal's core messages, and message token counts.

A ChatMessage is stored in the core as a :class:`personal_core.Message`: its text is the content the reasoner
reads; what text cannot hold (the original role, ``additional_kwargs`` such as ``tool_call_id``, tool-call
blocks) goes to ``metadata["llamaindex"]`` so the message can be rebuilt for the chat history. Media blocks
(images, audio, video, documents) are not stored; a placeholder such as ``[image]`` stands in for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ToolCallBlock,
    VideoBlock,
)
from pydantic import ValidationError

from personal_core import OPEN_TAG, InvalidInputError, Message, TokenCounter

logger = logging.getLogger(__name__)

#: ``additional_kwargs`` key holding the core message id of a ChatMessage (makes re-puts idempotent).
ID_KEY = "personal_id"
#: ``Message.metadata`` key holding what is needed to rebuild the ChatMessage.
META_KEY = "llamaindex"
#: How the core's context block starts; such system messages are ours.
CONTEXT_OPEN_TAG = OPEN_TAG
#: Longest placeholder text for a tool call, in characters.
MAX_PLACEHOLDER_CHARS = 2000

_CORE_ROLE: dict[MessageRole, str] = {
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
}
_FROM_CORE_ROLE: dict[str, MessageRole] = {
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
    "system": MessageRole.SYSTEM,
    "other": MessageRole.TOOL,
}
_MEDIA: tuple[tuple[type[Any], str], ...] = (
    (ImageBlock, "[image]"),
    (AudioBlock, "[audio]"),
    (VideoBlock, "[video]"),
    (DocumentBlock, "[document]"),
)
#: Roles that cannot open a chat history (their turn began with a message that was cut off).
ORPHAN_ROLES = frozenset(
    {MessageRole.ASSISTANT, MessageRole.TOOL, MessageRole.FUNCTION, MessageRole.CHATBOT, MessageRole.MODEL}
)


def core_role(role: MessageRole) -> str:
    """The core role of a LlamaIndex role: user, assistant (also chatbot/model), system (also developer), other."""
    return _CORE_ROLE.get(role, "other")


def text_of(message: ChatMessage) -> str:
    """The text of a message: its text blocks joined by newlines ("" when it has none)."""
    return "\n".join(block.text for block in message.blocks if isinstance(block, TextBlock))


def check_message(message: object, where: str = "message") -> ChatMessage:
    """``message`` if it is a ChatMessage, else :class:`InvalidInputError`."""
    if not isinstance(message, ChatMessage):
        raise InvalidInputError(f"{where} must be a llama_index ChatMessage, got {type(message).__name__}")
    return message


def check_messages(messages: object) -> list[ChatMessage]:
    """``messages`` as a list of ChatMessages, else :class:`InvalidInputError`."""
    if isinstance(messages, (str, bytes, ChatMessage)) or not isinstance(messages, Sequence):
        raise InvalidInputError(f"messages must be a list of ChatMessage, got {type(messages).__name__}")
    return [check_message(m, f"messages[{i}]") for i, m in enumerate(messages)]


def message_id(message: ChatMessage) -> str | None:
    """The core id stored in the message's ``additional_kwargs``, if any."""
    value = message.additional_kwargs.get(ID_KEY)
    return value if isinstance(value, str) and value.strip() else None


def is_context_message(message: ChatMessage) -> bool:
    """True for the system message carrying Personal's context block (never recorded as history)."""
    return message.role == MessageRole.SYSTEM and text_of(message).lstrip().startswith(CONTEXT_OPEN_TAG)


def _json_kwargs(message: ChatMessage) -> dict[str, Any]:
    kwargs = {k: v for k, v in message.additional_kwargs.items() if k != ID_KEY}
    if not kwargs:
        return {}
    try:
        dumped = message.model_copy(update={"additional_kwargs": kwargs}).model_dump(
            mode="json", include={"additional_kwargs"}
        )
        out: dict[str, Any] = dumped["additional_kwargs"]
        json.dumps(out)
        return out
    except (TypeError, ValueError) as exc:
        logger.warning("additional_kwargs of a %s message are not JSON-serialisable; not stored: %s", message.role, exc)
        return {}


def to_core(message: ChatMessage, new_id: str) -> dict[str, Any] | None:
    """The core message dict (``id``, ``role``, ``content``, ``metadata``) for ``message``, or None if it is empty.

    ``new_id`` is used when the message carries no :data:`ID_KEY`.
    """
    text = text_of(message)
    tool_calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    placeholder = False
    if not text.strip():
        parts = [label for block in message.blocks for kind, label in _MEDIA if isinstance(block, kind)]
        for call in tool_calls:
            args = call.tool_kwargs if isinstance(call.tool_kwargs, str) else json.dumps(call.tool_kwargs, default=str)
            parts.append(f"[tool call: {call.tool_name} {args}]"[:MAX_PLACEHOLDER_CHARS])
        text = " ".join(parts)
        placeholder = True
    if not text.strip():
        return None
    meta: dict[str, Any] = {"role": message.role.value}
    kwargs = _json_kwargs(message)
    if kwargs:
        meta["kwargs"] = kwargs
    if tool_calls:
        meta["tool_calls"] = [b.model_dump(mode="json") for b in tool_calls]
    if placeholder:
        meta["placeholder"] = True
    return {
        "id": message_id(message) or new_id,
        "role": core_role(message.role),
        "content": text,
        "metadata": {META_KEY: meta},
        # tool results and tool-call placeholders are session history only: never quoted back or learnt from
        "history_only": placeholder or message.role == MessageRole.TOOL,
    }


def from_core(message: Message, *, with_id: bool) -> ChatMessage:
    """Rebuild the ChatMessage a core message was stored from (``with_id``: keep its id in additional_kwargs)."""
    meta = message.metadata.get(META_KEY)
    meta = meta if isinstance(meta, dict) else {}
    try:
        role = MessageRole(meta.get("role", ""))
    except ValueError:
        role = _FROM_CORE_ROLE.get(message.role.value, MessageRole.USER)
    tool_calls: list[ToolCallBlock] = []
    for raw in meta.get("tool_calls", ()) or ():
        try:
            tool_calls.append(ToolCallBlock.model_validate(raw))
        except ValidationError:
            logger.warning("dropping an unreadable stored tool call of message %s", message.id)
    blocks: list[Any] = [] if (meta.get("placeholder") and tool_calls) else [TextBlock(text=message.content)]
    blocks.extend(tool_calls)
    kwargs = dict(meta.get("kwargs", {}) or {})
    if with_id:
        kwargs[ID_KEY] = message.id
    return ChatMessage(role=role, blocks=blocks, additional_kwargs=kwargs)


def without_id(message: ChatMessage) -> ChatMessage:
    """A shallow copy of ``message`` without :data:`ID_KEY` (what is handed to LLMs)."""
    if ID_KEY not in message.additional_kwargs:
        return message.model_copy()
    kwargs = {k: v for k, v in message.additional_kwargs.items() if k != ID_KEY}
    return message.model_copy(update={"additional_kwargs": kwargs})


def message_tokens(message: ChatMessage, counter: TokenCounter) -> int:
    """Tokens of a message as sent: its text, plus its tool calls as JSON (exact with ``counter``)."""
    total = counter.count(text_of(message))
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            total += counter.count(block.model_dump_json())
    legacy = message.additional_kwargs.get("tool_calls")
    if legacy:
        total += counter.count(json.dumps(legacy, default=str))
    return total


def query_of(input: object, history: Sequence[ChatMessage]) -> str:
    """The text to rank the user model against: ``input`` (str or ChatMessage), else the last user message."""
    if isinstance(input, ChatMessage):
        return text_of(input)
    if isinstance(input, str) and input.strip():
        return input
    if input is not None and not isinstance(input, str):
        raise InvalidInputError(f"input must be a str, a ChatMessage or None, got {type(input).__name__}")
    for message in reversed(history):
        if message.role == MessageRole.USER:
            text = text_of(message)
            if text.strip():
                return text
    return ""
