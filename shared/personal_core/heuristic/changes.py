"""Rules for single-valued facts and changes of mind (residence, leaving a job, diet and food, fears) and for
statements the older rules missed (health conditions, known languages, training, names given in passing).

Each builder is strict: when a statement is ambiguous it yields nothing, since an unlearned fact is better than
a wrong one that would supersede a right one.
"""

from __future__ import annotations

import re

from ..model import InsightKind
from .builders import _REJECT_PRONOUN_START, _Builder, _Finding, _Rule, _rule
from .objects import _clean_object, _mixed_case, _parse_name
from .sentences import _SPACES
from .slots import DIET, JOB, NAME, RESIDENCE, in_childhood, long_ago, object_slot, proper_noun_start, says_no_longer
from .vocabulary import _EMOTION_WORDS, _F, _IM, _IVE, _LANGUAGE_SET, _NAME_STOP, _OBJ, _TRAIT_ADJ_WORDS

# The end of a short clause: "I don't eat meat." / "..., and ..." / "... but ...".
_CLAUSE_END = r"(?=\s*(?:[.,;:!?)]|\s[-–—]|\band\b|\bbut\b|\bso\b|\bbecause\b|\bsince\b|$))"
# When something happened ("last year", "two months ago", "in 2019"), allowed before the end of a clause.
_WHEN = (
    r"(?:\s+(?:(?:last|this)\s+(?:week|month|year|summer|winter|spring|fall|autumn)|(?:a|an|one|two|three|four|five|"
    r"six|a\s+few|several|\d+)\s+(?:days?|weeks?|months?|years?)\s+ago|in\s+(?:19|20)\d\d|recently))?"
)
_CHANGE_TAIL = r"(?:\s+(?:any\s*more|now|again|nowadays|these\s+days|either|at\s+all|lately))*"

# --------------------------------------------------------------------------------------------------------------
# Residence
# --------------------------------------------------------------------------------------------------------------

_REJECT_RESIDENCE = _REJECT_PRONOUN_START
_RESIDENCE_TAIL = re.compile(r"\s+(?:with|for)\s+.*$", _F)


def _residence(confidence: float, *, move: bool = False) -> _Builder:
    """A builder for "Lives in <place>"; the "residence" slot only for a named place ("Porto", not "a flat")."""

    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        if move and in_childhood(sentence):
            return None  # "I moved to Faro when I was ten" says nothing about where they live now
        raw = match.group("obj")
        # "for a new job" / "with my family" first: the time words before them go too ("Lisbon last month")
        obj = _clean_object(_RESIDENCE_TAIL.sub("", raw) or raw, 10, _REJECT_RESIDENCE, trim_time=True)
        if obj is None:
            return None
        text = f"Lives in {obj}"
        slot = RESIDENCE if proper_noun_start(obj, _mixed_case(sentence)) else None
        return _Finding(InsightKind.FACT, text, confidence, text, slot)

    return build


# --------------------------------------------------------------------------------------------------------------
# Leaving a job
# --------------------------------------------------------------------------------------------------------------

# "I left my job early today" is about one day, not about having no job.
_ONE_DAY = re.compile(
    r"\b(?:early|late|today|tonight|yesterday|this\s+(?:morning|afternoon|evening)|at\s+\d|\d\s*(?:am|pm)|"
    r"o'clock|for\s+the\s+day|on\s+time|behind)\b",
    _F,
)


# "since I lost my job, ..." recalls an old event (a later job may have followed): it is not news.
_RECALLED = re.compile(r"\b(?:since|after|when|because|'?cause|before|until|ever\s+since)\s*$", _F)


def _left_job(match: re.Match[str], sentence: str) -> _Finding | None:
    if long_ago(sentence) or _ONE_DAY.search(sentence, match.end()) or _RECALLED.search(sentence[: match.start()]):
        return None
    verb = (match.group("verb") or "").lower()
    text = "Left their job" if verb in ("quit", "left") else "Lost their job"
    return _Finding(InsightKind.FACT, text, 0.8, text, JOB)


# --------------------------------------------------------------------------------------------------------------
# Diet and food
# --------------------------------------------------------------------------------------------------------------

_DIET_WORDS = {"vegetarian": "vegetarian", "vegan": "vegan", "pescatarian": "pescatarian", "pescetarian": "pescatarian"}
_FOODS = (
    r"(?P<food>red\s+meat|meat\s+(?:or|and)\s+fish|meat|fish|seafood|pork|beef|chicken|dairy|eggs|gluten|sugar|"
    r"animal\s+products)"
)
# Foods whose eating or not is the user's diet; the others get a slot of their own ("food:pork").
_DIET_FOODS = frozenset({"meat", "red meat", "meat or fish", "meat and fish", "animal products"})


