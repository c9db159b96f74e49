"""UserModeler end to end on a real embedded Chroma in a temp dir (heuristic reasoner, hashing embedder)."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from personal_core import (
    EmbedderMismatchError,
    HashingEmbedder,
    InsightKind,
    Message,
    Role,
    UserModeler,
)

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def test_two_users_get_heuristic_insights_with_kinds_and_evidence(modeler: UserModeler) -> None:
    ann = modeler.observe(
        "ann",
        [
            Message(id="a1", user_id="ann", role=Role.USER, content="I love hiking in the Alps."),
            Message(id="a2", user_id="ann", role=Role.ASSISTANT, content="You love rock climbing too, right?"),
            Message(id="a3", user_id="ann", role=Role.USER, content="I'm allergic to peanuts."),
        ],
    )
    assert [m.id for m in ann] == ["a1", "a2", "a3"]
    modeler.observe("bob", [{"id": "b1", "role": "user", "content": "I want to learn the piano."}])

    ann_insights = {i.text: i for i in modeler.user_model("ann").insights}
    hiking = next(i for t, i in ann_insights.items() if "hiking" in t.lower())
    assert hiking.kind is InsightKind.PREFERENCE and hiking.evidence == ["a1"]
    allergy = next(i for t, i in ann_insights.items() if "peanut" in t.lower())
    assert allergy.kind is InsightKind.FACT and allergy.evidence == ["a3"]
    assert not any("climbing" in t.lower() for t in ann_insights), "assistant text must not become a user insight"

    bob = modeler.user_model("bob")
    assert [(i.kind, i.evidence) for i in bob.insights] == [(InsightKind.GOAL, ["b1"])]
    assert "piano" in bob.insights[0].text.lower()

    ann_ctx = modeler.context("ann", "what snacks should I buy?", max_tokens=300)
    assert "peanut" in ann_ctx.text.lower() and "piano" not in ann_ctx.text.lower()
    assert set(ann_ctx.evidence) <= {"a1", "a2", "a3"}
    bob_ctx = modeler.context("bob", "piano lessons", max_tokens=300)
    assert "piano" in bob_ctx.text.lower() and "peanut" not in bob_ctx.text.lower()


def test_many_users_randomized_isolation(modeler: UserModeler) -> None:
    rng = random.Random(7)
    users = [f"user-{i}" for i in range(25)] + ["Ann", "ann", "ann ", "用户", "$ne", "a/b"]
    owned: dict[str, set[str]] = {u: set() for u in users}
    for step in range(300):
        user = rng.choice(users)
        mid = f"m{step}"
        secret = f"secret{step}x"
        modeler.observe(user, [{"id": mid, "role": "user", "content": f"I love {secret} and I live in {user} town"}])
        owned[user].add(mid)
    for _ in range(200):
        user = rng.choice(users)
        ctx = modeler.context(user, rng.choice(["love", "town", "secret", ""]), max_tokens=rng.choice([80, 300, 2000]))
        for item in ctx.items:
            assert set(item.evidence) <= owned[user]
            if item.source == "message":
                assert item.id in owned[user]
        mine = {f"secret{m[1:]}x" for m in owned[user]}
        foreign = [w for w in ctx.text.split() if w.startswith("secret") and w.strip('".,') not in mine]
        assert not foreign, f"{user!r} saw {foreign}"
        for hit in modeler.search(user, "secret", k=50):
            assert hit.insight.user_id == user and set(hit.insight.evidence) <= owned[user]
        exported = modeler.export(user)
        assert {m["id"] for m in exported["messages"]} == owned[user]


def test_close_and_reopen_restores_the_same_model(backend: Backend) -> None:
    with UserModeler(**backend.where(), embedder=HashingEmbedder(), shards=4) as m:
        m.observe("ann", [{"role": "user", "content": "My name is Ann. I prefer green tea over coffee."}])
        m.add_insight("ann", "Plays chess on Sundays", InsightKind.FACT, confidence=0.8)
        before = m.user_model("ann")
        before_ctx = m.context("ann", "tea", max_tokens=400)
    with UserModeler(**backend.where()) as m:  # embedder comes from the store's pin
        assert m.embedder.name == "hashing-v1-256"
        assert m.user_model("ann") == before
        assert m.context("ann", "tea", max_tokens=400).text == before_ctx.text
        assert m.stats()["journal_pending"] == 0


def test_reopen_before_flush_replays_the_journal(store_path: Path) -> None:
    # Embedded only: reopening the path replays its journal file (server mode's crashed-client journals are
    # adopted instead: tests/core/test_server_mode.py).
    m = UserModeler(store_path, embedder=HashingEmbedder(), flush_interval=3600)
    m.observe("ann", [{"id": "x", "role": "user", "content": "I'm a nurse and I love jazz."}])
    before = m.user_model("ann")
    m.internals.flusher.stop()  # simulate a process that never flushed: the journal alone holds the writes
    m.internals.journal.close()
    m.internals.store.close()
    with UserModeler(store_path, embedder=HashingEmbedder()) as again:
        assert again.user_model("ann") == before
        assert [x.id for x in again.messages("ann")] == ["x"]


def test_different_embedder_is_refused(backend: Backend) -> None:
    with UserModeler(**backend.where(), embedder=HashingEmbedder(256)) as m:
        m.observe("ann", [{"role": "user", "content": "I love tea"}])
    with pytest.raises(EmbedderMismatchError, match="hashing-v1-256"):
        UserModeler(**backend.where(), embedder=HashingEmbedder(128))
    with UserModeler(**backend.where(), embedder=HashingEmbedder(256)) as m:  # the failed open left the store usable
        assert m.user_model("ann").insights


def test_forget_removes_everything(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": "s1", "role": "user", "content": "My name is Ann. I love zanzibarfood."}])
    modeler.observe("bob", [{"id": "s2", "role": "user", "content": "I love cycling."}])
    modeler.flush_writes()
    modeler.observe("ann", [{"id": "s3", "role": "user", "content": "I hate quuxwidgets."}])  # still journaled
    modeler.forget("ann")
    assert modeler.export("ann") == {"user_id": "ann", "card": [], "summary": "", "insights": [], "messages": []}
    assert modeler.user_model("ann").insights == [] and modeler.messages("ann") == []
    assert modeler.search("ann", "zanzibarfood") == []
    assert modeler.context("ann", "zanzibarfood").text == ""
    assert modeler.internals.store.load_user("ann") == [] and modeler.internals.journal.for_user("ann") == []
    assert modeler.user_model("bob").insights, "forgetting ann must not touch bob"


def test_forget_survives_reopen(backend: Backend) -> None:
    with UserModeler(**backend.where(), embedder=HashingEmbedder()) as m:
        m.observe("ann", [{"role": "user", "content": "I love hiking."}])
        m.flush_writes()
        m.forget("ann")
    with UserModeler(**backend.where(), embedder=HashingEmbedder()) as m:
        assert m.export("ann")["insights"] == [] and m.export("ann")["messages"] == []


def test_observe_is_idempotent_per_message_id(modeler: UserModeler) -> None:
    msg = {"id": "same", "role": "user", "content": "I love sailing."}
    assert len(modeler.observe("ann", [msg])) == 1
    assert modeler.observe("ann", [msg]) == []
    assert len(modeler.messages("ann")) == 1
    assert [i.times_seen for i in modeler.user_model("ann").insights] == [1]


def test_repeated_statement_reinforces_instead_of_duplicating(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": "1", "role": "user", "content": "I love sailing."}])
    modeler.observe("ann", [{"id": "2", "role": "user", "content": "I love sailing!"}])
    insights = modeler.user_model("ann").insights
    assert len(insights) == 1
    assert insights[0].times_seen == 2 and insights[0].evidence == ["1", "2"]
    assert insights[0].confidence > 0.8


def test_search_kinds_and_sessions(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"role": "user", "content": "I want to visit Japan."}], session_id="s1")
    modeler.observe("ann", [{"role": "user", "content": "I love ramen."}], session_id="s2")
    goals = modeler.search("ann", "japan ramen", k=5, kinds=["goal"])
    assert [h.insight.kind for h in goals] == [InsightKind.GOAL]
    assert [m.session_id for m in modeler.messages("ann")] == ["s1", "s2"]
    assert [m.content for m in modeler.messages("ann", session_id="s2")] == ["I love ramen."]
    assert modeler.delete_session("ann", "s1") == 1
    assert [m.session_id for m in modeler.messages("ann")] == ["s2"]
    assert len(modeler.user_model("ann").insights) == 2, "deleting a session keeps the user model"


def test_message_times_become_insight_validity(modeler: UserModeler) -> None:
    when = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
    modeler.observe("ann", [{"id": "d1", "role": "user", "content": "I love painting.", "created_at": when}])
    (insight,) = modeler.user_model("ann").insights
    assert insight.valid_from == when
    assert "2023-05-08" in modeler.context("ann", "painting").text


def test_add_insight_validates_evidence(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": "e1", "role": "user", "content": "hello there"}])
    added = modeler.add_insight("ann", "Speaks Portuguese", "knowledge", evidence=["e1"])
    assert added.kind is InsightKind.KNOWLEDGE and added.evidence == ["e1"]
    from personal_core import InvalidInputError

    with pytest.raises(InvalidInputError, match="evidence"):
        modeler.add_insight("ann", "Speaks Greek", "knowledge", evidence=["not-a-message"])
    with pytest.raises(InvalidInputError, match="kind"):
        modeler.add_insight("ann", "Speaks Greek", "language")


async def test_async_twins(modeler: UserModeler) -> None:
    await modeler.aobserve("ann", [{"role": "user", "content": "I love opera."}])
    ctx = await modeler.acontext("ann", "music", max_tokens=200)
    assert "opera" in ctx.text.lower()
    hits = await modeler.asearch("ann", "opera")
    assert hits and "opera" in hits[0].insight.text.lower()
    assert (await modeler.auser_model("ann")).insights
    assert (await modeler.aexport("ann"))["messages"]
    await modeler.aforget("ann")
    assert (await modeler.aexport("ann"))["insights"] == []


def test_context_can_exclude_messages_already_in_the_prompt(modeler: UserModeler) -> None:
    # Plain remarks, so no insight cites them (a message a chosen insight cites is not quoted again).
    modeler.observe("ann", [{"id": "old", "role": "user", "content": "kayaking trips, huh"}], session_id="s1")
    modeler.observe("ann", [{"id": "now", "role": "user", "content": "kayaking again tomorrow"}], session_id="s2")
    assert not modeler.user_model("ann").insights
    quoted = {i.id for i in modeler.context("ann", "kayaking", max_tokens=500).items if i.source == "message"}
    assert quoted == {"old", "now"}
    by_id = modeler.context("ann", "kayaking", max_tokens=500, exclude_message_ids=["now"])
    assert {i.id for i in by_id.items if i.source == "message"} == {"old"}
    by_session = modeler.context("ann", "kayaking", max_tokens=500, exclude_sessions=["s1"])
    assert {i.id for i in by_session.items if i.source == "message"} == {"now"}


def test_delete_messages_and_closed_flag(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": f"d{i}", "role": "user", "content": f"note {i}"} for i in range(3)])
    assert modeler.delete_messages("ann", ["d1", "missing"]) == 1
    assert [m.id for m in modeler.messages("ann")] == ["d0", "d2"]
    assert not modeler.closed
