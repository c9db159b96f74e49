"""The no-LLM reasoner: explicit insights from the user's own self-statements, found with regexes.

Only messages whose role is :attr:`Role.USER` are read; assistant, system and other text is never attributed to
the user. Each sentence is scanned for first-person statements ("I love hiking", "my name is Ann", "I'm allergic
to peanuts") that become short, subject-less third-person insights ("Loves hiking", "Name: Ann", "Allergic to
peanuts"). Identity facts and clearly phrased standing instructions ("always answer in French") also go to the
card. Questions, hypotheticals ("if I liked ..."), reported speech ("you said I ...") and messages that look like
prompt injection yield nothing. Deterministic, pure and fast (precompiled patterns, no I/O).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

from .model import InsightKind, InsightLevel, Message, Role
from .safety import CARD_FORBIDDEN
from .update import CARD_LIMIT, ModelUpdate, NewInsight

logger = logging.getLogger(__name__)

#: Characters of a message that are scanned; the rest is ignored.
MAX_SCAN_CHARS = 20_000
#: Longest sentence that is scanned, in characters (longer ones are cut).
MAX_SENTENCE_CHARS = 1_000
#: Most words in a captured object ("hiking in the Alps").
MAX_OBJECT_WORDS = 20
#: Most insights one :meth:`HeuristicReasoner.derive` call returns.
MAX_INSIGHTS = 256

# --------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------

_F = re.IGNORECASE


def _alt(words: str) -> str:
    """A regex alternation of whitespace-separated words (``_`` stands for a space), longest first."""
    items = sorted((w.replace("_", " ") for w in words.split()), key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in items) + ")"


_IM = r"\bI(?:'m|\s+am|m)"
_IVE = r"\bI(?:'ve|\s+have|ve)"
_OBJ = r"(?=(?P<obj>.{1,240}))"
_ADV = (
    r"(?:(?:really|truly|absolutely|just|also|still|totally|actually|genuinely|honestly|do|definitely|"
    r"seriously|so|very|kind\s+of|kinda|sort\s+of|pretty\s+much|especially|particularly|personally|always|"
    r"generally|usually|mostly|simply|quite|deeply|sincerely|secretly|now|currently)\s+)*"
)
_EMO_ADV = (
    r"(?:(?:so|very|really|quite|pretty|a\s+bit|a\s+little(?:\s+bit)?|kind\s+of|kinda|sort\s+of|super|"
    r"extremely|totally|incredibly|rather|somewhat|too|always|often|constantly|increasingly|getting|becoming|"
    r"feeling|just|also|still|more|especially|genuinely|honestly|seriously|absolutely|completely|utterly|"
    r"fairly|slightly|particularly|a\s+tad|deeply|quite\s+a\s+bit|a\s+lot|lately|kinda)\s+)*"
)
_EMOTION_WORDS = (
    "happy sad stressed_out stressed anxious excited tired exhausted worried nervous depressed lonely angry "
    "frustrated overwhelmed bored scared frightened upset content grateful thankful thrilled burned_out "
    "burnt_out hopeful hopeless confused annoyed irritated miserable calm relaxed proud ashamed embarrassed "
    "guilty homesick heartbroken jealous motivated unmotivated demotivated restless sleepy drained "
    "discouraged disappointed cheerful insecure down glad furious terrified relieved"
)
_EMOTIONS = _alt(_EMOTION_WORDS)
_TRAIT_NOUN_WORDS = (
    "introvert extrovert extravert ambivert morning_person night_owl early_bird night_person people_person "
    "perfectionist procrastinator workaholic optimist pessimist overthinker homebody planner visual_learner "
    "creature_of_habit neat_freak risk-taker risk_taker"
)
_TRAIT_NOUNS = _alt(_TRAIT_NOUN_WORDS)
_TRAIT_ADJ_WORDS = (
    "shy organized organised introverted extroverted extraverted disorganized disorganised impatient patient "
    "creative curious competitive messy lazy detail-oriented spontaneous sociable outgoing reserved punctual "
    "forgetful stubborn sensitive ambitious independent easygoing easy-going laid-back laid_back adventurous "
    "frugal talkative introspective analytical pragmatic practical indecisive clumsy"
)
_TRAIT_ADJS = _alt(_TRAIT_ADJ_WORDS)
_TRAIT_ADV = (
    r"(?:(?:very|pretty|quite|really|kind\s+of|kinda|sort\s+of|fairly|rather|a\s+bit|a\s+little|super|"
    r"naturally|generally|usually|definitely|extremely|somewhat|also|always|quite\s+an?|such\s+an?)\s+)*"
)
_OCCUPATIONS = _alt(
    "teacher engineer developer programmer coder nurse doctor physician surgeon lawyer attorney accountant "
    "designer architect scientist researcher professor lecturer writer author journalist editor artist "
    "musician chef cook waiter waitress barista pharmacist dentist therapist psychologist psychiatrist "
    "consultant manager analyst student freelancer entrepreneur founder carpenter electrician plumber "
    "mechanic pilot firefighter police_officer soldier farmer photographer translator librarian paramedic "
    "veterinarian vet cashier salesperson marketer recruiter economist banker investor mathematician "
    "physicist chemist biologist technician intern tutor coach trainer secretary receptionist clerk driver "
    "baker tailor hairdresser realtor broker nanny caregiver social_worker retiree pupil data_scientist "
    "product_manager project_manager software_engineer web_developer graphic_designer copywriter illustrator "
    "animator actor actress dancer singer composer producer filmmaker videographer streamer youtuber "
    "blogger podcaster marketing_manager sales_rep teaching_assistant postdoc phd_student grad_student "
    "undergrad undergraduate"
)
_RELS_SINGULAR_WORDS = (
    "wife husband partner spouse boyfriend girlfriend fiance fiancee fiancé fiancée son daughter kid child "
    "baby toddler mom mum mother dad father stepdad stepmom stepson stepdaughter brother sister sibling twin "
    "grandma grandpa grandmother grandfather grandson granddaughter aunt uncle cousin niece nephew friend "
    "best_friend roommate flatmate boss dog cat puppy kitten pet rabbit bunny hamster parrot horse bird "
    "turtle guinea_pig"
)
_RELS_SINGULAR = _alt(_RELS_SINGULAR_WORDS)
_RELS_ANY = _alt(
    "wife husband partner partners spouse boyfriend girlfriend fiance fiancee fiancé fiancée son sons "
    "daughter daughters kid kids child children baby babies toddler toddlers teenager teenagers twins mom "
    "mum mother dad father parents stepdad stepmom stepson stepdaughter brother brothers sister sisters "
    "sibling siblings grandma grandpa grandmother grandfather grandparents grandson grandsons granddaughter "
    "granddaughters grandchildren grandkids aunt aunts uncle uncles cousin cousins niece nieces nephew "
    "nephews friend friends roommate roommates flatmate flatmates dog dogs cat cats puppy puppies kitten "
    "kittens pet pets rabbit rabbits hamster hamsters parrot parrots horse horses bird birds turtle turtles "
    "guinea_pig guinea_pigs fish"
)
_REL_MODS = (
    r"(?:(?:little|older|younger|big|baby|eldest|oldest|youngest|best|new|late|twin|step|ex|ex-|first|second|"
    r"third|only|middle|lovely|adorable|old|young|dear|beloved|rescue|elderly|teenage|grown-up|grown)\s*-?\s+)"
    r"{0,2}"
)
_LANGUAGES = _alt(
    "english french german spanish italian portuguese dutch swedish norwegian danish finnish polish czech "
    "slovak russian ukrainian greek turkish arabic hebrew hindi bengali urdu chinese mandarin cantonese "
    "japanese korean vietnamese thai indonesian malay tagalog filipino swahili romanian hungarian catalan "
    "persian farsi icelandic irish welsh croatian serbian bulgarian estonian latvian lithuanian esperanto "
    "latin british_english american_english simple_english plain_english brazilian_portuguese"
)
_LANGUAGE_SET = frozenset(
    "english french german spanish italian portuguese dutch swedish norwegian danish finnish polish czech "
    "slovak russian ukrainian greek turkish arabic hebrew hindi bengali urdu chinese mandarin cantonese "
    "japanese korean vietnamese thai indonesian malay tagalog filipino swahili romanian hungarian catalan "
    "persian farsi icelandic irish welsh croatian serbian bulgarian estonian latvian lithuanian esperanto "
    "latin american british canadian australian indian mexican brazilian european asian african".split()
)
_NAME_STOP = frozenset(
    """and but or i im i'm is are was not a an the from by btw so too though actually also really just please
    thanks thank nice lol haha here there now because since my your you it this that what who hi hello hey to
    at in on of for with as if then secret unknown none nothing irrelevant important back later tomorrow today
    tonight crazy maybe anytime anything whatever sometime again when ok okay yes no sir madam admin
    administrator root superuser system assistant user bot ai chatbot moderator developer owner god master
    whatever which be being am have has had do did does will would can could should""".split()
)
_PRIVILEGED = re.compile(
    r"^(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser|super\s+user|sysadmin|system|moderator|owner|"
    r"operator|developer\s+of\s+(?:this|the)\s+\w+)$",
    _F,
)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|overrule)\b[^.!?\n]{0,80}?\b(?:instructions?|rules?|"
    r"prompts?|guidelines?|directives?|system|programming|constraints?|restrictions?|policy|policies)\b"
    r"|\bsystem\s*prompt\b|\bjailbreak|\bdeveloper\s+mode\b|\bDAN\s+mode\b|\byou\s+are\s+now\b"
    r"|\bnew\s+instructions?\b|\bfrom\s+now\s+on\s+you\s+(?:are|will\s+be|must\s+obey)\b"
    r"|\bact\s+as\s+(?:an?\s+|the\s+)?(?:admin|administrator|root|system|developer)\b"
    r"|\b(?:record|store|save|remember|note|log|write\s+down|add)\s+(?:down\s+)?that\s+(?:I\s+am|I'm|Im)\s+"
    r"(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser|owner|developer|moderator|verified|authori[sz]ed)"
    r"|<\s*/?\s*(?:system|instructions?|user_context)\s*>",
    _F,
)

# --------------------------------------------------------------------------------------------------------------
# Text preparation
# --------------------------------------------------------------------------------------------------------------

# Cheap substrings, one of which every _INJECTION match contains.
_INJECTION_HINTS = tuple(
    "ignor|disregard|forget|overrid|bypass|overrul|system|jailbreak|developer|dan mode|you are now|instruction|"
    "act as|admin|root|superuser|owner|moderator|verified|authori|<".split("|")
)

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
    return _APOSTROPHES.sub("'", text)


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


def _blocked(sentence: str, start: int) -> bool:
    """True when the statement starting at ``start`` is hypothetical, quoted or reported."""
    prefix = sentence[max(0, start - 300) : start]
    if not prefix.strip():
        return False
    if _inside_quote(prefix):
        return True
    low = prefix.lower()
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


# --------------------------------------------------------------------------------------------------------------
# Objects ("hiking in the Alps")
# --------------------------------------------------------------------------------------------------------------

_HARD_BOUNDARY = re.compile(r"[,;:()\[\]{}|–—…!?.\s](?:(?<=[,;:()\[\]{}|–—…!?])|(?<=\.)\.\.|(?<=\s)-+\s)")
_STOP_WORDS = frozenset(
    "but because cause cuz although though however whereas unless since except which who whom whose if whenever "
    "lol haha hehe btw tbh thanks".split()
)
_STOP_PAIRS = frozenset({("so", "that"), ("even", "if"), ("even", "though"), ("and", "then"), ("thank", "you")})
_CONJUNCTIONS = frozenset("and or so then as while when plus yet nor but".split())
_PRONOUNS = frozenset("i i'm im i've i'd i'll my me you your we he she they it it's its that this there".split())
_FILLER_TAILS: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "at the moment|so much|very much|a lot|a ton|as well|right now|these days|lots|too|either|lol|haha|hehe|"
        "tbh|honestly|btw|though|anyway|anyways|really|now|currently|nowadays|please|actually"
    ).split("|")
)
_FILLER_BY_LAST: dict[str, tuple[tuple[str, ...], ...]] = {
    last: tuple(t for t in _FILLER_TAILS if t[-1] == last) for last in {t[-1] for t in _FILLER_TAILS}
}
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
    if last == "recently":
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


def _continues_list(raw: str, start: int) -> bool:
    """True when the text after a comma at ``start`` is one more short list item ("..., shellfish and dust")."""
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
        if core in _STOP_WORDS or (core, nxt) in _STOP_PAIRS or (core in _CONJUNCTIONS and nxt in _PRONOUNS):
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


# --------------------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------------------


class _Finding(NamedTuple):
    """One thing found in one sentence: an insight (``kind`` set) and/or a card line."""

    kind: InsightKind | None
    text: str
    confidence: float
    card: str | None = None


_Builder = Callable[[re.Match[str], str], _Finding | None]


@dataclass(frozen=True)
class _Rule:
    """A pattern matched at a trigger position; ``keys`` ("m:from", ":like") say where it is worth trying."""

    pattern: re.Pattern[str]
    build: _Builder
    keys: tuple[str, ...] = ()


def _rule(pattern: str, build: _Builder, keys: str = "") -> _Rule:
    return _Rule(re.compile(pattern, _F), build, tuple(keys.split()))


def _head_keys(prefix: str, words: str) -> str:
    """Dispatch keys for the first word of each ``_``-joined phrase in ``words``."""
    firsts = dict.fromkeys(w.split("_")[0].split("-")[0].lower() for w in words.split())
    return " ".join(f"{prefix}:{w}" for w in firsts)


# Words skipped between "I" and the word that selects the rules to try ("I really love" -> "love").
_SKIP = _alt(
    "really truly absolutely just also still totally actually genuinely honestly do definitely seriously so very "
    "kinda pretty quite super extremely incredibly rather somewhat too always often constantly increasingly "
    "getting becoming feeling currently now originally recently finally eventually someday badly desperately "
    "strongly firmly deeply sincerely secretly personally generally usually mostly strictly simply particularly "
    "especially fairly slightly happily severely highly deathly mildly naturally slowly reasonably fully "
    "completely lately utterly"
)
_HEAD = re.compile(
    r"I(?:(?P<m>'m\b|\s+am\b|m\b)|(?P<ve>'ve\b|ve\b)|(?P<d>'d\b|\s+would\b))?(?:\s+" + _SKIP + r"\b)*\s+"
    r"(?P<head>[\w'-]+)",
    _F,
)
_EMOTION_KEYS = "m:a m:kind m:sort m:more ve:been :have :feel " + _head_keys("m", _EMOTION_WORDS)
_TRAIT_KEYS = "m:a m:an m:kind m:sort m:such " + _head_keys("m", _TRAIT_ADJ_WORDS)


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
) -> _Builder:
    """A builder rendering ``template`` with the cleaned ``obj`` group (and ``verb`` mapped through ``verbs``)."""

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
        return _Finding(kind, text, confidence, text if card else None)

    return build


def _fixed(
    kind: InsightKind | None, confidence: float, render: Callable[[re.Match[str]], str | None], *, card: bool = False
) -> _Builder:
    """A builder whose text comes from ``render`` (closed-vocabulary groups only)."""

    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        text = render(match)
        if not text:
            return None
        return _Finding(kind, text, confidence, text if card else None)

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
    r"suggestion|example|idea|approach|solution|paragraph|sentence|title|list|code|part|point)s?\b",
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


def _name_builder(strict: bool, *, greeting: bool = False) -> _Builder:
    def build(match: re.Match[str], sentence: str) -> _Finding | None:
        name = _parse_name(match.group("obj"), strict or _mixed_case(sentence))
        if name is None:
            return None
        if greeting and name.split()[0].lower() in _LANGUAGE_SET:
            return None
        text = f"Name: {name}"
        return _Finding(InsightKind.FACT, text, 0.9, text)

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
    return _Finding(kind, text, 0.9, text)


def _occupation_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    occupation = _SPACES.sub(" ", match.group("occ").strip())
    if _PRIVILEGED.match(occupation):
        return None
    head = occupation.split()[-1].lower()
    verb = "Is" if head in _NON_WORK_OCCUPATIONS else "Works as"
    text = f"{verb} {_article(occupation)} {_third_person(occupation.split())}"
    if match.group("prep"):
        place = _clean_object(match.group("obj"), 8, _REJECT_PRONOUN_START)
        if place:
            text = f"{text} {match.group('prep').lower()} {place}"
    return _Finding(InsightKind.FACT, text, 0.85, text)


def _work_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), 10, _REJECT_WORK, trim_time=True)
    if obj is None or _PRIVILEGED.match(obj):
        return None
    text = f"Works {match.group('prep').lower()} {obj}"
    return _Finding(InsightKind.FACT, text, 0.85, text)


def _goal_noun_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    obj = _clean_object(match.group("obj"), MAX_OBJECT_WORDS, _REJECT_PRONOUN_START)
    if obj is None:
        return None
    with_to, bare = _GOAL_NOUNS[match.group("noun").lower()]
    text = f"{with_to} {obj}" if match.group("to") else f"{bare} {obj}"
    return _Finding(InsightKind.GOAL, text, 0.85)


def _emotion_builder(match: re.Match[str], sentence: str) -> _Finding | None:
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
    return _Finding(InsightKind.PREFERENCE, f"Favorite {category} is {obj}", 0.85)


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


def _dislike_builder(match: re.Match[str], sentence: str) -> _Finding | None:
    raw = match.group("obj")
    raw = re.sub(r"^it\s+(?=when\b|if\b)", "", raw, flags=_F)
    obj = _clean_object(raw, MAX_OBJECT_WORDS, _REJECT_PREFERENCE)
    if obj is None or re.match(r"to\s+(?:say|admit|ask|bother|break|tell|be\s+that)\b", obj, _F):
        return None
    return _Finding(InsightKind.PREFERENCE, f"Dislikes {obj}", 0.8)


# Rules tried where the sentence says "I ..." (I, I'm, I've, I'd ...).
_I_RULES: tuple[_Rule, ...] = (
    # identity facts
    _rule(_IM + r"\s+(?:also\s+)?(?:called|known\s+as)\s+" + _OBJ, _name_builder(True), "m:called m:known"),
    _rule(r"\bI\s+go\s+by\s+" + _OBJ, _name_builder(True), ":go"),
    _rule(
        _IM + r"\s+(?P<age>\d{1,3})\s*(?:years?|yrs?)(?:\s+old|\s+of\s+age)\b|" + _IM + r"\s+(?P<age2>\d{1,3})\s*"
        r"(?:yo|y/o|y\.o\.?)(?!\w)",
        _fixed(InsightKind.FACT, 0.9, _age, card=True),
        "m:#",
    ),
    _rule(
        r"\bI\s+(?:just\s+|recently\s+)?turned\s+(?P<age>\d{1,3})\b(?!\s*(?:%|percent|degrees|minutes|hours|days))",
        _fixed(InsightKind.FACT, 0.85, _age, card=True),
        ":turned",
    ),
    _rule(
        r"\bI\s+(?:currently\s+|now\s+|still\s+|also\s+|actually\s+)?live\s+in\s+" + _OBJ,
        _template(
            InsightKind.FACT,
            "Lives in {obj}",
            0.85,
            card=True,
            max_words=10,
            reject=_REJECT_PRONOUN_START,
            trim_time=True,
        ),
        ":live",
    ),
    _rule(
        _IM + r"\s+(?:currently\s+|now\s+|also\s+|actually\s+)?(?:living|based|located)\s+in\s+" + _OBJ,
        _template(
            InsightKind.FACT,
            "Lives in {obj}",
            0.85,
            card=True,
            max_words=10,
            reject=_REJECT_PRONOUN_START,
            trim_time=True,
        ),
        "m:living m:based m:located",
    ),
    _rule(
        r"\bI(?:'ve|\s+have|ve)?\s+(?:just\s+|recently\s+|finally\s+|also\s+)?moved\s+to\s+" + _OBJ,
        _template(
            InsightKind.FACT,
            "Lives in {obj}",
            0.8,
            card=True,
            max_words=10,
            reject=_REJECT_PRONOUN_START,
            trim_time=True,
        ),
        ":moved ve:moved :have",
    ),
    _rule(
        _IM + r"\s+(?:originally\s+|actually\s+)?from\s+" + _OBJ,
        _template(
            InsightKind.FACT, "Is from {obj}", 0.85, card=True, max_words=10, reject=_REJECT_FROM, trim_time=True
        ),
        "m:from",
    ),
    _rule(
        r"\bI\s+grew\s+up\s+in\s+" + _OBJ,
        _template(
            InsightKind.FACT,
            "Grew up in {obj}",
            0.85,
            card=True,
            max_words=10,
            reject=_REJECT_PRONOUN_START,
            trim_time=True,
        ),
        ":grew",
    ),
    _rule(
        r"\bI\s+(?:currently\s+|now\s+|also\s+|still\s+|actually\s+)?work\s+(?P<prep>as|at|for|in)\s+" + _OBJ,
        _work_builder,
        ":work",
    ),
    _rule(
        _IM + r"\s+(?:currently\s+|now\s+|also\s+|actually\s+)?(?:working|employed)\s+(?P<prep>as|at|for|in)\s+" + _OBJ,
        _work_builder,
        "m:working m:employed",
    ),
    _rule(
        _IM + r"\s+(?:(?:currently|now|also|actually|still|just)\s+)*(?:a|an)\s+"
        r"(?P<occ>(?:(?!(?:of|and|or|the|not|bit|fan|big|huge|good|great|bad|terrible|awful|decent|poor|slow|"
        r"fast|quick|careful|better|worse|lousy|horrible|amazing|excellent|natural|born|wannabe|aspiring|future|"
        r"former|ex)\b)[\w-]+\s+){0,3}?" + _OCCUPATIONS + r")"
        r"(?![\w'-])(?:\s+(?P<prep>at|for|in)\s+" + _OBJ + ")?",
        _occupation_builder,
        "m:a m:an",
    ),
    _rule(
        _IM + r"\s+(?:(?:now|currently|recently|also|happily|finally)\s+)?(?P<status>retired|unemployed|"
        r"self-employed|self\s+employed|between\s+jobs)\b",
        _fixed(InsightKind.FACT, 0.85, lambda m: _STATUSES[_SPACES.sub(" ", m.group("status").lower())], card=True),
        "m:retired m:unemployed m:self-employed m:self m:between",
    ),
    _rule(
        _IM + r"\s+(?:(?:very|severely|highly|extremely|really|also|deathly|slightly|mildly|super|quite|a\s+bit|"
        r"a\s+little)\s+)*allergic\s+to\s+" + _OBJ,
        _allergy_builder,
        "m:allergic m:a",
    ),
    _rule(
        _IVE + r"\s+(?:a\s+|an\s+)?(?:(?:severe|mild|serious|bad|slight)\s+)?(?=(?P<obj>[\w -]{1,40}?)\s+"
        r"allerg(?:y|ies)\b)",
        _allergy_builder,
        ":have ve:a ve:an ve:severe ve:mild ve:serious ve:bad ve:slight",
    ),
    _rule(
        _IM + r"\s+(?:(?:a|an|also|now|fully|completely)\s+)*(?:(?P<q>mostly|strictly)\s+)?(?P<diet>vegetarian|"
        r"vegan|pescatarian|pescetarian|kosher|halal|gluten-free|gluten\s+free|lactose[-\s]intolerant|celiac|"
        r"coeliac|diabetic)\b",
        _diet_builder,
        "m:a m:an m:vegetarian m:vegan m:pescatarian m:pescetarian m:kosher m:halal m:gluten-free m:gluten m:lactose "
        "m:lactose-intolerant m:celiac m:coeliac m:diabetic",
    ),
    # preferences
    _rule(
        r"\bI\s+" + _ADV + r"(?P<verb>like|love|enjoy|adore)\s+" + _OBJ,
        _template(InsightKind.PREFERENCE, "{verb} {obj}", 0.8, reject=_REJECT_PREFERENCE, verbs=_LIKE_VERBS),
        ":like :love :enjoy :adore",
    ),
    _rule(
        _IVE + r"\s+always\s+(?P<verb>like|love|enjoy|adore)(?:d|ed)?\s+" + _OBJ,
        _template(InsightKind.PREFERENCE, "{verb} {obj}", 0.8, reject=_REJECT_PREFERENCE, verbs=_LIKE_VERBS),
        "ve:liked ve:loved ve:enjoyed ve:adored :have",
    ),
    _rule(
        r"\bI\s+"
        + _ADV
        + r"(?:(?:do\s+not|don't|dont|did\s+not|didn't|didnt|never)\s+"
        + _ADV
        + r"(?:liked?|enjoy(?:ed)?|loved?|care\s+for)|hate|dislike|detest|loathe|despise|abhor|"
        r"(?:can't|cannot|can\s+not|cant)\s+(?:stand|bear))\s+" + _OBJ,
        _dislike_builder,
        ":don't :dont :did :didn't :didnt :not :never :hate :dislike :detest :loathe :despise :abhor :can't :cannot "
        ":can :cant",
    ),
    _rule(
        _IM + r"\s+not\s+(?:a\s+|really\s+|very\s+)?(?:(?:big|huge|great)\s+)?(?:fan\s+of|into)\s+" + _OBJ,
        _dislike_builder,
        "m:not",
    ),
    _rule(
        r"\bI\s+" + _ADV + r"prefer\s+" + _OBJ,
        _template(InsightKind.PREFERENCE, "Prefers {obj}", 0.8, reject=_REJECT_PREFERENCE),
        ":prefer",
    ),
    _rule(
        _IM + r"\s+(?:(?:really|also|such|just|honestly|totally|definitely)\s+)*(?:(?:a\s+)?(?:huge|big|great|"
        r"massive|real|total)\s+fan\s+of|a\s+fan\s+of|(?:(?:really|very|super|so|quite|totally)\s+)?into)\s+" + _OBJ,
        _template(InsightKind.PREFERENCE, "Likes {obj}", 0.75, reject=_REJECT_PREFERENCE),
        "m:a m:huge m:big m:great m:massive m:real m:total m:such m:into",
    ),
    # goals
    _rule(
        r"\bI\s+" + _ADV + r"(?:(?:eventually|finally|someday|badly|desperately)\s+)?(?P<verb>want|plan|intend|aim|"
        r"hope)\s+to\s+" + _OBJ,
        _template(InsightKind.GOAL, "{verb} {obj}", 0.8, reject=_REJECT_GOAL, verbs=_GOAL_VERBS),
        ":want :plan :intend :aim :hope",
    ),
    _rule(
        _IM + r"\s+" + _ADV + r"(?P<verb>planning\s+on|(?:planning|intending|aiming|hoping|trying)(?=\s+to\s))"
        r"(?:\s+to)?\s+" + _OBJ,
        _template(InsightKind.GOAL, "{verb} {obj}", 0.75, reject=_REJECT_GOAL, verbs=_GOAL_VERBS),
        "m:planning m:intending m:aiming m:hoping m:trying",
    ),
    _rule(
        r"\bI(?:'d|\s+would)\s+(?:really\s+|also\s+|eventually\s+|someday\s+|one\s+day\s+)?(?P<verb>like|love)\s+to\s+"
        + _OBJ,
        _template(InsightKind.GOAL, "{verb} {obj}", 0.75, reject=_REJECT_GOAL, verbs=_GOAL_VERBS),
        "d:like d:love d:one",
    ),
    _rule(
        _IM + r"\s+(?:(?:finally|definitely|really|also|eventually|seriously)\s+)?going\s+to\s+" + _OBJ,
        _template(
            InsightKind.GOAL,
            "Is going to {obj}",
            0.65,
            reject=re.compile(_REJECT_GOAL.pattern + "|" + _REJECT_GOING.pattern, _F),
        ),
        "m:going",
    ),
    # beliefs
    _rule(
        r"\bI\s+" + _ADV + r"(?:strongly\s+|firmly\s+)?(?P<verb>think|believe|feel)\s+that\s+" + _OBJ,
        _template(InsightKind.BELIEF, "{verb} {obj}", 0.6, reject=_REJECT_BELIEF_THAT, verbs=_BELIEF_VERBS),
        ":think :believe :feel",
    ),
    _rule(
        r"\bI\s+" + _ADV + r"(?:strongly\s+|firmly\s+)?believe\s+in\s+" + _OBJ,
        _template(InsightKind.BELIEF, "Believes in {obj}", 0.6, max_words=12, reject=_REJECT_PRONOUN_START),
        ":believe",
    ),
    _rule(
        r"\bI\s+" + _ADV + r"(?:strongly\s+|firmly\s+)?(?P<verb>think|believe)\s+(?!that\b|in\b)" + _OBJ,
        _template(InsightKind.BELIEF, "{verb} {obj}", 0.55, reject=_REJECT_BELIEF, verbs=_BELIEF_VERBS),
        ":think :believe",
    ),
    # emotions
    _rule(
        r"(?:"
        + _IM
        + r"|"
        + _IVE
        + r"\s+been|\bI\s+"
        + _ADV
        + r"feel)\s+"
        + _EMO_ADV
        + r"(?P<emo>"
        + _EMOTIONS
        + r")\b(?!(?<=happy)\s+to\b)(?!(?<=glad)\s+to\b)(?:\s+(?P<prep>about|with|because\s+of)\s+"
        + _OBJ
        + ")?",
        _emotion_builder,
        _EMOTION_KEYS,
    ),
    # knowledge
    _rule(
        r"\bI\s+" + _ADV + r"know\s+how\s+to\s+" + _OBJ,
        _template(InsightKind.KNOWLEDGE, "Knows how to {obj}", 0.75, reject=_REJECT_GOAL),
        ":know",
    ),
    _rule(
        r"(?:" + _IM + r"|" + _IVE + r"\s+been)\s+(?:(?:currently|now|still|also|slowly|actually|finally)\s+)*"
        r"learning\s+(?P<pre>how\s+to\s+|to\s+)?" + _OBJ,
        _learning_builder,
        "m:learning ve:been :have",
    ),
    _rule(
        _IM + r"\s+(?:(?:really|very|pretty|quite|super|fairly|reasonably|also|actually|kind\s+of|kinda)"
        r"\s+)*(?P<q>good|great|bad|terrible|decent|skilled|proficient|experienced|fluent|an\s+expert|expert|"
        r"a\s+beginner|familiar|new)\s+(?P<prep>at|in|with|to|on)\s+" + _OBJ,
        _skill_builder,
        "m:good m:great m:bad m:terrible m:decent m:skilled m:proficient m:experienced m:fluent m:an m:expert m:a "
        "m:familiar m:new m:kind",
    ),
    _rule(
        r"\bI\s+(?:also\s+|actually\s+)?studied\s+" + _OBJ,
        _template(InsightKind.KNOWLEDGE, "Studied {obj}", 0.75, max_words=10, reject=_REJECT_STUDY),
        ":studied",
    ),
    _rule(
        r"\bI(?:'ve|\s+have|ve)(?:\s+got)?\s+(?:a|an)\s+(?P<deg>(?:(?:bachelor's|bachelors|master's|masters|"
        r"phd|ph\.d\.?|doctorate|associate's)\s+)?(?:degree|diploma|certificate|certification|background)|phd|"
        r"ph\.d\.?|doctorate|masters|master's|bachelor's|bachelors)\s+in\s+" + _OBJ,
        _degree_builder,
        "ve:a ve:an ve:got :have",
    ),
    # relationships
    _rule(
        r"\bI(?:\s+also)?(?:\s+have|'ve\s+got|\s+have\s+got|ve\s+got|'ve)\s+(?P<num>a|an|one|two|three|four|five|six|seven|"
        r"eight|nine|ten|\d{1,2})\s+(?P<mods>(?:(?!(?:with|for|from|to|at|and|my|the|no|in|hot|lot|question|"
        r"problem)\b)[\w-]+\s+){0,2}?)(?P<rel>" + _RELS_ANY + r")(?![\w'-])(?:\s+(?:named|called)\s+"
        r"(?=(?P<obj>.{1,80})))?",
        _relationship_have,
        ":have ve:got",
    ),
    # traits
    _rule(
        _IM
        + r"\s+"
        + _TRAIT_ADV
        + r"(?:(?:a|an)\s+)?(?:(?:(?:bit\s+of\s+an?|total|real|huge|big|true|natural|complete|classic|typical|"
        r"kind\s+of\s+an?|sort\s+of\s+an?)\s+)?(?P<noun>" + _TRAIT_NOUNS + r")|(?P<adj>" + _TRAIT_ADJS + r"))(?![\w-])",
        _fixed(InsightKind.TRAIT, 0.7, _trait_render),
        _TRAIT_KEYS,
    ),
)


def _dispatch_table(rules: Sequence[_Rule]) -> dict[str, tuple[_Rule, ...]]:
    table: dict[str, list[_Rule]] = {}
    for rule in rules:
        for key in rule.keys:
            bucket = table.setdefault(key, [])
            if rule not in bucket:
                bucket.append(rule)
    return {key: tuple(bucket) for key, bucket in table.items()}


_I_TABLE = _dispatch_table(_I_RULES)


def _i_rules(sentence: str, pos: int) -> tuple[_Rule, ...]:
    """The "I ..." rules worth trying at ``pos``, chosen by the first significant word after "I"."""
    head = _HEAD.match(sentence, pos)
    if head is None:
        return ()
    cls = "m" if head.group("m") else "ve" if head.group("ve") else "d" if head.group("d") else ""
    word = head.group("head").lower()
    if word.isdigit():
        word = "#"
    return _I_TABLE.get(f"{cls}:{word}", ())


# Rules tried where the sentence says "my ..."; their ``keys`` are words the sentence must contain.
_REL_WORDS = " ".join(
    dict.fromkeys(
        f"{w}'s" if suffix else w
        for w in (p.split("_")[-1] for p in _RELS_SINGULAR_WORDS.split())
        for suffix in (False, True)
    )
)
_MY_RULES: tuple[_Rule, ...] = (
    _rule(
        r"\bmy\s+(?:full\s+|first\s+|real\s+|actual\s+)?name(?:\s+is|'s)\s+" + _OBJ,
        _name_builder(False),
        "name name's",
    ),
    _rule(
        r"\bmy\s+(?P<mods>" + _REL_MODS + r")(?P<rel>" + _RELS_SINGULAR + r")(?P<conn>'s\s+name\s+is|\s+is\s+"
        r"(?:named|called)|\s+(?:named|called)|\s+is)\s+" + _OBJ,
        _relationship_named,
        _REL_WORDS,
    ),
    _rule(
        r"\bmy\s+(?:absolute\s+|all-time\s+|all\s+time\s+|current\s+|personal\s+)?favou?rite\s+"
        r"(?P<cat>(?:(?!(?:is|are)\b)[\w'-]+\s+){0,3}?[\w'-]+)\s+(?:is|are|has\s+to\s+be|would\s+be)\s+" + _OBJ,
        _favorite_builder,
        "favorite favourite",
    ),
    _rule(
        r"\bmy\s+(?:(?:main|big|biggest|ultimate|long-term|long\s+term|new\s+year's|personal|current|primary|"
        r"only|real)\s+)?(?P<noun>goal|aim|dream|plan|ambition|resolution|objective)(?:\s+for\s+[\w ]{1,20}?)?"
        r"\s+is\s+(?P<to>to\s+)?" + _OBJ,
        _goal_noun_builder,
        "goal aim dream plan ambition resolution objective",
    ),
)

_CALL_RULES: tuple[_Rule, ...] = (_rule(r"\bcall\s+me\s+" + _OBJ, _name_builder(True)),)

_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|greetings|good\s+(?:morning|afternoon|evening))(?:\s+there)?[\s,!.]+"
    r"I(?:'m|\s+am)\s+" + _OBJ,
    _F,
)

# --------------------------------------------------------------------------------------------------------------
# Standing instructions (card only, closed vocabulary)
# --------------------------------------------------------------------------------------------------------------

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
                yield _Finding(None, card, 0.9, card)
                break


# --------------------------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------------------------


def _apply(rules: Sequence[_Rule], sentence: str, pos: int) -> Iterator[_Finding]:
    for rule in rules:
        match = rule.pattern.match(sentence, pos)
        if match is None:
            continue
        finding = rule.build(match, sentence)
        if finding is not None:
            yield finding


def _scan_sentence(sentence: str) -> Iterator[_Finding]:
    if _QUESTION_END.search(sentence):
        return
    words = _WORD.findall(sentence.lower())
    yield from _instructions(sentence, words)
    if _SELF_WORDS.isdisjoint(words):
        return
    vocabulary = frozenset(words)
    my_rules = tuple(r for r in _MY_RULES if not vocabulary.isdisjoint(r.keys))
    for trigger in _TRIGGER.finditer(sentence):
        start = trigger.start()
        lead = sentence[start]
        rules = _i_rules(sentence, start) if lead in "Ii" else my_rules if lead in "Mm" else _CALL_RULES
        if rules and not _blocked(sentence, start):
            yield from _apply(rules, sentence, start)


def _scan(content: str) -> Iterator[_Finding]:
    """Every finding in one user message, in order of appearance."""
    text = _prepare(content)
    low = text.lower()
    if any(hint in low for hint in _INJECTION_HINTS) and _INJECTION.search(text):
        logger.debug("heuristic reasoner: skipping a message that looks like prompt injection")
        return
    greeting = _GREETING.match(text)
    if greeting:
        first = next(_sentences(text), "")
        finding = _name_builder(True, greeting=True)(greeting, first)
        if finding is not None:
            yield finding
    for sentence in _sentences(text):
        yield from _scan_sentence(sentence)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def _key(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip(" .!")


@dataclass
class _Merged:
    kind: InsightKind
    text: str
    confidence: float
    evidence: list[str] = field(default_factory=list)


@dataclass
class _Accumulator:
    insights: dict[str, _Merged] = field(default_factory=dict)
    card: dict[str, str] = field(default_factory=dict)

    def add(self, finding: _Finding, message_id: str) -> None:
        if finding.card is not None and not CARD_FORBIDDEN.search(finding.card):
            key = _key(finding.card)
            if key not in self.card and len(self.card) < CARD_LIMIT:
                self.card[key] = finding.card
        if finding.kind is None:
            return
        key = _key(finding.text)
        merged = self.insights.get(key)
        if merged is None:
            if len(self.insights) >= MAX_INSIGHTS:
                return
            merged = self.insights[key] = _Merged(finding.kind, finding.text, finding.confidence)
        merged.confidence = max(merged.confidence, finding.confidence)
        if message_id and message_id not in merged.evidence:
            merged.evidence.append(message_id)

    def build(self) -> ModelUpdate:
        return ModelUpdate(
            new_insights=[
                NewInsight(
                    kind=m.kind,
                    text=m.text,
                    confidence=m.confidence,
                    level=InsightLevel.EXPLICIT,
                    evidence=m.evidence,
                )
                for m in self.insights.values()
            ],
            card_add=list(self.card.values()),
        )


class HeuristicReasoner:
    """Derives explicit insights from the user's own messages with regexes (no LLM, no network).

    Deterministic: the same messages always give the same :class:`ModelUpdate`.
    """

    name: str = "heuristic"

    def derive(self, messages: Sequence[Message]) -> ModelUpdate:
        """Explicit insights and card lines stated by the user in ``messages`` (other roles are ignored)."""
        acc = _Accumulator()
        for message in messages:
            if getattr(message, "role", None) != Role.USER:
                continue
            content = getattr(message, "content", None)
            if not isinstance(content, str) or not content.strip():
                continue
            message_id = str(getattr(message, "id", "") or "")
            try:
                for finding in _scan(content):
                    acc.add(finding, message_id)
            except Exception:  # a bad pattern interaction must never break a turn
                logger.warning("heuristic reasoner failed on message %s", message_id, exc_info=True)
        return acc.build()
