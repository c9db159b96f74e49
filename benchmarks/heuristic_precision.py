"""How often the no-LLM heuristic changes its mind, and on what: supersessions over LoCoMo.

Run from the repository root (the data is CC BY-NC, evaluation only: never copy it into this repository)::

    python -m benchmarks.heuristic_precision --data /path/to/locomo_dev.json [--show 50]

Every speaker of every conversation is a user; their turns are observed session by session through
:class:`UserModeler` with the default :class:`HeuristicReasoner` (the partner's turns as assistant messages, as in
``benchmarks.locomo``). At the end it reports the current insights, the slotted ones, and every supersession that
fired (old text -> new text, with the turn that caused it), so each can be judged by hand. Nothing is asserted.

LoCoMo speakers rarely change their mind, so few supersessions fire. ``--pool`` stress-tests the rules instead:
all speakers' turns (every conversation, in order) are observed as ONE user, so a supersession fires whenever
two statements share a slot; judge each by whether the new turn really states the user's current value of that
slot (the rule's precision), not by whether the two speakers agree.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personal_core import HashingEmbedder, UserModeler
from personal_core.model import Insight

from .locomo import Conversation, _ingest, load_conversations

POOL_USER = "pool"


def _ingest_pooled(modeler: UserModeler, conv: Conversation, speaker: str) -> None:
    """``speaker``'s own turns of ``conv``, session by session, as user messages of the one pooled user."""
    for session in sorted({t.session for t in conv.turns}):
        turns = [t for t in conv.turns if t.session == session and t.speaker == speaker]
        if turns:
            messages = [
                {"id": f"{conv.index}:{t.dia_id}", "role": "user", "content": t.text, "created_at": t.when.isoformat()}
                for t in turns
            ]
            modeler.observe(POOL_USER, messages, session_id=f"{conv.index}:{speaker}:{session}")


def supersessions(insights: Sequence[Insight]) -> list[tuple[Insight, Insight]]:
    """(old, new) pairs: each superseded insight with the one that replaced it, in the order they were closed."""
    by_id = {i.id: i for i in insights}
    pairs = [(i, by_id[i.superseded_by]) for i in insights if i.superseded_by and i.superseded_by in by_id]
    return sorted(pairs, key=lambda p: (p[0].valid_to or p[0].valid_from, p[1].id))


def run(data: Path, show: int, list_slotted: bool = False, pool: bool = False) -> dict[str, Any]:
    conversations = load_conversations(data)
    root = Path(tempfile.mkdtemp(prefix="personal-precision-"))
    rows: list[tuple[str, Insight, Insight, str]] = []
    holders: list[tuple[str, Insight, str]] = []
    current = slotted = users = 0
    by_slot: Counter[str] = Counter()
    try:
        with UserModeler(path=root, embedder=HashingEmbedder()) as modeler:
            for conv in conversations:
                text_of = {t.dia_id: t.text for t in conv.turns}
                for speaker in conv.speakers:
                    users += 1
                    if pool:
                        _ingest_pooled(modeler, conv, speaker)
                        continue
                    _ingest(modeler, conv, speaker, conv.turns)
                    model = modeler.user_model(conv.user_id(speaker))
                    live = [i for i in model.insights if i.is_current]
                    current += len(live)
                    slotted += sum(1 for i in live if i.slot)
                    holders += [
                        (conv.user_id(speaker), i, text_of.get(i.evidence[0], "") if i.evidence else "")
                        for i in live
                        if i.slot
                    ]
                    for old, new in supersessions(model.insights):
                        by_slot[(new.slot or "-").split(":")[0]] += 1
                        turn = text_of.get(new.evidence[0], "") if new.evidence else ""
                        rows.append((conv.user_id(speaker), old, new, turn))
            if pool:
                text_of = {f"{c.index}:{t.dia_id}": t.text for c in conversations for t in c.turns}
                model = modeler.user_model(POOL_USER)
                live = [i for i in model.insights if i.is_current]
                current, slotted = len(live), sum(1 for i in live if i.slot)
                holders = [(POOL_USER, i, text_of.get(i.evidence[0], "") if i.evidence else "") for i in live if i.slot]
                for old, new in supersessions(model.insights):
                    by_slot[(new.slot or "-").split(":")[0]] += 1
                    turn = text_of.get(new.evidence[0], "") if new.evidence else ""
                    rows.append((POOL_USER, old, new, turn))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"users: {users}  current insights: {current}  current slotted: {slotted}  supersessions: {len(rows)}")
    print("supersessions by slot: " + ", ".join(f"{k}={v}" for k, v in by_slot.most_common()))
    step = max(1, len(rows) // show) if show else 0
    shown = rows[::step][:show] if step else []
    for n, (uid, old, new, turn) in enumerate(shown, 1):
        print(f"\n[{n}] {uid}  slot={new.slot}")
        print(f"    old: {old.text!r}  ({', '.join(old.evidence)})")
        print(f"    new: {new.text!r}  ({', '.join(new.evidence)})")
        print(f"    turn: {turn[:300]!r}")
    if list_slotted:
        print(f"\ncurrent slotted insights ({len(holders)}): each would supersede a later value of its slot")
        for n, (uid, insight, turn) in enumerate(holders, 1):
            print(f"  ({n}) {uid} {insight.slot}: {insight.text!r} ({', '.join(insight.evidence)}) <- {turn[:200]!r}")
    return {"users": users, "current": current, "slotted": slotted, "supersessions": len(rows), "by_slot": by_slot}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="path to a LoCoMo JSON file (kept outside the repo)")
    parser.add_argument("--show", type=int, default=50, help="supersessions to print (evenly spread)")
    parser.add_argument("--slotted", action="store_true", help="also list every current slotted insight")
    parser.add_argument("--pool", action="store_true", help="observe every speaker as one user (a stress test)")
    args = parser.parse_args(argv)
    return run(args.data, args.show, args.slotted, args.pool)


if __name__ == "__main__":
    main()
