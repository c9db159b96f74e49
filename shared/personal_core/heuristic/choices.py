"""Choices among offered options: "I'll go with option 2" or "The mountain cabin sounds perfect" right after the
assistant listed options becomes "Chose: <that option>" (what was chosen, not its number).

Only a choice that resolves against the options of the assistant message just before it is learned: a number
must name one of its items, a described choice must share most of its content words with exactly one item.
Without such a list (or with a negated sentence: "option 2 doesn't appeal to me") nothing is learned, and a
statement about an option's number is never kept on its own ("Thinks that option 2 is best" says nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from ..model import InsightKind
from .builders import _Finding
from .sentences import _QUESTION_END, _SPACES, _sentences
from .slots import object_slot
from .vocabulary import _F

#: Most options read from one assistant message.
MAX_OPTIONS = 12
#: Most words of a chosen option kept in the insight.
MAX_CHOICE_WORDS = 20

_ITEM = re.compile(r"^\s*(?:\(?(\d{1,2})[.):]|[-*•])\s+(.+?)\s*$", re.MULTILINE)
_MARKUP = re.compile(r"\*\*|__|`")
_LEAD = re.compile(
    r"^(?:(?:let's|let\s+us|i\s+(?:would\s+)?(?:recommend|suggest)|(?:you|i|we)\s+(?:could|might|can|should)(?:\s+also)?|"
    r"consider|how\s+about|perhaps|maybe|option\s+\d+\s*[:-])\s+)+",
    _F,
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6}
_NUMBER_REF = re.compile(
    r"\b(?:option|choice|suggestion)\s*(?:#\s*)?(?P<n>\d{1,2})\b|"
    r"\bthe\s+(?P<ord>first|second|third|fourth|fifth|sixth|last)\s+(?:option|one|choice|suggestion|idea)\b",
    _F,
)
_CHOOSING = re.compile(
    r"\b(?:go(?:ing)?\s+with|choose|chose|pick|picked|take|opt\s+for|prefer|like|love|sounds|seems|looks|"
    r"would\s+be|is\s+(?:the\s+)?(?:best|most|ideal|perfect|right)|works|appeals|fits|suits)\b",
    _F,
)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|n't)\b|n't\b", _F)
# A described choice: "<X> sounds perfect", "I think <X> would be ideal", "I'll go with <X>".
_DESCRIBED = re.compile(
    r"^(?:(?:i\s+think|i\s+believe|i\s+feel\s+like|honestly|well|hmm|ok|okay)[,\s]+)*"
    r"(?:(?:i'll|i\s+will|i'd|i\s+would|let's)\s+(?:go\s+with|choose|pick|take|opt\s+for)\s+(?P<x1>.{3,160}?)"
    r"(?=[.,;!]|\s+(?:because|since|as|for)\b|$)|"
    r"(?P<x2>.{3,160}?)\s+(?:sounds|seems|looks|would\s+be|is)\s+(?:like\s+)?(?:just\s+|really\s+|absolutely\s+)?"
    r"(?:perfect|ideal|great|good|best|the\s+best|a\s+great|the\s+ideal|more\s+appealing|most\s+appealing|the\s+right|"
    r"the\s+most|amazing|wonderful|right\s+up\s+my\s+alley|a\s+(?:good|better|great)\s+(?:choice|fit|option))\b|"
    r"(?P<x3>.{3,160}?)\s+(?:would\s+)?works?\s+(?:best|better|well)\s+for\s+me\b)",
    _F,
)
_STOP = frozenset(
    """the a an and or of in on at to for with by from my me i it its this that these those is are be would
    sounds seems looks like think option options one which some any very really more most great perfect ideal
    best go will i'll i'd let's""".split()
)
_WORD = re.compile(r"[\w'-]+")


_INLINE_ITEM = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)]\s+(.+?)(?=\s+\d{1,2}[.)]\s|$)", re.DOTALL)
_OFFER = re.compile(
    r"\b(?:you\s+(?:could|can|might)(?:\s+(?:also|either|try))?|options\s+(?:include|are)|consider|"
    r"how\s+about|there's|there\s+is)\s+(?P<list>[^.!?]{10,600}?,[^.!?]*\bor\s+[^.!?]+)",
    _F,
)
_LIST_SPLIT = re.compile(r"\s*,\s*(?:or\s+|and\s+)?|\s+or\s+", _F)
_NUMBER_MARK = re.compile(r"\s*\((\d{1,2})\)")


def _listed(text: str) -> list[str]:
    """Items of a list written on lines ("1. ...", "- ...") or inline ("1. A. 2. B."), in order."""
    items = [m.group(2) for m in _ITEM.finditer(text)]
    if len(items) >= 2:
        return items
    flat = _SPACES.sub(" ", text)
    numbered = [(int(m.group(1)), m.group(2)) for m in _INLINE_ITEM.finditer(flat)]
    if len(numbered) >= 2 and [n for n, _ in numbered] == list(range(1, len(numbered) + 1)):
        return [item for _, item in numbered]
    offer = _OFFER.search(flat)
    if offer is None:
        return []
    return [_NUMBER_MARK.sub("", part) for part in _LIST_SPLIT.split(offer.group("list"))]


def options_in(text: str) -> list[str]:
    """The options an assistant message offers, in order (at most :data:`MAX_OPTIONS`): a numbered or bulleted
    list, or one sentence listing alternatives ("You could A, B, or C"); empty when it offers fewer than two."""
    items = [_MARKUP.sub("", item).strip(" .") for item in _listed(text)[:MAX_OPTIONS]]
    items = [item for item in items if len(item.split()) >= 2]
    return items if len(items) >= 2 else []


