"""Findings, rules and the builders that turn a rule's match into a finding (text, kind, card line)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..model import InsightKind
from ..safety import PRIVILEGED_ROLE
from .objects import _article, _clean_object, _mixed_case, _parse_name, _third_person
from .sentences import _SPACES
from .slots import DIET, JOB, NAME, object_slot
from .vocabulary import _F, _LANGUAGE_SET, MAX_OBJECT_WORDS


class _Finding(NamedTuple):
    """One thing found in one sentence: an insight (``kind`` set) and/or a card line."""

    kind: InsightKind | None
    text: str
    confidence: float
    card: str | None = None
    #: What the finding is about when only one value holds at a time (see :mod:`.slots`).
    slot: str | None = None


_Builder = Callable[[re.Match[str], str], _Finding | None]


@dataclass(frozen=True)
class _Rule:
    """A pattern matched at a trigger position; ``keys`` ("m:from", ":like") say where it is worth trying."""

    pattern: re.Pattern[str]
    build: _Builder
    keys: tuple[str, ...] = ()


def _rule(pattern: str, build: _Builder, keys: str = "") -> _Rule:
    return _Rule(re.compile(pattern, _F), build, tuple(keys.split()))


def _template(
    kind: InsightKind,
    template: str,
    confidence: float,
    *,
    card: bool = False,
    max_words: int = MAX_OBJECT_WORDS,
    reject: re.Pattern[str] | None = None,
    verbs: dict[str, str] | None = None,
    trim_time: bool = False,
    slot: Callable[[str, str], str | None] | None = None,
) -> _Builder:
    """A builder rendering ``template`` with the cleaned ``obj`` group (and ``verb`` mapped through ``verbs``).

    ``slot(obj, sentence)`` names the finding's slot, if any.
    """

    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        obj = _clean_object(match.group("obj"), max_words, reject, trim_time=trim_time)
        if obj is None:
            return None
        verb = ""
        if verbs is not None:
            verb = verbs.get(_SPACES.sub(" ", (match.group("verb") or "").lower()), "")
            if not verb:
                return None
        text = template.format(obj=obj, verb=verb)
        return _Finding(kind, text, confidence, text if card else None, slot(obj, sentence) if slot else None)

    return build


def _fixed(
    kind: InsightKind | None,
    confidence: float,
    render: Callable[[re.Match[str]], str | None],
    *,
    card: bool = False,
    slot: str | None = None,
) -> _Builder:
    """A builder whose text comes from ``render`` (closed-vocabulary groups only)."""

    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        text = render(match)
        if not text:
            return None
        return _Finding(kind, text, confidence, text if card else None, slot)

    return build


_REJECT_PRONOUN_START = re.compile(
    r"(?:it|it's|its|that|this|these|those|them|him|her|what|which|so|too|very|much|a\s+lot|all\s+of\s+it|"
    r"one|some|any|everything|nothing|something|anything|none|here|there|about\s+it)\b",
    _F,
)
# Preferences about the conversation itself ("I like the second option better") say little about the user.
_REJECT_PREFERENCE = re.compile(
    _REJECT_PRONOUN_START.pattern
    + r"|(?:the\s+|both\s+)?(?:first|second|third|fourth|last|other|previous|next|new|original|above|below|former|"
    r"latter|current|updated|revised|shorter|longer|edited|final)\s+(?:one|ones|option|version|answer|draft|response|"
    r"suggestion|example|idea|approach|solution|paragraph|sentence|title|list|code|part|point)s?\b"
    # a verb or a bare "to" where the object should be ("something I love is awesome", "what I like to hear")
    r"|(?:is|was|are|were|makes|made)\b|every\s+(?:day|time)\b|to$|to\s+(?:hear|see|say|know|think)\b",
    _F,
)
_REJECT_GOAL = re.compile(
    r"(?:know|ask|see|check|confirm|clarify|understand|make\s+sure|be\s+sure|say|tell|thank|add|mention|note|"
    r"remind|paste|share|send|show|copy|type|post|describe|list|repeat|explain|give|talk|discuss|focus|"
    r"start\s+over|change\s+the\s+subject|continue|be\s+honest|point\s+out|go\s+back|get\s+back|follow\s+up|"
    r"double[-\s]check|try\s+again|hear|rephrase|clear|stop|end|cancel|clarify|reply|respond|answer|write\s+"
    r"to|upload|attach|provide|ignore|record|pretend|test|try\s+this|use\s+this|do\s+this|do\s+that|it|this|"
    r"that)\b",
    _F,
)
_REJECT_GOING = re.compile(
    r"(?:the|a|an|my|your|his|her|their|our|this|that|bed|school|work|church|be|have|need|take|do|go|die|cry|"
    r"lose|get\s+back|sleep|class|town|hell|dinner|lunch|breakfast|it)\b",
    _F,
)
_REJECT_BELIEF = re.compile(
    r"(?:i|i'm|im|i've|i'd|i'll|it|it's|its|this|that|there|there's|so|maybe|we|you|he|she|they|not|about|of|"
    r"we're|he's|she's|they're|too|yes|no|ok|okay|about\s+it)\b",
    _F,
)
_REJECT_BELIEF_THAT = re.compile(r"(?:i|i'm|im|i've|i'd|i'll|you|you're)\b", _F)
_REJECT_STUDY = re.compile(
    r"(?:all|hard|for|late|last|yesterday|today|tonight|it|that|this|a\s+lot|so|too|very|really|up|the\s+whole)\b",
    _F,
)
_REJECT_LEARN = re.compile(r"(?:a\s+lot|so\s+much|that|this|it|fast|quickly|slowly|more|something|nothing)\b", _F)
_REJECT_FROM = re.compile(r"(?:work|school|the\s+future|the\s+past|it|this|that|here|there|home|now)\b", _F)
_REJECT_WORK = re.compile(r"(?:it|this|that|home|hard|late|night|nights|weekends|on|the\s+weekend)\b", _F)

_LIKE_VERBS = {"like": "Likes", "love": "Loves", "enjoy": "Enjoys", "adore": "Loves"}
_GOAL_VERBS = {
    "want": "Wants to",
    "plan": "Plans to",
    "intend": "Intends to",
    "aim": "Aims to",
    "hope": "Hopes to",
    "planning": "Plans to",
    "planning on": "Plans on",
    "intending": "Intends to",
    "aiming": "Aims to",
    "hoping": "Hopes to",
    "trying": "Is trying to",
    "like": "Would like to",
    "love": "Would love to",
}
_GOAL_NOUNS = {
    "goal": ("Aims to", "Goal:"),
    "aim": ("Aims to", "Aim:"),
    "objective": ("Aims to", "Objective:"),
    "ambition": ("Aims to", "Ambition:"),
    "resolution": ("Aims to", "Resolution:"),
    "dream": ("Hopes to", "Dream:"),
    "plan": ("Plans to", "Plan:"),
}
_BELIEF_VERBS = {"think": "Thinks that", "believe": "Believes that", "feel": "Feels that"}
_DIETS = {
    "vegetarian": (InsightKind.PREFERENCE, "Is vegetarian"),
    "vegan": (InsightKind.PREFERENCE, "Is vegan"),
    "pescatarian": (InsightKind.PREFERENCE, "Is pescatarian"),
    "pescetarian": (InsightKind.PREFERENCE, "Is pescatarian"),
    "kosher": (InsightKind.PREFERENCE, "Keeps kosher"),
    "halal": (InsightKind.PREFERENCE, "Eats halal"),
    "gluten-free": (InsightKind.PREFERENCE, "Eats gluten-free"),
    "gluten free": (InsightKind.PREFERENCE, "Eats gluten-free"),
    "lactose intolerant": (InsightKind.FACT, "Is lactose intolerant"),
    "lactose-intolerant": (InsightKind.FACT, "Is lactose intolerant"),
    "celiac": (InsightKind.FACT, "Has celiac disease"),
    "coeliac": (InsightKind.FACT, "Has celiac disease"),
    "diabetic": (InsightKind.FACT, "Is diabetic"),
}
_STATUSES = {
    "retired": "Is retired",
    "unemployed": "Is unemployed",
    "self-employed": "Is self-employed",
    "self employed": "Is self-employed",
    "between jobs": "Is between jobs",
}
_NON_WORK_OCCUPATIONS = ("student", "pupil", "undergrad", "undergraduate", "retiree")
# Diets that exclude one another: the current one holds the "diet" slot.
_EXCLUSIVE_DIETS = frozenset({"vegetarian", "vegan", "pescatarian", "pescetarian"})
_ALSO = re.compile(r"\b(?:also|too|as\s+well|plus)\b", _F)


#: Longest liked or disliked object given a slot: longer ones describe one moment, not a lasting taste.
MAX_TASTE_WORDS = 6


# Words pointing at something only the conversation knows ("I love them", "I like this"): such an object names no
# lasting taste, so it gets no slot.
_DEICTIC = frozenset("it it's its them they they're he she his her him this that these those here there".split())


def _taste_slot(obj: str, sentence: str) -> str | None:
    """Likes and dislikes of one object share a slot: a later "Dislikes jazz" supersedes "Loves jazz".

    Long objects (a moment, not a taste), objects pointing at the conversation ("them", "his tech", "their
    work" when the user did not say "my work") and longer "the ..." phrases ("the way it turned out") get none.
    """
    words = obj.lower().split()
    if len(words) > MAX_TASTE_WORDS or not _DEICTIC.isdisjoint(words):
        return None
    if "the" in words[:2] and len(words) > 2:
        return None  # "the color and texture", "all the yellow leaves": something on screen, not a lasting taste
    if "their" in words and re.sub(r"\btheir\b", "my", obj, flags=_F).lower() not in sentence.lower():
        return None
    return object_slot("taste", obj)


def _adds_a_role(match: re.Match[str], sentence: str) -> bool:
    """True when the statement adds a role rather than replacing one ("I'm also a teacher", "..., too")."""
    return _ALSO.search(match.group(0)) is not None or _ALSO.search(sentence[match.end() :][:60]) is not None


def _name_builder(strict: bool, *, greeting: bool = False) -> _Builder:
    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        name = _parse_name(match.group("obj"), strict or _mixed_case(sentence))
        if name is None:
            return None
        if greeting and name.split()[0].lower() in _LANGUAGE_SET:
            return None
        text = f"Name: {name}"
        return _Finding(InsightKind.FACT, text, 0.9, text, NAME)

    return build


def _age(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    years = int(groups.get("age") or groups.get("age2") or 0)
    return f"Is {years} years old" if 1 <= years <= 120 else None


def _allergy_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 8, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    text = f"Allergic to {obj}"
    return _Finding(InsightKind.FACT, text, 0.9, text)


def _diet_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    key = _SPACES.sub(" ", match.group("diet").lower())
    kind, text = _DIETS[key]
    qualifier = (match.group("q") or "").lower()
    if qualifier in ("mostly", "strictly"):
        text = text.replace("Is ", f"Is {qualifier} ", 1)
    return _Finding(kind, text, 0.9, text, DIET if key in _EXCLUSIVE_DIETS else None)


def _occupation_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    occupation = _SPACES.sub(" ", match.group("occ").strip())
    if PRIVILEGED_ROLE.match(occupation):
        return None
    head = occupation.split()[-1].lower()
    verb = "Is" if head in _NON_WORK_OCCUPATIONS else "Works as"
    text = f"{verb} {_article(occupation)} {_third_person(occupation.split())}"
    if match.group("prep"):
        place = _clean_object(match.group("obj"), 8, _REJECT_PRONOUN_START)
        if place:
            text = f"{text} {match.group('prep').lower()} {place}"
    slot = None if verb == "Is" or _adds_a_role(match, sentence) else JOB
    return _Finding(InsightKind.FACT, text, 0.85, text, slot)


def _work_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 10, _REJECT_WORK, trim_time=True)
    if obj is None or PRIVILEGED_ROLE.match(obj):
        return None
    prep = match.group("prep").lower()
    text = f"Works {prep} {obj}"
    # "Works at Acme" has no slot: people hold several workplaces ("I work at Acme. I also work for a charity.")
    slot = JOB if prep == "as" and not _adds_a_role(match, sentence) else None
    return _Finding(InsightKind.FACT, text, 0.85, text, slot)


def _goal_noun_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), MAX_OBJECT_WORDS, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    with_to, bare = _GOAL_NOUNS[match.group("noun").lower()]
    text = f"{with_to} {obj}" if match.group("to") else f"{bare} {obj}"
    return _Finding(InsightKind.GOAL, text, 0.85)


# "I'm so proud of you", "I'm happy for you", "glad you made it": a reaction to the other person, not the user's
# own state.
_AT_THE_OTHER = re.compile(r"\s*(?:(?:of|for|with|about)\s+(?:you|your|u)\b|(?:that\s+)?(?:you|your|u)\b)", _F)


def _emotion_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    if _AT_THE_OTHER.match(sentence, match.end("emo")):
        return None
    emotion = _SPACES.sub(" ", match.group("emo").lower())
    text = f"Feels {emotion}"
    if match.group("prep"):
        cause = _clean_object(match.group("obj"), 10, _REJECT_PRONOUN_START)
        if cause:
            text = f"{text} {match.group('prep').lower()} {cause}"
    return _Finding(InsightKind.EMOTION, text, 0.6)


def _trait_render(match: re.Match[str]) -> str | None:
    noun = match.group("noun")
    if noun:
        noun = _SPACES.sub(" ", noun.lower())
        return f"Is {_article(noun)} {noun}"
    return f"Is {_SPACES.sub(' ', match.group('adj').lower())}"


def _relationship_named(match: re.Match[str], sentence: str) -> _Finding | None:
    strict = match.group("conn").strip().lower() == "is" or _mixed_case(sentence)
    name = _parse_name(match.group("obj"), strict)
    if name is None:
        return None
    rel = _SPACES.sub(" ", (match.group("mods") + match.group("rel")).lower().strip())
    text = f"Has {_article(rel)} {rel} named {name}"
    return _Finding(InsightKind.RELATIONSHIP, text, 0.85)


def _relationship_have(match: re.Match[str], sentence: str) -> _Finding | None:
    phrase = _SPACES.sub(" ", f"{match.group('num')} {match.group('mods')}{match.group('rel')}".strip())
    text = f"Has {phrase}"
    if match.group("obj") is not None:
        name = _parse_name(match.group("obj"), _mixed_case(sentence))
        if name:
            text = f"{text} named {name}"
    return _Finding(InsightKind.RELATIONSHIP, text, 0.8)


def _favorite_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 10, _REJECT_PRONOUN_START)
    category = _clean_object(match.group("cat"), 4)
    if obj is None or category is None:
        return None
    return _Finding(
        InsightKind.PREFERENCE, f"Favorite {category} is {obj}", 0.85, None, object_slot("favorite", category)
    )


def _learning_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), MAX_OBJECT_WORDS, _REJECT_LEARN)
    if obj is None:
        return None
    lead = _SPACES.sub(" ", (match.group("pre") or "").lower()).strip()
    text = f"Is learning {lead} {obj}" if lead else f"Is learning {obj}"
    return _Finding(InsightKind.KNOWLEDGE, text, 0.75)


def _skill_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 12, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    quality = _SPACES.sub(" ", match.group("q").lower())
    return _Finding(InsightKind.KNOWLEDGE, f"Is {quality} {match.group('prep').lower()} {obj}", 0.75)


def _degree_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 10, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    degree = _SPACES.sub(" ", match.group("deg"))
    return _Finding(InsightKind.KNOWLEDGE, f"Has {_article(degree)} {degree} in {obj}", 0.8)


# "any form of gambling", "anything involving heights": a class of things, not a pronoun (two more words, none
# of them pointing at the conversation).
_ANY_OBJECT = re.compile(r"(?:any|anything)\s+(?!(?:of\s+)?(?:it|this|that|these|those|them)\b)\S+\s+\S+", _F)
_POINTING = re.compile(r"\b(?:it|its|this|these|those|them)\b", _F)


def any_object(obj: str) -> bool:
    """True when ``obj`` is a class of things opened by "any"/"anything" ("any form of gambling")."""
    return _ANY_OBJECT.match(obj) is not None and _POINTING.search(obj) is None


# "loud, crowded places": coordinate adjectives before a noun, not a one-word object and an aside.
_ADJ_COMMA = re.compile(r"^([\w-]+),\s+(?=[\w-]+\s+[\w-])")


def join_adjectives(raw: str) -> str:
    """``raw`` with the comma after a leading lone word removed ("loud, crowded places" -> "loud crowded
    places"), when what follows holds no pronoun (the next clause would otherwise be joined in)."""
    match = _ADJ_COMMA.match(raw)
    if match is None:
        return raw
    rest = raw[match.end() :]
    nxt = _WORDS_TO_BOUNDARY.match(rest)
    words = nxt.group(0).lower().split() if nxt else []
    if not 2 <= len(words) <= 8 or _PRONOUN_WORDS.intersection(words) or words[0] in _NOT_AN_ADJECTIVE:
        return raw
    return f"{match.group(1)} {rest}"


_WORDS_TO_BOUNDARY = re.compile(r"[^,;:.!?()]+")
_PRONOUN_WORDS = frozenset("i i'm me you your we he she they it this that".split())
# Words that open an aside or a new clause rather than continue a list of adjectives.
_NOT_AN_ADJECTIVE = frozenset(
    "my our the a an and or but so because which who especially particularly though although even like such as "
    "not no".split()
)


def _dislike_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    raw = match.group("obj")
    raw = re.sub(r"^it\s+(?=when\b|if\b)", "", raw, flags=_F)
    obj = _clean_object(join_adjectives(raw), MAX_OBJECT_WORDS, None)
    if obj is not None and _REJECT_PREFERENCE.match(obj) and not any_object(obj):
        obj = None
    if obj is None or re.match(r"to\s+(?:say|admit|ask|bother|break|tell|be\s+that)\b", obj, _F):
        return None
    # a past dislike ("I didn't enjoy the hike") is about one occasion, not a lasting taste
    past = re.search(r"\bdid(?:\s+not|n't|nt)\b", match.group(0), _F) is not None
    return _Finding(InsightKind.PREFERENCE, f"Dislikes {obj}", 0.8, None, None if past else _taste_slot(obj, sentence))
