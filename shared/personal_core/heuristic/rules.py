"""The rules as data: patterns tried after "I ...", "my ..." and "call me", and their dispatch table."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..model import InsightKind
from .builders import (
    _BELIEF_VERBS,
    _GOAL_VERBS,
    _LIKE_VERBS,
    _REJECT_BELIEF,
    _REJECT_BELIEF_THAT,
    _REJECT_FROM,
    _REJECT_GOAL,
    _REJECT_GOING,
    _REJECT_PREFERENCE,
    _REJECT_PRONOUN_START,
    _REJECT_STUDY,
    _STATUSES,
    _age,
    _allergy_builder,
    _degree_builder,
    _diet_builder,
    _dislike_builder,
    _emotion_builder,
    _favorite_builder,
    _fixed,
    _goal_noun_builder,
    _learning_builder,
    _name_builder,
    _occupation_builder,
    _relationship_have,
    _relationship_named,
    _Rule,
    _rule,
    _skill_builder,
    _taste_slot,
    _template,
    _trait_render,
    _work_builder,
)
from .changes import _CHANGE_RULES, _relationship_apposition, _residence
from .sentences import _SPACES
from .slots import AGE, JOB
from .stances import MY_STANCE_RULES, STANCE_RULES, _joined
from .vocabulary import (
    _ADV,
    _EMO_ADV,
    _EMOTION_WORDS,
    _EMOTIONS,
    _F,
    _IM,
    _IVE,
    _OBJ,
    _OCCUPATIONS,
    _REL_MODS,
    _RELS_ANY,
    _RELS_SINGULAR,
    _RELS_SINGULAR_WORDS,
    _TRAIT_ADJ_WORDS,
    _TRAIT_ADJS,
    _TRAIT_ADV,
    _TRAIT_NOUNS,
    _alt,
)


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
    "completely lately utterly adamantly greatly intensely much"
)
_HEAD = re.compile(
    r"I(?:(?P<m>'m\b|\s+am\b|m\b)|(?P<ve>'ve\b|ve\b)|(?P<d>'d\b|\s+would\b))?(?:\s+" + _SKIP + r"\b)*\s+"
    r"(?P<head>[\w'-]+)",
    _F,
)
_EMOTION_KEYS = "m:a m:kind m:sort m:more ve:been :have :feel " + _head_keys("m", _EMOTION_WORDS)
_TRAIT_KEYS = "m:a m:an m:kind m:sort m:such " + _head_keys("m", _TRAIT_ADJ_WORDS)


# Rules tried where the sentence says "I ..." (I, I'm, I've, I'd ...).
_I_RULES: tuple[_Rule, ...] = (
    # identity facts
    _rule(_IM + r"\s+(?:also\s+)?(?:called|known\s+as)\s+" + _OBJ, _name_builder(True), "m:called m:known"),
    _rule(r"\bI\s+go\s+by\s+" + _OBJ, _name_builder(True), ":go"),
    _rule(
        _IM + r"\s+(?P<age>\d{1,3})\s*(?:years?|yrs?)(?:\s+old|\s+of\s+age)\b|" + _IM + r"\s+(?P<age2>\d{1,3})\s*"
        r"(?:yo|y/o|y\.o\.?)(?!\w)",
        _fixed(InsightKind.FACT, 0.9, _age, card=True, slot=AGE),
        "m:#",
    ),
    _rule(
        r"\bI\s+(?:just\s+|recently\s+)?turned\s+(?P<age>\d{1,3})\b(?!\s*(?:%|percent|degrees|minutes|hours|days))",
        _fixed(InsightKind.FACT, 0.85, _age, card=True, slot=AGE),
        ":turned",
    ),
    _rule(
        r"\bI\s+(?:currently\s+|now\s+|still\s+|also\s+|actually\s+)?live\s+in\s+" + _OBJ,
        _residence(0.85),
        ":live",
    ),
    _rule(
        _IM + r"\s+(?:currently\s+|now\s+|also\s+|actually\s+)?(?:living|based|located)\s+in\s+" + _OBJ,
        _residence(0.85),
        "m:living m:based m:located",
    ),
    _rule(
        r"\bI(?:'ve|\s+have|ve)?\s+(?:just\s+|recently\s+|finally\s+|also\s+)?moved\s+to\s+" + _OBJ,
        _residence(0.8, move=True),
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
        _IM + r"\s+(?:(?:now|currently|recently|happily|finally)\s+)?(?P<status>retired|unemployed|between\s+jobs)\b",
        _fixed(
            InsightKind.FACT,
            0.85,
            lambda m: _STATUSES[_SPACES.sub(" ", m.group("status").lower())],
            card=True,
            slot=JOB,
        ),
        "m:retired m:unemployed m:between",
    ),
    _rule(
        _IM + r"\s+(?:(?:now|currently|recently|also|happily|finally)\s+)?(?P<status>self-employed|self\s+employed)\b",
        _fixed(InsightKind.FACT, 0.85, lambda m: _STATUSES[_SPACES.sub(" ", m.group("status").lower())], card=True),
        "m:self-employed m:self",
    ),
    _rule(
        _IM + r"\s+(?:(?:very|severely|highly|extremely|really|also|deathly|slightly|mildly|super|quite|a\s+bit|"
        r"a\s+little)\s+)*allergic\s+to\s+" + _OBJ,
        _allergy_builder,
        "m:allergic m:a",
    ),
    _rule(
        _IVE + r"\s+(?:a\s+|an\s+)?(?:(?:severe|mild|serious|bad|slight)\s+)?"
        r"(?=(?!(?:(?:a|an)\s+)?(?:severe|mild|serious|bad|slight|strong|deadly|life-threatening|food)\s+allerg)"
        r"(?!(?:a|an)\s+allerg)"
        r"(?P<obj>[\w -]{1,40}?)\s+allerg(?:y|ies)\b)",
        _allergy_builder,
        ":have ve:a ve:an ve:severe ve:mild ve:serious ve:bad ve:slight",
    ),
    # "I have a severe allergy to shellfish"
    _rule(
        _IVE + r"\s+(?:a\s+|an\s+)?(?:(?:severe|mild|serious|bad|slight|strong|deadly|life-threatening|food)\s+)*"
        r"allerg(?:y|ies)\s+to\s+" + _OBJ,
        _allergy_builder,
        ":have ve:a ve:an ve:severe ve:mild ve:serious ve:bad ve:slight ve:strong ve:deadly ve:life-threatening "
        "ve:food ve:allergy ve:allergies",
    ),
    _rule(
        _IM + r"\s+(?:(?:a|an|also|now|fully|completely)\s+)*(?:(?P<q>mostly|strictly)\s+)?"
        r"(?:(?:strict|ethical|committed|lifelong|practicing|practising|devoted)\s+)?(?P<diet>vegetarian|"
        r"vegan|pescatarian|pescetarian|kosher|halal|gluten-free|gluten\s+free|lactose[-\s]intolerant|celiac|"
        r"coeliac|diabetic)\b",
        _diet_builder,
        "m:a m:an m:vegetarian m:vegan m:pescatarian m:pescetarian m:kosher m:halal m:gluten-free m:gluten m:lactose "
        "m:lactose-intolerant m:celiac m:coeliac m:diabetic",
    ),
    # "I follow a strict gluten-free and dairy-free diet", "I'm on a low-sodium diet": a standing constraint
    _rule(
        r"(?:\bI\s+(?:(?:strictly|also|now|still|always|currently|mostly)\s+)?(?:follow|keep|stick\s+to|maintain)|"
        + _IM
        + r"\s+(?:(?:also|now|still|currently)\s+)?on)\s+(?:a|an)\s+(?P<what>(?:[\w-]+,?\s+){1,6}?)diet\b",
        _fixed(
            InsightKind.PREFERENCE,
            0.85,
            lambda m: f"Follows a {_SPACES.sub(' ', m.group('what')).strip().rstrip(',').lower()} diet",
            card=True,
        ),
        ":follow :keep :stick :maintain :strictly :also :now :still :always :currently :mostly m:on m:also m:now "
        "m:still m:currently",
    ),
    # preferences
    _rule(
        r"\bI\s+" + _ADV + r"(?P<verb>like|love|enjoy|adore)\s+" + _OBJ,
        _template(
            InsightKind.PREFERENCE, "{verb} {obj}", 0.8, reject=_REJECT_PREFERENCE, verbs=_LIKE_VERBS, slot=_taste_slot
        ),
        ":like :love :enjoy :adore",
    ),
    _rule(
        _IVE + r"\s+always\s+(?P<verb>like|love|enjoy|adore)(?:d|ed)?\s+" + _OBJ,
        _template(
            InsightKind.PREFERENCE, "{verb} {obj}", 0.8, reject=_REJECT_PREFERENCE, verbs=_LIKE_VERBS, slot=_taste_slot
        ),
        "ve:liked ve:loved ve:enjoyed ve:adored :have",
    ),
    _rule(
        r"\bI\s+"
        + _ADV
        + r"(?:(?:do\s+not|don't|dont|did\s+not|didn't|didnt|never)\s+"
        + _ADV
        + r"(?:liked?|enjoy(?:ed)?|loved?|care\s+for)|no\s+longer\s+(?:like|enjoy|love|care\s+for)|hate|dislike|"
        r"detest|loathe|despise|abhor|"
        r"(?:can't|cannot|can\s+not|cant)\s+(?:stand|bear))\s+" + _OBJ,
        _dislike_builder,
        ":don't :dont :did :didn't :didnt :not :no :never :hate :dislike :detest :loathe :despise :abhor :can't "
        ":cannot :can :cant",
    ),
    _rule(
        _IM + r"\s+not\s+(?:a\s+|really\s+|very\s+)?(?:(?:big|huge|great)\s+)?(?:fan\s+of|into)\s+" + _OBJ,
        _dislike_builder,
        "m:not",
    ),
    _rule(
        r"\bI\s+" + _ADV + r"prefer\s+" + _OBJ,
        _joined(_template(InsightKind.PREFERENCE, "Prefers {obj}", 0.8, reject=_REJECT_PREFERENCE)),
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
        + r")\b(?!(?<=happy)\s+to\b)(?!(?<=glad)\s+to\b)"
        # "scared of dogs" is a fear (see changes.py), not a passing "Feels scared"
        + r"(?!(?<=scared)\s+of\b)(?!(?<=terrified)\s+of\b)(?!(?<=frightened)\s+of\b)"
        + r"(?:\s+(?P<prep>about|with|because\s+of)\s+"
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
    *_CHANGE_RULES,
    *STANCE_RULES,
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
        r"\bmy\s+(?P<mods>" + _REL_MODS + r")(?P<rel>" + _RELS_SINGULAR + r")\s+(?=(?P<obj>(?-i:[A-Z])[\w'-]*"
        r"(?:\s+(?-i:[A-Z])[\w'-]*)?)(?![\w-]))",
        _relationship_apposition,
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
    *MY_STANCE_RULES,
)

_CALL_RULES: tuple[_Rule, ...] = (_rule(r"\bcall\s+me\s+" + _OBJ, _name_builder(True)),)

_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|greetings|good\s+(?:morning|afternoon|evening))(?:\s+there)?[\s,!.]+"
    r"I(?:'m|\s+am)\s+" + _OBJ,
    _F,
)