def _render(option: str) -> str | None:
    text = _SPACES.sub(" ", option)
    text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".!? ")
    text = _LEAD.sub("", text).strip()
    words = text.split()
    if len(words) < 2:
        return None
    return " ".join(words[:MAX_CHOICE_WORDS])


def _content(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def _described(phrase: str, options: Sequence[str]) -> int | None:
    """The index of the one option ``phrase`` describes (most of its content words), or None."""
    words = _content(phrase)
    if len(words) < 1:
        return None
    fits = []
    for i, option in enumerate(options):
        shared = words & _content(option)
        if len(shared) >= max(1, (len(words) + 1) // 2):
            fits.append((len(shared), i))
    fits.sort(reverse=True)
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        return None
    return fits[0][1]


def _chosen(sentence: str, options: Sequence[str]) -> int | None:
    if _QUESTION_END.search(sentence) or _NEGATION.search(sentence):
        return None
    ref = _NUMBER_REF.search(sentence)
    if ref is not None:
        if not _CHOOSING.search(sentence):
            return None
        if ref.group("n"):
            n = int(ref.group("n"))
        else:
            word = ref.group("ord").lower()
            n = len(options) if word == "last" else _ORDINALS[word]
        return n - 1 if 1 <= n <= len(options) else None
    described = _DESCRIBED.match(sentence)
    if described is None:
        return None
    return _described(described.group("x1") or described.group("x2") or described.group("x3"), options)


# "The superhero movies don't really appeal to me", "The other options seem a bit too dry for my taste": what the
# user turns down while choosing.
_SUBJECT = r"^(?:(?:but|and|however|though|also)[,\s]+)*(?:the|those|these|all\s+the)\s+(?P<x>[^,.;:!?]{2,100}?)\s+"
_TURNED_DOWN = re.compile(
    _SUBJECT + r"(?:(?:just|really|quite|honestly|simply|generally)\s+)?(?:don't|do\s+not|doesn't|does\s+not|dont)\s+"
    r"(?:(?:really|quite|exactly|particularly|seem\s+to)\s+)?(?:appeal\s+to\s+me|interest\s+me|suit\s+me|"
    r"sound\s+(?:appealing|interesting|fun)|seem\s+(?:appealing|interesting)|excite\s+me|speak\s+to\s+me)\b",
    _F,
)
_TOO = re.compile(
    _SUBJECT + r"(?:(?:all|both|just|really)\s+)?(?:seem|seems|sound|sounds|are|is|feel|feels|look|looks|"
    r"tend\s+to\s+be|might\s+be|would\s+be)\s+(?:(?:a\s+bit|a\s+little|way|much|far|just|rather|slightly)\s+)?"
    r"too\s+(?P<adj>[^.;!?]{2,60}?)(?:\s+for\s+(?:my\s+[\w\s]{2,30}|me|us|tonight|now|today|(?:this|the)\s+[\w\s]{2,20}))?"
    r"(?:\s+(?:right\s+now|tonight|today|at\s+the\s+moment))?\s*(?=[.,;!?]|$)",
    _F,
)
_GENERIC = frozenset(
    "other others options option ones choices choice suggestions suggestion ideas alternatives".split()
)


def _subject(raw: str) -> tuple[str, bool]:
    """The turned-down subject without "other" (and whether anything but "options" is left)."""
    words = [w for w in raw.split() if w.lower() != "other"]
    return " ".join(words), any(w.lower() not in _GENERIC for w in words)


def _turned_down(sentence: str) -> _Finding | None:
    if _QUESTION_END.search(sentence):
        return None
    match = _TURNED_DOWN.match(sentence)
    if match is not None:
        subject, specific = _subject(match.group("x"))
        if not specific:
            return None
        return _Finding(InsightKind.PREFERENCE, f"Dislikes {subject}", 0.6, None, object_slot("taste", subject))
    match = _TOO.match(sentence)
    if match is None:
        return None
    subject, specific = _subject(match.group("x"))
    adj = _SPACES.sub(" ", match.group("adj")).strip()
    if len(adj.split()) > 8:
        return None
    text = f"Finds {subject} too {adj}" if specific else f"Dislikes options that are too {adj}"
    return _Finding(InsightKind.PREFERENCE, text, 0.6)


def choice_findings(content: str, options: Sequence[str]) -> Iterator[_Finding]:
    """ "Chose: <option>" for the first sentence of a user message that picks one of ``options``, and what the
    message turns down ("Dislikes <the options named>", "Finds <them> too <adjective>")."""
    if not options:
        return
    chosen = False
    for sentence in _sentences(content):
        if not chosen:
            index = _chosen(sentence, options)
            if index is not None:
                chosen = True
                text = _render(options[index])
                if text is not None:
                    yield _Finding(InsightKind.PREFERENCE, f"Chose: {text}", 0.6, None, object_slot("choice", text))
                continue
        finding = _turned_down(sentence)
        if finding is not None:
            yield finding


_OPTION_TEXT = re.compile(
    r"\b(?:option|choice|suggestion)\s*#?\s*\d|\b(?:first|second|third|fourth|fifth|last)\s+(?:option|choice)\b", _F
)


def names_an_option_number(text: str) -> bool:
    """True when an insight's text is about a numbered option ("Thinks that option 2 is the most effective")."""
    return _OPTION_TEXT.search(text) is not None
