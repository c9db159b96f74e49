"""Pure: the days a query names ("on October 13, 2023", "in June", "in May 2023", "2023-05-08").

A question that names a date ("What did I say about the budget on 3 March?", "Where did we go in June?") asks
about what was said or held then: items dated in that period rank higher (see :func:`date_bonus`). Years alone
("in 2023") and relative phrases ("last week") are not read: a year covers most of a user's history, and a
relative phrase needs the time of the question, which the read path does not have.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date

import numpy as np
import numpy.typing as npt

#: Relevance added to an item dated within a period the query names.
DATE_BONUS = 0.5
#: A named day also matches this many days either side (a conversation's date and the day it is about differ).
DAY_SLACK = 1

_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_YEAR = r"((?:19|20)\d\d)"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_PATTERNS = (
    ("iso", re.compile(rf"\b{_YEAR}-(\d{{2}})-(\d{{2}})\b")),
    ("mdy", re.compile(rf"\b{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b", re.IGNORECASE)),
    ("dmy", re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR})?\b", re.IGNORECASE)),
    # a month on its own only after "in/during/since/of/last" or with a year ("may" is also a verb)
    ("my", re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)),
    (
        "m",
        re.compile(rf"\b(?:in|during|early|late|mid|of|last|this|since)\s+(?:mid-)?{_MONTH}\b(?!\s*\d)", re.IGNORECASE),
    ),
)

#: A period: (year or None for any year, first day of year, last day of year), as (year, month, day) tuples
#: compared by (month, day) when the year is open.
Period = tuple[int | None, tuple[int, int], tuple[int, int]]


def named_periods(query: str) -> list[Period]:
    """The periods ``query`` names, in order (empty for none): a day (with :data:`DAY_SLACK`) or a month, of a
    given year or of any year."""
    out: list[Period] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(query):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            period = _period(kind, match.groups())
            if period is not None:
                out.append(period)
                taken.append((match.start(), match.end()))
    return out


def _period(kind: str, groups: tuple[str | None, ...]) -> Period | None:
    try:
        if kind == "iso":
            year, month, day = int(groups[0] or 0), int(groups[1] or 0), int(groups[2] or 0)
        elif kind == "mdy":
            month, day = _MONTHS[(groups[0] or "").lower()], int(groups[1] or 0)
            year = int(groups[2]) if groups[2] else 0
        elif kind == "dmy":
            day, month = int(groups[0] or 0), _MONTHS[(groups[1] or "").lower()]
            year = int(groups[2]) if groups[2] else 0
        elif kind == "my":
            month, year, day = _MONTHS[(groups[0] or "").lower()], int(groups[1] or 0), 0
        else:
            month, year, day = _MONTHS[(groups[0] or "").lower()], 0, 0
    except (KeyError, ValueError):
        return None
    if not 1 <= month <= 12:
        return None
    if day:
        if day > monthrange(year or 2000, month)[1]:
            return None
        return (year or None, (month, day), (month, day))
    return (year or None, (month, 1), (month, 31))


def in_periods(days: npt.NDArray[np.int64], periods: list[Period]) -> npt.NDArray[np.bool_]:
    """Which ``days`` (proleptic ordinals, see :meth:`datetime.date.toordinal`; 0 for undated) fall in a period."""
    hit = np.zeros(len(days), dtype=bool)
    if not len(days):
        return hit
    for year, first, last in periods:
        years = [year] if year is not None else sorted({date.fromordinal(int(d)).year for d in np.unique(days) if d})
        for y in years:
            if first == last:  # one day, with slack
                centre = date(y, *first).toordinal()
                lo, hi = centre - DAY_SLACK, centre + DAY_SLACK
            else:
                lo = date(y, first[0], 1).toordinal()
                hi = date(y, first[0], monthrange(y, first[0])[1]).toordinal()
            hit |= (days >= lo) & (days <= hi)
    hit &= days > 0
    return hit


def date_bonus(days: npt.NDArray[np.int64], periods: list[Period]) -> npt.NDArray[np.float64] | None:
    """:data:`DATE_BONUS` for each of ``days`` within a named period, 0 elsewhere; None when no day is in one."""
    if not periods:
        return None
    hit = in_periods(days, periods)
    if not hit.any():
        return None
    return np.where(hit, DATE_BONUS, 0.0)
