"""Guards on what may enter a user's card (the part of the model rendered first, as standing facts)."""

from __future__ import annotations

import re

#: Text that must never reach the card, whatever produced it (the heuristic, an LLM, or a crafted message).
CARD_FORBIDDEN = re.compile(
    r"\b(?:ignore|disregard|override|bypass|jailbreak|system\s+prompt|instructions?\s+above|previous\s+"
    r"instructions?|developer\s+mode|superuser|sudo|unrestricted|admin(?:istrator)?\s+(?:rights|access|"
    r"privileges|mode)|(?:is|am|be)\s+(?:an?\s+|the\s+)?(?:admin|administrator|root|superuser))\b",
    re.IGNORECASE,
)


def card_entry_allowed(text: str) -> bool:
    """False for card entries that try to plant instructions or privileges."""
    return not CARD_FORBIDDEN.search(text)
