"""Pure text helpers shared by the lexical ranker and the hashing embedder."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)

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


def normalise(text: str) -> str:
    """Case-, punctuation- and space-insensitive form of ``text`` for exact-duplicate detection."""
    return _NON_WORD.sub(" ", text.lower()).strip()


# --- normalisation for the safety guards and the rendered context block -----------------------------------------
#
# Three forms of a text:
# - ``flatten``: what is stored and rendered. One line (control characters and line breaks become spaces),
#   invisible characters removed (see ``is_invisible``), NFKC (fullwidth and other compatibility forms become
#   their plain letters: "＜" -> "<", "𝐒" -> "S"), spaces collapsed.
# - ``fold``: what the guards match on, aligned character by character with a flattened text (so a match can be
#   replaced in the flattened text): look-alike letters mapped to Latin (``CONFUSABLES``), accents dropped.
# - ``skeleton``: ``fold`` of ``flatten`` with invisible tag characters first read as the ASCII they encode
#   (the guard must see what a tag-aware reader would) and digits inside words read as letters ("adm1n").

#: Joiners kept between two non-ASCII characters (emoji sequences, Indic and Persian scripts); dropped elsewhere.
_JOINERS = frozenset("\u200c\u200d")
#: Invisible characters that are not of category Cf: combining grapheme joiner, Hangul fillers, Mongolian
#: variation selectors. (Variation selectors U+E0100..E01EF are handled by range.)
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u3164\uffa0\u180b\u180c\u180d\u180f")
_LINE_BREAKING = frozenset(("Cc", "Cs", "Zl", "Zp"))
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")

#: Look-alikes of Latin letters and of the delimiters' punctuation, one character to one character: Cyrillic
#: and Greek letters that render like Latin ones, a few Latin IPA letters, and angle-bracket / slash / colon
#: look-alikes NFKC leaves alone. Deliberately small: the usual spoofing letters (after Unicode's
#: confusables.txt), not every glyph that resembles another. Used for matching only; stored text keeps them.
_CONFUSABLE_PAIRS = (
    ("АВЕКМНОРСТХЅІЈҮУԚԜӀ", "ABEKMHOPCTXSIJYYQWI"),  # Cyrillic capitals
    ("аеорсухѕіјԁһԛԝӏкмтнп", "aeopcyxsijdhqwlkmthn"),  # Cyrillic small letters
    ("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"),  # Greek capitals
    ("αεικνορτυχϲϳ", "aeikvoptuxcj"),  # Greek small letters
    ("ɑɡıȷ", "agij"),  # Latin IPA / dotless letters
    ("\u2039\u02c2\u276e\u27e8\u3008", "<<<<<"),  # angle brackets NFKC keeps (it maps U+2329 to U+3008)
    ("\u203a\u02c3\u276f\u27e9\u3009", ">>>>>"),
    ("⁄∕⧸", "///"),  # slashes
    ("ː˸꞉∶։׃", "::::::"),  # colons
)
CONFUSABLES: dict[int, int] = {ord(a): ord(b) for src, dst in _CONFUSABLE_PAIRS for a, b in zip(src, dst, strict=True)}
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_WORD = re.compile(r"[\w@$]+")
_LEET_CHARS = re.compile(r"[013457@$]")
_LETTER = re.compile(r"[^\W\d_]")


def is_invisible(ch: str) -> bool:
    """Whether ``ch`` renders as nothing: format characters (zero-width spaces and joiners, bidi controls, soft
    hyphen, Unicode tags U+E0000..E007F, ...), variation selectors U+E0100..E01EF and a few fillers."""
    return unicodedata.category(ch) == "Cf" or ch in _INVISIBLE_EXTRA or 0xE0100 <= ord(ch) <= 0xE01EF


class _CachedTable(dict[int, "int | str | None"]):
    """A ``str.translate`` table that computes a character's replacement on first sight (``None`` deletes)."""

    def __init__(self, compute: Callable[[str], int | str | None]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, code: int) -> int | str | None:
        value = self._compute(chr(code))
        if len(self) < 65536:
            self[code] = value
        return value


def _flat_char(ch: str) -> int | str | None:
    if ch in _JOINERS:
        return ord(ch)  # judged by its neighbours, in _stray_joiners
    if unicodedata.category(ch) in _LINE_BREAKING:
        return " "
    return None if is_invisible(ch) else ord(ch)


_FLAT_TABLE = _CachedTable(_flat_char)
_STRAY_JOINERS = re.compile(r"(?:^|(?<=[\x00-\x7f]))[\u200c\u200d]+|[\u200c\u200d]+(?=[\x00-\x7f]|$)")


def strip_invisible(text: str) -> str:
    """``text`` without invisible characters (zero-width joiners survive only between two non-ASCII
    characters, where emoji sequences and some scripts need them); line breaks and controls become spaces."""
    if text.isascii():
        return text
    text = text.translate(_FLAT_TABLE)
    return _STRAY_JOINERS.sub("", text) if "\u200c" in text or "\u200d" in text else text


def flatten(text: str) -> str:
    """``text`` on one line, without invisible characters, in NFKC, with single spaces (idempotent)."""
    if text.isascii():
        return _SPACES.sub(" ", _ASCII_CONTROL.sub(" ", text)).strip()
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One character's matching form: a look-alike's Latin letter, an accented letter's base, else itself;
    "" for combining marks and invisible characters."""
    mapped = ch.translate(CONFUSABLES)
    if mapped != ch:
        return mapped
    if unicodedata.category(ch) in ("Mn", "Me") or is_invisible(ch):
        return ""
    base = unicodedata.normalize("NFKD", ch)[:1]
    return base if base.isascii() and base.isalpha() else ch


_FOLD_TABLE = _CachedTable(lambda ch: _fold_char(ch) or None)


def folded(text: str) -> str:
    """The matching form of ``text`` (see :func:`fold`), without the index: fast, for detection."""
    return text if text.isascii() else text.translate(_FOLD_TABLE)


def fold(text: str) -> tuple[str, list[int]]:
    """The matching form of ``text`` (see :data:`CONFUSABLES`) and, for each of its characters, the index of the
    character of ``text`` it came from (so a match in the folded text maps back to a span of ``text``)."""
    if text.isascii():
        return text, list(range(len(text)))
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        mapped = ch if ch.isascii() else _fold_char(ch)
        if mapped:
            chars.append(mapped)
            index.append(i)
    return "".join(chars), index


def _decode_tags(text: str) -> str:
    """Unicode tag characters read as the ASCII they shadow (a run is set off by a space)."""
    out: list[str] = []
    in_run = False
    for ch in text:
        code = ord(ch)
        if 0xE0020 <= code <= 0xE007E:
            if not in_run:
                out.append(" ")
                in_run = True
            out.append(chr(code - 0xE0000))
        else:
            in_run = False
            out.append(ch)
    return "".join(out)


def skeleton(text: str, leet: bool = True) -> str:
    """What a guard should match ``text`` on: hidden tag text revealed, flattened, folded, and (with ``leet``)
    digits or ``@$`` inside words read as letters ("r00t" -> "root"). Not for display."""
    if not text.isascii():
        text = _decode_tags(text)
    form = folded(flatten(text))
    return _LEET_WORD.sub(_unleet, form) if leet and _LEET_CHARS.search(form) else form


def _unleet(match: re.Match[str]) -> str:
    """A word mixing letters with digits or ``@$`` read as letters ("adm1n" -> "admin"); other words as they are."""
    word = match.group(0)
    return word.translate(_LEET) if _LETTER.search(word) and _LEET_CHARS.search(word) else word
