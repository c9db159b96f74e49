"""One judged question (system x scenario x budget) and the pure helpers every system shares: greedy packing of a
ranked list, the rank / tokens a target needed, and the failure classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Failure classes (why the preference did not reach the context), in report order.
NOT_LEARNED = "not learned, raw turn not ranked in"
LEARNED_NOT_RANKED = "learned, not ranked into the budget"
NOT_RANKED = "turn not ranked into the budget"
NOT_RETURNED = "not among the items returned"
TOO_BIG = "target alone exceeds the budget"
FAILURE_CLASSES = (NOT_LEARNED, LEARNED_NOT_RANKED, NOT_RANKED, NOT_RETURNED, TOO_BIG)


@dataclass
class Outcome:
    """Whether the preference surfaced in one context, and why not when it did not."""

    system: str
    key: str
    kind: str
    topic: str
    filler: int
    budget: int
    surfaced: bool
    tokens: int  # of the context (or of what the baseline returned, within the budget)
    via: str | None = None  # "insight" | "message" | "text": what carried the preference in
    learned: bool | None = None  # a current insight cites a target (Personal modes with derivation)
    rank: int | None = None  # 1-based rank of the first target item in the system's full ranking
    needed: int | None = None  # tokens a context would need to reach it (frame + items ranked before + it)
    fill: dict[str, int] = field(default_factory=dict)  # context tokens by source when it failed
    top: str = ""  # the best-ranked item that did get in (source and ids, never data text), when it failed
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Ranked:
    """One item of a ranked list a baseline (or a diagnostic) packs: ids it covers, tokens, source, text."""

    ids: frozenset[str]
    tokens: int
    source: str
    text: str


def pack(ranked: Sequence[Ranked], budget: int, frame: int) -> list[Ranked]:
    """Greedy prefix of ``ranked`` within ``budget``: stops at the first item that does not fit (no skipping)."""
    used, chosen = frame, []
    for item in ranked:
        if used + item.tokens > budget:
            break
        used += item.tokens
        chosen.append(item)
    return chosen


def locate(ranked: Sequence[Ranked], targets: Sequence[str], frame: int) -> tuple[int | None, int | None, int]:
    """(1-based rank, tokens needed to include it, its own tokens) of the first item covering a target."""
    used = frame
    wanted = set(targets)
    for n, item in enumerate(ranked, start=1):
        used += item.tokens
        if item.ids & wanted:
            return n, used, item.tokens
    return None, None, 0


def classify(outcome: Outcome, own_tokens: int, frame: int) -> str | None:
    """The failure class of a judged context (None when the preference surfaced)."""
    if outcome.surfaced:
        return None
    if outcome.rank is None:
        return NOT_LEARNED if outcome.learned is False else NOT_RETURNED
    if own_tokens + frame > outcome.budget:
        return TOO_BIG
    if outcome.learned is True:
        return LEARNED_NOT_RANKED
    if outcome.learned is False:
        return NOT_LEARNED
    return NOT_RANKED


def describe(item: Ranked) -> str:
    """An item named by source and (up to three) ids: results never quote the data."""
    return f"{item.source} {','.join(sorted(item.ids)[:3])}".strip()


def fill_by_source(items: Sequence[Ranked]) -> dict[str, int]:
    """Tokens of the packed items by source."""
    out: dict[str, int] = {}
    for item in items:
        out[item.source] = out.get(item.source, 0) + item.tokens
    return out


def judge_ranked(
    system: str,
    scenario_meta: dict[str, Any],
    targets: Sequence[str],
    ranked: Sequence[Ranked],
    budgets: Sequence[int],
    frame: int,
) -> list[Outcome]:
    """Outcomes of a ranked-list system (naive RAG, recent buffer, LangChain) at every budget."""
    rank, needed, own = locate(ranked, targets, frame)
    out = []
    for budget in budgets:
        chosen = pack(ranked, budget, frame)
        surfaced = any(item.ids & set(targets) for item in chosen)
        tokens = frame + sum(item.tokens for item in chosen) if chosen else 0
        outcome = Outcome(
            system, budget=budget, surfaced=surfaced, tokens=tokens, rank=rank, needed=needed, **scenario_meta
        )
        if surfaced:
            outcome.via = "text" if system in ("langchain", "llamaindex") else "message"
        else:
            outcome.fill = fill_by_source(chosen)
            outcome.top = describe(chosen[0]) if chosen else ""
        outcome.failure = classify(outcome, own, frame)
        out.append(outcome)
    return out
