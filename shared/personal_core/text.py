"""Pure text helpers shared by the lexical ranker and the hashing embedder."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from as is are was were be been being am
    i me my mine we our us you your he him his she her it its they them their this that these those there here
    do does did doing have has had having will would shall should can could may might must not no yes
    what which who whom whose when where why how all any both each few more most other some such only own same
    than too very just also about into over under again further once up down out off s t don't i'm it's
    im ive id ill youre""".split()
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A light, deterministic suffix stripper (enough to match 'hiking'/'hike', 'dogs'/'dog')."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)] + keep
            if suffix in ("ing", "ed") and len(base) > 3 and base[-1] == base[-2]:
                base = base[:-1]
            if suffix == "s" and word.endswith("ss"):
                return word
            return base.rstrip("e") if suffix in ("ing", "ed", "es") else base
    return word.rstrip("e") if len(word) > 4 else word


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stopwords removed), in order."""
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0).replace("'", "")
        if word in STOPWORDS:
            continue
        out.append(_stem(word))
    return out


_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """Case-, punctuation- and space-insensitive form of ``text`` for exact-duplicate detection."""
    return _NON_WORD.sub(" ", text.lower()).strip()
