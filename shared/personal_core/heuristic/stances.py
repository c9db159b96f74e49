"""Rules for standing stances the older rules missed: avoidance ("I avoid crowded bars"), refusal ("I refuse to
fly"), restriction ("I only wear cotton", "I never wear heels"), aversion ("I have a strong aversion to
seafood"), discomfort and disinterest ("I'm not interested in opera"), evaluations ("I find musicals boring"),
intolerance ("I can't tolerate heat"), learning style ("I learn best by doing") and conditions named as a
reason ("because of my asthma").

These statements constrain later answers in their domain, so each becomes a short third-person insight that the
standing tier (:mod:`personal_core.standing`) recognises, most with a slot so that a later change of mind
supersedes them. Every builder is strict: verbs and adjectives come from closed lists, objects that point at
the conversation ("it", "this one") or at a quantity ("twice a day") yield nothing.
"""

from __future__ import annotations

import re

from ..model import InsightKind
from .builders import (
    _REJECT_PREFERENCE,
    _REJECT_PRONOUN_START,
    _Builder,
    _Finding,
    _Rule,
    _rule,
    _taste_slot,
    any_object,
    join_adjectives,
)
from .changes import _CONDITION, _CONDITIONS, _FOODS
from .objects import _clean_object
from .sentences import _SPACES
from .slots import object_slot
from .vocabulary import _F, _IM, _OBJ

#: Longest object of a stance, in words (the standing tier reads short insights only).
MAX_STANCE_WORDS = 14

_STANCE_ADV = (
    r"(?:(?:really|truly|absolutely|just|also|still|totally|actually|genuinely|honestly|definitely|seriously|"
    r"always|generally|usually|mostly|personally|strongly|strictly|firmly|completely|adamantly|consciously|"
    r"deliberately|carefully|actively|now|tend\s+to|try\s+to|have\s+to|need\s+to|must|prefer\s+to|make\s+sure\s+to|"
    r"make\s+a\s+point\s+to)\s+)*"
)
_POINTING = re.compile(r"\b(?:it|its|this|that|these|those|them|here|there)\b", _F)
# Objects that are a quantity or a moment, not a thing ("twice a day", "a few times", "for now").
_REJECT_QUANTITY = re.compile(
    r"(?:\d|once|twice|a\s+few|a\s+little|a\s+bit|a\s+lot|half|for\s+now|for\s+a|when|if|on|at|in|about|one|some|"
    r"enough|more|less|what|whatever)\b",
    _F,
)
# Words before "I" that make the statement a how-to or a relative clause ("how I avoid", "ways to ...").
_LEAD_BLOCK = re.compile(
    r"\b(?:how|where|why|whether|should|could|would|can|will|to|do|does|did|way|ways|tips?|help)\s+$", _F
)


def _stance_object(raw: str | None, *, allow_any: bool = True) -> str | None:
    """The object of a stance: at most :data:`MAX_STANCE_WORDS` words, no pronoun or conversation reference;
    "any ..." / "anything ..." only with two more words and nothing deictic."""
    obj = _clean_object(join_adjectives(raw) if raw else raw, MAX_STANCE_WORDS, None)
    if obj is None:
        return None
    if _REJECT_PREFERENCE.match(obj) and not (allow_any and any_object(obj)):
        return None
    return obj


def _lead_ok(match: re.Match[str], sentence: str) -> bool:
    return _LEAD_BLOCK.search(sentence[: match.start()]) is None


class _JoinedMatch:
    """A match whose ``obj`` group has coordinate adjectives joined (see :func:`join_adjectives`)."""

    def __init__(self, match: re.Match[str]) -> None:
        self._match = match

    def group(self, name: str) -> str | None:
        value = self._match.group(name)
        return join_adjectives(value) if name == "obj" and value else value

    def __getattr__(self, name: str) -> object:
        return getattr(self._match, name)


def _joined(build: _Builder) -> _Builder:
    """``build`` reading its object with coordinate adjectives joined ("I prefer vegan, cruelty-free soap")."""

    def wrapped(match: re.Match[str], sentence: str) -> _Finding | None:
        return build(_JoinedMatch(match), sentence)  # type: ignore[arg-type]

    return wrapped


