"""The ``personal`` command: look at, export, forget and bulk-import user models from a shell.

Usage (the store options may come before or after the command)::

    personal [--path DIR | --server HOST:PORT] [--namespace NS] [--embedder MODULE:ATTR] [--create] COMMAND ...
    personal show USER [--all] [--messages N]      card, summary, insights, stored messages, pending derivation
    personal export USER [--out FILE]              everything held about the user, as JSON
    personal forget USER [--yes]                   erase the user everywhere
    personal stats [USER]                          monitoring figures
    personal users [--limit N]                     users with their message and insight counts
    personal context USER ["query"] [--max-tokens N] [--text]  what a chain would receive, and why
    personal search USER "query" [-k N] [--kind KIND]         insights ranked for a query
    personal import FILE [--user USER] [--chunk N] [--progress]
    personal retract USER INSIGHT_ID [--reason TEXT]   mark an insight wrong (kept in history)
    personal correct USER INSIGHT_ID "text" [--kind KIND] [--confidence C]   replace it with a corrected one
    personal card USER [LINE ...] [--clear]         show the card, or replace it with LINE ...
    personal reembed --embedder MODULE:ATTR [--batch N] [--progress]   move the store to another embedder

show, export, forget, stats, users, retract and card never embed: they open any store without its embedding
model. context, search, correct and import embed text: they need the store's embedder (``--embedder``, unless
Personal can rebuild it). reembed takes the NEW embedder as ``--embedder``.
Errors Personal raises on purpose (invalid input, a locked store, ...) print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from .. import __version__
from ..chroma_client import default_path
from ..errors import PersonalError
from .commands import (
    cmd_card,
    cmd_context,
    cmd_correct,
    cmd_export,
    cmd_forget,
    cmd_reembed,
    cmd_retract,
    cmd_search,
    cmd_show,
    cmd_stats,
    cmd_users,
)
from .importing import DEFAULT_CHUNK, Progress, cmd_import, parse_import
from .opening import EMBEDDER_HELP, CLIError, load_embedder, open_modeler

EXIT_OK = 0
EXIT_ABORTED = 1
EXIT_ERROR = 2

__all__ = ["CLIError", "Progress", "build_parser", "load_embedder", "main", "open_modeler", "parse_import"]

_GLOBAL_DEFAULTS = {"path": None, "server": None, "namespace": "personal", "embedder": None, "create": False}


def _store_options() -> argparse.ArgumentParser:
    """The store options, accepted before and after the command (``SUPPRESS``: a later one is not reset)."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("store options (before or after the command)")
    group.add_argument(
        "--path", metavar="DIR", default=argparse.SUPPRESS, help=f"embedded store directory (default: {default_path()})"
    )
    group.add_argument(
        "--server",
        metavar="HOST:PORT",
        default=argparse.SUPPRESS,
        help="a `chroma run` server instead of a local directory (several processes can share it)",
    )
    group.add_argument(
        "--namespace", metavar="NS", default=argparse.SUPPRESS, help="collection prefix (default: personal)"
    )
    group.add_argument("--embedder", metavar="MODULE:ATTR", default=argparse.SUPPRESS, help=EMBEDDER_HELP)
    group.add_argument(
        "--create",
        action="store_true",
        default=argparse.SUPPRESS,
        help="create the store if there is none (otherwise a path or server without one is an error)",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    """The ``personal`` argument parser."""
    store = _store_options()
    parser = argparse.ArgumentParser(
        prog="personal", description="Inspect and manage Personal's user models.", parents=[store]
    )
    parser.add_argument("--version", action="version", version=f"personal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, func: Callable[[argparse.Namespace, TextIO, TextIO], int], **kw: str
    ) -> argparse.ArgumentParser:
        made = sub.add_parser(name, parents=[store], **kw)  # type: ignore[arg-type]
        made.set_defaults(func=func)
        return made

    show = command("show", cmd_show, help="the user's card, summary, insights, stored messages and pending work")
    show.add_argument("user", metavar="USER")
    show.add_argument("--all", action="store_true", help="include superseded insights")
    show.add_argument("--messages", metavar="N", type=int, default=5, help="show the last N messages (default 5)")

    export = command("export", cmd_export, help="everything held about the user, as JSON")
    export.add_argument("user", metavar="USER")
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")

    forget = command("forget", cmd_forget, help="erase everything about the user")
    forget.add_argument("user", metavar="USER")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    stats = command("stats", cmd_stats, help="monitoring figures (all users, or one)")
    stats.add_argument("user", metavar="USER", nargs="?")

    users = command("users", cmd_users, help="the stored users with their message and insight counts")
    users.add_argument("--limit", metavar="N", type=int, help="list only the first N users (by id)")

    context = command(
        "context", cmd_context, help="what a chain would receive for a query (needs the store's embedder)"
    )
    context.add_argument("user", metavar="USER")
    context.add_argument("query", metavar="QUERY", nargs="?", default="")
    context.add_argument("--max-tokens", metavar="N", type=int, help="token budget (default: the modeler's, 500)")
    context.add_argument("--text", action="store_true", help="print only the context text (no item table)")

    search = command("search", cmd_search, help="the user's insights ranked for a query (needs the store's embedder)")
    search.add_argument("user", metavar="USER")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", metavar="N", type=int, default=10, help="how many insights (default 10)")
    search.add_argument("--kind", metavar="KIND", action="append", help="only this insight kind (repeatable)")
    search.add_argument("--all", action="store_true", help="include superseded insights")

    retract = command("retract", cmd_retract, help="mark an insight wrong (kept in history, never derived again)")
    retract.add_argument("user", metavar="USER")
    retract.add_argument("insight_id", metavar="INSIGHT_ID")
    retract.add_argument("--reason", metavar="TEXT", help="why (kept with the insight)")

    correct = command("correct", cmd_correct, help="replace an insight with a corrected one (needs the embedder)")
    correct.add_argument("user", metavar="USER")
    correct.add_argument("insight_id", metavar="INSIGHT_ID")
    correct.add_argument("text", metavar="TEXT")
    correct.add_argument("--kind", metavar="KIND", help="the corrected insight's kind (default: the old one's)")
    correct.add_argument("--confidence", metavar="C", type=float, help="its confidence in [0, 1]")

    card = command("card", cmd_card, help="show the user's card, or replace it with the lines given")
    card.add_argument("user", metavar="USER")
    card.add_argument("lines", metavar="LINE", nargs="*", help="the new card lines (each through the card guard)")
    card.add_argument("--clear", action="store_true", help="empty the card")

    reembed = command(
        "reembed", cmd_reembed, help="re-embed every record with another embedder (--embedder: the new one)"
    )
    reembed.add_argument("--batch", metavar="N", type=int, default=256, help="records per batch (default 256)")
    reembed.add_argument("--progress", action="store_true", help="show a progress bar even when not a terminal")

    imp = command(
        "import",
        cmd_import,
        help="bulk-import past conversations (JSON list or JSONL; needs the store's embedder)",
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
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; store options given both before and after the command: the later one wins."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.path is not None and args.server is not None:
        parser.error("argument --server: not allowed with argument --path")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the ``personal`` command; returns the exit code (2 for errors, 1 when a confirmation is declined)."""
    args = parse_args(argv)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, sys.stdout, sys.stderr)
    except PersonalError as exc:
        print(f"personal: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("personal: interrupted", file=sys.stderr)
        return 130
