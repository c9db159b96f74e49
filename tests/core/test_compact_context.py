"""Compact context: dates once per day, short insight lines, query-aware excerpts, near-duplicates sink."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from personal_core import UserModeler
from personal_core.context import Candidate, PackingPolicy, day_header, insight_line, message_line, pack
from personal_core.diversity import diversified
from personal_core.excerpts import kept_sentences, split_sentences, trimmed
from personal_core.model import ContextSource, Insight, InsightKind
from personal_core.text import terms
from personal_core.tokens import TiktokenCounter

LONG = (
    "Thanks, Jo! Not much has changed for me lately, work has been busy as always. "
    "I just discovered that I can make coconut milk ice cream and it was really good. "
    "Anyway, how was your weekend with the family?"
)


def _insight(text: str, confidence: float = 0.9, seen: int = 1) -> Insight:
    return Insight(
        user_id="ann",
        kind=InsightKind.FACT,
        text=text,
        confidence=confidence,
        times_seen=seen,
        valid_from=datetime(2023, 5, 8),
    )


def test_an_insight_line_says_only_what_its_text_does_not() -> None:
    assert insight_line(_insight("Lives in Porto")) == "- Lives in Porto\n"
    assert insight_line(_insight("Lives in Porto", confidence=0.5)) == "- [unsure] Lives in Porto\n"
    assert insight_line(_insight("Lives in Porto", seen=3)) == "- [seen 3x] Lives in Porto\n"


def test_a_message_line_without_a_date_goes_under_its_day() -> None:
    assert message_line("user", None, 'say "hi"') == '- user "say \\"hi\\""\n'
    assert message_line("user", datetime(2023, 5, 8), "hi") == '- [2023-05-08 user] "hi"\n'


def _cand(counter: TiktokenCounter, source: str, item_id: str, text: str, score: float, day: str) -> Candidate:
    line = f"- {text}\n"
    return Candidate(source, item_id, text, line, counter.count(line), score, day=day)  # type: ignore[arg-type]


def test_items_of_one_day_share_one_date_line_and_its_tokens_count(real_counter: TiktokenCounter) -> None:
    sections: dict[ContextSource, list[Candidate]] = {
        "insight": [
            _cand(real_counter, "insight", "i1", "Won a chess cup", 0.9, "2023-05-08"),
            _cand(real_counter, "insight", "i2", "Plays chess on Fridays", 0.8, "2023-01-02"),
            _cand(real_counter, "insight", "i3", "Coaches a chess club", 0.7, "2023-05-08"),
        ],
        "message": [_cand(real_counter, "message", "m1", '"chess"', 0.5, "2023-05-08")],
    }
    ctx = pack("ann", "chess", sections, 500, real_counter, PackingPolicy())
    lines = ctx.text.split("\n")
    start = lines.index("Insights:")
    assert lines[start : start + 6] == [
        "Insights:",
        "2023-01-02:",
        "- Plays chess on Fridays",
        "2023-05-08:",
        "- Won a chess cup",
        "- Coaches a chess club",
    ], "by day, rank order within a day"
    assert lines[start + 6 : start + 9] == ["Past messages:", "2023-05-08:", '- "chess"'], "each section has its days"
    assert ctx.tokens == real_counter.count(ctx.text)
    # the budget pays for a day's line once: everything fits exactly at the rendered size, nothing at one less
    exact = pack("ann", "chess", sections, ctx.tokens, real_counter, PackingPolicy())
    assert [i.id for i in exact.items] == [i.id for i in ctx.items]
    short = pack("ann", "chess", sections, ctx.tokens - 1, real_counter, PackingPolicy())
    assert len(short.items) < len(ctx.items) and short.tokens <= ctx.tokens - 1
    assert real_counter.count(day_header("2023-05-08")) > 0


def test_a_long_message_is_quoted_by_its_matching_sentences() -> None:
    sentences = split_sentences(LONG)
    assert len(sentences) == 4
    kept = kept_sentences(sentences, terms("What desserts did she make with coconut milk?"))
    assert kept == (2,)
    assert trimmed(sentences, kept) == (
        "... I just discovered that I can make coconut milk ice cream and it was really good. ..."
    )
    assert kept_sentences(sentences, terms("What did she do on Mars?")) is None, "no match: quoted whole"
    assert kept_sentences(split_sentences("Short one. Very short."), terms("short")) is None, "short: whole"
    everything = terms("weekend family coconut busy work")
    assert kept_sentences(sentences, everything) is None, "trimming that saves little quotes the whole"


def test_a_trimmed_excerpt_keeps_its_message_id(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": "m1", "role": "user", "content": LONG, "session_id": "s"}])
    ctx = modeler.context("ann", "coconut milk ice cream", max_tokens=300)
    (item,) = [i for i in ctx.items if i.source == "message"]
    assert item.id == "m1" and item.evidence == ["m1"]
    assert "coconut milk ice cream" in item.text and "weekend" not in item.text
    whole = modeler.context("ann", "weekend with the family", max_tokens=300)
    assert any("weekend" in i.text for i in whole.items if i.source == "message")


def test_near_duplicates_of_better_items_lose_part_of_their_score() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=np.float32)
    scores = np.array([1.0, 0.9, 0.8, 0.7])
    out = diversified(scores, vectors, penalty=0.5, threshold=0.6)
    assert out[0] == 1.0 and out[2] == 0.8, "the best and an unlike item keep their score"
    assert out[1] == 0.45, "an exact duplicate of a better item loses the full penalty"
    assert 0.35 < out[3] < 0.7, "a close item loses part of it"
    assert np.array_equal(diversified(scores, vectors, penalty=0.0), scores)
