"""Slots: what a single-valued finding is about ("residence", "name", "taste:jazz"), so that a later value
supersedes the earlier one instead of standing next to it. Pure helpers shared by the builders."""

from __future__ import annotations

import re
import unicodedata

from .vocabulary import _F

RESIDENCE = "residence"
NAME = "name"
JOB = "job"
DIET = "diet"
AGE = "age"

_SLOT_JUNK = re.compile(r"[^a-z0-9]+")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", _F)
#: Longest object part of a slot name ("taste:<object>").
MAX_SLOT_OBJECT = 60

# Words that start a captured place that is not one ("a new flat", "my parents' house").
_NOT_A_PLACE = frozenset(
    "a an my our their his her your this that these those some another new the one any every".split()
)
# Markers that put a statement in the user's childhood ("when I was 10") or, for _LONG_AGO, their far past.
_CHILDHOOD_WORDS = (
    r"when\s+I\s+was|as\s+a\s+(?:kid|child|teen|teenager|baby|student)|growing\s+up|back\s+(?:then|in)|"
    r"used\s+to|in\s+my\s+(?:childhood|youth|twenties|teens)"
)
_CHILDHOOD = re.compile(r"\b(?:" + _CHILDHOOD_WORDS + r")\b", _F)
_LONG_AGO = re.compile(r"\b(?:" + _CHILDHOOD_WORDS + r"|years\s+ago|decades?\s+ago|in\s+(?:19|20)\d\d)\b", _F)
_ANYMORE = re.compile(r"\b(?:any\s*more|no\s+longer|not\s+any\s+longer)\b", _F)


def object_slot(prefix: str, obj: str) -> str | None:
    """``prefix:<normalised obj>`` ("taste:jazz"), or None when nothing usable is left of ``obj``."""
    text = unicodedata.normalize("NFKD", obj.casefold()).encode("ascii", "ignore").decode()
    text = _LEADING_ARTICLE.sub("", text.strip())
    key = _SLOT_JUNK.sub("_", text).strip("_")[:MAX_SLOT_OBJECT].strip("_")
    return f"{prefix}:{key}" if key else None


def proper_noun_start(obj: str, mixed_case: bool) -> bool:
    """True when ``obj`` reads as a named place or organisation ("Porto", "the US", "Acme") rather than "a flat".

    A writer who uses capitals must capitalise it; an all-lowercase writer must not start it with an article.
    """
    words = obj.split()
    if not words:
        return False
    first = words[0]
    if first.lower() == "the" and len(words) > 1:
        return mixed_case and words[1][:1].isupper()
    if mixed_case:
        return first[:1].isupper()
    return first.lower() not in _NOT_A_PLACE


def in_childhood(text: str) -> bool:
    """True when ``text`` places a statement in the user's childhood ("when I was a kid", "growing up")."""
    return _CHILDHOOD.search(text) is not None


def long_ago(text: str) -> bool:
    """True when ``text`` places a statement in the user's past ("when I was a kid", "years ago")."""
    return _LONG_AGO.search(text) is not None


def says_no_longer(text: str) -> bool:
    """True when ``text`` marks a change ("anymore", "no longer")."""
    return _ANYMORE.search(text) is not None
