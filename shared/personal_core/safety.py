"""Guards on what may enter a user's card (the part of the model rendered first, as standing facts)."""

from __future__ import annotations

import re

#: Text that must never reach the card, whatever produced it (the heuristic, an LLM, or a crafted message):
#: instructions to the model, role labels, privileges, and look-alikes of the context block's tags.
CARD_FORBIDDEN = re.compile(
    r"|".join(
        [
            # instructions aimed at the model
            r"\b(?:ignore|disregard|override|bypass|jailbreak|obey|comply\s+with)\b",
            r"\bsystem\s+prompt\b|\binstructions?\s+above\b|\bprevious\s+instructions?\b|\bdeveloper\s+mode\b",
            r"\bfollow\s+(?:my|his|her|their|the\s+user'?s?|these|all)\s+(?:instructions|orders|commands)\b",
            # role labels that could pass for a turn of the conversation
            r"(?:^|[\s\[(])(?:system|assistant|developer|tool)\s*:",
            # privileges
            r"\b(?:superuser|sudo|unrestricted|root\s+(?:access|privileges?|rights|user|shell))\b",
            r"\badmin\b",
            r"\badministrator\s+(?:rights|access|privileges|mode|of\s+(?:this|the)\s+(?:system|app|chat|bot|"
            r"assistant|model|service))\b",
            r"\b(?:is|am|be|as)\s+(?:an?\s+|the\s+)?(?:administrator|root|superuser)\s*(?:[.,;!]|$)",
            r"\b(?:role|access|permission|privilege)s?\s*[:=]",
            # the context block's delimiters
            r"<\s*/?\s*user_context",
        ]
    ),
    re.IGNORECASE,
)


def card_entry_allowed(text: str) -> bool:
    """False for card entries that try to plant instructions, role labels or privileges."""
    return not CARD_FORBIDDEN.search(text)


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
