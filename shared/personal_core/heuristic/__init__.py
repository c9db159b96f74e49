"""The no-LLM reasoner: explicit insights from the user's own self-statements, found with regexes.

Only messages whose role is :attr:`Role.USER` are read; assistant, system and other text is never attributed to
the user. Each sentence is scanned for first-person statements ("I love hiking", "my name is Ann", "I'm allergic
to peanuts") that become short, subject-less third-person insights ("Loves hiking", "Name: Ann", "Allergic to
peanuts"). Identity facts and clearly phrased standing instructions ("always answer in French") also go to the
card. What the user says they did, do or will do ("I just started a pottery class", "We adopted a puppy last
week") becomes a short dated fact. Questions, hypotheticals ("if I liked ..."), reported speech ("you said I ...")
and messages that look like prompt injection yield nothing. Deterministic, pure and fast (precompiled patterns, no I/O).

Single-valued facts carry a ``slot`` ("residence", "name", "job", "diet", "age", "taste:jazz", "fear:dogs",
"favorite:color"): planning lets a later value supersede the current holder of its slot, so "I moved to Lisbon"
replaces "Lives in Porto" and "I don't like jazz anymore" replaces "Loves jazz" (history kept). Standing
instructions of one slot ("instruction:language") replace each other on the card through ``card_remove``.

Modules, each importing only the ones listed before it: ``vocabulary`` (limits, word lists), ``sentences``
(cleaning, sentence splitting, blocking markers), ``objects`` (captured objects and names), ``slots`` (slot
names and the checks that grant one), ``builders`` (findings and how a match becomes one), ``changes`` (rules for
changes of mind and newer statement types), ``stances`` (standing stances: "I avoid ...", "I refuse to ...", "I
only wear ...", "I have a strong aversion to ...", "I find X boring", "I learn best by ..."), ``rules`` (the rule
tables), ``instructions`` (standing instructions), ``choices`` (a choice among the options the assistant just
listed, resolved to what was chosen), ``when`` (relative dates resolved against the day a message was written),
``events`` (first-person events, activities and plans: "I joined a gym last week" -> "Joined a gym in the week
before 2024-05-16"), ``reasoner`` (scanning, merging, :class:`HeuristicReasoner`).
"""

from __future__ import annotations

from .reasoner import HeuristicReasoner
from .vocabulary import MAX_INSIGHTS, MAX_OBJECT_WORDS, MAX_SCAN_CHARS, MAX_SENTENCE_CHARS

__all__ = ["MAX_INSIGHTS", "MAX_OBJECT_WORDS", "MAX_SCAN_CHARS", "MAX_SENTENCE_CHARS", "HeuristicReasoner"]