def _diet_negation(match: re.Match[str], sentence: str) -> _Finding | None:
    diet = _DIET_WORDS[match.group("diet").lower()]
    changed = says_no_longer(match.group("neg")) or says_no_longer(sentence[match.end() :])
    text = f"Is no longer {diet}" if changed else f"Is not {diet}"
    return _Finding(InsightKind.PREFERENCE, text, 0.85, text, DIET)


def _food_slot(food: str) -> str | None:
    return DIET if food in _DIET_FOODS else object_slot("food", food)


def _not_eating(match: re.Match[str], sentence: str) -> _Finding | None:
    food = _SPACES.sub(" ", match.group("food").lower())
    neg = _SPACES.sub(" ", match.group("neg").lower())
    text = f"Can't eat {food}" if neg.startswith("can") else f"Doesn't eat {food}"
    return _Finding(InsightKind.PREFERENCE, text, 0.85, text, _food_slot(food))


def _eating(match: re.Match[str], sentence: str) -> _Finding | None:
    food = _SPACES.sub(" ", match.group("food").lower())
    text = f"Eats {food}"
    return _Finding(InsightKind.PREFERENCE, text, 0.8, text, _food_slot(food))


# --------------------------------------------------------------------------------------------------------------
# Fears
# --------------------------------------------------------------------------------------------------------------

_FEAR_ADV = (
    r"(?:(?:so|really|very|terribly|deathly|a\s+bit|a\s+little|kind\s+of|kinda|quite|pretty|super|extremely|"
    r"absolutely|still|always|also|genuinely|seriously|totally|honestly)\s+)*"
)


def _fear(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 8, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    adj = (match.groupdict().get("adj") or "afraid").lower()
    neg = (match.groupdict().get("neg") or "").lower()
    if neg:
        changed = says_no_longer(sentence[match.start() :])
        text = f"Is {'no longer' if changed else 'not'} {adj} of {obj}"
    else:
        text = f"Is {adj} of {obj}"
    return _Finding(InsightKind.TRAIT, text, 0.75, None, object_slot("fear", obj))


# --------------------------------------------------------------------------------------------------------------
# Health conditions (closed vocabulary)
# --------------------------------------------------------------------------------------------------------------

_CONDITIONS = {
    c.lower(): c
    for c in (
        "diabetes|type 1 diabetes|type 2 diabetes|asthma|epilepsy|ADHD|autism|celiac disease|coeliac disease|"
        "Crohn's disease|IBS|arthritis|rheumatoid arthritis|high blood pressure|hypertension|migraines|"
        "chronic migraines|a heart condition|heart disease|multiple sclerosis|COPD|lupus|psoriasis|eczema|"
        "dyslexia|insomnia|sleep apnea|depression|anxiety|an anxiety disorder|PTSD|OCD|bipolar disorder|"
        "chronic pain|cancer|breast cancer|fibromyalgia|tinnitus|glaucoma|a chronic illness|long covid|"
        "hearing loss|hypothyroidism|endometriosis|PCOS|scoliosis|gout|anemia|anaemia|a disability"
    ).split("|")
}
_CONDITION = (
    "(?P<cond>" + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in sorted(_CONDITIONS, key=len)[::-1]) + ")"
)


def _health(match: re.Match[str], sentence: str) -> _Finding | None:
    condition = _CONDITIONS[_SPACES.sub(" ", match.group("cond").lower())]
    text = f"Has {condition}"
    return _Finding(InsightKind.FACT, text, 0.85, text)


# --------------------------------------------------------------------------------------------------------------
# Known languages (closed vocabulary)
# --------------------------------------------------------------------------------------------------------------

_TECH = {
    w.lower(): w
    for w in (
        "Python Java JavaScript TypeScript Rust Golang C++ C# PHP Kotlin Scala Haskell MATLAB SQL HTML CSS Bash Perl "
        "Lua Elixir Erlang Clojure Fortran COBOL Excel Photoshop LaTeX Linux Docker Kubernetes React Django PyTorch "
        "TensorFlow"
    ).split()
}
_LIST_SPLIT = re.compile(r"\s*,\s*(?:and\s+|&\s+)?|\s+(?:and|&)\s+|\s+as\s+well\s+as\s+", _F)
_LIST_STOP = re.compile(r"\s+(?:but|because|so|which|since|from|at|for|and\s+I|and\s+i'm)\b.*$", _F)
_QUALIFIERS = re.compile(
    r"(?:\s+(?:fluently|well|pretty\s+well|very\s+well|quite\s+well|a\s+bit|a\s+little(?:\s+bit)?|too|as\s+well|"
    r"natively|now|already))+\s*$",
    _F,
)


