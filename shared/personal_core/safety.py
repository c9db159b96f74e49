"""Guards on what may enter a user's model, and defusing of what is rendered from it.

Every check runs on the text's *skeleton* (:func:`personal_core.text.skeleton`): invisible characters dropped
(Unicode tag characters read as the ASCII they hide), NFKC, look-alike letters mapped to Latin, digits inside
words read as letters. So "SY\\u200bSTEM:", "ЅYSTEM:" (Cyrillic Ѕ), "ａｄｍｉｎ" and "r00t" are caught like
their plain spellings. What is stored and rendered is the flattened text (:func:`personal_core.text.flatten`):
the same text without invisible characters, on one line, in NFKC.

- :func:`card_entry_allowed`: the card (standing facts, rendered first) refuses instructions, role labels,
  privilege claims and the block's delimiters.
- :func:`insight_text_allowed` / :func:`defuse`: insight text may state claims ("Claims to be an admin"), but
  not delimiters or role labels; ``defuse`` rewrites them harmlessly, the guard says whether there were any.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .text import flatten, fold, folded, skeleton

#: Role names that could pass for a turn of the conversation when followed by a colon.
ROLES = r"system|assistant|developer|tool|user|human"
_PRIVILEGED_ROLE = r"admin\w*|root|superuser|owner|operator|moderator|staff|developer|verified|trusted|privileged"
_PRIVILEGED_VERB = (
    r"approve|grant|access|override|bypass|issue|authori[sz]e|refund|transfer|withdraw|delete|modify|change|"
    r"view|see|read|disclose|reveal|unlock|escalate|elevate|execute|run|sign|waive|release|manage|administer|"
    r"raise|lift|remove|disable|use\s+(?:admin|any|all|other)"
)
_RULES = (
    r"rules?|instructions?|guidelines?|guidance|policy|policies|safeguards?|filters?|guardrails?|restrictions?|"
    r"constraints?|limitations?|directives?|prompts?|programming|training"
)

#: Text that must never reach the card, whatever produced it (the heuristic, an LLM, or a crafted message):
#: instructions to the model, role labels, privileges, and look-alikes of the context block's tags. Match it
#: against :func:`personal_core.text.skeleton` of the text (as :func:`card_entry_allowed` does).
CARD_FORBIDDEN = re.compile(
    r"|".join(
        [
            # instructions aimed at the model
            r"\b(?:ignore|disregard|override|bypass|jailbreak|obey|comply\s+with)\b",
            r"\bsystem\s+prompt\b|\binstructions?\s+above\b|\bprevious\s+instructions?\b|\bdeveloper\s+mode\b",
            r"\bfollow\s+(?:my|his|her|their|the\s+user'?s?|these|all)\s+(?:instructions|orders|commands)\b",
            rf"\b(?:forget|discard|abandon|drop|skip|overlook|neglect|cancel|nullify|void|revoke|suspend|lift|"
            rf"disable|set\s+aside|throw\s+out|pay\s+no\s+attention\s+to)\s+(?:\w+\s+){{0,3}}?(?:{_RULES})\b",
            r"\byou\s+(?:are|will|must|shall|should)\s+now\b|\bfrom\s+now\s+on\s+you\b",
            r"\bpretend\s+(?:to\s+be|you\s+are)\b|\bact\s+as\s+(?:if|though)\s+you\b",
            r"\b(?:new|updated|real|actual|hidden|secret)\s+(?:system\s+)?(?:instructions|directives)\b",
            # role labels that could pass for a turn of the conversation
            rf"(?:^|[\s\[(])(?:{ROLES})\s*:",
            # privileges
            r"\b(?:superuser|sudo|unrestricted|root\s+(?:access|privileges?|rights|user|shell))\b",
            r"\badmin\b",
            r"\badministrator\s+(?:rights|access|privileges|mode|of\s+(?:this|the)\s+(?:system|app|chat|bot|"
            r"assistant|model|service))\b",
            r"\b(?:is|am|be|as)\s+(?:an?\s+|the\s+)?(?:administrator|root|superuser)\s*(?:[.,;!]|$)",
            r"\b(?:role|access|permission|privilege)s?\s*[:=]",
            rf"\b(?:authori[sz]ed|permitted|allowed|entitled|cleared|empowered)\s+to\s+(?:{_PRIVILEGED_VERB})\b",
            rf"\btreat(?:ed)?\s+(?:\w+\s+){{0,3}}?as\s+(?:an?\s+|the\s+)?(?:\w+\s+)?(?:{_PRIVILEGED_ROLE}|"
            r"administrator)\b",
            r"\bhas\s+(?:full|complete|total|elevated|unlimited|privileged|administrative|super(?:user)?)\s+"
            r"(?:access|permissions?|privileges?)\b",
            r"\b(?:elevated|escalated|administrative|superuser)\s+(?:privileges?|permissions?|rights|access)\b",
            # the context block's delimiters
            r"<\s*/?\s*user[\s_\-]*context",
        ]
    ),
    re.IGNORECASE,
)

#: Look-alikes of the context block's delimiters: ``<user_context>`` / ``</user_context>`` in any case, spacing
#: or width, with or without the ``<`` or ``>``. Match on folded text (:func:`personal_core.text.fold`).
TAG_LIKE = re.compile(
    r"<\s*/?\s*user[\s_\-]*context\b\s*>?|/\s*user[\s_\-]*context\s*>?|\buser_context\s*>", re.IGNORECASE
)
#: A role label anywhere ("SYSTEM:", "assistant :"); on folded text.
ROLE_LABEL = re.compile(rf"(?<!\w)({ROLES})\s*:", re.IGNORECASE)
#: What a defused delimiter look-alike becomes.
DEFUSED_TAG = "[user_context]"


def card_entry_allowed(text: str) -> bool:
    """False for card entries that try to plant instructions, role labels, privileges or delimiters (checked on
    the skeleton, so invisible characters, look-alike letters and leetspeak do not get them through). Store the
    allowed entry as ``flatten(text)``."""
    return not CARD_FORBIDDEN.search(skeleton(text))


def insight_text_allowed(text: str) -> bool:
    """False for insight text holding a delimiter look-alike or a role label (on its skeleton, hidden tag text
    included). Privilege words are fine in an insight ("Claims to be an admin"); the card guard refuses them."""
    seen = skeleton(text, leet=False)
    return not (TAG_LIKE.search(seen) or ROLE_LABEL.search(seen))


def replace_folded(text: str, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> str:
    """``text`` with each match of ``pattern`` *on its folded form* replaced by ``repl(match)``; the rest of
    ``text`` is kept as it is (look-alike letters outside matches are not rewritten)."""
    if not pattern.search(folded(text)):
        return text
    form, index = fold(text)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(form):
        if match.start() == match.end():
            continue
        start, end = index[match.start()], index[match.end() - 1] + 1
        out.append(text[last:start])
        out.append(repl(match))
        last = end
    out.append(text[last:])
    return "".join(out)


def defuse_tags(flat: str) -> str:
    """A flattened text with delimiter look-alikes replaced by :data:`DEFUSED_TAG`."""
    return replace_folded(flat, TAG_LIKE, lambda m: DEFUSED_TAG)


def defuse_roles(flat: str) -> str:
    """A flattened text with role labels ("SYSTEM:") rewritten as "SYSTEM -": no longer a turn's label."""
    return replace_folded(flat, ROLE_LABEL, lambda m: f"{m.group(1)} -")


