"""Objects and names captured after a verb ("hiking in the Alps", "Ann"): cut at clause boundaries, trimmed of
filler, put in the third person."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .vocabulary import _NAME_STOP, MAX_OBJECT_WORDS

# (a colon between two word characters is part of a name or a time: "CS:GO", "10:30")
_HARD_BOUNDARY = re.compile(
    r"[,;:()\[\]{}|–—…!?.\s](?:(?<=[,;()\[\]{}|–—…!?])|(?<=:)(?!(?<=\w:)\w)|(?<=\.)\.\.|(?<=\s)-+\s)"
)
_STOP_WORDS = frozenset(
    "but because cause cuz although though however whereas unless since except which who whom whose if whenever "
    "lol haha hehe btw tbh thanks".split()
)
_STOP_PAIRS = frozenset({("so", "that"), ("even", "if"), ("even", "though"), ("and", "then"), ("thank", "you")})
# Words after which "cause" is the noun ("a good cause"), not "because".
_BEFORE_A_NOUN = frozenset("a the good great worthy noble important".split())
_CONJUNCTIONS = frozenset("and or so then as while when plus yet nor but".split())
_PRONOUNS = frozenset("i i'm im i've i'd i'll my me you your we he she they it it's its that this there".split())
_FILLER_TAILS: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "at the moment|so much|very much|a lot|a ton|as well|right now|these days|lots|too|either|lol|haha|hehe|"
        "tbh|honestly|btw|though|anyway|anyways|really|now|currently|nowadays|please|actually|anymore|any more|"
        "no more|any longer"
    ).split("|")
)
_FILLER_BY_LAST: dict[str, tuple[tuple[str, ...], ...]] = {
    last: tuple(t for t in _FILLER_TAILS if t[-1] == last) for last in {t[-1] for t in _FILLER_TAILS}
}
# Verbs that start a new clause with the subject left out ("I dislike group work and prefer ...").
_CLAUSE_VERBS = frozenset(
    "prefer avoid want need try don't dont can't cant cannot never always usually only dislike hate find refuse "
    "strongly much do work study live love like have am teach own".split()
)
_YOU_WORDS = frozenset("you your yours yourself yourselves you're youre you've you'd you'll u ur".split())
_LIST_BREAKERS = _STOP_WORDS | _PRONOUNS | _YOU_WORDS
_TIME_UNITS = frozenset("year years month months week weeks day days summer winter spring fall autumn".split())
_COUNT_WORDS = frozenset("a an few couple of two three four five several many".split())
_PRONOUN_MAP = {
    "i'm": "they're",
    "im": "they're",
    "i've": "they've",
    "i'd": "they'd",
    "i'll": "they'll",
    "myself": "themselves",
    "mine": "theirs",
    "my": "their",
    "me": "them",
    "i": "they",
    "our": "their",
    "ours": "theirs",
    "ourselves": "themselves",
    "us": "them",
}
_KEEP_EDGE = "+#%$€£"
_EDGE_CHARS = ".\"'“”‘’*_~`"


def _cores(words: Sequence[str]) -> list[str]:
    """``words`` lower-cased, without surrounding quotes and dots (for vocabulary look-ups)."""
    return [w.lower().strip(_EDGE_CHARS) for w in words]


def _drop_tail(cores: list[str], trim_time: bool) -> int:
    """How many trailing words of ``cores`` are filler ("so much", "now", "last year")."""
    n = len(cores)
    for tail in _FILLER_BY_LAST.get(cores[-1], ()):
        if n >= len(tail) and tuple(cores[n - len(tail) :]) == tail:
            return len(tail)
    if not trim_time or n < 2:
        return 0
    last, prev = cores[-1], cores[-2]
    if prev in ("last", "this", "next") and last in _TIME_UNITS:
        return 2
    if prev in ("since", "in") and last.isdigit():
        return 2
    if last in ("recently", "again"):
        return 1
    if last in ("ago", "back"):
        drop = 1
        if cores[n - 1 - drop] in _TIME_UNITS or cores[n - 1 - drop] == "while":
            drop += 1
            while drop < n and drop < 5 and (cores[n - 1 - drop] in _COUNT_WORDS or cores[n - 1 - drop].isdigit()):
                drop += 1
        return drop if drop < n else 0
    if n >= 3 and last in _TIME_UNITS:
        i = n - 2
        while i > 0 and n - i < 5 and (cores[i] in _COUNT_WORDS or cores[i].isdigit()):
            i -= 1
        if i < n - 2 and cores[i] == "for":
            return n - i
    return 0


def _third_person(words: list[str], cores: list[str] | None = None) -> str:
    """``words`` joined, with first-person pronouns turned into third-person ones ("my dog" -> "their dog")."""
    cores = _cores(words) if cores is None else cores
    if _PRONOUN_MAP.keys().isdisjoint(cores):
        return " ".join(words)
    out: list[str] = []
    for i, (word, core) in enumerate(zip(words, cores, strict=True)):
        if core == "i" and i + 1 < len(cores) and cores[i + 1] in ("am", "was"):
            out.append("they")
        elif core in ("am", "was") and i > 0 and cores[i - 1] == "i":
            out.append("are" if core == "am" else "were")
        elif core in _PRONOUN_MAP:
            lead = len(word) - len(word.lstrip(_EDGE_CHARS))
            trail = len(word) - len(word.rstrip(_EDGE_CHARS))
            out.append(word[:lead] + _PRONOUN_MAP[core] + word[len(word) - trail :])
        else:
            out.append(word)
    return " ".join(out)


#: Asides after a comma that end an object rather than add a list item ("Porto, by the way").
_ASIDE = re.compile(
    r"\s*(?:by the way|btw|though|actually|anyway|of course|i think|i guess|i suppose|really|too|now|again|"
    r"these days|lol|haha)\b",
    re.IGNORECASE,
)


def _continues_list(raw: str, start: int) -> bool:
    """True when the text after a comma at ``start`` is one more short list item ("..., shellfish and dust")."""
    if _ASIDE.match(raw, start):
        return False
    nxt = _HARD_BOUNDARY.search(raw, start)
    cores = _cores(raw[start : nxt.start() if nxt else len(raw)].split())
    if not 1 <= len(cores) <= 4 or not _LIST_BREAKERS.isdisjoint(cores):
        return False
    first = cores[0]
    if first in ("and", "or"):
        return len(cores) > 1 and cores[1] not in _CONJUNCTIONS
    return first not in _CONJUNCTIONS


def _object_end(raw: str) -> int:
    """Where the object captured at the start of ``raw`` ends: the first punctuation that is not a list comma."""
    pos = 0
    while True:
        hard = _HARD_BOUNDARY.search(raw, pos)
        if hard is None:
            return len(raw)
        if raw[hard.start()] != "," or not _continues_list(raw, hard.end()):
            return hard.start()
        pos = hard.end()


def _clean_object(
    raw: str | None,
    max_words: int = MAX_OBJECT_WORDS,
    reject: re.Pattern[str] | None = None,
    *,
    trim_time: bool = False,
) -> str | None:
    """The captured object cut at the first clause boundary, trimmed and put in the third person."""
    if not raw:
        return None
    words = raw[: _object_end(raw)].split()[: max_words + 2]
    cores = _cores(words)
    end = min(len(words), max_words)
    for i, core in enumerate(cores[:end]):
        nxt = cores[i + 1] if i + 1 < len(cores) else ""
        if (
            (core in _STOP_WORDS and not (core == "cause" and i and cores[i - 1] in _BEFORE_A_NOUN))
            or (core, nxt) in _STOP_PAIRS
            or (core in _CONJUNCTIONS and (nxt in _PRONOUNS or nxt in _CLAUSE_VERBS))
        ):
            end = i
            break
    words, cores = words[:end], cores[:end]
    while words:
        drop = _drop_tail(cores, trim_time)
        if not drop:
            break
        del words[-drop:], cores[-drop:]
    if not words or any(core in _YOU_WORDS for core in cores):
        return None
    text = _third_person(words, cores)
    while text and not (text[-1].isalnum() or text[-1] in _KEEP_EDGE):
        text = text[:-1].rstrip()
    while text and not (text[0].isalnum() or text[0] in _KEEP_EDGE or (text[0] == "." and text[1:2].isalnum())):
        text = text[1:].lstrip()
    if not text or (reject is not None and reject.match(text)):
        return None
    return text


def _article(word: str) -> str:
    lower = word.lower()
    if lower.startswith(("uni", "use", "usu", "one", "euro")):
        return "a"
    if lower.startswith(("hour", "honest", "heir")):
        return "an"
    return "an" if lower[:1] in "aeiou" else "a"


def _mixed_case(sentence: str) -> bool:
    """True when the writer uses capitals (beyond a leading capital and the pronoun 'I')."""
    body = re.sub(r"\bI\b", "", sentence[1:])
    return any(ch.isupper() for ch in body)


def _parse_name(raw: str | None, strict: bool, max_words: int = 3) -> str | None:
    """A person's or pet's name at the start of ``raw`` (1-3 words), or None.

    ``strict`` requires capitalised words; otherwise lower-case names are accepted and capitalised.
    """
    if not raw:
        return None
    words: list[str] = []
    for token in raw.split()[: max_words + 1]:
        core = token.strip(".,!?;:\"'()[]{}")
        ends = token.rstrip(".") != token.rstrip(".,!?;:)\"'") or token.endswith((".", "!", "?"))
        if (
            not core
            or len(core) > 40
            or not core[0].isalpha()
            or not all(ch.isalpha() or ch in "-'" for ch in core)
            or core.lower() in _NAME_STOP
            or (strict and not core[0].isupper())
        ):
            break
        words.append(core[0].upper() + core[1:])
        if ends or len(words) >= max_words:
            break
    if not words:
        return None
    return " ".join(words)
