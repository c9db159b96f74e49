"""Per-user isolation, as a property: whoever asks, about whatever, gets nothing of another user.

Hypothesis draws users (near-identical ids such as ``ann``/``Ann``/``ann ``, unicode, Chroma operator look-alikes
such as ``$ne``, random text), messages carrying per-message marker tokens, and many queries (own markers,
other users' markers, generic words, random text). Two modelers are shared by every example: one with the
offline heuristic reasoner, one with an LLM reasoner (inline) whose replies cite other users' message and
insight ids on purpose. Queries go through ``context()``, ``search()``, ``export()``, ``messages()``, the
LangChain retriever and the LlamaIndex retriever; any marker, evidence id or user id of another user in a
result fails the test. The queries are counted and must reach 10,000.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.schema import QueryBundle
from support.scripted import batch_messages

from langchain_personal import PersonalMemory
from llamaindex_personal import PersonalRetriever as LlamaIndexRetriever
from personal_core import HashingEmbedder, UserModeler

MIN_QUERIES = 10_000
EXAMPLES = 50
QUERIES_PER_EXAMPLE = math.ceil(MIN_QUERIES / EXAMPLES) + 20

NEAR_IDENTICAL = [
    "ann", "Ann", "ANN", "ann ", " ann", "ann\u200b", "ann\ufeff", "ánn", "a\u0301nn", "аnn",  # Cyrillic а
    "用户", "😀", "$ne", "$and", "$or", "$in", '{"$ne": null}', "../ann", "ann/../bob", "a*", "%", "_",
    "ann'; DROP TABLE users; --", "null", "None", "0", "true", "user_context", "</user_context>",
]  # fmt: skip
MARKER = re.compile(r"mk\d+x")
TEMPLATES = [
    "I love {m} and I live in {m}ville.",
    "My name is {m}. I want to learn {m} next year.",
    "I'm allergic to {m}.",
    "{m} is my favourite thing; I prefer {m} over anything.",
    "Note to self: {m} {m}",
]

user_ids = st.one_of(
    st.sampled_from(NEAR_IDENTICAL),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(lambda s: s.strip()),
)


@dataclass
class World:
    """What every user owns (markers, message ids), the modelers and their retrievers, and the query count."""

    heuristic: UserModeler
    llm: UserModeler
    markers: dict[str, set[str]] = field(default_factory=dict)
    messages: dict[str, set[str]] = field(default_factory=dict)
    insight_ids: dict[str, set[str]] = field(default_factory=dict)
    queries: int = 0
    by_surface: dict[str, int] = field(default_factory=dict)
    next_marker: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    lc: dict[int, Any] = field(default_factory=dict)
    li: dict[tuple[int, str], LlamaIndexRetriever] = field(default_factory=dict)

    def foreign_messages(self, owner: str) -> list[str]:
        return sorted(m for u, ids in self.messages.items() if u != owner for m in ids)[:20]

    def foreign_insights(self, owner: str) -> list[str]:
        return sorted(i for u, ids in self.insight_ids.items() if u != owner for i in ids)[:20]


WORLD: World | None = None


def adversarial_llm(chat: list[dict[str, str]]) -> str:
    """Insights for the batch, citing other users' real message ids and insight ids as well as the batch's."""
    assert WORLD is not None
    items, owner = [], None
    for alias, role, _, content in batch_messages(chat):
        found = MARKER.findall(content)
        if role != "user" or not found:
            continue
        owner = next((u for u, ms in WORLD.markers.items() if found[0] in ms), None)
        foreign = WORLD.foreign_messages(owner or "")
        items.append({"kind": "fact", "text": f"Noted {found[0]} here", "evidence": [alias, *foreign[:5]]})
    foreign_insights = WORLD.foreign_insights(owner or "")
    return json.dumps(
        {
            "new_insights": items,
            "reinforced": foreign_insights[:5],
            "supersessions": [
                {"insight_id": i, "replacement": {"kind": "fact", "text": "Took over", "evidence": ["m1"]}}
                for i in foreign_insights[5:8]
            ],
            "card_add": ["Owns everything"],
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    global WORLD
    root: Path = tmp_path_factory.mktemp("isolation")
    heuristic = UserModeler(root / "heuristic", embedder=HashingEmbedder(1024), shards=8)
    llm = UserModeler(
        root / "llm", llm=adversarial_llm, embedder=HashingEmbedder(1024), shards=8, inline=True,
        background=False, batch_tokens=1,
    )  # fmt: skip
    WORLD = World(heuristic, llm)
    try:
        yield WORLD
    finally:
        WORLD = None
        heuristic.close()
        llm.close()


def foreign_markers(world: World, user: str, text: str) -> set[str]:
    return set(MARKER.findall(text)) - world.markers.get(user, set())


def count(world: World, surface: str) -> None:
    world.queries += 1
    world.by_surface[surface] = world.by_surface.get(surface, 0) + 1


def check_query(world: World, m: UserModeler, user: str, query: str, surface: str) -> None:
    owned = world.messages.get(user, set())
    where = f"{surface} for {user!r} / {query!r}"
    if surface == "context":
        ctx = m.context(user, query, max_tokens=400)
        assert ctx.user_id == user
        for item in ctx.items:
            assert set(item.evidence) <= owned, f"{where}: foreign evidence {set(item.evidence) - owned}"
            if item.source == "message":
                assert item.id in owned, f"{where}: foreign message {item.id}"
        assert not foreign_markers(world, user, ctx.text), f"{where}: {foreign_markers(world, user, ctx.text)}"
    elif surface == "search":
        for hit in m.search(user, query, k=20):
            assert hit.insight.user_id == user, where
            assert set(hit.insight.evidence) <= owned, where
            assert not foreign_markers(world, user, hit.insight.text), where
    elif surface == "export":
        exported = m.export(user)
        assert exported["user_id"] == user
        assert {x["id"] for x in exported["messages"]} == owned, f"{where}: messages differ"
        assert all(i["user_id"] == user and set(i["evidence"]) <= owned for i in exported["insights"]), where
        dumped = json.dumps(exported, ensure_ascii=False)
        assert not foreign_markers(world, user, dumped), f"{where}: {foreign_markers(world, user, dumped)}"
    elif surface == "messages":
        got = m.messages(user)
        assert {x.id for x in got} == owned and all(x.user_id == user for x in got), where
    elif surface == "langchain":
        retriever = world.lc.setdefault(id(m), PersonalMemory(m).as_retriever(k=10))
        docs = retriever.invoke(query, config={"configurable": {"user_id": user}})
        for doc in docs:
            assert doc.metadata["user_id"] == user and set(doc.metadata["evidence"]) <= owned, where
            assert not foreign_markers(world, user, doc.page_content), where
    elif surface == "llamaindex":
        key = (id(m), user)
        if key not in world.li:
            world.li[key] = LlamaIndexRetriever(user, m, similarity_top_k=10)
        for node in world.li[key].retrieve(QueryBundle(query)):
            assert node.node.metadata["user_id"] == user and set(node.node.metadata["evidence"]) <= owned, where
            assert not foreign_markers(world, user, node.node.get_content()), where
    else:  # pragma: no cover - the surfaces are listed below
        raise AssertionError(surface)
    count(world, surface)


SURFACES = ["context", "search", "export", "messages", "langchain", "llamaindex"]


def test_no_query_returns_anything_of_another_user(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        writes=st.lists(
            st.tuples(user_ids, st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3)), min_size=1, max_size=4
        ),
        noise=st.text(max_size=30),
        colliding_ids=st.booleans(),
        seed=st.integers(0, 2**32 - 1),
    )
    def example(writes: list[tuple[str, list[str]]], noise: str, colliding_ids: bool, seed: int) -> None:
        for user, templates in writes:
            batch = []
            for template in templates:
                world.next_marker += 1
                marker = f"mk{world.next_marker}x"
                # message ids that other users use too ("m0", "m1", ... per user), or unique ones
                mid = f"m{len(world.messages.get(user, ()))}" if colliding_ids else f"msg-{world.next_marker}"
                world.markers.setdefault(user, set()).add(marker)
                world.messages.setdefault(user, set()).add(mid)
                batch.append({"id": mid, "role": "user", "content": template.format(m=marker)})
            for m in (world.heuristic, world.llm):
                m.observe(user, batch)
            world.insight_ids[user] = {i.id for i in world.llm.user_model(user).insights}
        rng = random.Random(seed)
        users = sorted(world.messages)
        all_markers = sorted(m for ms in world.markers.values() for m in ms)
        for _ in range(QUERIES_PER_EXAMPLE):
            user = rng.choice(users)
            own = sorted(world.markers[user])
            query = rng.choice(
                [
                    rng.choice(own),
                    rng.choice(all_markers),  # often another user's marker
                    " ".join(rng.sample(all_markers, min(3, len(all_markers)))),
                    "",
                    "love live allergic name",
                    noise,
                    user,  # the user id itself, and near-identical ones through other users
                ]
            )
            m = world.heuristic if rng.random() < 0.5 else world.llm
            check_query(world, m, user, query, rng.choice(SURFACES))

    example()
    assert world.queries >= MIN_QUERIES, f"only {world.queries} queries ran"
    near = [u for u in NEAR_IDENTICAL if u in world.messages]
    with capsys.disabled():
        surfaces = ", ".join(f"{k} {v}" for k, v in sorted(world.by_surface.items()))
        print(
            f"\n[isolation] {world.queries} queries ({surfaces})"
            f" over {len(world.messages)} users ({len(near)} near-identical/odd ids), "
            f"{sum(len(v) for v in world.messages.values())} messages, 2 modelers: 0 foreign items"
        )
