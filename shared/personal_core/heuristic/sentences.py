"""Text preparation: cleaning a message, splitting it into sentences, and spotting hypothetical, quoted or
reported statements (markers that block a finding)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from itertools import pairwise

from .vocabulary import MAX_SCAN_CHARS, MAX_SENTENCE_CHARS

_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ud800-\udfff]"
)
_APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u02bc\u0060\u00b4\u2032]")
_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?…\r\n](?:(?<=[\r\n])|[.!?…\"'”)\]]*(?=\s|$))\s*")
_ABBREVIATIONS = frozenset("st. mr. ms. dr. jr. sr. mt. vs. mrs. prof. e.g. i.e. etc.".split())
_QUESTION_END = re.compile(r"\?[\s\W]*$")
_SPACES = re.compile(r"\s+")
# "I", "my" or "call me" at a word start (led by a character set so the scan is fast).
_TRIGGER = re.compile(
    r"[IiMmCc](?<![\w'][IiMmCc])(?:(?<=[Ii])(?=\s|'|[mM]\b|[vV][eE]\b)|(?<=[Mm])[Yy]\s|(?<=[Cc])[aA][lL][lL]\s+[mM][eE]\s)"
)
_SELF_WORDS = frozenset("i i'm im i've ive i'd my call".split())


def _prepare(text: str) -> str:
    """``text`` capped, NFKC-normalised, with control characters, code blocks and quoted lines removed."""
    text = text[:MAX_SCAN_CHARS]
    text = _CONTROL.sub(" ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = _CODE_FENCE.sub("\n", text)
    text = _QUOTED_LINE.sub("", text)
    return _unwrap(_APOSTROPHES.sub("'", text))


#: A message longer than this many words is mostly material to work on (a transcript, an abstract's "we
#: presented ...", a report), not the user telling about themselves: only its lead is read (see own_words).
MAX_OWN_WORDS = 120
#: The most words the lead of such a message (before its first colon or line break) may have to be read.
MAX_LEAD_WORDS = 40
#: "Please simplify this text: ...", "Proofread my email: ...": what follows the colon is text to work on.
_PASTED = re.compile(
    r"\b(?:simplify|rewrite|re-write|summari[sz]e|translate|proofread|paraphrase|edit|correct|improve|shorten|"
    r"polish|rephrase|check|review|explain|fix)\b[^.:!?\n]{0,60}?\b(?:text|paragraph|abstract|passage|email|"
    r"e-mail|essay|article|sentences?|letter|message|post|story|report|code|following)\b[^:\n]{0,20}:",
    re.IGNORECASE,
)
_LEAD_END = re.compile(r"[:\n]")


def own_words(text: str) -> str:
    """The part of a prepared message that is the user's own words: text pasted after a request to work on it
    ("Please simplify this text: ...") is cut, and of a message over :data:`MAX_OWN_WORDS` words only a short
    lead before its first colon or line break is kept ("" when there is none)."""
    pasted = _PASTED.search(text)
    if pasted is not None:
        text = text[: pasted.start()]
    if len(text.split()) <= MAX_OWN_WORDS:
        return text
    end = _LEAD_END.search(text)
    lead = text[: end.start()] if end is not None else ""
    return lead if len(lead.split()) <= MAX_LEAD_WORDS else ""


#: "I'm vegetarian and allergic to peanuts": a second standing trait joined by "and" to an "I'm ..." statement.
_JOINED_TRAIT = re.compile(
    r"(\bI(?:'m|\s+am)\s+[^,;.!?\n]{1,60}?)(?:,\s*|\s+)and\s+(?:(?:I'm|I\s+am)\s+)?"
    r"(?=(?:(?:also|very|severely|deathly|really|strictly)\s+)*(?:allergic|vegetarian|vegan|pescatarian|"
    r"pescetarian|lactose[-\s]intolerant|gluten[-\s]intolerant|celiac|coeliac|diabetic|afraid|scared|terrified)\b)",
    re.IGNORECASE,
)


def split_joined_traits(text: str) -> str:
    """Give a trait joined to an "I'm ..." statement its own sentence ("I'm vegetarian and allergic to peanuts"
    -> "I'm vegetarian. I'm allergic to peanuts"), so each is read whole and none is read as the other's object."""
    return _JOINED_TRAIT.sub(r"\1. I'm ", text)


