"""Pure query-aware excerpts: a long message is quoted by the sentences that share words with the query.

A message excerpt is evidence by its id; its text is what the LLM reads. A long turn ("Thanks! ... By the way I
adopted a puppy last week. ...") often answers a question in one sentence: quoting only the sentences that
share a content word with the query (in their order, ``...`` marking the cuts) leaves room for more excerpts.
A message with no matching sentence, or whose matching sentences are most of it, is quoted as before.
Work per query is proportional to the candidate excerpts (a few dozen), never to all of a user's messages;
sentence splits and their terms are computed once per message and cached by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from .text import terms

#: Messages shorter than this many characters are always quoted whole.
MIN_TRIM_CHARS = 80
#: A trimmed excerpt must save at least this share of the message's characters, or the whole is quoted.
MIN_SAVING = 0.3
#: Cut marker between kept sentences.
CUT = " ... "

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\s+(?=\[shares a photo)")

Sentences = tuple[tuple[str, frozenset[str]], ...]


def split_sentences(text: str) -> Sentences:
    """``text``'s sentences with their content terms (stemmed, stopwords out); one sentence when short."""
    if len(text) < MIN_TRIM_CHARS:
        return ((text, frozenset()),)
    parts = [p for p in _SENTENCE_END.split(text) if p.strip()]
    return tuple((p.strip(), frozenset(terms(p))) for p in parts)


def kept_sentences(sentences: Sentences, query_terms: Collection[str]) -> tuple[int, ...] | None:
    """Indices of the sentences to quote for ``query_terms``, or ``None`` to quote the message as usual
    (short message, no sentence shares a term with the query, or trimming would save too little)."""
    if len(sentences) < 2 or not query_terms:
        return None
    wanted = set(query_terms)
    kept = tuple(i for i, (_, words) in enumerate(sentences) if words & wanted)
    if not kept:
        return None
    total = sum(len(s) for s, _ in sentences)
    if sum(len(sentences[i][0]) for i in kept) > (1.0 - MIN_SAVING) * total:
        return None
    return kept


def trimmed(sentences: Sentences, kept: Sequence[int]) -> str:
    """The kept sentences in order, with :data:`CUT` where sentences were left out (also at either end)."""
    out: list[str] = []
    previous = -1
    for i in kept:
        if i != previous + 1:
            out.append("..." if not out else CUT.strip())
        out.append(sentences[i][0])
        previous = i
    if previous != len(sentences) - 1:
        out.append("...")
    return " ".join(out)
