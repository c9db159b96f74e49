"""A scripted LLM that records every prompt it receives, and helpers to read our prompts back."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from typing import Any

Chat = list[dict[str, str]]
Reply = str | BaseException | Callable[[Chat], str]

MESSAGE = re.compile(r'<message id="(m\d+)" role="(\w+)" time="([^"]+)">(.*?)</message>', re.S)
INSIGHT = re.compile(r"^(i\d+) \[(\w+) [\d.]+ since [\d-]+\] (.*)$", re.M)


def batch_messages(chat: Chat) -> list[tuple[str, str, str, str]]:
    """(alias, role, time, content) of the messages in a derive prompt."""
    user = next(m["content"] for m in chat if m["role"] == "user")
    return [(a, r, t, c) for a, r, t, c in MESSAGE.findall(user)]


def known_insights(chat: Chat) -> dict[str, str]:
    """alias -> text of the known insights shown in a derive prompt."""
    user = next(m["content"] for m in chat if m["role"] == "user")
    return {alias: text for alias, _, text in INSIGHT.findall(user)}


class ScriptedLLM:
    """Answers from a queue of replies (text, exception, or function of the chat), then from ``responder``.

    Every call's messages are recorded in ``calls`` (deep copies), thread-safely.
    """

    def __init__(self, responder: Callable[[Chat], str] | None = None, replies: list[Reply] | None = None) -> None:
        self.responder = responder or (lambda chat: "{}")
        self.replies: list[Reply] = list(replies or [])
        self.calls: list[Chat] = []
        self._lock = threading.Lock()

    def __call__(self, messages: Chat) -> str:
        with self._lock:
            self.calls.append(copy.deepcopy(messages))
            reply: Reply = self.replies.pop(0) if self.replies else self.responder
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(messages)
        return reply


def rules_responder(rules: list[tuple[str, dict[str, Any]]]) -> Callable[[Chat], str]:
    """A responder that turns user messages matching a regex into insights.

    Each rule is ``(pattern, insight)``; the insight dict may hold ``"supersedes": "<text of old insight>"``.
    Insights already known (same text) are reported as reinforced instead.
    """

    def respond(chat: Chat) -> str:
        known = known_insights(chat)
        by_text = {text: alias for alias, text in known.items()}
        out: dict[str, list[Any]] = {"new_insights": [], "supersessions": [], "reinforced": []}
        for alias, role, _, content in batch_messages(chat):
            if role != "user":
                continue
            for pattern, insight in rules:
                if not re.search(pattern, content, re.I):
                    continue
                item = {k: v for k, v in insight.items() if k != "supersedes"} | {"evidence": [alias]}
                if item["text"] in by_text:
                    out["reinforced"].append(by_text[item["text"]])
                elif "supersedes" in insight and insight["supersedes"] in by_text:
                    out["supersessions"].append({"insight_id": by_text[insight["supersedes"]], "replacement": item})
                else:
                    out["new_insights"].append(item)
        return "Here is the update:\n```json\n" + json.dumps(out) + "\n```"

    return respond
