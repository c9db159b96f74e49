"""A query naming a date ranks what was said or held then higher."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from personal_core import HashingEmbedder, query_dates
from personal_core.query_dates import date_bonus, in_periods, named_periods

from .test_subject import Silent


def test_named_periods_reads_days_and_months_not_years_or_verbs() -> None:
    assert named_periods("What did I show you on October 13, 2023?") == [(2023, (10, 13), (10, 13))]
    assert named_periods("What did Gina find on 1 February, 2023?") == [(2023, (2, 1), (2, 1))]
    assert named_periods("notes from 2023-05-08") == [(2023, (5, 8), (5, 8))]
    assert named_periods("What setback did I face in October 2023?") == [(2023, (10, 1), (10, 31))]
    assert named_periods("Where did we go camping in June?") == [(None, (6, 1), (6, 31))]
    assert named_periods("May I ask what you did in 2023?") == []
    assert named_periods("Any ideas for dinner?") == []
    assert named_periods("on February 30, 2023") == [], "no such day"


def _days(*values: date) -> np.ndarray:
    return np.array([d.toordinal() for d in values], dtype=np.int64)


def test_in_periods_matches_the_day_with_slack_the_month_and_any_year_when_open() -> None:
    days = _days(date(2023, 10, 12), date(2023, 10, 16), date(2022, 6, 3), date(2023, 6, 30), date(2023, 7, 1))
    assert in_periods(days, named_periods("on October 13, 2023")).tolist() == [True, False, False, False, False]
    assert in_periods(days, named_periods("in June")).tolist() == [False, False, True, True, False]
    assert in_periods(days, named_periods("in June 2022")).tolist() == [False, False, True, False, False]
    assert date_bonus(days, named_periods("in March")) is None, "no item in the period: no change"
    assert date_bonus(days, []) is None
    undated = np.array([0], dtype=np.int64)
    assert in_periods(undated, named_periods("in January")).tolist() == [False]


@pytest.mark.parametrize("on", [True, False])
def test_a_question_naming_a_day_quotes_what_was_said_that_day(
    backend: Any, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    monkeypatch.setattr(query_dates, "DATE_BONUS", query_dates.DATE_BONUS if on else 0.0)
    with backend.modeler(embedder=HashingEmbedder(), reasoner=Silent()) as modeler:
        for day, dish in ((3, "a mushroom risotto"), (10, "a lemon tart"), (17, "a lentil curry"), (24, "pho")):
            modeler.observe(
                "ann",
                [
                    {
                        "role": "user",
                        "content": f"Tonight I cooked {dish} for dinner.",
                        "created_at": f"2024-03-{day:02d}",
                    }
                ],
                session_id=f"s{day}",
            )
        ctx = modeler.context("ann", "What did I cook for dinner on March 17, 2024?", max_tokens=2000)
    ranked = sorted((i for i in ctx.items if i.source == "message"), key=lambda i: -i.score)
    assert len(ranked) == 4, ctx.text
    if on:
        assert "lentil" in ranked[0].text and ranked[0].score > 1.3 * ranked[1].score, ranked
    else:  # the control: the same words everywhere, nothing singles the day out
        assert ranked[0].score < 1.3 * ranked[1].score, ranked
