"""PrefEval data -> scenarios (pure: files in, dataclasses out; no Personal code).

A scenario is one preference item of one kind (explicit / implicit) at one filler size: a fresh user states the
preference (the preference turns), then ``filler_tokens`` tokens of the real unrelated conversations follow, then
the question is asked (never observed: it is the ``context()`` query).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from personal_core.tokens import TokenCounter

KINDS = ("explicit", "implicit")
#: The files of one kind under the data directory.
KIND_DIRS = {"explicit": "explicit_preference", "implicit": "implicit_preference/choice-based"}
FILLER_FILE = "filtered_inter_turns.json"
#: When the preference is stated; filler turns follow one minute apart.
START = datetime(2025, 1, 6, 9, 0)
#: Stop filling once this share of the filler budget is reached and the next turn does not fit.
FILL_SHARE = 0.9

# Message ids of the preference turns (unique within a user; every scenario is its own user).
PREF_ID = "pref"
IMPLICIT_IDS = ("choice-query", "choice-options", "choice-selection", "choice-ack")


@dataclass(frozen=True)
class Turn:
    """One message of a scenario's conversation."""

    id: str
    role: str  # "user" | "assistant"
    content: str
    session: str
    when: datetime


@dataclass(frozen=True)
class Item:
    """One PrefEval item: the preference turns, which of them reveal the preference, and the question.

    ``targets``: the message ids whose presence in a context counts as "the preference surfaced" (explicit: the
    preference turn; implicit: the user's selection and the assistant's acknowledgment -- the two turns that say
    which option the user chose and, often, why; the query and the options list alone reveal nothing).
    ``anchor``: the message a recorded reasoner cites as evidence when it writes the preference down.
    """

    kind: str
    topic: str
    index: int
    preference: str
    question: str
    turns: tuple[Turn, ...]
    targets: tuple[str, ...]
    anchor: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.topic}/{self.index}"


@dataclass(frozen=True)
class Scenario:
    """An item followed by ``filler_tokens`` tokens of filler, as one user's history."""

    item: Item
    filler_tokens: int
    turns: tuple[Turn, ...]  # the preference turns, then the filler
    filler_actual: int  # tokens of filler actually used (whole turns)

    @property
    def user_id(self) -> str:
        return f"{self.item.kind}-{self.item.topic}-{self.item.index}-f{self.filler_tokens}"

    def text_of(self, message_id: str) -> str:
        return next(t.content for t in self.turns if t.id == message_id)

    @property
    def target_texts(self) -> tuple[str, ...]:
        return tuple(self.text_of(t) for t in self.item.targets)


class DataError(ValueError):
    """The data directory is not in the PrefEval format."""


def topics_in(data: Path) -> list[str]:
    """Topic names of the explicit split (the file stems)."""
    folder = data / KIND_DIRS["explicit"]
    if not folder.is_dir():
        raise DataError(f"{folder} is not a directory: pass the PrefEval benchmark_dataset folder as --data")
    return sorted(p.stem for p in folder.glob("*.json"))


def _explicit(topic: str, index: int, raw: dict[str, object]) -> Item:
    preference, question = str(raw["preference"]).strip(), str(raw["question"]).strip()
    turn = Turn(PREF_ID, "user", preference, "preference", START)
    return Item("explicit", topic, index, preference, question, (turn,), (PREF_ID,), PREF_ID)


def _implicit(topic: str, index: int, raw: dict[str, object]) -> Item:
    conv = raw["conversation"]
    if not isinstance(conv, dict):
        raise DataError(f"implicit item {topic}/{index} has no conversation object")
    fields = ("query", "assistant_options", "user_selection", "assistant_acknowledgment")
    roles = ("user", "assistant", "user", "assistant")
    turns = tuple(
        Turn(mid, role, str(conv[name]).strip(), "preference", START + timedelta(seconds=10 * n))
        for n, (mid, role, name) in enumerate(zip(IMPLICIT_IDS, roles, fields, strict=True))
    )
    preference, question = str(raw["preference"]).strip(), str(raw["question"]).strip()
    return Item("implicit", topic, index, preference, question, turns, IMPLICIT_IDS[2:], IMPLICIT_IDS[2])


def load_items(data: Path, kind: str, topics: Sequence[str], items: int | None = None) -> list[Item]:
    """The items of ``kind`` for ``topics`` (the first ``items`` of each topic when given)."""
    build = {"explicit": _explicit, "implicit": _implicit}[kind]
    out: list[Item] = []
    for topic in topics:
        path = data / KIND_DIRS[kind] / f"{topic}.json"
        if not path.is_file():
            raise DataError(f"missing {path}")
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise DataError(f"{path} is not a JSON list of items")
        out += [build(topic, i, row) for i, row in enumerate(rows[:items] if items is not None else rows)]
    return out


@dataclass(frozen=True)
class FillerTurn:
    conversation: int
    position: int
    role: str
    content: str
    tokens: int


def load_filler(data: Path, counter: TokenCounter) -> list[list[FillerTurn]]:
    """The filler conversations as lists of user/assistant turns with their token counts."""
    path = data / FILLER_FILE
    if not path.is_file():
        raise DataError(f"missing {path}")
    rows = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for c, row in enumerate(rows):
        turns = [
            FillerTurn(c, p, str(t["role"]), str(t["content"]), counter.count(str(t["content"])))
            for p, t in enumerate(row["conversation"])
            if t.get("role") in ("user", "assistant") and str(t.get("content", "")).strip()
        ]
        if turns:
            out.append(turns)
    if not out:
        raise DataError(f"{path} holds no conversation")
    return out


def filler_for(conversations: Sequence[Sequence[FillerTurn]], start: int, tokens: int) -> list[FillerTurn]:
    """Whole filler turns totalling at most ``tokens``: conversations in order from ``start`` (wrapping), turns
    in order; a turn that does not fit is skipped until ``FILL_SHARE`` of ``tokens`` is reached, then filling stops.
    One pass over the corpus at most."""
    chosen: list[FillerTurn] = []
    used = 0
    n = len(conversations)
    for step in range(n):
        for turn in conversations[(start + step) % n]:
            if used + turn.tokens <= tokens:
                chosen.append(turn)
                used += turn.tokens
            elif used >= FILL_SHARE * tokens:
                return chosen
    return chosen


def build_scenarios(
    items: Sequence[Item], conversations: Sequence[Sequence[FillerTurn]], fillers: Sequence[int]
) -> list[Scenario]:
    """Every item at every filler size. Item ``n`` (in load order) starts its filler at conversation ``n mod
    len(conversations)``, so items see different filler; one item sees the same start at every size."""
    out = []
    for n, item in enumerate(items):
        last = item.turns[-1].when
        for size in fillers:
            filler = filler_for(conversations, n % len(conversations), size) if size > 0 else []
            turns = list(item.turns)
            for k, f in enumerate(filler):
                turns.append(
                    Turn(
                        f"f{f.conversation}-{f.position}",
                        f.role,
                        f.content,
                        f"filler-{f.conversation}",
                        last + timedelta(minutes=1 + k),
                    )
                )
            out.append(Scenario(item, size, tuple(turns), sum(f.tokens for f in filler)))
    return out