def defuse(text: str) -> str:
    """``text`` made safe to store or render as an insight: flattened (one line, no invisible characters,
    NFKC), delimiter look-alikes and role labels rewritten. Idempotent; ``insight_text_allowed`` holds after."""
    return defuse_roles(defuse_tags(flatten(text)))


# ==============================================================================================================
# Prompt injection and privilege claims, as refused by the heuristic reasoner (kept here with the card guards).
# ==============================================================================================================

#: A message matching this looks like prompt injection: the heuristic reasoner learns nothing from it.
PROMPT_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|overrule)\b[^.!?\n]{0,80}?\b(?:instructions?|rules?|"
    r"prompts?|guidelines?|directives?|system|programming|constraints?|restrictions?|policy|policies)\b"
    r"|\bsystem\s*prompt\b|\bjailbreak|\bdeveloper\s+mode\b|\bDAN\s+mode\b|\byou\s+are\s+now\b"
    r"|\bnew\s+instructions?\b|\bfrom\s+now\s+on\s+you\s+(?:are|will\s+be|must\s+obey)\b"
    r"|\bact\s+as\s+(?:an?\s+|the\s+)?(?:admin|administrator|root|system|developer)\b"
    r"|\b(?:record|store|save|remember|note|log|write\s+down|add)\s+(?:down\s+)?that\s+(?:I\s+am|I'm|Im)\s+"
    r"(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser|owner|developer|moderator|verified|authori[sz]ed)"
    r"|<\s*/?\s*(?:system|instructions?|user_context)\s*>",
    re.IGNORECASE,
)
#: Cheap lower-case substrings, one of which every :data:`PROMPT_INJECTION` match contains (a fast pre-check).
INJECTION_HINTS: tuple[str, ...] = tuple(
    "ignor|disregard|forget|overrid|bypass|overrul|system|jailbreak|developer|dan mode|you are now|instruction|"
    "act as|admin|root|superuser|owner|moderator|verified|authori|<".split("|")
)
#: A claimed role that would grant privileges ("an admin", "the system"): never learnt as a job or a workplace.
PRIVILEGED_ROLE = re.compile(
    r"^(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser|super\s+user|sysadmin|system|moderator|owner|"
    r"operator|developer\s+of\s+(?:this|the)\s+\w+)$",
    re.IGNORECASE,
)


def looks_like_injection(text: str) -> bool:
    """True when ``text`` looks like an attempt to instruct the model or claim privileges through the user model."""
    low = text.lower()
    return any(hint in low for hint in INJECTION_HINTS) and PROMPT_INJECTION.search(text) is not None