def _known(match: re.Match[str], sentence: str) -> _Finding | None:
    speak = match.group("verb").lower() == "speak"
    raw = _LIST_STOP.sub("", match.group("obj").strip())
    raw = _QUALIFIERS.sub("", raw)
    items = [i.strip() for i in _LIST_SPLIT.split(raw) if i.strip()]
    if not 1 <= len(items) <= 6:
        return None
    shown: list[str] = []
    for item in items:
        low = _SPACES.sub(" ", item.lower())
        if low in _LANGUAGE_SET and low.isalpha():
            shown.append(low.capitalize())
        elif not speak and low in _TECH:
            shown.append(_TECH[low])
        else:
            return None
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return _Finding(InsightKind.KNOWLEDGE, f"{'Speaks' if speak else 'Knows'} {listed}", 0.8)


# --------------------------------------------------------------------------------------------------------------
# Training, relationship names, self-introductions
# --------------------------------------------------------------------------------------------------------------

_REJECT_TRAINING = re.compile(
    _REJECT_PRONOUN_START.pattern + r"|(?:work|my\s+job|the\s+job|school|class|tomorrow|today|tonight|now|the\s+day|"
    r"the\s+week|hours|a\s+while|years|months|weeks|days)\b",
    _F,
)


def _training(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 10, _REJECT_TRAINING)
    if obj is None:
        return None
    return _Finding(InsightKind.GOAL, f"Is {match.group('verb').lower()} for {obj}", 0.75)


# Capitalised words that follow "my sister" or "I'm" without being a name.
_NOT_NAMES = (
    _NAME_STOP
    | _LANGUAGE_SET
    | frozenset(_EMOTION_WORDS.replace("_", " ").split())
    | frozenset(_TRAIT_ADJ_WORDS.replace("_", " ").split())
    | frozenset(
        """mr mrs ms miss dr prof sir mom mum dad sorry fine good great okay ok back home here ready done sure glad
        happy excited busy free single married engaged divorced pregnant late lost in on out off not so very gay
        straight bi trans black white latino latina hispanic jewish muslim christian catholic buddhist hindu atheist
        agnostic mormon protestant orthodox vegan vegetarian retired unemployed alive well sick ill human old young
        new alright cool blessed lucky kidding joking interested impressed amazed speechless starving hungry awake
        asleep stuck broke game alone early right wrong serious tired hungover
        monday tuesday wednesday thursday friday saturday sunday january february march april may june july
        august september october november december christmas easter""".split()
    )
)
_INTRO = re.compile(
    r"^\W*(?:(?:hi|hello|hey|hiya|so|well|oh|ok|okay|yes|yeah|and|btw|anyway|actually)\b[\s,!.]*)*"
    r"I(?:'m|\s+am)\s+(?P<name>(?-i:[A-Z])[a-z'-]+(?:\s+(?-i:[A-Z])[a-z'-]+)?)"
    r"(?=\s*(?:[,.!;]|\s[-–—]|\band\b|$))",
    _F,
)


# Endings of capitalised adjectives and participles ("I'm Stuck", "I'm Obsessed", "I'm Grateful").
_NOT_NAME_ENDINGS = ("ed", "ing", "ful", "ous", "ive", "able")


def _is_name(name: str) -> bool:
    return all(
        w.lower() not in _NOT_NAMES and len(w) > 1 and not (len(w) > 4 and w.lower().endswith(_NOT_NAME_ENDINGS))
        for w in name.split()
    )


def self_introduction(sentence: str) -> _Finding | None:
    """The name in a sentence starting "I'm Carl and ..." or "I'm Carl." (a capitalised, unlisted word), or None."""
    match = _INTRO.match(sentence)
    if match is None or not _mixed_case(sentence):
        return None
    name = match.group("name")
    if not _is_name(name):
        return None
    text = f"Name: {name}"
    return _Finding(InsightKind.FACT, text, 0.85, text, NAME)


def _relationship_apposition(match: re.Match[str], sentence: str) -> _Finding | None:
    name = _parse_name(match.group("obj"), True, max_words=2)
    if name is None:
        return None
    if name.endswith("'s"):
        name = name[:-2]
    if not name or not _is_name(name):
        return None
    rel = _SPACES.sub(" ", (match.group("mods") + match.group("rel")).lower().strip())
    article = "an" if rel[:1] in "aeiou" else "a"
    return _Finding(InsightKind.RELATIONSHIP, f"Has {article} {rel} named {name}", 0.8)


