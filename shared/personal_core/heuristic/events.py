"""Events, activities and plans the user states in the first person: "I just joined a gym last week" ->
"Joined a gym in the week before 2024-05-10", "I've been volunteering at a shelter" -> "Has been volunteering at a
shelter", "I'm going to a conference in May" -> "Is going to a conference in May".

What people tell about their life (a class they started, a trip they took, a game they play) answers later
questions in a few words; a dense, dated line holds the same evidence as the turn in fewer tokens. Strict, since an
unlearned event is better than a wrong one: only "I" followed by a verb from a closed list, in a declarative
sentence that is not hypothetical, reported or negated (:func:`.sentences._blocked`); the object is the rest of
the clause in the third person, and objects pointing at the conversation ("it", "this", "you") or vague ones
("back", "there") yield nothing. A relative date in the clause ("yesterday", "two days ago", "last week") is
resolved against the time the message was written (:mod:`.when`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from ..model import InsightKind
from .builders import _Finding
from .objects import _clean_object
from .sentences import _QUESTION_END, _SPACES, _blocked, _sentences, own_words
from .stances import _third
from .vocabulary import _EMOTION_WORDS, _F, _REL_MODS, _RELS_ANY
from .when import TIME, resolve

#: Most words in an event's object ("a pottery class at the community center"); a longer one is cut at a phrase
#: boundary. Objects are read up to :data:`MAX_SCAN_WORDS` words first (a date may follow a long object).
MAX_EVENT_WORDS = 14
MAX_SCAN_WORDS = 40
#: Confidence of an event stated in the past or present perfect, of an ongoing activity or habit, and of a plan.
EVENT_CONFIDENCE = 0.8
ACTIVITY_CONFIDENCE = 0.75
PLAN_CONFIDENCE = 0.7


def _forms(table: str) -> dict[str, str]:
    """``"go went gone, ..."`` -> {past or participle form: lemma}."""
    out: dict[str, str] = {}
    for entry in table.split(","):
        words = entry.split()
        if words:
            for form in words[1:]:
                out[form] = words[0]
    return out


# lemma, past, participle (a regular verb's one form serves both). Verbs other rules own (moved, lived, studied,
# lost, left, quit, loved, liked) and verbs of saying, thinking or feeling are not here.
_IRREGULAR = _forms(
    "go went gone, begin began begun, take took taken, make made, draw drew drawn, write wrote written, "
    "buy bought, get got gotten, run ran, win won, meet met, find found, see saw seen, read read, build built, "
    "come came, give gave given, teach taught, lead led, spend spent, throw threw thrown, hold held, eat ate eaten, "
    "swim swam swum, sing sang sung, drive drove driven, fly flew flown, hang hung, catch caught, sell sold, "
    "ride rode ridden, sew sewed sewn, grow grew grown, hear heard, have had, do did done, learn learned learnt, "
    "break broke broken, hurt hurt, sit sat, stand stood, speak spoke spoken, wear wore worn, feed fed, bring brought, "
    "send sent, lend lent, keep kept, set set"
)
_REGULAR = frozenset(
    """visited started joined baked cooked painted finished completed adopted attended tried discovered played
    watched created launched opened received traveled travelled hiked climbed camped volunteered donated
    organized organised hosted celebrated graduated passed returned decided picked signed enrolled registered
    applied booked performed recorded released published earned fixed renovated dyed surfed danced competed
    participated entered practiced practised trained biked cycled explored toured checked reconnected reunited
    presented mentored coached helped planted rescued married designed crafted knitted filmed submitted achieved
    reached welcomed interviewed auditioned redecorated remodeled remodelled repainted upgraded tasted listened
    shopped jogged skied kayaked fished walked wrapped snorkeled talked chatted worked shared snapped raised
    stumbled roasted grilled contacted rehearsed emailed failed chilled arrived whipped accomplished revised saved
    contributed pitched scored decorated tackled connected stayed reorganized reorganised injured sprained cleaned
    installed sketched ordered pursued secured landed struggled faced visited""".split()
)
_PAST = {**{w: w for w in _REGULAR}, **_IRREGULAR}
# Past forms that are not also a participle ("I've went" is not said; "I've took" neither).
_PAST_ONLY = frozenset("went began took drew wrote ate swam sang drove flew rode grew did".split())
_PARTICIPLES = {w: lemma for w, lemma in _PAST.items() if w not in _PAST_ONLY} | {
    "gone": "go",
    "begun": "begin",
    "taken": "take",
    "drawn": "draw",
    "written": "write",
    "eaten": "eat",
    "swum": "swim",
    "sung": "sing",
    "driven": "drive",
    "flown": "fly",
    "ridden": "ride",
    "sewn": "sew",
    "grown": "grow",
    "done": "do",
}
# Verbs that make a past sentence about something else than the user's doing ("I had to", "I got lucky"): the
# words that may not open their object.
_REJECT_AFTER = {
    "got": r"lucky|sick|hurt|ready|better|worse|used|carried|caught\s+up|me|myself|to\s+know|along|home|back$|"
    r"laid\s+off|fired|sacked|let\s+go",  # losing a job is the job rule's (it supersedes the job held)
    "had": r"to|no|been|never|nothing|better|always|a\s+(?:feeling|thought|hunch|sense|idea)|an\s+idea|fun|me",
    "made": r"sure|me|myself|up\s+my\s+mind|do|fun|my\s+(?:day|week|year)",
    "took": r"a\s+while|time|forever|ages|long|me|my\s+time|care|a\s+(?:second|minute|moment)",
    "did": r"a\s+lot|my\s+best|well|great|good|okay|ok|alright|all\s+right|fine|nothing",
    "found": r"out|myself|me",
    "heard": r"back|from|nothing",
    "saw": r"how|why|myself",
    "went": r"crazy|nuts|wild|well|great|smoothly|wrong|fine|quiet|silent|blank|like|for\s+it|through\s+it",
    "tried": r"my\s+best|hard",
    "passed": r"away|out",
    "doing": r"well|great|good|fine|alright|all\s+right|ok|okay|(?:my|their)\s+best|better|amazing|awesome|pretty|"
    r"much|so|really|very",
}
_REJECT_AFTER_RE = {verb: re.compile(r"(?:" + words + r")\b", _F) for verb, words in _REJECT_AFTER.items()}
# "-ing" forms after "I'm" / "I've been" that name an activity (not thinking, hoping, feeling or trying).
_ING = frozenset(
    """playing reading writing working painting taking training volunteering preparing building making
    practicing practising teaching organizing organising hosting attending doing starting going heading visiting
    running watching exploring renovating saving looking getting joining traveling travelling moving launching
    opening expecting baking cooking designing creating recording studying planning collecting mentoring coaching
    competing performing hiking camping sewing knitting gardening growing raising fostering dating enjoying
    listening leading helping applying auditioning decorating drawing writing coding developing remodeling
    remodelling researching shopping testing experimenting rehearsing editing filming directing volunteering""".split()
)
# Plain verbs of a habit ("I usually play chess on Sundays").
_HABIT = frozenset(
    """play go run read write paint cook bake volunteer teach practice practise train swim hike watch listen
    collect visit take attend do walk bike cycle dance sing draw knit sew garden make spend jog surf ski meditate
    host coach""".split()
)
_FREQUENCY_ADV = frozenset("usually often always regularly normally typically frequently".split())
_FREQUENCY = re.compile(
    r"\b(?:every\s+(?:day|week|weekend|morning|evening|night|month|year|summer|winter|sunday|saturday|monday|"
    r"tuesday|wednesday|thursday|friday)|each\s+(?:day|week|weekend|month)|on\s+(?:weekends|the\s+weekends|"
    r"sundays|saturdays)|daily|weekly|(?:once|twice|\w+\s+times)\s+a\s+(?:day|week|month|year)|a\s+lot|"
    r"all\s+the\s+time)\b",
    _F,
)
# Passive events after "I was" ("I was invited to ...", "I was promoted").
_PASSIVE = frozenset(
    "invited selected accepted promoted hired offered awarded named chosen nominated featured admitted".split()
)
# When a plan is for ("in May", "this summer", "on Friday"), besides the relative dates of :mod:`.when`.
_PLAN_TIME = re.compile(
    r"\b(?:in|on|this|next|by|later\s+this|early|late)\s+(?:january|february|march|april|may|june|july|august|"
    r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|spring|"
    r"summer|fall|autumn|winter|weekend|week|month|year)\b",
    _F,
)
_ADVERBS = (
    "just recently finally also actually already even first now currently still officially eventually really "
    "totally usually often always regularly normally typically frequently"
)
_EVENT = re.compile(
    r"\b(?:(?P<we>we)|I)(?:(?P<ve>'ve|\s+have)|(?P<m>(?<=I)'m|(?<=I)\s+am|(?<=e)'re|(?<=e)\s+are)|"
    r"(?P<was>(?<=I)\s+was|(?<=e)\s+were))?(?P<adv>(?:\s+(?:" + "|".join(_ADVERBS.split()) + r"))*)\s+"
    r"(?P<verb>[a-z]+)(?![\w'])",
    _F,
)
# Subject left out at a sentence's start ("Just finished my first marathon!", "Took a trip to Rome",
# "Been working on a mural").
_DROPPED = re.compile(
    r"^(?P<adv>(?:(?:just|finally|recently|also|lately)\s+)*)(?:(?P<been>been)\s+)?(?P<verb>[a-z]+)(?![\w'])", _F
)
# What the user's people did or like ("My daughter started ballet", "My kids love the beach").
_MY_PEOPLE = re.compile(
    r"\bmy\s+(?P<who>" + _REL_MODS + r"(?:" + _RELS_ANY + r"|family|fam|team))(?![\w'-])(?P<adv>(?:\s+(?:just|also|"
    r"really|finally|recently|all|both|always|usually|even|absolutely))*)\s+(?:(?P<be>is|are)\s+)?"
    r"(?P<verb>[a-z]+)(?![\w'])",
    _F,
)
_PEOPLE_LIKE = frozenset("love loves like likes enjoy enjoys adore adores".split())
#: "My wife and I adopted ...": the person named before "and I" shares the user's event.
_WITH_MY = re.compile(r"\bmy\s+(?P<who>" + _REL_MODS + r"(?:" + _RELS_ANY + r"|family|team))\s+and\s+$", _F)
#: "Me and my sister started ...": the user shares the event of the person named after it.
_ME_AND = re.compile(r"(?:^|[\s,;(])(?:me|i)\s+and\s+$", _F)
#: Confidence of what the user says their people did or like.
PEOPLE_CONFIDENCE = 0.75
# "... and watched a film last night": a second event of the same subject.
_AND_VERB = re.compile(r"\s+and\s+(?:(?:also|then|later|finally|just)\s+)?(?P<verb>[a-z]+)(?![\w'])", _F)
# Telling the news is not reporting someone's words ("I'm excited to tell you I started ...").
_TELLING = re.compile(r"\b(?:tell|let)\s+you\s+(?:know\s+)?(?:that\s+)?$|\bguess\s+what\W*$", _F)
# Past forms that often follow a dropped "it" or "that" ("Made my day!", "Got me thinking", "Saw that coming").
_NOT_DROPPED = frozenset("made got had saw found heard did came gave read".split())
# ... and some that say so without a date or "just" ("Took some trial and error", "Worked out fine").
_NEEDS_TIME = frozenset("took worked helped passed kept set started ended turned".split())
_REJECT_OBJECT = re.compile(
    r"(?:it|it's|its|that|this|these|those|them|him|her|what|which|so|too|very|much|a\s+lot|all\s+of\s+it|"
    r"everything|nothing|something|anything|none|here|there|about\s+it|how|why|where|when|who|whether|if|like|me|"
    r"myself|us|they|he|she|we|you|again|together|both|a\s+few|a\s+couple|(?:one|some|any)(?:\s+(?:of|more|time|too|other|else))?\s*$|"
    r"to\s+(?:realize|realise|think|feel|wonder|understand|notice|believe|hope|wish|see\s+(?:how|why|that|what)))\b",
    _F,
)
_NEGATION = re.compile(r"\b(?:not|never|no\s+longer|nothing|nobody|none|neither|nor)\b|n't\b", _F)
_VAGUE = frozenset(
    """back home out in on up off away there here it over through around along by for to at again too also well
    the a an my their this that some more much so very time day night today week ever about just while ages long
    now lot bunch him her them us""".split()
)
_EMOTIONS = frozenset(w.replace("_", " ").split()[0] for w in _EMOTION_WORDS.split())
# Words a long object is cut before ("... some people [in my vegan diet group]").
_BREAKS = frozenset("to for and with in on at of from by that which who while after before during".split())
_TRAILING = frozenset(
    "a an the of to in on at for with and or from by their my our about into as just too also really so even still "
    "though".split()
)
# Where an event's clause ends: a comma, semicolon, colon (not inside "CS:GO"), bracket, or a dash.
_CLAUSE_BREAK = re.compile(r"[,;()]|:(?!\w)|\s[-–—]+\s|(?<=\w)[-–—]+\s|\s[-–—]+(?=\w)")
# Words after which "I" opens a clause of its own; after any other word it opens a relative clause ("the book I
# read last year", "the support I got"), whose verb is not an event of its own.
_OPENERS = frozenset(
    """and but so because cause cuz then also plus or yet now today yesterday tonight recently lately finally
    actually well oh yeah yes yep anyway anyways honestly luckily fortunately unfortunately sadly thankfully hey hi
    guess basically seriously ago week weekend month year night morning afternoon evening time too btw after before
    while until till""".split()
)
# Verbs complete without an object when a date says when ("I graduated last week").
_COMPLETE = frozenset(
    """graduated won camped hiked volunteered competed performed danced surfed skied swam travelled traveled
    jogged kayaked fished snorkeled""".split()
)
_LAST_WORD = re.compile(r"([\w']+)[^\w']*$")


def _opens_clause(sentence: str, start: int) -> bool:
    """True when the "I" at ``start`` opens a clause rather than a relative clause about a thing."""
    prefix = sentence[:start].rstrip()
    if not prefix or not prefix[-1].isalnum():
        return True
    last = _LAST_WORD.search(prefix)
    if last is not None and last.group(1).lower() in _OPENERS:
        return True
    return _lead_time(sentence, start) is not None or _TELLING.search(prefix + " ") is not None


def _clause(rest: str) -> str:
    """``rest`` up to the end of its clause."""
    cut = _CLAUSE_BREAK.search(rest)
    return rest[: cut.start()] if cut else rest


def _object(clause: str, verb: str) -> str | None:
    """The clause after the verb, cleaned and in the third person ("" when only a time expression follows the
    verb); None when it is negated, points at the conversation or names a feeling rather than an event."""
    if not clause.strip(" .!") or TIME.fullmatch(clause.strip(" .!")):
        return ""
    obj = _clean_object(clause, MAX_SCAN_WORDS, _REJECT_OBJECT)
    if obj is None or _NEGATION.search(obj):
        return None
    if obj.count('"') % 2:
        obj = obj.replace('"', "")
    reject = _REJECT_AFTER_RE.get(verb)
    if reject is not None and reject.match(obj):
        return None
    if obj.split()[0].lower() in _EMOTIONS:
        return None  # "I got nervous", "I was thrilled": a feeling, not an event
    return obj


def _shortened(obj: str) -> str | None:
    """``obj`` cut to :data:`MAX_EVENT_WORDS` at a phrase boundary, without trailing function words; None when
    nothing concrete is left ("back", "there")."""
    words = obj.split()
    if len(words) > MAX_EVENT_WORDS:
        words = words[:MAX_EVENT_WORDS]
        cut = max((i for i, w in enumerate(words) if i >= 3 and w.lower() in _BREAKS), default=len(words))
        words = words[:cut]
    while words and words[-1].lower() in _TRAILING:
        words.pop()
    if all(w.lower().strip(".,!?'\"") in _VAGUE for w in words):
        return None
    return " ".join(words)


def _lead_time(sentence: str, start: int) -> re.Match[str] | None:
    """A time expression right before the statement at ``start`` ("Last night I ...", "Yesterday, I ...")."""
    prefix = sentence[:start]
    last = None
    for match in TIME.finditer(prefix):
        last = match
    if last is not None and not prefix[last.end() :].strip(" ,"):
        return last
    return None


def _statement(match: re.Match[str], sentence: str) -> tuple[str, str, str, InsightKind, float] | None:
    """(head, verb key, rest of the sentence, kind, confidence) of the statement ``match`` opens, or None."""
    verb = match.group("verb").lower()
    rest = sentence[match.end() :]
    adverbs = set(match.group("adv").lower().split())
    if match.group("ve"):
        if verb == "been":
            nxt = re.match(r"\s+(?P<ing>[a-z]+ing)\b", rest, _F)
            if nxt is not None and nxt.group("ing").lower() in _ING:
                ing = nxt.group("ing").lower()
                return f"Has been {ing}", ing, rest[nxt.end() :], InsightKind.FACT, ACTIVITY_CONFIDENCE
            if re.match(r"\s+to\s", rest, _F):
                return "Has been", "been", rest, InsightKind.FACT, EVENT_CONFIDENCE
            return None
        if verb in _PARTICIPLES and verb not in ("got", "had"):
            return f"Has {verb}", verb, rest, InsightKind.FACT, EVENT_CONFIDENCE
        return None
    if match.group("m"):
        if verb not in _ING:
            return None
        if verb == "going":
            # "I'm going to a conference" (a plan); "I'm going to try" is a goal the goal rules read
            if not re.match(r"\s+to\s+(?:a|an|the|my|our|(?-i:[A-Z]))", rest, _F):
                return None
            if TIME.search(_clause(rest)) is None and _PLAN_TIME.search(_clause(rest)) is None:
                return None  # "I'm going to the gym": a passing remark; a plan says when
            return "Is going", verb, rest, InsightKind.GOAL, PLAN_CONFIDENCE
        if verb == "planning" and re.match(r"\s+(?:to|on)\b", rest, _F):
            return None
        return f"Is {verb}", verb, rest, InsightKind.FACT, ACTIVITY_CONFIDENCE
    if match.group("was"):
        if verb in ("at", "in") or verb in _PASSIVE:
            return f"Was {verb}", verb, rest, InsightKind.FACT, EVENT_CONFIDENCE
        return None
    if verb in _PAST:
        return verb.capitalize(), verb, rest, InsightKind.FACT, EVENT_CONFIDENCE
    if verb in _HABIT:
        frequent = sorted(adverbs & _FREQUENCY_ADV)
        if not frequent and _FREQUENCY.search(_clause(rest)) is None:
            return None
        head = f"{frequent[0].capitalize()} {_third(verb)}" if frequent else _third(verb).capitalize()
        return head, verb, rest, InsightKind.FACT, ACTIVITY_CONFIDENCE
    return None


def _render(
    head: str, verb: str, rest: str, lead: re.Match[str] | None, said: date | None, *, company: str = ""
) -> str | None:
    """The insight's text: the head, the object and, when a time expression in the object (or ``lead``) can be
    resolved, its date at the end (an unresolvable one stays as written); None when no usable object.
    ``company``: with whom the user did it ("with others" for "we", "with their wife"), added unless the object
    says with whom."""
    obj = _object(_clause(rest), verb)
    if obj is None:
        return None
    inner = TIME.search(obj) if obj else TIME.search(_clause(rest))
    match = inner or lead
    when = resolve(match, said) if match is not None and said is not None else None
    if when is not None and inner is not None and obj:
        obj = _SPACES.sub(" ", obj[: inner.start()] + " " + obj[inner.end() :]).strip(" ,")
    elif when is None and inner is None and lead is not None:
        when = _SPACES.sub(" ", lead.group(0).lower())  # "last Friday" said on a Saturday: as written
    short = _shortened(obj) if obj else ""
    if short is None or (not short and (verb not in _COMPLETE or not when)):
        return None
    if re.search(r"\b(?:with|together)\b", short, _F):
        company = ""
    return " ".join(part for part in (head, short, company, when) if part)


def _second(rest: str) -> tuple[str, str] | None:
    """(verb, rest) of a second past event joined by "and" in the clause ``rest``, if any."""
    for match in _AND_VERB.finditer(_clause(rest)):
        verb = match.group("verb").lower()
        if verb in _PAST:
            return verb, rest[match.end() :]
    return None


def _dropped_events(sentence: str, said: date | None) -> Iterator[_Finding]:
    """Events whose "I" is left out at the sentence's start ("Just got back from Oslo!")."""
    dropped = _DROPPED.match(sentence)
    if dropped is None or not sentence[:1].isupper():
        return
    verb = dropped.group("verb").lower()
    rest = sentence[dropped.end() :]
    adverb = bool(dropped.group("adv").strip())
    if dropped.group("been"):
        if verb in _ING:
            text = _render(f"Has been {verb}", verb, rest, None, said)
            if text is not None:
                yield _Finding(InsightKind.FACT, text, ACTIVITY_CONFIDENCE)
        return
    timed = TIME.search(_clause(rest)) is not None
    if verb in _PAST and (
        (adverb and verb not in ("read", "did")) or (verb not in _NOT_DROPPED and (timed or verb not in _NEEDS_TIME))
    ):
        text = _render(verb.capitalize(), verb, rest, None, said)
        if text is not None:
            yield _Finding(InsightKind.FACT, text, EVENT_CONFIDENCE)


