"""Closed vocabularies of the heuristic reasoner: limits, word lists and the regex pieces built from them."""

from __future__ import annotations

import re

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
    r"generally|usually|mostly|simply|quite|deeply|sincerely|secretly|now|currently|strongly|strictly|greatly|"
    r"intensely|adamantly|utterly|completely|firmly|much)\s+)*"
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
_LANGUAGE_WORDS = (
    "english french german spanish italian portuguese dutch swedish norwegian danish finnish polish czech "
    "slovak russian ukrainian greek turkish arabic hebrew hindi bengali urdu chinese mandarin cantonese "
    "japanese korean vietnamese thai indonesian malay tagalog filipino swahili romanian hungarian catalan "
    "persian farsi icelandic irish welsh croatian serbian bulgarian estonian latvian lithuanian esperanto "
    "latin british_english american_english simple_english plain_english brazilian_portuguese"
)
_LANGUAGES = _alt(_LANGUAGE_WORDS)
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
