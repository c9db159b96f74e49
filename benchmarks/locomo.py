"""LoCoMo evidence recall: does ``context()`` surface the turns that answer a question, within a token budget?

Run from the repository root (the data is CC BY-NC, evaluation only: never copy it into this repository)::

    python -m benchmarks.locomo --data /path/to/locomo_dev.json
    python -m benchmarks.locomo --data PATH --modes heuristic,replay,raw --budgets 250,500,1000,2000 \\
        --out benchmarks/results

Each speaker of a conversation is a user (``"{conversation index}:{speaker}"``): their turns are ``user``
messages, the partner's turns ``assistant`` messages, message id = ``dia_id``, ``created_at`` = the session's
date time, one ``session_id`` per LoCoMo session. A turn that shares a photo gets its caption appended
(``[shares a photo: <blip_caption>]``), so the text the QA annotators saw is there.

Modes (one fresh store per mode; ``--embedder hashing`` (default) or ``minilm``; default tiktoken counter):

* ``heuristic``: no LLM, the default offline :class:`HeuristicReasoner` derives during ``observe``.
* ``replay``: a recorded reasoner drives the real :class:`LLMReasoner`: for each derivation prompt the scripted
  LLM finds which ``dia_id`` s are in the batch (by role and content) and returns that speaker's LoCoMo
  ``observation`` items whose evidence is in the batch, as ``new_insights`` with those real ids as evidence.
  ``flush(user)`` after each user's ingest. An observation citing several turns is emitted once, in the batch
  holding the first of them, with the cited turns of that batch as evidence.
* ``raw``: the naive raw-turn RAG baseline a developer would build instead: every turn of the conversation (both
  roles) embedded with the same embedder, the turns most similar to the question (cosine, exact) rendered in
  that order as ``message_line`` s inside the same frame until the next one does not fit the budget (same
  tokenizer). No Personal ranking, no reasoning.
* ``raw-user`` (not run by default): like ``raw`` but only the speaker's own turns.
* ``messages`` (not run by default): Personal with a reasoner that derives nothing: only raw message excerpts,
  chosen by Personal's ranker and packer (an ablation: what the ranker alone adds over ``raw``).

Questions: categories 1-4 (5 is adversarial and skipped). A question goes to the user whose name appears in it
(whole word, case-insensitive); when neither or both names appear, both users are asked, their contexts'
evidence is pooled and the budget counts per user (so such a question sees up to 2x the budget; its context
tokens are the sum of both). Evidence strings are normalised (``"D:11:26"`` -> ``"D11:26"``,
``"D8:6; D9:17"`` -> two ids); ids that do not name a turn of the conversation are dropped (counted in the
output), and a question left without evidence is skipped. Evidence recall of a question =
``|question evidence & context.evidence| / |question evidence|``; ``context.evidence`` holds the insights'
evidence and the raw messages' ids.

Reported per mode x budget: mean recall (overall and per category), mean context tokens; per mode: LLM calls per
100 observed messages, reasoner input/output tokens (``stats()``), ingest and query wall time. Nothing here
asserts a timing.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from personal_core import UserModeler, default_counter
from personal_core.context import CLOSE_TAG, OPEN_TAG, PREAMBLE, SECTION_TITLES, message_line
from personal_core.embedding import Embedder
from personal_core.model import Message
from personal_core.tokens import TokenCounter
from personal_core.update import ModelUpdate

from ._util import RESULTS_DIR, environment, log, markdown_table, write_json
from .embedders import EMBEDDERS, make_embedder
from .plots import plot_recall

ALL_MODES = ("heuristic", "replay", "raw", "raw-user", "messages")
DEFAULT_MODES = ("heuristic", "replay", "raw")
DEFAULT_BUDGETS = (250, 500, 1000, 2000)
ANSWERABLE = (1, 2, 3, 4)

_DIA = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")
_SESSION = re.compile(r"session_(\d+)")
_DATE = re.compile(r"(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s*(\d{4})", re.I)
_PROMPT_MESSAGE = re.compile(r'<message id="(m\d+)" role="(\w+)" time="[^"]*">(.*?)</message>', re.S)


# ----------------------------------------------------------------- data


def normalise_evidence(raw: object) -> list[str]:
    """Dialogue ids in ``raw`` (a string or a list of strings), fixed up: ``"D:11:26"`` -> ``["D11:26"]``,
    ``"D8:6; D9:17"`` -> ``["D8:6", "D9:17"]``; strings without an id (``"D"``) give nothing. Order kept, unique."""
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, None] = {}
    for item in items:
        if isinstance(item, str):
            for session, turn in _DIA.findall(item):
                out.setdefault(f"D{int(session)}:{int(turn)}", None)
    return list(out)


def parse_session_time(raw: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` -> ``datetime(2023, 5, 8, 13, 56)``."""
    match = _DATE.search(raw)
    if match is None:
        raise ValueError(f"unrecognised LoCoMo date time {raw!r}")
    hour, minute, half, day, month, year = match.groups()
    text = f"{int(hour)}:{minute} {half.upper()} {int(day)} {month} {year}"
    for fmt in ("%I:%M %p %d %B %Y", "%I:%M %p %d %b %Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"unrecognised LoCoMo date time {raw!r}")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    session: int
    when: datetime


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: tuple[str, ...]
    users: tuple[str, ...]  # speakers the question goes to


@dataclass
class Conversation:
    index: int
    speakers: tuple[str, str]
    turns: list[Turn]
    questions: list[Question]
    observations: dict[str, list[tuple[str, tuple[str, ...]]]]  # speaker -> [(text, evidence ids)]
    counts: dict[str, int] = field(default_factory=dict)

    def user_id(self, speaker: str) -> str:
        return f"{self.index}:{speaker}"


def _turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text") or "").strip()
    caption = turn.get("blip_caption")
    if isinstance(caption, str) and caption.strip():
        text = f"{text} [shares a photo: {caption.strip()}]".strip()
    return text


def _speakers_named(question: str, speakers: tuple[str, str]) -> tuple[str, ...]:
    named = tuple(s for s in speakers if re.search(rf"\b{re.escape(s)}\b", question, re.I))
    return named if len(named) == 1 else speakers


def _session_number(key: str) -> int:
    match = _SESSION.match(key)
    return int(match.group(1)) if match else 0


def load_conversations(path: Path) -> list[Conversation]:
    """Parse a LoCoMo file (a list of conversations) into turns, answerable questions and observations."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError("a LoCoMo file is a JSON list of conversations")
    out = []
    for index, raw in enumerate(data):
        conv = raw["conversation"]
        speakers = (str(conv["speaker_a"]), str(conv["speaker_b"]))
        sessions = sorted(int(m.group(1)) for k in conv if (m := _SESSION.fullmatch(k)))
        turns: list[Turn] = []
        for n in sessions:
            when = parse_session_time(str(conv[f"session_{n}_date_time"]))
            for t in conv[f"session_{n}"] or []:
                dia = normalise_evidence(t.get("dia_id"))
                text = _turn_text(t)
                if not dia or not text or t.get("speaker") not in speakers:
                    continue
                turns.append(Turn(dia[0], str(t["speaker"]), text, n, when))
        known = {t.dia_id for t in turns}
        counts = {
            "qa_items": 0,
            "skipped_category_5": 0,
            "skipped_no_evidence": 0,
            "dropped_unknown_ids": 0,
            "normalised_evidence_strings": 0,
        }
        questions = []
        for qa in raw.get("qa", []):
            counts["qa_items"] += 1
            category = int(qa.get("category", 0))
            if category not in ANSWERABLE:
                counts["skipped_category_5" if category == 5 else "skipped_no_evidence"] += 1
                continue
            raw_ev = qa.get("evidence", [])
            ev = normalise_evidence(raw_ev)
            if any(not (isinstance(e, str) and re.fullmatch(r"D\d+:\d+", e)) for e in raw_ev):
                counts["normalised_evidence_strings"] += 1
            kept = tuple(e for e in ev if e in known)
            counts["dropped_unknown_ids"] += len(ev) - len(kept)
            if not kept:
                counts["skipped_no_evidence"] += 1
                continue
            text = str(qa["question"])
            questions.append(Question(text, category, kept, _speakers_named(text, speakers)))
        observations: dict[str, list[tuple[str, tuple[str, ...]]]] = {s: [] for s in speakers}
        for key in sorted(raw.get("observation", {}), key=_session_number):
            for speaker, items in (raw["observation"][key] or {}).items():
                if speaker not in observations:
                    continue
                for item in items:
                    if isinstance(item, list) and len(item) >= 2 and isinstance(item[0], str) and item[0].strip():
                        observations[speaker].append((item[0].strip(), tuple(normalise_evidence(item[1]))))
        out.append(Conversation(index, speakers, turns, questions, observations, counts))
    return out


# ----------------------------------------------------------------- reasoners


class NoReasoner:
    """Derives nothing: only raw messages reach the context (the ``raw`` baseline)."""

    name = "none"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        return ModelUpdate()


class ReplayLLM:
    """A recorded reasoner: answers each derivation prompt with the current speaker's LoCoMo observations whose
    evidence turns are in the batch. Call :meth:`start` before flushing a user."""

    def __init__(self) -> None:
        self.calls = 0
        self.unmatched = 0
        self._by_key: dict[tuple[str, str], list[str]] = {}
        self._observations: list[tuple[str, tuple[str, ...]]] = []
        self._emitted: set[int] = set()
        self._consumed: set[str] = set()

    def start(self, conversation: Conversation, speaker: str, turns: Sequence[Turn]) -> None:
        self._by_key = {}
        for t in turns:
            role = "user" if t.speaker == speaker else "assistant"
            self._by_key.setdefault((role, t.text), []).append(t.dia_id)
        self._observations = conversation.observations.get(speaker, [])
        self._emitted = set()
        self._consumed = set()

    def _match(self, role: str, content: str) -> str | None:
        candidates = self._by_key.get((role, content))
        if candidates is None:  # the prompt truncated a long turn: match on the prefix it shows
            stem = content.removesuffix("...").rstrip()
            candidates = (
                [d for (r, text), ids in self._by_key.items() if r == role and text.startswith(stem) for d in ids]
                if stem
                else []
            )
        for dia in candidates:
            if dia not in self._consumed:
                self._consumed.add(dia)
                return dia
        return None

    def __call__(self, chat: list[dict[str, str]]) -> str:
        self.calls += 1
        user = next((m["content"] for m in chat if m.get("role") == "user"), "")
        in_batch: set[str] = set()
        for _, role, content in _PROMPT_MESSAGE.findall(user):
            dia = self._match(role, html.unescape(content))
            if dia is None:
                self.unmatched += 1
            else:
                in_batch.add(dia)
        items = []
        for n, (text, evidence) in enumerate(self._observations):
            cited = [e for e in evidence if e in in_batch]
            if n in self._emitted or not cited:
                continue
            self._emitted.add(n)
            items.append({"kind": "fact", "text": text, "confidence": 0.9, "level": "explicit", "evidence": cited})
        return json.dumps({"new_insights": items})


# ----------------------------------------------------------------- run


def _messages(turns: Sequence[Turn], speaker: str) -> list[dict[str, Any]]:
    return [
        {
            "id": t.dia_id,
            "role": "user" if t.speaker == speaker else "assistant",
            "content": t.text,
            "created_at": t.when.isoformat(),
        }
        for t in turns
    ]


def _ingest(modeler: UserModeler, conv: Conversation, speaker: str, turns: Sequence[Turn]) -> int:
    uid = conv.user_id(speaker)
    for session in sorted({t.session for t in turns}):
        batch = [t for t in turns if t.session == session]
        modeler.observe(uid, _messages(batch, speaker), session_id=f"session_{session}")
    return len(turns)


def run_mode(
    mode: str,
    conversations: Sequence[Conversation],
    budgets: Sequence[int],
    store: Path,
    batch_tokens: int,
    embedder: Embedder,
) -> dict[str, Any]:
    """Ingest every user under ``mode``, then ask every question at every budget."""
    replay = ReplayLLM() if mode == "replay" else None
    if replay is not None:
        modeler = UserModeler(store, llm=replay, embedder=embedder, background=False, batch_tokens=batch_tokens)
    elif mode == "heuristic":
        modeler = UserModeler(store, embedder=embedder, background=False)
    elif mode in ("raw", "raw-user"):
        return run_naive_rag(mode, conversations, budgets, embedder)
    elif mode == "messages":
        modeler = UserModeler(store, reasoner=NoReasoner(), embedder=embedder, background=False)
    else:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(ALL_MODES)}")
    with modeler:
        started = time.perf_counter()
        observed = 0
        for conv in conversations:
            for speaker in conv.speakers:
                turns = [t for t in conv.turns if mode != "raw-user" or t.speaker == speaker]
                if replay is not None:
                    replay.start(conv, speaker, turns)
                observed += _ingest(modeler, conv, speaker, turns)
                if replay is not None:
                    modeler.flush(conv.user_id(speaker))
        modeler.flush()
        ingest_s = time.perf_counter() - started
        stats = modeler.stats()
        insights = sum(
            len(modeler.user_model(conv.user_id(s)).insights) for conv in conversations for s in conv.speakers
        )
        started = time.perf_counter()

        def ask(uid: str, question: str, budget: int) -> tuple[set[str], int]:
            ctx = modeler.context(uid, question, max_tokens=budget)
            return set(ctx.evidence), ctx.tokens

        per_budget = {budget: _ask_all(conversations, ask, budget) for budget in budgets}
        query_s = time.perf_counter() - started
    calls = int(stats["llm_calls"])
    return {
        "mode": mode,
        "messages_observed": int(stats["messages_observed"]),
        "messages_ingested": observed,
        "insights": insights,
        "llm_calls": calls,
        "llm_calls_per_100_messages": round(100.0 * calls / observed, 3) if observed else 0.0,
        "reasoner_input_tokens": int(stats["reasoner_input_tokens"]),
        "reasoner_output_tokens": int(stats["reasoner_output_tokens"]),
        "llm_failures": int(stats["llm_failures"]),
        "dropped_evidence": int(stats["dropped_evidence"]),
        "replay_unmatched_messages": replay.unmatched if replay is not None else None,
        "ingest_seconds": round(ingest_s, 2),
        "query_seconds": round(query_s, 2),
        "budgets": {str(b): v for b, v in per_budget.items()},
    }


class NaiveRAG:
    """The ``raw`` baselines: cosine top turns of one user's conversation, greedily packed into a budget."""

    def __init__(self, turns: Sequence[Turn], speaker: str, embedder: Embedder, counter: TokenCounter) -> None:
        self.lines = [message_line("user" if t.speaker == speaker else "assistant", t.when, t.text) for t in turns]
        self.ids = [t.dia_id for t in turns]
        self.costs = [counter.count(line) for line in self.lines]
        self.matrix = np.asarray(embedder.embed_documents([t.text for t in turns]), dtype=np.float32)
        self.embedder = embedder
        self.counter = counter
        head = f"{OPEN_TAG}\n{PREAMBLE}\n{SECTION_TITLES['message']}\n"
        self.frame = counter.count(head) + counter.count(CLOSE_TAG)
        self.head = head

    def context(self, question: str, budget: int) -> tuple[set[str], int]:
        """Evidence ids and tokens of the context for ``question``."""
        scores = self.matrix @ np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        used, chosen = self.frame, []
        for i in np.argsort(-scores, kind="stable"):
            if used + self.costs[i] > budget:
                break
            used += self.costs[i]
            chosen.append(int(i))
        if not chosen:
            return set(), 0
        text = self.head + "".join(self.lines[i] for i in chosen) + CLOSE_TAG
        return {self.ids[i] for i in chosen}, self.counter.count(text)


def run_naive_rag(
    mode: str, conversations: Sequence[Conversation], budgets: Sequence[int], embedder: Embedder
) -> dict[str, Any]:
    """The ``raw`` / ``raw-user`` baseline over the same turns, questions and budgets as the other modes."""
    counter = default_counter()
    started = time.perf_counter()
    indexes: dict[str, NaiveRAG] = {}
    observed = 0
    for conv in conversations:
        for speaker in conv.speakers:
            turns = [t for t in conv.turns if mode != "raw-user" or t.speaker == speaker]
            indexes[conv.user_id(speaker)] = NaiveRAG(turns, speaker, embedder, counter)
            observed += len(turns)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    per_budget = {
        budget: _ask_all(conversations, lambda uid, q, b: indexes[uid].context(q, b), budget) for budget in budgets
    }
    return {
        "mode": mode,
        "messages_observed": observed,
        "messages_ingested": observed,
        "insights": 0,
        "llm_calls": 0,
        "llm_calls_per_100_messages": 0.0,
        "reasoner_input_tokens": 0,
        "reasoner_output_tokens": 0,
        "llm_failures": 0,
        "dropped_evidence": 0,
        "replay_unmatched_messages": None,
        "ingest_seconds": round(ingest_s, 2),
        "query_seconds": round(time.perf_counter() - started, 2),
        "budgets": {str(b): v for b, v in per_budget.items()},
    }


def _ask_all(
    conversations: Sequence[Conversation], ask: Callable[[str, str, int], tuple[set[str], int]], budget: int
) -> dict[str, Any]:
    """Every question at ``budget``: ``ask(user_id, question, budget)`` gives (evidence ids, context tokens)."""
    recalls: list[float] = []
    tokens: list[int] = []
    by_cat: dict[int, list[float]] = {c: [] for c in ANSWERABLE}
    for conv in conversations:
        for q in conv.questions:
            found: set[str] = set()
            used = 0
            for speaker in q.users:
                evidence, spent = ask(conv.user_id(speaker), q.text, budget)
                found.update(evidence)
                used += spent
            recall = len(found & set(q.evidence)) / len(q.evidence)
            recalls.append(recall)
            tokens.append(used)
            by_cat[q.category].append(recall)
    return {
        "questions": len(recalls),
        "recall": _mean(recalls),
        "recall_by_category": {str(c): _mean(v) for c, v in by_cat.items() if v},
        "full_recall_share": _mean([1.0 if r == 1.0 else 0.0 for r in recalls]),
        "context_tokens": _mean([float(t) for t in tokens]),
    }


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else float("nan")


def _table(results: Sequence[dict[str, Any]], budgets: Sequence[int]) -> str:
    headers = [
        "mode",
        "budget",
        "questions",
        "recall",
        "cat1",
        "cat2",
        "cat3",
        "cat4",
        "ctx tokens",
        "LLM calls/100 msgs",
        "reasoner in tok",
        "reasoner out tok",
        "ingest s",
        "query s",
    ]
    rows: list[list[object]] = []
    for r in results:
        for b in budgets:
            cell = r["budgets"][str(b)]
            cats = cell["recall_by_category"]
            rows.append(
                [
                    r["mode"],
                    b,
                    cell["questions"],
                    cell["recall"],
                    *(cats.get(str(c), float("nan")) for c in ANSWERABLE),
                    cell["context_tokens"],
                    r["llm_calls_per_100_messages"],
                    r["reasoner_input_tokens"],
                    r["reasoner_output_tokens"],
                    r["ingest_seconds"],
                    r["query_seconds"],
                ]
            )
    return markdown_table(headers, rows)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="a LoCoMo JSON file (list of conversations)")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma list of {', '.join(ALL_MODES)}")
    parser.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), help="comma list of max_tokens")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="hashing", help="minilm needs the bench extra")
    parser.add_argument("--batch-tokens", type=int, default=512, help="LLM batch size for replay (user tokens)")
    parser.add_argument("--conversations", type=int, default=None, help="only the first N conversations")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    modes = _csv(args.modes)
    for mode in modes:
        if mode not in ALL_MODES:
            parser.error(f"unknown mode {mode!r}; choose from {', '.join(ALL_MODES)}")
    try:
        budgets = [int(b) for b in _csv(args.budgets)]
    except ValueError:
        parser.error("--budgets must be a comma list of integers")
    if not budgets or any(b < 1 for b in budgets):
        parser.error("--budgets must be positive integers")

    conversations = load_conversations(args.data)[: args.conversations]
    data_counts: dict[str, int] = {}
    for conv in conversations:
        for k, v in conv.counts.items():
            data_counts[k] = data_counts.get(k, 0) + v
    questions = [q for c in conversations for q in c.questions]
    data_summary = {
        "file": args.data.name,
        "conversations": len(conversations),
        "users": 2 * len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": len(questions),
        "questions_by_category": {str(c): sum(q.category == c for q in questions) for c in ANSWERABLE},
        "questions_to_both_speakers": sum(len(q.users) == 2 for q in questions),
        "observations": sum(len(v) for c in conversations for v in c.observations.values()),
        **data_counts,
    }
    log(f"locomo: {data_summary}")
    embedder = make_embedder(args.embedder)
    results = []
    for mode in modes:
        tmp = Path(tempfile.mkdtemp(prefix=f"personal-locomo-{mode}-"))
        try:
            log(f"locomo: mode {mode} ...")
            result = run_mode(mode, conversations, budgets, tmp / "store", args.batch_tokens, embedder)
            log(f"locomo: mode {mode} ingest {result['ingest_seconds']}s, queries {result['query_seconds']}s")
            results.append(result)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    table = _table(results, budgets)
    print(table)
    payload = {
        "benchmark": "locomo",
        "config": {
            "modes": modes,
            "budgets": budgets,
            "embedder": args.embedder,
            "batch_tokens": args.batch_tokens,
            "question_routing": "named speaker; both (pooled evidence, budget per user) when 0 or 2 named",
        },
        "data": data_summary,
        "results": results,
        "table": table,
        "environment": environment(),
    }
    stem = f"locomo-{args.embedder}"
    path = write_json(args.out, f"{stem}.json", payload)
    command = f"python -m benchmarks.locomo --data {args.data.name} --modes {','.join(modes)}"
    command += f" --embedder {args.embedder}"
    (args.out / f"{stem}.md").write_text(
        f"# LoCoMo evidence recall ({args.embedder} embedder)\n\n`{command}`\n\n{table}\n", encoding="utf-8"
    )
    plot = plot_recall(payload, args.out / f"{stem}.png")
    log(f"locomo: wrote {path}, {stem}.md and {plot.name}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