# --------------------------------------------------------------------------------------------------------------
# The rules (tried after "I ..."; see rules._I_TABLE for the dispatch keys)
# --------------------------------------------------------------------------------------------------------------


def _ve_keys(words: str) -> str:
    return " ".join(dict.fromkeys(f"ve:{w.split()[0].lower()}" for w in words.split("|")))


_CHANGE_RULES: tuple[_Rule, ...] = (
    _rule(
        r"\bI(?:'ve|\s+have|ve)?\s+(?:(?:just|recently|finally|actually|officially|also)\s+)*(?P<verb>quit|left|lost)"
        r"\s+my\s+(?:(?:full-time|part-time|day|old|current|corporate|office|teaching|nursing|last)\s+)?job\b"
        r"|\bI(?:'ve|\s+have|ve)?\s+(?:(?:just|recently|finally|also)\s+)*(?:got|been|was)\s+(?:just\s+)?"
        r"(?:fired|laid\s+off|let\s+go)\b",
        _left_job,
        ":quit :left :lost :got :was :have ve:quit ve:left ve:lost ve:been ve:got",
    ),
    _rule(
        _IM + r"\s+(?P<neg>no\s+longer|not)\s+(?:(?:a|an|really|strictly|fully|100%)\s+)*"
        r"(?P<diet>vegetarian|vegan|pescatarian|pescetarian)\b",
        _diet_negation,
        "m:no m:not",
    ),
    _rule(
        r"\bI\s+(?:(?:just|also|really|actually|still|totally|completely|now)\s+)*(?P<neg>don't|do\s+not|dont|"
        r"no\s+longer|never|can't|cannot|cant|can\s+not|stopped|quit|gave\s+up)\s+(?:(?:really|even|ever)\s+)?"
        r"(?:eat|eating)\s+" + _FOODS + _CHANGE_TAIL + _CLAUSE_END,
        _not_eating,
        ":don't :dont :not :no :never :can't :cannot :cant :can :stopped :quit :gave",
    ),
    _rule(
        r"\bI\s+(?:(?:now|also|actually|do)\s+)*eat\s+" + _FOODS + _CHANGE_TAIL + _CLAUSE_END,
        _eating,
        ":eat",
    ),
    _rule(
        _IM
        + r"\s+(?P<neg>no\s+longer\s+|not\s+)?"
        + _FEAR_ADV
        + r"(?P<adj>afraid|scared|terrified|frightened)\s+of\s+"
        + _OBJ,
        _fear,
        "m:afraid m:scared m:terrified m:frightened m:no m:not m:a m:kind m:terribly",
    ),
    _rule(
        _IVE
        + r"\s+"
        + _FEAR_ADV
        + r"been\s+"
        + _FEAR_ADV
        + r"(?P<adj>afraid|scared|terrified|frightened)\s+of\s+"
        + _OBJ,
        _fear,
        "ve:been ve:always :have",
    ),
    _rule(
        r"\bI\s+have\s+(?:a\s+|an\s+)?(?:(?:huge|big|real|serious|terrible|irrational|crippling|severe|deep-seated|deep|"
        r"acute|extreme|intense|strong|lifelong|debilitating|paralyzing|paralysing)\s+)*"
        r"(?:fear|phobia)\s+of\s+" + _OBJ,
        _fear,
        ":have",
    ),
    _rule(
        r"\bI(?:\s+also|\s+still)?(?:\s+have|'ve\s+got|\s+have\s+got|ve\s+got|'ve)\s+" + _CONDITION + _CLAUSE_END,
        _health,
        ":have ve:got " + _ve_keys("|".join(_CONDITIONS)),
    ),
    _rule(
        r"\bI(?:'ve|\s+have|ve)?\s+(?:(?:just|recently|finally|also|officially)\s+)*(?:been|was|got)\s+"
        r"(?:(?:just|recently|finally|officially)\s+)?diagnosed\s+with\s+" + _CONDITION + _WHEN + _CLAUSE_END,
        _health,
        ":have :was :got ve:been ve:got",
    ),
    _rule(
        r"\bI\s+(?:(?:also|already|really|actually)\s+)?(?P<verb>know|speak)\s+(?=(?P<obj>[^.;:!?()]{1,120}))",
        _known,
        ":know :speak",
    ),
    _rule(
        _IM
        + r"\s+(?:(?:currently|now|also|still|actually|seriously)\s+)*(?P<verb>training|preparing|studying)\s+for\s+"
        + _OBJ,
        _training,
        "m:training m:preparing m:studying",
    ),
)
