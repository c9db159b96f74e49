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