# A whole message wrapped in one pair of quotes ('"I dislike floral prints."') is the user's own statement; a
# quote inside a message ('she said "I hate it"') still blocks what it holds.
_WRAPPED = re.compile(r'^\s*(?:"([^"“”]+)"|“([^"“”]+)”)[.!]?\s*$')


def _unwrap(text: str) -> str:
    match = _WRAPPED.match(text)
    return (match.group(1) or match.group(2)) if match else text


def _sentences(text: str) -> Iterator[str]:
    start = 0
    for end in _SENTENCE_END.finditer(text):
        dot = end.start()
        if text[dot] == ".":
            k = dot
            while k > 0 and dot - k < 5 and (text[k - 1].isalpha() or text[k - 1] == "."):
                k -= 1
            if text[k : dot + 1].lower() in _ABBREVIATIONS:
                continue
        sentence = _SPACES.sub(" ", text[start : end.end()]).strip()
        start = end.end()
        if sentence:
            yield sentence[:MAX_SENTENCE_CHARS]
    sentence = _SPACES.sub(" ", text[start:]).strip()
    if sentence:
        yield sentence[:MAX_SENTENCE_CHARS]


_WORD = re.compile(r"[\w']+")
# Words that make the rest of the sentence hypothetical or quoted.
_STRONG_WORDS = frozenset(
    "if unless suppose supposing imagine imagining pretend pretending hypothetically roleplay fictional character "
    "example".split()
)
_STRONG_PAIRS = frozenset(
    {
        ("what", "if"),
        ("as", "if"),
        ("as", "though"),
        ("let's", "say"),
        ("lets", "say"),
        ("us", "say"),
        ("role", "play"),
        ("e", "g"),
    }
)
# Words that make the current clause reported, hedged or not the user's own statement.
_WEAK_WORDS = frozenset(
    """say says said saying tell tells told claim claims claimed claiming record records recorded log logs logged
    store stores save saves write writes wrote written think thinks thought believe believes assume assumes
    assuming wish wishes wished when whenever once whether why you your he she they someone somebody people
    everyone nobody do does did would could should might may maybe perhaps probably guess not never no sometimes
    pretend pretends lie lying joke joking kidding""".split()
)
_WEAK_PAIRS = frozenset({("how", "come"), ("used", "to")})
_PAIR_FIRSTS = frozenset(first for first, _ in _STRONG_PAIRS | _WEAK_PAIRS)
_CLAUSE_WORDS = frozenset("and but so because also plus anyway though".split())
_CLAUSE_PUNCT = re.compile(r"[,;:()]|\s[-–—]+\s")


def _has_marker(words: Sequence[str], singles: frozenset[str], pairs: frozenset[tuple[str, str]]) -> bool:
    if not singles.isdisjoint(words):
        return True
    return not _PAIR_FIRSTS.isdisjoint(words) and any(pair in pairs for pair in pairwise(words))


def _inside_quote(prefix: str) -> bool:
    return prefix.count('"') % 2 == 1 or prefix.count("“") > prefix.count("”") or prefix.count("«") > prefix.count("»")


# A statement right after one of these is a relative clause about a thing ("something I love is ...", "a job I
# enjoy every day") or a comparison ("explain it like I'm 5"), not a statement of its own.
_RELATIVE_HEADS = frozenset(
    "what whatever something anything everything nothing thing things stuff job like than".split()
)
_LAST_WORD = re.compile(r"([\w']+)\s+$")


def _blocked(sentence: str, start: int) -> bool:
    """True when the statement starting at ``start`` is hypothetical, quoted or reported."""
    prefix = sentence[max(0, start - 300) : start]
    if not prefix.strip():
        return False
    if _inside_quote(prefix):
        return True
    low = prefix.lower()
    last = _LAST_WORD.search(low)
    if last is not None and last.group(1) in _RELATIVE_HEADS:
        return True
    if _has_marker(_WORD.findall(low), _STRONG_WORDS, _STRONG_PAIRS):
        return True
    clause_start = 0
    for punct in _CLAUSE_PUNCT.finditer(low):
        clause_start = punct.end()
    clause = _WORD.findall(low[clause_start:])
    for i in range(len(clause) - 1, -1, -1):
        if clause[i] in _CLAUSE_WORDS:
            clause = clause[i + 1 :]
            break
    return _has_marker(clause, _WEAK_WORDS, _WEAK_PAIRS)
