"""A small offline demo: ``python -m personal_core.demo [--path DIR]``.

Two users chat over a few sessions; the offline :class:`HeuristicReasoner` learns a model of each, and the
demo prints what was learned and the ``<user_context>`` block a chain would put in its prompt for a question.
No network, no LLM, a temporary store unless ``--path`` is given; runs in seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .embedding import HashingEmbedder
from .heuristic import HeuristicReasoner
from .modeler import UserModeler

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)

#: user -> sessions -> (role, content) turns
SESSIONS: dict[str, list[list[tuple[str, str]]]] = {
    "ann": [
        [
            ("user", "Hi, my name is Ann. I live in Porto and I'm allergic to peanuts."),
            ("assistant", "Nice to meet you, Ann! How can I help?"),
            ("user", "I love hiking and I want to run a marathon next year."),
        ],
        [
            ("user", "I'm vegetarian, so please keep recipes meat-free."),
            ("assistant", "Got it: vegetarian and no peanuts."),
            ("user", "I love hiking. Any ideas for this weekend?"),
        ],
    ],
    "bob": [
        [
            ("user", "My name is Bob. I work as a nurse and I'm learning Spanish."),
            ("assistant", "¡Hola, Bob! Happy to help you practice."),
        ],
        [
            ("user", "I prefer short answers. I feel anxious about flying."),
            ("assistant", "Short answers it is."),
            ("user", "I want to visit Mexico next summer."),
        ],
    ],
}

QUESTIONS = {
    "ann": "Suggest a snack for my long hike",
    "bob": "How should I travel to Mexico?",
}


def simulate(modeler: UserModeler) -> None:
    """Observe every session of :data:`SESSIONS` with fixed ids and timestamps (deterministic)."""
    for user, sessions in SESSIONS.items():
        for number, turns in enumerate(sessions, 1):
            base = START + timedelta(days=7 * (number - 1))
            messages = [
                {
                    "id": f"{user}-s{number}-m{index}",
                    "role": role,
                    "content": content,
                    "created_at": base + timedelta(minutes=index),
                }
                for index, (role, content) in enumerate(turns, 1)
            ]
            modeler.observe(user, messages, session_id=f"{user}-session-{number}")
    modeler.flush()


def render_model(modeler: UserModeler, user: str) -> str:
    """The learned model of ``user``: card and current insights."""
    model = modeler.user_model(user)
    lines = [f"Card: {'; '.join(model.card) if model.card else '(empty)'}", "Insights:"]
    for insight in sorted(model.current_insights(), key=lambda i: (i.kind.value, i.text)):
        lines.append(f"  - [{insight.kind.value} {insight.confidence:.2f}, seen {insight.times_seen}x] {insight.text}")
    return "\n".join(lines)


def run(path: Path) -> str:
    """Simulate the sessions in a store at ``path`` and return the report."""
    out: list[str] = []
    with UserModeler(path, embedder=HashingEmbedder(), reasoner=HeuristicReasoner(), shards=2) as modeler:
        simulate(modeler)
        for user, question in QUESTIONS.items():
            sessions = len(SESSIONS[user])
            turns = sum(len(s) for s in SESSIONS[user])
            out.append(f"=== User model of {user!r} ({sessions} sessions, {turns} messages) ===")
            out.append(render_model(modeler, user))
            out.append("")
            out.append(f"Question: {question}")
            out.append("Context block the chain receives:")
            out.append(modeler.context(user, question, max_tokens=300).text)
            out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m personal_core.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--path", metavar="DIR", help="store directory (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    if args.path:
        print(run(Path(args.path)))
        return 0
    with tempfile.TemporaryDirectory(prefix="personal-demo-") as tmp:
        print(run(Path(tmp) / "store"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