def _third(verb: str) -> str:
    """The third-person singular of a plain verb ("watch" -> "watches", "fly" -> "flies")."""
    head, _, rest = verb.partition(" ")
    if head == "have":
        head = "has"
    elif head.endswith(("s", "sh", "ch", "x", "z", "o")):
        head += "es"
    elif head.endswith("y") and head[-2:-1] not in "aeiou":
        head = head[:-1] + "ies"
    else:
        head += "s"
    return f"{head} {rest}" if rest else head


# --------------------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------------------


# "I need to avoid the race condition": a task at hand, not a standing constraint ("I have to avoid gluten").
_MODAL = re.compile(r"\b(?:need\s+to|have\s+to|must)\b", _F)
_SPECIFIC = re.compile(r"(?:the|this|that|these|those|my|our|their|his|her|a|an)\b", _F)


def _avoid(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    obj = _stance_object(match.group("obj"))
    if obj is None or (_MODAL.search(match.group(0)) and _SPECIFIC.match(obj)):
        return None
    return _Finding(InsightKind.PREFERENCE, f"Avoids {obj}", 0.8, None, _taste_slot(obj, sentence))


_REJECT_REFUSAL = re.compile(
    _REJECT_PRONOUN_START.pattern + r"|(?:believe|accept|let|give|answer|say|admit|tell|talk|respond|reply|go\s+back|"
    r"pay\s+for\s+(?:it|this|that))\b",
    _F,
)


def _refuse(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    obj = _stance_object(match.group("obj"), allow_any=False)
    if obj is None or _REJECT_REFUSAL.match(obj):
        return None
    return _Finding(InsightKind.PREFERENCE, f"Refuses to {obj}", 0.8)


# Verbs whose restriction ("I only wear ...", "I never watch ...") is a standing habit.
_HABIT_VERBS = (
    r"(?P<verb>eat|drink|consume|wear|buy|purchase|shop\s+(?:at|for)|watch|read|listen\s+to|use|drive|fly|"
    r"travel\s+(?:by|with|to)|stay\s+(?:at|in)|play|cook(?:\s+with)?|enjoy|book|choose|smoke)"
)


def _only(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    obj = _clean_object(join_adjectives(match.group("obj")), MAX_STANCE_WORDS, _REJECT_PRONOUN_START)
    if obj is None or _REJECT_QUANTITY.match(obj) or _REJECT_PREFERENCE.match(obj):
        return None
    verb = _SPACES.sub(" ", match.group("verb").lower())
    lead = match.group("q").lower().capitalize()
    return _Finding(InsightKind.PREFERENCE, f"{lead} {_third(verb)} {obj}", 0.8, None, f"only:{verb.split()[0]}")


_FOOD_ONLY = re.compile(_FOODS + r"\b", _F)


def _never(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    verb = _SPACES.sub(" ", match.group("verb").lower())
    if verb == "eat" and _FOOD_ONLY.match(match.group("obj")):
        return None  # the diet and food rules (changes.py) judge "I don't eat meat (on Fridays)"
    obj = _stance_object(match.group("obj"), allow_any=True)
    if obj is None or _REJECT_QUANTITY.match(obj):
        return None
    neg = _SPACES.sub(" ", match.group("neg").lower())
    if neg == "never":
        text = f"Never {_third(verb)} {obj}"
    elif neg in ("no longer",):
        text = f"No longer {_third(verb)} {obj}"
    else:
        text = f"Doesn't {verb} {obj}"
    return _Finding(InsightKind.PREFERENCE, text, 0.8, None, object_slot(f"habit:{verb.split()[0]}", obj))


_AVERSION_NOUNS = {"aversion": "Dislikes", "dislike": "Dislikes", "distaste": "Dislikes", "hatred": "Dislikes"}


def _aversion(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _stance_object(match.group("obj"))
    if obj is None:
        return None
    noun = (match.group("noun") or match.group("noun2") or match.group("noun3") or "").lower()
    if noun == "preference":
        return _Finding(InsightKind.PREFERENCE, f"Prefers {obj}", 0.8)
    if noun == "interest":
        return _Finding(InsightKind.PREFERENCE, f"Has no interest in {obj}", 0.8, None, _taste_slot(obj, sentence))
    if noun == "tolerance":
        return _Finding(InsightKind.PREFERENCE, f"Has a low tolerance for {obj}", 0.8)
    return _Finding(InsightKind.PREFERENCE, f"{_AVERSION_NOUNS[noun]} {obj}", 0.8, None, _taste_slot(obj, sentence))


_AM_TEXTS = {
    "not interested in": "Is not interested in",
    "uninterested in": "Is not interested in",
    "not comfortable with": "Is uncomfortable with",
    "uncomfortable with": "Is uncomfortable with",
    "averse to": "Is averse to",
    "fascinated by": "Is fascinated by",
}


_FIND_ADJS = (
    "distressing disturbing upsetting disorienting overwhelming boring dull tedious tiresome unpleasant "
    "uncomfortable stressful annoying irritating frustrating distracting demotivating exhausting draining "
    "off-putting unappealing unbearable triggering ineffective unhelpful overrated childish gimmicky monotonous "
    "pointless relaxing calming soothing enjoyable fascinating inspiring motivating helpful effective engaging "
    "restrictive intimidating nauseating disgusting scary terrifying"
).split()
_FIND_ADJ = r"(?P<adj>" + "|".join(sorted(_FIND_ADJS, key=len, reverse=True)) + r")"
_DEGREE = (
    r"(?:(?:too|very|really|quite|so|rather|extremely|incredibly|pretty|a\s+bit|somewhat|particularly|"
    r"especially|utterly|deeply|highly|completely|more|less|always|often)\s+)*"
)


def _am(match: re.Match[str], sentence: str) -> _Finding | None:
    what = _SPACES.sub(" ", match.group("what").lower())
    what = re.sub(r"\s+(?:really|very|at all)\b", "", what)
    if what not in _AM_TEXTS:
        return None
    obj = _stance_object(match.group("obj"))
    if obj is None or not _lead_ok(match, sentence):
        return None
    return _Finding(InsightKind.PREFERENCE, f"{_AM_TEXTS[what]} {obj}", 0.8, None, _taste_slot(obj, sentence))


def _find(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    obj = _clean_object(match.group("what"), 10, _REJECT_PREFERENCE)
    if obj is None or _POINTING.search(obj) or obj.lower().startswith(("myself", "out", "that")):
        return None
    adj = match.group("adj").lower()
    return _Finding(InsightKind.PREFERENCE, f"Finds {obj} {adj}", 0.75, None, object_slot("taste", obj))


def _learn_best(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _stance_object(match.group("obj"), allow_any=False)
    if obj is None:
        return None
    prep = match.group("prep").lower()
    return _Finding(InsightKind.PREFERENCE, f"Learns best {prep} {obj}", 0.8, None, "learns:best")


def _intolerance(match: re.Match[str], sentence: str) -> _Finding | None:
    if not _lead_ok(match, sentence):
        return None
    obj = _stance_object(match.group("obj"))
    if obj is None:
        return None
    return _Finding(InsightKind.PREFERENCE, f"Can't tolerate {obj}", 0.8)


def _my_condition(match: re.Match[str], sentence: str) -> _Finding | None:
    condition = _CONDITIONS.get(_SPACES.sub(" ", match.group("cond").lower()))
    if condition is None:
        return None
    text = f"Has {condition.removeprefix('a ').removeprefix('an ')}"
    return _Finding(InsightKind.FACT, text, 0.8, text)


# --------------------------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------------------------

_END = r"(?=\s*(?:[.,;:!?)]|\s[-–—]|\band\b|\bbut\b|\bso\b|\bwhich\b|\bthat\b|$))"

STANCE_RULES: tuple[_Rule, ...] = (
    _rule(
        r"\bI\s+" + _STANCE_ADV + r"avoid\s+" + _OBJ,
        _avoid,
        ":avoid :tend :try :have :need :must :make :consciously :deliberately :carefully :actively :adamantly",
    ),
    _rule(
        r"\bI\s+" + _STANCE_ADV + r"(?:refuse|decline)\s+to\s+" + _OBJ,
        _refuse,
        ":refuse :decline :adamantly",
    ),
    _rule(
        r"\bI\s+(?:(?:also|now|still|generally|usually|mostly|pretty\s+much|basically)\s+)*"
        r"(?P<q>only|exclusively|strictly)\s+(?:(?:ever|really|tend\s+to|like\s+to|want\s+to)\s+)?"
        + _HABIT_VERBS
        + r"\s+"
        + _OBJ,
        _only,
        ":only :exclusively :eat :drink :consume :wear :buy :purchase :shop :watch :read :listen :use :drive :fly "
        ":travel :stay :play :cook :enjoy :book :choose :smoke",
    ),
    _rule(
        r"\bI\s+(?:(?:also|really|actually|still|personally|generally|usually|absolutely|just)\s+)*"
        r"(?P<neg>don't|do\s+not|dont|never|no\s+longer)\s+(?:(?:ever|really|usually)\s+)?"
        r"(?P<verb>wear|watch|consume|drink|buy|purchase|fly|read|listen\s+to|smoke|eat)\s+" + _OBJ,
        _never,
        ":don't :dont :not :never :no",
    ),
    _rule(
        r"\bI(?:\s+also|\s+still)?\s+(?:have|'ve\s+got|have\s+got)\s+(?:(?:a|an|always|long)\s+)?"
        r"(?:(?:very|really|extremely|quite|incredibly|particularly|real|strong|deep|deep-seated|severe|extreme|"
        r"intense|profound|serious|definite|personal|huge|big|general|lifelong|long-standing|natural|strict|"
        r"clear)\s+)*"
        r"(?:(?P<noun>aversion|dislike|distaste|hatred|preference)\s+(?:to|for|of|towards?|against)|"
        r"(?:no|zero|little)\s+(?P<noun2>interest)\s+in|(?:very\s+)?low\s+(?P<noun3>tolerance)\s+(?:for|to|of))\s+"
        + _OBJ,
        _aversion,
        ":have ve:got",
    ),
    _rule(
        _IM + r"\s+(?:(?:really|very|quite|also|just|generally|simply|definitely|totally|absolutely|personally|"
        r"deeply|extremely|so|particularly)\s+)*(?P<what>not\s+(?:(?:really|very|at\s+all)\s+)?interested\s+in|"
        r"uninterested\s+in|not\s+(?:(?:really|very)\s+)?comfortable\s+with|uncomfortable\s+with|averse\s+to|"
        r"fascinated\s+by)\s+" + _OBJ,
        _am,
        "m:not m:uninterested m:uncomfortable m:averse m:fascinated",
    ),
    _rule(
        r"\bI\s+"
        + _STANCE_ADV
        + r"find\s+(?P<what>(?!(?:it|that|this|myself|them|out)\b)[\w'&/ -]{2,80}?)\s+"
        + _DEGREE
        + _FIND_ADJ
        + _END,
        _find,
        ":find",
    ),
    _rule(
        r"\bI\s+(?:(?:really|definitely|also|generally|usually|always|tend\s+to)\s+)*learn\s+(?:best|better|"
        r"most\s+effectively|most)\s+(?P<prep>through|with|by|in|from|using|via)\s+" + _OBJ,
        _learn_best,
        ":learn :tend",
    ),
    _rule(
        r"\bI\s+(?:(?:really|simply|just|also|absolutely)\s+)*(?:can't|cannot|can\s+not|cant|am\s+unable\s+to)\s+"
        r"(?:(?:really|even|physically)\s+)?(?:tolerate|digest)\s+" + _OBJ,
        _intolerance,
        ":can't :cannot :can :cant",
    ),
)


_CONDITION_KEYS = " ".join(
    dict.fromkeys(w for c in _CONDITIONS for w in c.lower().split() if w not in ("a", "an", "the", "disease"))
)

# Tried where the sentence says "my ...": a condition named as the reason ("due to my asthma").
MY_STANCE_RULES: tuple[_Rule, ...] = (
    _rule(
        r"\bmy\s+(?:(?:severe|chronic|mild|bad|diagnosed)\s+)?" + _CONDITION + _END,
        _my_condition,
        _CONDITION_KEYS,
    ),
)
