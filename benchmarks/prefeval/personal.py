"""Personal's modes through the public API (:class:`personal_core.UserModeler`): ``default`` (no LLM: the heuristic
reasoner), ``replay`` (a recorded reasoner that writes the preference down as a good LLM would) and ``messages``
(derivation off: raw turns only, ranked and packed by Personal)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personal_core import InsightKind, Message, ModelUpdate, NewInsight, UserContext, UserModeler
from personal_core.context import CLOSE_TAG, OPEN_TAG, PREAMBLE
from personal_core.embedding import Embedder
from personal_core.tokens import TokenCounter

from .._util import log
from .data import Scenario
from .outcome import Outcome, Ranked, classify, describe, fill_by_source, locate

PERSONAL_MODES = ("default", "replay", "messages")
#: Budget of the diagnostic context that ranks everything (to find where the preference ranked).
FULL_BUDGET = 200_000


def progress(label: str, done: int, total: int, started: float, every: int = 200) -> None:
    """A progress line on stderr every ``every`` scenarios and at the end."""
    if done % every == 0 or done == total:
        log(f"prefeval: {label} {done}/{total} ({time.perf_counter() - started:.0f}s)")


class ReplayReasoner:
    """A recorded reasoner: when a batch holds a scenario's anchor message (the preference turn, or the user's
    selection for an implicit item) it returns that item's preference text as a ``preference`` insight citing that
    message -- what a good LLM would write down. It never sees the question. Everything else derives nothing."""

    name = "replay"

    def __init__(self) -> None:
        self._plan: dict[tuple[str, str], str] = {}
        self.written = 0

    def expect(self, scenario: Scenario) -> None:
        """Register what to write when ``scenario``'s anchor message is observed."""
        self._plan[(scenario.user_id, scenario.item.anchor)] = scenario.item.preference

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        found = [
            NewInsight(kind=InsightKind.PREFERENCE, text=text, confidence=0.9, evidence=[m.id])
            for m in messages
            if (text := self._plan.get((m.user_id, m.id))) is not None
        ]
        self.written += len(found)
        return ModelUpdate(new_insights=found)


class NoReasoner:
    """Derives nothing (the ``messages`` mode)."""

    name = "none"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        return ModelUpdate()


def _observe(modeler: UserModeler, scenario: Scenario) -> None:
    """The preference turns in one call, then each filler conversation's turns in one call (its own session)."""
    for session, turns in itertools.groupby(scenario.turns, key=lambda t: t.session):
        batch = [{"id": t.id, "role": t.role, "content": t.content, "created_at": t.when} for t in turns]
        modeler.observe(scenario.user_id, batch, session_id=session)


def _items(ctx: UserContext) -> list[Ranked]:
    """A context's items in rank order (by score, best first)."""
    items = sorted(ctx.items, key=lambda i: -i.score)
    return [
        Ranked(frozenset({i.id, *i.evidence} if i.source == "message" else i.evidence), i.tokens, i.source, i.text)
        for i in items
    ]


def _frame(counter: TokenCounter) -> int:
    return counter.count(f"{OPEN_TAG}\n{PREAMBLE}\n") + counter.count(CLOSE_TAG)


def judge_personal(
    mode: str, modeler: UserModeler, scenario: Scenario, budgets: Sequence[int], frame: int
) -> list[Outcome]:
    """Ask the question at every budget; on a miss, rank everything once to say why."""
    item, uid = scenario.item, scenario.user_id
    targets = set(item.targets)
    meta: dict[str, Any] = {"key": item.key, "kind": item.kind, "topic": item.topic, "filler": scenario.filler_tokens}
    learned: bool | None = None
    if mode != "messages":
        learned = any(ins.valid_to is None and targets & set(ins.evidence) for ins in modeler.user_model(uid).insights)
    full: list[Ranked] | None = None
    out = []
    for budget in budgets:
        ctx = modeler.context(uid, item.question, max_tokens=budget)
        hit = [i for i in ctx.items if targets & ({i.id, *i.evidence} if i.source == "message" else set(i.evidence))]
        outcome = Outcome(mode, budget=budget, surfaced=bool(hit), tokens=ctx.tokens, learned=learned, **meta)
        if hit:
            outcome.via = hit[0].source
        else:
            if full is None:
                full = _items(modeler.context(uid, item.question, max_tokens=FULL_BUDGET))
            outcome.rank, outcome.needed, own = locate(full, item.targets, frame)
            chosen = _items(ctx)
            outcome.fill = fill_by_source(chosen)
            outcome.top = describe(chosen[0]) if chosen else ""
            outcome.failure = classify(outcome, own, frame)
        out.append(outcome)
    return out


def run_personal(
    mode: str,
    scenarios: Sequence[Scenario],
    budgets: Sequence[int],
    store: Path,
    embedder: Embedder,
    counter: TokenCounter,
) -> tuple[list[Outcome], dict[str, Any]]:
    """Every scenario as its own user of one store: observe, then judge. Returns outcomes and run figures."""
    replay = ReplayReasoner() if mode == "replay" else None
    if mode == "default":
        modeler = UserModeler(store, embedder=embedder, token_counter=counter, background=False)
    elif mode == "replay":
        modeler = UserModeler(store, reasoner=replay, embedder=embedder, token_counter=counter, background=False)
    elif mode == "messages":
        modeler = UserModeler(store, reasoner=NoReasoner(), embedder=embedder, token_counter=counter, background=False)
    else:
        raise ValueError(f"unknown Personal mode {mode!r}")
    frame = _frame(counter)
    outcomes: list[Outcome] = []
    with modeler:
        started = time.perf_counter()
        for n, scenario in enumerate(scenarios, start=1):
            if replay is not None:
                replay.expect(scenario)
            _observe(modeler, scenario)
            progress(f"{mode} observe", n, len(scenarios), started)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        for n, scenario in enumerate(scenarios, start=1):
            outcomes += judge_personal(mode, modeler, scenario, budgets, frame)
            progress(f"{mode} context", n, len(scenarios), started)
        query_s = time.perf_counter() - started
        stats = modeler.stats()
    figures = {
        "messages_observed": int(stats["messages_observed"]),
        "insights_added": int(stats.get("insights_added", 0)),
        "replay_insights_written": replay.written if replay is not None else None,
        "ingest_seconds": round(ingest_s, 2),
        "query_seconds": round(query_s, 2),
    }
    return outcomes, figures
