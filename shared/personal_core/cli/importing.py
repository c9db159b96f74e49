"""``personal import``: bulk-import past conversations (a JSON list or JSONL file) with a progress bar."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from ..errors import InvalidInputError
from ..inputs import coerce_role
from ..model import Message, describe_validation_error, validate_session_id, validate_user_id
from .opening import CLIError, open_modeler

DEFAULT_CHUNK = 50
PROGRESS_WIDTH = 30
_MESSAGE_FIELDS = ("id", "role", "content", "created_at", "metadata")


@dataclass
class _Parsed:
    groups: dict[tuple[str, str], list[Message]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    @property
    def total(self) -> int:
        return sum(len(m) for m in self.groups.values())


def _iter_records(text: str) -> Iterator[tuple[str, object]]:
    """``(where, record)`` pairs; a record is the JSON value, or a ``ValueError`` for an unparsable line."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except ValueError:
        if stripped.startswith("["):
            raise CLIError(
                "the file starts with '[' but is not valid JSON; use a JSON list or one object per line"
            ) from None
    else:
        if isinstance(whole, list):
            for index, item in enumerate(whole, 1):
                yield f"item {index}", item
            return
        if isinstance(whole, dict):
            yield "line 1", whole
            return
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except ValueError as exc:
            yield f"line {number}", ValueError(f"not valid JSON ({exc})")


def _message(user: str, session: str, raw: object, position: int) -> Message:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"a message must be a JSON object, got {type(raw).__name__}")
    data: dict[str, Any] = {k: raw[k] for k in _MESSAGE_FIELDS if k in raw}
    coerce_role(data)  # the same role names the API accepts
    if "id" not in data:  # stable ids make a re-import skip what is already stored
        key = json.dumps([user, session, position, data.get("role"), data.get("content")], default=str)
        data["id"] = "imp-" + hashlib.sha256(key.encode()).hexdigest()[:24]
    try:
        return Message.model_validate({**data, "user_id": user, "session_id": session})
    except ValidationError as exc:
        raise InvalidInputError(describe_validation_error(exc)) from None


def parse_import(text: str, default_user: str | None) -> _Parsed:
    """Group the valid messages of a JSON / JSONL export by (user, session); collect what was skipped."""
    parsed = _Parsed()

    def add(where: str, user_raw: object, session_raw: object, raw: object) -> None:
        try:
            user = validate_user_id(default_user if user_raw is None else user_raw)
            session = validate_session_id("default" if session_raw is None else session_raw)
            position = len(parsed.groups.get((user, session), ()))
            message = _message(user, session, raw, position)
            parsed.groups.setdefault((user, session), []).append(message)
        except InvalidInputError as exc:
            parsed.skipped.append((where, str(exc)))

    for where, record in _iter_records(text):
        if isinstance(record, ValueError):
            parsed.skipped.append((where, str(record)))
        elif not isinstance(record, dict):
            parsed.skipped.append((where, f"expected a JSON object, got {type(record).__name__}"))
        elif record.get("user_id") is None and default_user is None:
            parsed.skipped.append((where, "no user_id (pass --user for files without user ids)"))
        elif "messages" in record:
            messages = record["messages"]
            if not isinstance(messages, list):
                parsed.skipped.append((where, "'messages' must be a list"))
                continue
            for index, raw in enumerate(messages, 1):
                add(f"{where} message {index}", record.get("user_id"), record.get("session_id"), raw)
        else:
            add(where, record.get("user_id"), record.get("session_id"), record)
    return parsed


class Progress:
    """A hand-written progress bar: ``\\r[#####.....] 50% 120/240 messages`` on one stderr line."""

    def __init__(self, total: int, stream: TextIO, enabled: bool, unit: str = "messages") -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0
        self.unit = unit

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        filled = PROGRESS_WIDTH * done // self.total
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {100 * done // self.total:3d}% {done}/{self.total} {self.unit}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.chunk < 1:
        raise CLIError("--chunk must be a positive number")
    default_user = validate_user_id(args.user) if args.user is not None else None
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}") from None
    parsed = parse_import(text, default_user)
    progress = Progress(parsed.total, err, args.progress or err.isatty())
    new = done = 0
    with open_modeler(args, needs_embedder=True) as modeler:
        progress.update(0)
        for (user, session), messages in parsed.groups.items():
            for start in range(0, len(messages), args.chunk):
                chunk = messages[start : start + args.chunk]
                new += len(modeler.observe(user, chunk, session_id=session))
                done += len(chunk)
                progress.update(done)
        progress.finish()
        modeler.flush()
    users = {user for user, _ in parsed.groups}
    lines = [
        f"Imported {new} messages for {len(users)} users in {len(parsed.groups)} sessions"
        + (f" ({parsed.total - new} already stored)." if parsed.total - new else ".")
    ]
    if parsed.skipped:
        lines.append(f"Skipped {len(parsed.skipped)} invalid records:")
        lines.extend(f"  {where}: {why}" for where, why in parsed.skipped)
    print("\n".join(lines), file=out)
    return 0