def _unblocked(sentence: str, start: int) -> bool:
    """True unless the statement at ``start`` is hypothetical, quoted or reported (telling news is not)."""
    telling = _TELLING.search(sentence[:start])
    if telling is not None:
        sentence, start = sentence[: telling.start()] + sentence[start:], telling.start()
    return not _blocked(sentence, start)


def _people_events(sentence: str, said: date | None) -> Iterator[_Finding]:
    """What the user says their family, friends or pets did or like, with them as the subject ("Their son
    started ballet", "Their kids love the beach")."""
    for match in _MY_PEOPLE.finditer(sentence):
        start = match.start()
        if not _opens_clause(sentence, start) or not _unblocked(sentence, start):
            continue
        verb = match.group("verb").lower()
        be = (match.group("be") or "").lower()
        if be and verb not in _ING and verb != "learning":
            continue
        if not be and verb not in _PAST and verb not in _PEOPLE_LIKE:
            continue
        who = match.group("who").lower()
        if _ME_AND.search(sentence[:start]):  # "Me and my sister started a bakery": the user's event too
            if not be and verb in _PAST:
                text = _render(
                    verb.capitalize(),
                    verb,
                    sentence[match.end() :],
                    _lead_time(sentence, start),
                    said,
                    company=f"with their {who}",
                )
                if text is not None:
                    yield _Finding(InsightKind.FACT, text, EVENT_CONFIDENCE)
            continue
        head = _SPACES.sub(" ", f"Their {match.group('who')}{match.group('adv')} {be} {verb}")
        text = _render(head, verb, sentence[match.end() :], _lead_time(sentence, start), said)
        if text is not None:
            yield _Finding(InsightKind.RELATIONSHIP, text, PEOPLE_CONFIDENCE)


