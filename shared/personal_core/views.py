"""Read-only views of a user's state for the facade: stored messages, the export dict, per-user insight counts.

Pure functions over a :class:`~.state.UserState` the caller holds (under the user's lock); no I/O here.
"""

from __future__ import annotations

from typing import Any

from .model import Message
from .state import UserState


def messages_of(state: UserState, session_id: str | None, limit: int | None) -> list[Message]:
    """The user's messages in observation order (one session, or all), the last ``limit`` (``None``: all)."""
    chosen = [s.message for s in state.ordered_messages() if session_id is None or s.session_id == session_id]
    if limit is None:
        return chosen
    return chosen[len(chosen) - limit :] if limit else []


def export_of(user_id: str, state: UserState) -> dict[str, Any]:
    """A JSON-able dict of everything held about the user: card, summary, insights (floats rounded), messages."""
    model = state.user_model()
    return {
        "user_id": user_id,
        "card": model.card,
        "summary": model.summary,
        "insights": [_rounded(i.model_dump(mode="json")) for i in model.insights],
        "messages": [s.message.model_dump(mode="json") for s in state.ordered_messages()],
    }


def current_by_kind(state: UserState) -> dict[str, int]:
    """How many current (not superseded or retracted) insights the user has, by kind."""
    counts: dict[str, int] = {}
    for insight in state.insights.values():
        if insight.is_current:
            counts[insight.kind.value] = counts.get(insight.kind.value, 0) + 1
    return counts


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its float values rounded for reading (``0.85``, not ``0.8500000000000001``)."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()}
