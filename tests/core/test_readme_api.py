"""README's API table matches the real signatures of ``UserModeler`` (names, order, keyword-only-ness, defaults).

A call in the table is written as Python: ``name(a, b=1, *, c=None, ...)``. A trailing ``...`` means "more
parameters exist" (the shown ones must then appear in the same order, possibly with others between); without it
the shown parameters are all of them. A shown default must be the real one; a parameter shown without a default
must have none.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

from personal_core import UserModeler

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| call | what it does |"
CALL = re.compile(r"`([A-Za-z_]\w*)\((.*?)\)`")
_MISSING = object()


def api_calls(text: str) -> list[tuple[str, str]]:
    """``(name, parameters)`` of every call in the first column of the API table."""
    lines = text.splitlines()
    start = lines.index(HEADER)
    calls: list[tuple[str, str]] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        calls.extend(CALL.findall(first))
    return calls


def _shown(params: str) -> tuple[list[tuple[str, bool, Any]], bool]:
    """``[(name, keyword_only, default or _MISSING)]`` of a shown parameter list, and whether it ends in ``...``."""
    partial = params.strip() == "..." or params.rstrip().endswith(", ...")
    params = re.sub(r",?\s*\.\.\.\s*$", "", params.strip())
    func = ast.parse(f"def f({params}): pass").body[0]
    assert isinstance(func, ast.FunctionDef)
    args = func.args
    positional = args.posonlyargs + args.args
    defaults: list[Any] = [_MISSING] * (len(positional) - len(args.defaults)) + [
        ast.literal_eval(d) for d in args.defaults
    ]
    shown = [(a.arg, False, d) for a, d in zip(positional, defaults, strict=True)]
    shown += [
        (a.arg, True, _MISSING if d is None else ast.literal_eval(d))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    return shown, partial


def mismatches(name: str, params: str, cls: type = UserModeler) -> list[str]:
    """What is wrong with the table's ``name(params)`` compared with ``cls``'s real signature."""
    target = cls.__init__ if name == cls.__name__ else getattr(cls, name, None)
    if target is None or name.startswith("_"):
        return [f"{name}: no such public method of {cls.__name__}"]
    real = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    by_name = {p.name: p for p in real}
    shown, partial = _shown(params)
    problems: list[str] = []
    names = [n for n, _, _ in shown]
    order = [p.name for p in real if p.name in names]
    if [n for n in names if n in by_name] != order:
        problems.append(f"{name}: parameters shown in the order {names}, real order {[p.name for p in real]}")
    if not partial and names != [p.name for p in real]:
        problems.append(f"{name}: shows {names}, real {[p.name for p in real]} (end with ', ...' to abridge)")
    for param, keyword_only, default in shown:
        actual = by_name.get(param)
        if actual is None:
            problems.append(f"{name}: no parameter {param!r}")
            continue
        if keyword_only != (actual.kind is inspect.Parameter.KEYWORD_ONLY):
            where = "keyword-only" if actual.kind is inspect.Parameter.KEYWORD_ONLY else "positional"
            problems.append(f"{name}: {param!r} is {where} (put it {'after' if keyword_only is False else 'before'} *)")
        has_default = actual.default is not inspect.Parameter.empty
        if default is _MISSING and has_default:
            problems.append(f"{name}: {param!r} has the default {actual.default!r}; show it")
        elif default is not _MISSING and not has_default:
            problems.append(f"{name}: {param!r} has no default, the table shows {default!r}")
        elif default is not _MISSING and default != actual.default:
            problems.append(f"{name}: {param!r} defaults to {actual.default!r}, the table shows {default!r}")
    return problems


def test_the_api_table_matches_the_signatures() -> None:
    calls = api_calls(README.read_text(encoding="utf-8"))
    assert len(calls) >= 15, calls
    problems = [problem for name, params in calls for problem in mismatches(name, params)]
    assert problems == [], "README's API table is out of date:\n" + "\n".join(problems)


def test_the_public_methods_are_in_the_table() -> None:
    shown = {name for name, _ in api_calls(README.read_text(encoding="utf-8"))}
    public = {
        name
        for name, member in inspect.getmembers(UserModeler, inspect.isfunction)
        if not name.startswith("_") and not (name.startswith("a") and name[1:] in dir(UserModeler))
    }
    assert public - shown == set(), "public UserModeler methods missing from README's API table"


def test_the_check_catches_what_the_table_used_to_get_wrong() -> None:
    """The table once showed keyword-only parameters positionally and a wrong default: both are caught."""
    assert mismatches("add_insight", "user_id, text, kind, confidence=0.9, evidence=()") == [
        "add_insight: shows ['user_id', 'text', 'kind', 'confidence', 'evidence'], real "
        "['user_id', 'text', 'kind', 'confidence', 'level', 'evidence'] (end with ', ...' to abridge)",
        "add_insight: 'kind' has the default <InsightKind.FACT: 'fact'>; show it",
        "add_insight: 'confidence' is keyword-only (put it after *)",
        "add_insight: 'evidence' is keyword-only (put it after *)",
    ]
    assert mismatches("context", 'user_id, query="", max_tokens=500') == [
        "context: shows ['user_id', 'query', 'max_tokens'], real ['user_id', 'query', 'max_tokens', "
        "'include_superseded', 'include_messages', 'exclude_message_ids', 'exclude_sessions'] (end with ', ...' to "
        "abridge)",
        "context: 'max_tokens' defaults to None, the table shows 500",
    ]
    assert mismatches("search", "user_id, query, *, k=10, ...") == ["search: 'k' is positional (put it before *)"]
    assert mismatches("recall", "user_id") == ["recall: no such public method of UserModeler"]


def test_every_method_has_an_async_twin() -> None:
    text = README.read_text(encoding="utf-8")
    assert "every method has an async twin" in text
    methods = {name for name, _ in api_calls(text)} - {"UserModeler"}
    assert {name for name in methods if not callable(getattr(UserModeler, f"a{name}", None))} == set()
