"""Standing instructions ("always answer in French"): card lines from a closed vocabulary."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .builders import _Finding
from .sentences import _SPACES, _STRONG_PAIRS, _STRONG_WORDS, _has_marker, _inside_quote
from .vocabulary import _F, _LANGUAGE_WORDS, _LANGUAGES

_STANDING = re.compile(
    r"\b(?:always|from\s+now\s+on|going\s+forward|in\s+(?:the\s+)?future|henceforth|by\s+default|every\s+time|"
    r"each\s+time|all\s+the\s+time|in\s+general|for\s+all|all\s+your|never|any\s+of\s+your)\b",
    _F,
)
_INSTRUCTION_WORDS = frozenset(
    "answer respond reply write talk speak communicate keep answers responses replies don't dont never stop avoid "
    "no use be not".split()
)
_LEAD = (
    r"^(?:(?:and|also|oh|ok|okay|so|please|pls|plz|kindly|just|btw|from\s+now\s+on|going\s+forward|"
    r"in\s+(?:the\s+)?future|henceforth|by\s+default|always)\s*,?\s+)*"
)
_THINGS = (
    r"(?P<thing>emojis?|emoticons|technical\s+jargon|jargon|bullet\s+points|markdown|tables|exclamation\s+"
    r"(?:marks|points)|slang|profanity|swear\s+words|curse\s+words|abbreviations|headers|headings|code\s+blocks)"
)
_STYLE_ADJ = r"(?P<adj>short|brief|concise|simple|detailed|casual|formal|friendly|professional|light|to\s+the\s+point)"
_USE_THINGS = (
    r"(?P<thing>metric\s+units|the\s+metric\s+system|metric|imperial\s+units|imperial|celsius|fahrenheit|"
    r"british\s+english|british\s+spelling|american\s+english|american\s+spelling|simple\s+language|plain\s+"
    r"language|plain\s+english|simple\s+english|formal\s+language|informal\s+language|casual\s+language|"
    r"bullet\s+points|markdown|emojis)"
)
_BE_ADJ = (
    r"(?P<adj>concise|brief|direct|formal|casual|informal|blunt|honest|succinct|detailed|thorough|gentle|"
    r"encouraging|patient)"
)
_END = (
    r"(?:\s+(?:please|thanks|thank\s+you|from\s+now\s+on|going\s+forward|in\s+(?:the\s+)?future|always|"
    r"by\s+default|thx))*\s*[.!]*$"
)


@dataclass(frozen=True)
class _Instruction:
    pattern: re.Pattern[str]
    render: Callable[[re.Match[str]], str]
    needs_marker: bool


def _words(match: re.Match[str], group: str) -> str:
    return _SPACES.sub(" ", match.group(group).lower())


def _lang(match: re.Match[str]) -> str:
    return " ".join(w.capitalize() for w in _words(match, "lang").split())


def _thing(match: re.Match[str]) -> str:
    thing = _words(match, "thing")
    return {"emoji": "emojis", "emoticons": "emojis"}.get(thing, thing)


def _instruction(pattern: str, render: Callable[[re.Match[str]], str], needs_marker: bool) -> _Instruction:
    return _Instruction(re.compile(pattern, _F), render, needs_marker)


_INSTRUCTIONS: tuple[_Instruction, ...] = (
    _instruction(
        _LEAD + r"(?:always\s+)?(?:answer|respond|reply|write|talk|speak|communicate)(?:\s+to\s+me|\s+back)?\s+"
        r"(?:only\s+)?in\s+(?P<lang>" + _LANGUAGES + r")(?:\s+only)?" + _END,
        lambda m: f"answer in {_lang(m)}",
        True,
    ),
    _instruction(
        _LEAD + r"(?:your\s+|all\s+|the\s+)?(?:answers|responses|replies|messages)\s+(?:should|must)\s+(?:always\s+)?"
        r"be\s+in\s+(?P<lang>" + _LANGUAGES + r")" + _END,
        lambda m: f"answer in {_lang(m)}",
        False,
    ),
    _instruction(
        _LEAD + r"(?:always\s+)?keep\s+(?:your\s+|the\s+|all\s+|my\s+)?(?:answers|responses|replies|explanations|"
        r"messages)\s+(?:(?:very|really|super|fairly|pretty|nice\s+and)\s+)?" + _STYLE_ADJ + _END,
        lambda m: f"keep answers {_words(m, 'adj')}",
        False,
    ),
    _instruction(
        _LEAD + r"(?:always\s+)?keep\s+(?:it|things)\s+(?:(?:very|really|super|fairly|pretty)\s+)?" + _STYLE_ADJ + _END,
        lambda m: f"keep answers {_words(m, 'adj')}",
        True,
    ),
    _instruction(
        _LEAD + r"(?:your\s+|all\s+)?(?:answers|responses|replies)\s+(?:should|must)\s+(?:always\s+)?be\s+"
        r"(?:(?:very|really|super|fairly|pretty)\s+)?" + _STYLE_ADJ + _END,
        lambda m: f"keep answers {_words(m, 'adj')}",
        False,
    ),
    _instruction(
        _LEAD + r"(?:don't|do\s+not|dont|never|stop|avoid)\s+(?:ever\s+)?(?:(?:using|use|include|including|add|"
        r"adding|putting|put|send|sending)\s+)?(?:any\s+)?(?:more\s+)?" + _THINGS + r"(?:\s+in\s+(?:your\s+)?"
        r"(?:answers|responses|replies|messages))?" + _END,
        lambda m: f"don't use {_thing(m)}",
        False,
    ),
    _instruction(
        _LEAD + r"no\s+(?:more\s+)?" + _THINGS + _END,
        lambda m: f"don't use {_thing(m)}",
        False,
    ),
    _instruction(
        _LEAD + r"(?:always\s+)?use\s+" + _USE_THINGS + _END,
        lambda m: f"use {_words(m, 'thing')}",
        True,
    ),
    _instruction(
        _LEAD + r"(?:always\s+)?be\s+(?:more\s+|very\s+)?" + _BE_ADJ + _END,
        lambda m: f"be {_words(m, 'adj')}",
        True,
    ),
)
_INSTRUCTION_CLAUSES = re.compile(r"\s*(?:[,;:]|\s[-–—]+\s|\band\b|\bbut\b)\s*", _F)


def _instructions(sentence: str, words: list[str]) -> Iterator[_Finding]:
    if _INSTRUCTION_WORDS.isdisjoint(words) or _inside_quote(sentence):
        return
    if _has_marker(words, _STRONG_WORDS, _STRONG_PAIRS):
        return
    standing = bool(_STANDING.search(sentence))
    for clause in _INSTRUCTION_CLAUSES.split(sentence):
        clause = clause.strip()
        if not clause:
            continue
        for instruction in _INSTRUCTIONS:
            match = instruction.pattern.match(clause)
            if match and (standing or not instruction.needs_marker):
                card = f"Standing instruction: {instruction.render(match)}"
                yield _Finding(None, card, 0.9, card, instruction_slot(card))
                break


# Standing instructions that cannot hold together: a new one replaces the others of its slot on the card.
_PREFIX = "Standing instruction: "
_LENGTHS = "short brief concise succinct simple detailed thorough to_the_point"
_TONES = "casual formal informal friendly professional light"
_SLOT_FAMILIES: dict[str, tuple[str, ...]] = {
    "instruction:language": tuple(
        f"answer in {' '.join(w.capitalize() for w in lang.split('_'))}" for lang in _LANGUAGE_WORDS.split()
    ),
    "instruction:length": tuple(
        f"{verb} {adj.replace('_', ' ')}" for adj in _LENGTHS.split() for verb in ("keep answers", "be")
    ),
    "instruction:tone": tuple(f"{verb} {adj}" for adj in _TONES.split() for verb in ("keep answers", "be")),
    "instruction:emojis": ("don't use emojis", "use emojis"),
    "instruction:units": (
        "use metric units",
        "use the metric system",
        "use metric",
        "use imperial units",
        "use imperial",
    ),
    "instruction:temperature": ("use celsius", "use fahrenheit"),
    "instruction:spelling": (
        "use british english",
        "use british spelling",
        "use american english",
        "use american spelling",
    ),
}
_SLOT_OF = {f"{_PREFIX}{text}".lower(): slot for slot, texts in _SLOT_FAMILIES.items() for text in texts}


def instruction_slot(card: str) -> str | None:
    """The slot of a standing instruction card line ("instruction:language"), or None."""
    return _SLOT_OF.get(card.lower())


def slot_rivals(slot: str, card: str) -> list[str]:
    """The other card lines of ``slot``: the ones a new standing instruction ``card`` replaces."""
    current = card.lower()
    return [f"{_PREFIX}{text}" for text in _SLOT_FAMILIES.get(slot, ()) if f"{_PREFIX}{text}".lower() != current]
