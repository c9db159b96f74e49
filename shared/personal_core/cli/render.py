"""Pure text rendering of the ``personal`` command's output (data in, lines out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model import Insight, Message, UserContext, UserModel

LAST_MESSAGES = 5
MESSAGE_WIDTH = 100


def oneline(text: str, width: int | None = None) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``width`` characters with "..." when given."""
    flat = " ".join(text.split())
    return flat if width is None or len(flat) <= width else flat[: max(0, width - 3)].rstrip() + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Aligned columns (the last one is not padded); ``right`` holds the indexes of right-aligned columns."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in [list(headers), *rows]:
        cells = []
        for i, cell in enumerate(row):
            if i == len(row) - 1:
                cells.append(cell)
            elif i in right:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return lines


def insight_row(insight: Insight, with_until: bool) -> list[str]:
    row = [
        insight.kind.value,
        f"{insight.confidence:.2f}",
        str(insight.times_seen),
        insight.valid_from.date().isoformat(),
    ]
    if with_until:
        row.append(insight.valid_to.date().isoformat() if insight.valid_to is not None else "current")
    row.append(oneline(insight.text))
    return row


def show_lines(
    user: str,
    model: UserModel,
    messages: Sequence[Message],
    stats: Mapping[str, Any],
    *,
    show_all: bool = False,
    last: int = LAST_MESSAGES,
) -> list[str]:
    """``personal show``: card, summary, insights, stored messages (count + the last few), pending derivation."""
    lines = [f"User: {user}", ""]
    pending = int(stats.get("pending_messages", 0))
    batches = int(stats.get("pending_batches", 0))
    failed = int(stats.get("failed_batches", 0))
    if not (model.card or model.summary or model.insights or messages or pending or batches or failed):
        return [*lines, "Nothing is stored about this user."]
    lines.append("Card:")
    lines.extend([f"  - {oneline(entry)}" for entry in model.card] or ["  (empty)"])
    lines += ["", "Summary:", f"  {oneline(model.summary)}" if model.summary else "  (none)", ""]
    current = model.current_insights()
    superseded = len(model.insights) - len(current)
    if show_all:
        lines.append(f"Insights ({len(current)} current, {superseded} superseded):")
    elif superseded:
        lines.append(f"Insights ({len(current)} current; {superseded} superseded, shown with --all):")
    else:
        lines.append(f"Insights ({len(current)} current):")
    insights = model.insights if show_all else current
    if insights:
        headers = ["KIND", "CONF", "SEEN", "SINCE", *(["UNTIL"] if show_all else []), "TEXT"]
        ordered = sorted(insights, key=lambda i: (not i.is_current, i.kind.value, -i.confidence, i.text))
        lines.extend("  " + line for line in table(headers, [insight_row(i, show_all) for i in ordered], right=(1, 2)))
    else:
        lines.append("  (none)")
    lines.append("")
    shown = list(messages)[-last:] if last > 0 else []
    if not messages:
        lines += ["Messages: none stored", ""]
    else:
        sessions = len({m.session_id for m in messages})
        tail = f"; the last {len(shown)}" if len(shown) < len(messages) else ""
        lines.append(f"Messages ({len(messages)} stored in {sessions} sessions{tail}):")
        rows = [
            [m.created_at.strftime("%Y-%m-%d %H:%M"), m.session_id, m.role.value, oneline(m.content, MESSAGE_WIDTH)]
            for m in shown
        ]
        if rows:
            lines.extend("  " + line for line in table(["WHEN", "SESSION", "ROLE", "TEXT"], rows))
        lines.append("")
    lines.append(
        f"Pending derivation: {pending} messages, {batches} batches"
        + (f", {failed} failed batches (re-run them with retry_failed())" if failed else "")
    )
    return lines


def context_lines(context: UserContext) -> list[str]:
    """``personal context``: the exact text a chain receives, then a table of what went in."""
    lines = [f"--- context for {context.user_id}: {context.tokens} tokens (budget {context.max_tokens}) ---"]
    lines.append(context.text if context.text else "(empty: nothing relevant is known about this user)")
    lines.append(f"--- {len(context.items)} items ---")
    if context.items:
        rows = [
            [item.source, f"{item.score:.3f}", str(item.tokens), ",".join(item.evidence) or "-", oneline(item.text, 80)]
            for item in context.items
        ]
        lines.extend(table(["SOURCE", "SCORE", "TOKENS", "EVIDENCE", "TEXT"], rows, right=(1, 2)))
    return lines


def users_lines(rows: Sequence[tuple[str, int, int, int]]) -> list[str]:
    """``personal users``: one row per user (messages stored, current insights, messages pending derivation)."""
    if not rows:
        return ["No users are stored."]
    body = [[user, str(messages), str(insights), str(pending)] for user, messages, insights, pending in rows]
    return [*table(["USER", "MESSAGES", "INSIGHTS", "PENDING"], body, right=(1, 2, 3)), f"{len(rows)} users"]


def stats_lines(user: str | None, stats: Mapping[str, Any]) -> list[str]:
    rows: list[list[str]] = []
    for name, value in stats.items():
        if isinstance(value, dict):
            if not value:
                rows.append([name, "(none)"])
            rows.extend([f"{name}.{k}", str(v)] for k, v in sorted(value.items()))
        else:
            rows.append([name, str(value)])
    title = f"Stats for {user}" if user is not None else "Stats for all users"
    return [title, *table(["NAME", "VALUE"], rows)]
