"""Relative dates ("yesterday", "last week", "two days ago") resolved against the time a message was written.

Pure and strict: only expressions whose meaning is fixed by the day they were said are resolved ("last week" is
"the week before 2024-05-10"); an ambiguous one ("last Friday" said on a Saturday, "this weekend") is left as the
user wrote it, since the day the insight is listed under makes it readable anyway.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import NamedTuple

from .vocabulary import _F

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = "January February March April May June July August September October November December".split()
_NUMBER = r"(?P<n>a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,2})"
_DAY = "|".join(_WEEKDAYS) + "|mon|tues|tue|wed|thurs|thur|thu|fri|sat|sun"
#: A relative time expression; each alternative has a named group saying what it is.
TIME = re.compile(
    r"\b(?:(?P<yesterday>yesterday|last\s+night)"
    r"|(?P<today>today|tonight|this\s+(?:morning|afternoon|evening)|earlier\s+today)"
    r"|(?P<tomorrow>tomorrow)"
    r"|(?P<ago>(?:(?P<approx>about|around|roughly|nearly|almost|over|more\s+than)\s+)?" + _NUMBER + r"\s+"
    r"(?P<unit>day|days|week|weeks|weekend|weekends|month|months|year|years)\s+ago)"
    r"|(?P<few>(?:a\s+)?(?:few|couple\s+of)\s+(?P<funit>days|weeks|weekends|months|years)\s+ago)"
    r"|(?:last|this\s+past|the\s+past)\s+(?P<last>week|weekend|month|year|" + _DAY + r")"
    r"|next\s+(?P<next>week|weekend|month|year)"
    r"|(?P<recent>recently|lately|the\s+other\s+day|not\s+long\s+ago|just\s+now))\b",
    _F,
)


class When(NamedTuple):
    """A time expression found in a text: where it is and how it reads once resolved ("" when it says nothing
    more than the day the statement is listed under; None when it could not be resolved)."""

    start: int
    end: int
    resolved: str | None


def _iso(day: date) -> str:
    return day.isoformat()


def _month(day: date, delta: int) -> str:
    index = day.year * 12 + day.month - 1 + delta
    return f"in {_MONTHS[index % 12]} {index // 12}"


def resolve(match: re.Match[str], said: date) -> str | None:
    """How the time expression ``match`` reads when said on ``said`` ("on 2024-05-09", "in the week before
    2024-05-10"); "" for an expression that adds nothing to the day ("recently", "today"); None when ambiguous."""
    groups = match.groupdict()
    if groups["yesterday"]:
        return f"on {_iso(said - timedelta(days=1))}"
    if groups["today"] or groups["recent"]:
        return ""
    if groups["tomorrow"]:
        return f"on {_iso(said + timedelta(days=1))}"
    if groups["ago"]:
        raw = groups["n"].lower()
        n = int(raw) if raw.isdigit() else _NUMBERS[raw]
        unit = groups["unit"].lower().rstrip("s")
        about = "about " if groups["approx"] else ""
        if unit == "day":
            return f"{about or 'on '}{_iso(said - timedelta(days=n))}"
        if not about and unit == "month" and n == 1:
            return _month(said, -1)
        if not about and unit == "year" and n == 1:
            return f"in {said.year - 1}"
        return f"{about}{n if n > 1 else 'a'} {unit}{'s' if n > 1 else ''} before {_iso(said)}"
    if groups["few"]:
        return f"a few {groups['funit'].lower()} before {_iso(said)}"
    last = (groups["last"] or "").lower()
    if last in ("week", "weekend"):
        return f"in the {last} before {_iso(said)}"
    if last == "month":
        return _month(said, -1)
    if last == "year":
        return f"in {said.year - 1}"
    if last:
        back = (said.weekday() - next(i for i, d in enumerate(_WEEKDAYS) if d.startswith(last[:3]))) % 7 or 7
        return f"on {_iso(said - timedelta(days=back))}" if back > 1 else None
    nxt = (groups["next"] or "").lower()
    if nxt in ("week", "weekend"):
        return f"in the {nxt} after {_iso(said)}"
    if nxt == "month":
        return _month(said, 1)
    if nxt == "year":
        return f"in {said.year + 1}"
    return None


def find_when(text: str, said: date | None) -> When | None:
    """The first relative time expression in ``text``, resolved against ``said`` (None: there is none)."""
    match = TIME.search(text)
    if match is None:
        return None
    return When(match.start(), match.end(), resolve(match, said) if said is not None else None)
