"""The ``personal`` subcommands that look at and manage stored users (import lives in ``importing.py``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from ..model import validate_user_id
from ..modeler import UserModeler
from . import render
from .importing import Progress
from .opening import CLIError, load_embedder, open_modeler

EXIT_OK = 0
EXIT_ABORTED = 1


def _write(out: TextIO, lines: list[str]) -> None:
    print("\n".join(lines), file=out)


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args) as modeler:
        model = modeler.user_model(user)
        messages = modeler.messages(user)
        stats = modeler.stats(user)
    _write(out, render.show_lines(user, model, messages, stats, show_all=args.all, last=args.messages))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args) as modeler:
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
    with open_modeler(args) as modeler:
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
    with open_modeler(args) as modeler:
        stats = modeler.stats(user)
    _write(out, render.stats_lines(user, stats))
    return EXIT_OK


def user_ids(modeler: UserModeler) -> list[str]:
    """Every user id of the store (what was journaled is moved to Chroma first, so it is counted too)."""
    return modeler.user_ids()


def cmd_users(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit is not None and args.limit < 0:
        raise CLIError("--limit must be a non-negative number")
    rows: list[tuple[str, int, int, int]] = []
    with open_modeler(args) as modeler:
        ids = user_ids(modeler)
        for user in ids if args.limit is None else ids[: args.limit]:
            pending = int(modeler.stats(user)["pending_messages"])
            rows.append((user, len(modeler.messages(user)), len(modeler.user_model(user).current_insights()), pending))
    lines = render.users_lines(rows)
    if args.limit is not None and len(ids) > args.limit:
        lines[-1] = f"{len(rows)} of {len(ids)} users (--limit {args.limit})"
    _write(out, lines)
    return EXIT_OK


def cmd_context(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    # a blank query ranks without embedding (no query vector): then any store opens without its embedder
    with open_modeler(args, needs_embedder=bool(args.query.strip())) as modeler:
        context = modeler.context(user, args.query, args.max_tokens)
    if args.text:
        out.write(context.text + ("\n" if context.text and not context.text.endswith("\n") else ""))
    else:
        _write(out, render.context_lines(context))
    return EXIT_OK


def cmd_search(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args, needs_embedder=True) as modeler:
        hits = modeler.search(user, args.query, args.k, kinds=args.kind, include_superseded=args.all)
    if not hits:
        _write(out, ["No insights found."])
        return EXIT_OK
    rows = [
        [f"{hit.score:.3f}", hit.insight.kind.value, f"{hit.insight.confidence:.2f}", render.oneline(hit.insight.text)]
        for hit in hits
    ]
    _write(out, render.table(["SCORE", "KIND", "CONF", "TEXT"], rows, right=(0, 2)))
    return EXIT_OK


# ------------------------------------------------------------------ corrections and re-embedding


def cmd_retract(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args) as modeler:
        insight = modeler.retract(user, args.insight_id, args.reason)
    print(
        f"Retracted {insight.id}: {render.oneline(insight.text)} (kept in history; never derived again from "
        "the same message)",
        file=out,
    )
    return EXIT_OK


def cmd_correct(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args, needs_embedder=True) as modeler:
        new = modeler.correct(user, args.insight_id, args.text, kind=args.kind, confidence=args.confidence)
    print(
        f"Corrected {args.insight_id} -> {new.id}: {render.oneline(new.text)} (the old one kept in history)", file=out
    )
    return EXIT_OK


def cmd_card(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    user = validate_user_id(args.user)
    with open_modeler(args) as modeler:
        if args.lines or args.clear:
            card = modeler.set_card(user, [] if args.clear else args.lines)
        else:
            card = modeler.user_model(user).card
    _write(out, [f"- {render.oneline(line)}" for line in card] or ["(the card is empty)"])
    return EXIT_OK


def cmd_reembed(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.embedder:
        raise CLIError("reembed needs --embedder MODULE:ATTR: the embedder to move the store to")
    if args.batch < 1:
        raise CLIError("--batch must be a positive number")
    new = load_embedder(args.embedder)
    current = argparse.Namespace(**{**vars(args), "embedder": None})  # opened with the store's own pin
    with open_modeler(current) as modeler:
        bar = Progress(1, err, enabled=args.progress or err.isatty(), unit="records")

        def progress(done: int, total: int) -> None:
            bar.total, bar.enabled = total, bar.enabled and total > 0
            bar.update(done)

        report = modeler.reembed(new, batch=args.batch, progress=progress)
        bar.finish()
    print(
        f"Re-embedded {report.records} records with {report.embedder} ({report.dimension} dimensions) "
        f"in {report.seconds:.1f} s",
        file=out,
    )
    return EXIT_OK
