"""PrefEval: does ``context()`` surface a stated (or revealed) preference when a later question needs it?

Run from the repository root (the data is the PrefEval dev split, CC BY-NC 4.0, evaluation only: never copy it into
this repository)::

    python -m benchmarks.prefeval --data ../shared/data/prefeval
    python -m benchmarks.prefeval --data PATH --kinds explicit --fillers 12000 --budgets 500 --embedder minilm
    python -m benchmarks.prefeval --data PATH --topics travel_restaurant --items 5 --modes default,replay,rag

Scenario: for each item (``explicit_preference/TOPIC.json``; ``implicit_preference/choice-based/TOPIC.json``) and
each filler size N (``--fillers``, default 4000,12000,30000 tokens, counted with the project's default token counter)
a fresh user (one user id per item x N, all in one store per mode) says:

* explicit: the ``preference`` as one user turn (message id ``pref``);
* implicit: the choice conversation as four turns: ``query`` (user, ``choice-query``), ``assistant_options``
  (``choice-options``), ``user_selection`` (user, ``choice-selection``), ``assistant_acknowledgment``
  (``choice-ack``);

then whole turns of the real filler conversations (``filtered_inter_turns.json``, user/assistant roles kept, one
session per filler conversation; item n starts at conversation n mod 24 and takes turns in order, skipping a turn
that would overflow N until 90% of N is reached), then asks ``question`` (never observed).

Surfaced = the context for the question holds a target message id (an item's own id, or an insight's evidence).
Targets: explicit -- ``pref``; implicit -- ``choice-selection`` and ``choice-ack``: the user's choice and the
assistant's acknowledgment are the turns that reveal which option (and so which preference) the user holds; the
query and the options list alone reveal nothing. Baselines that return no ids are judged by text (see
:mod:`benchmarks.prefeval.baselines`).

Modes (``--modes``, all by default):

* ``default``: Personal with no LLM (the heuristic reasoner derives during ``observe``).
* ``replay``: Personal with a recorded reasoner (:class:`~benchmarks.prefeval.personal.ReplayReasoner`): when it sees
  the preference turn (implicit: the selection) it writes the item's ``preference`` text as a ``preference``
  insight citing that message -- what a good LLM would do. It never sees the question.
* ``messages``: Personal with derivation off (raw turns ranked and packed by Personal).
* ``rag``, ``recent``, ``langchain``, ``llamaindex``: baselines (:mod:`benchmarks.prefeval.baselines`).

On a miss the harness says why (:mod:`benchmarks.prefeval.outcome`): was the preference learned (a current insight
cites a target)? where did it rank in the full ranking, and how many tokens would have reached it? what filled the
budget instead (tokens by source)? Writes ``prefeval-<embedder>.json`` / ``.md`` / ``.png`` to ``--out``.
"""

from .cli import main

__all__ = ["main"]