def _sentence_events(sentence: str, said: date | None) -> Iterator[_Finding]:
    if _QUESTION_END.search(sentence):
        return
    yield from _dropped_events(sentence, said)
    yield from _people_events(sentence, said)
    for match in _EVENT.finditer(sentence):
        start = match.start()
        if not _opens_clause(sentence, start) or not _unblocked(sentence, start):
            continue
        found = _statement(match, sentence)
        if found is None:
            continue
        head, verb, rest, kind, confidence = found
        joint = _WITH_MY.search(sentence[:start])
        company = "with others" if match.group("we") else f"with their {joint.group('who').lower()}" if joint else ""
        lead = _lead_time(sentence, start)
        text = _render(head, verb, rest, lead, said, company=company)
        if text is None and not match.group("ve") and not match.group("m") and not match.group("was"):
            second = _second(rest)  # "I took your advice and watched it last night" -> "Watched ..."
            if second is not None:
                verb, rest = second
                text = _render(verb.capitalize(), verb, rest, lead, said, company=company)
        if text is not None:
            yield _Finding(kind, text, confidence)


def event_findings(text: str, said: date | None) -> Iterator[_Finding]:
    """Every event, activity or plan stated in ``text`` (already prepared: see :func:`.sentences._prepare`),
    with relative dates resolved against ``said`` (the day the message was written; None: left as written).

    Only the user's own words are read (:func:`.sentences.own_words`: not text pasted to be worked on)."""
    for sentence in _sentences(own_words(text)):
        yield from _sentence_events(sentence, said)
