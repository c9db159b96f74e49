"""The architecture holds: no import cycles inside the core, adapters use only the core's public names.

(`lint-imports`, run by .ci/run, checks the layer order declared in pyproject.toml.)
"""

from __future__ import annotations

import grimp
import pytest

import personal_core

#: Submodules that are public too: the protocol LLM adapters implement.
PUBLIC_MODULES = {"personal_core.llm"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # imports under TYPE_CHECKING are annotations only (the async twins name their facade's type)
    return grimp.build_graph(
        "personal_core", "langchain_personal", "llamaindex_personal", exclude_type_checking_imports=True
    )


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import cycles."""
    modules = sorted(m for m in graph.modules if m.startswith(package + ".") or m == package)
    edges = {
        m: sorted(d for d in graph.find_modules_directly_imported_by(m) if d in modules and d != package)
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in modules:
        if module not in index and module != package:
            visit(module)
    return found


def test_the_core_has_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph, "personal_core") == []


def test_the_cycle_check_can_fail() -> None:
    fake = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        fake.add_module(name)
    fake.add_import(importer="pkg.a", imported="pkg.b")
    fake.add_import(importer="pkg.b", imported="pkg.a")
    fake.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(fake, "pkg") == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize("adapter", ["langchain_personal", "llamaindex_personal"])
def test_adapters_use_only_the_cores_public_names(graph: grimp.ImportGraph, adapter: str) -> None:
    deep = sorted(
        (module, imported)
        for module in graph.modules
        if module.startswith(adapter)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("personal_core.") and imported not in PUBLIC_MODULES
    )
    assert deep == [], "adapters import `from personal_core import ...` (and the public LLM protocol module) only"


def test_the_public_surface_is_stated_once() -> None:
    assert all(hasattr(personal_core, name) for name in personal_core.__all__)
    assert "public" in (personal_core.__doc__ or "").lower()
