"""The ``personal`` command: look at, export, forget and bulk-import user models from a shell.

Usage::

    personal [--path DIR | --server HOST:PORT] show USER [--all]
    personal ... export USER [--out FILE]
    personal ... forget USER [--yes]
    personal ... stats [USER]
    personal ... import FILE [--user USER] [--chunk N] [--progress]

Errors Personal raises on purpose (invalid input, a locked store, ...) print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from . import __version__
from .errors import InvalidInputError, PersonalError, StoreError
from .model import Insight, Message, Role, describe_validation_error, validate_session_id, validate_user_id
from .modeler import UserModeler
from .store import default_path

EXIT_OK = 0
EXIT_ABORTED = 1
EXIT_ERROR = 2

DEFAULT_CHUNK = 50
PROGRESS_WIDTH = 30
_MESSAGE_FIELDS = ("id", "role", "content", "created_at", "metadata")


class CLIError(PersonalError):
    """A command-line problem reported as one line (bad file, bad --server value, ...)."""


# --------------------------------------------------------------------------------------------------------------
# Opening the store
# --------------------------------------------------------------------------------------------------------------


def _http_client(server: str) -> Any:
    """A ``chromadb.HttpClient`` for ``HOST:PORT`` (store.py builds it: it alone imports chromadb)."""
    from .store import http_client

    host, sep, port_text = server.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CLIError(f"--server must be HOST:PORT, got {server!r}")
    host = host.strip("[]")  # [::1]:8000
    try:
        return http_client(host, int(port_text))
    except Exception as exc:  # noqa: BLE001 - chromadb raises various errors when the server is unreachable
        raise StoreError(f"cannot reach the Chroma server at {server}: {exc}") from None


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[UserModeler]:
    client = _http_client(args.server) if args.server else None
    modeler = UserModeler(None if client is not None else args.path, client=client)
    try:
        yield modeler
    finally:
        modeler.close()


# --------------------------------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------------------------------


def _oneline(text: str) -> str:
    return " ".join(text.split())


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
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


def _insight_row(insight: Insight, with_until: bool) -> list[str]:
    row = [
        insight.kind.value,
        f"{insight.confidence:.2f}",
        str(insight.times_seen),
        insight.valid_from.date().isoformat(),
    ]
    if with_until:
        row.append(insight.valid_to.date().isoformat() if insight.valid_to is not None else "current")
    row.append(_oneline(insight.text))
    return row


# --------------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with _open(args) as modeler:
        model = modeler.user_model(user)
    insights = model.insights if args.all else model.current_insights()
    superseded = len(model.insights) - len(model.current_insights())
    lines = [f"User: {user}", ""]
    if not model.card and not model.summary and not model.insights:
        lines.append("Nothing is stored about this user.")
        print("\n".join(lines), file=out)
        return EXIT_OK
    lines.append("Card:")
    lines.extend([f"  - {_oneline(entry)}" for entry in model.card] or ["  (empty)"])
    lines += ["", "Summary:", f"  {_oneline(model.summary)}" if model.summary else "  (none)", ""]
    current = len(model.current_insights())
    if args.all:
        lines.append(f"Insights ({current} current, {superseded} superseded):")
    elif superseded:
        lines.append(f"Insights ({current} current; {superseded} superseded, shown with --all):")
    else:
        lines.append(f"Insights ({current} current):")
    if insights:
        headers = ["KIND", "CONF", "SEEN", "SINCE", *(["UNTIL"] if args.all else []), "TEXT"]
        ordered = sorted(insights, key=lambda i: (not i.is_current, i.kind.value, -i.confidence, i.text))
        rows = [_insight_row(i, args.all) for i in ordered]
        lines.extend("  " + line for line in _table(headers, rows, right=(1, 2)))
    else:
        lines.append("  (none)")
    print("\n".join(lines), file=out)
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with _open(args) as modeler:
        data = modeler.export(user)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        out.write(text)
        return EXIT_OK
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(
        f"Exported {user}: {len(data['card'])} card entries, {len(data['insights'])} insights, "
        f"{len(data['messages'])} messages to {args.out}",
        file=out,
    )
    return EXIT_OK


def cmd_forget(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with _open(args) as modeler:
        data = modeler.export(user)
        counts = f"{len(data['card'])} card entries, {len(data['insights'])} insights, {len(data['messages'])} messages"
        if not args.yes:
            print(f"Forget everything about {user!r} ({counts})? This cannot be undone. [y/N] ", end="", file=err)
            err.flush()
            try:
                answer = input()
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("Aborted: nothing was removed.", file=err)
                return EXIT_ABORTED
        modeler.forget(user)
    print(f"Forgot {user}: removed {counts}" + (" and the summary." if data["summary"] else "."), file=out)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user) if args.user is not None else None
    with _open(args) as modeler:
        stats = modeler.stats(user)
    rows: list[list[str]] = []
    for name, value in stats.items():
        if isinstance(value, dict):
            if not value:
                rows.append([name, "(none)"])
            rows.extend([f"{name}.{k}", str(v)] for k, v in sorted(value.items()))
        else:
            rows.append([name, str(value)])
    print(f"Stats for {user}" if user is not None else "Stats for all users", file=out)
    print("\n".join(_table(["NAME", "VALUE"], rows)), file=out)
    return EXIT_OK


# --------------------------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------------------------


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
    role = data.get("role")
    if isinstance(role, str) and role not in Role._value2member_map_:
        data["role"] = {"human": "user", "ai": "assistant"}.get(role, "other")
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

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        filled = PROGRESS_WIDTH * done // self.total
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {100 * done // self.total:3d}% {done}/{self.total} messages")
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
    with _open(args) as modeler:
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
    return EXIT_OK


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="personal", description="Inspect and manage Personal's user models.")
    parser.add_argument("--version", action="version", version=f"personal {__version__}")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--path", metavar="DIR", help=f"embedded store directory (default: {default_path()})")
    where.add_argument("--server", metavar="HOST:PORT", help="a `chroma run` server instead of a local directory")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    show = sub.add_parser("show", help="the user's card, summary and insights as a table")
    show.add_argument("user", metavar="USER")
    show.add_argument("--all", action="store_true", help="include superseded insights")
    show.set_defaults(func=cmd_show)

    export = sub.add_parser("export", help="everything held about the user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(func=cmd_export)

    forget = sub.add_parser("forget", help="erase everything about the user")
    forget.add_argument("user", metavar="USER")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(func=cmd_forget)

    stats = sub.add_parser("stats", help="monitoring figures (all users, or one)")
    stats.add_argument("user", metavar="USER", nargs="?")
    stats.set_defaults(func=cmd_stats)

    imp = sub.add_parser(
        "import",
        help="bulk-import past conversations (JSON list or JSONL)",
        description=(
            "Import messages ({user_id, session_id, role, content, id?, created_at?} per JSONL line or in a JSON "
            "list) or conversations ({user_id, session_id, messages: [...]}). Invalid records are skipped and "
            "reported; messages already stored (same id) are skipped."
        ),
    )
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--user", metavar="USER", help="user of records that have no user_id")
    imp.add_argument(
        "--chunk", type=int, default=DEFAULT_CHUNK, help=f"messages per observe() (default {DEFAULT_CHUNK})"
    )
    imp.add_argument("--progress", action="store_true", help="show a progress bar even when stderr is not a terminal")
    imp.set_defaults(func=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``personal`` command; returns the exit code (2 for errors, 1 when a confirmation is declined)."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, sys.stdout, sys.stderr)
    except PersonalError as exc:
        print(f"personal: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("personal: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
