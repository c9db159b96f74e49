"""The heuristic reasoner's slots and changes of mind: single-valued facts get a slot, a later value supersedes
the earlier one (history kept), and ambiguous, hypothetical or second-hand statements yield no slotted fact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from personal_core import HashingEmbedder, UserModeler
from personal_core.heuristic import HeuristicReasoner
from personal_core.model import Insight, InsightKind, Message, Role, UserModel
from personal_core.update import ModelUpdate, NewInsight

K = InsightKind


def msg(content: str, msg_id: str = "m1", role: Role = Role.USER) -> Message:
    return Message(id=msg_id, user_id="u1", role=role, content=content)


def derive(*contents: str) -> ModelUpdate:
    return HeuristicReasoner().derive([msg(c, f"m{i + 1}") for i, c in enumerate(contents)])


def pairs(update: ModelUpdate) -> list[tuple[str, str | None]]:
    return [(i.text, i.slot) for i in update.new_insights]


def only(update: ModelUpdate, text: str) -> NewInsight:
    matches = [i for i in update.new_insights if i.text == text]
    assert len(matches) == 1, f"{text!r} not found once in {pairs(update)}"
    return matches[0]


# ------------------------------------------------------------------------------------------- reasoner level


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # residence
        ("I live in Porto.", [("Lives in Porto", "residence")]),
        ("I moved to Lisbon last month.", [("Lives in Lisbon", "residence")]),
        ("I'm based in Berlin.", [("Lives in Berlin", "residence")]),
        ("i live in porto", [("Lives in porto", "residence")]),
        ("I live in Porto with my sister.", [("Lives in Porto", "residence")]),
        # name
        ("My name is Ann.", [("Name: Ann", "name")]),
        ("Actually, call me Annie.", [("Name: Annie", "name")]),
        ("I'm Carl and I'm a pilot.", [("Name: Carl", "name"), ("Works as a pilot", "job")]),
        ("Hello! I'm Maria, nice to meet you.", [("Name: Maria", "name")]),
        # job
        ("I work as a nurse.", [("Works as a nurse", "job")]),
        ("I'm a pilot.", [("Works as a pilot", "job")]),
        ("I quit my job.", [("Left their job", "job")]),
        ("I left my job last week.", [("Left their job", "job")]),
        ("I just lost my job.", [("Lost their job", "job")]),
        ("I got laid off.", [("Lost their job", "job")]),
        ("I'm retired now.", [("Is retired", "job")]),
        # diet
        ("I'm vegetarian.", [("Is vegetarian", "diet")]),
        ("I'm not vegetarian anymore, I eat meat now.", [("Eats meat", "diet")]),
        ("I'm no longer vegan.", [("Is no longer vegan", "diet")]),
        ("I'm not vegetarian.", [("Is not vegetarian", "diet")]),
        ("I don't eat meat.", [("Doesn't eat meat", "diet")]),
        ("I stopped eating meat.", [("Doesn't eat meat", "diet")]),
        ("I don't eat pork.", [("Doesn't eat pork", "food:pork")]),
        ("I can't eat gluten.", [("Can't eat gluten", "food:gluten")]),
        # tastes: one slot per object, the text never keeps the change marker
        ("I love jazz.", [("Loves jazz", "taste:jazz")]),
        ("I don't like jazz anymore.", [("Dislikes jazz", "taste:jazz")]),
        ("I no longer enjoy jazz.", [("Dislikes jazz", "taste:jazz")]),
        ("I'm not into jazz any more.", [("Dislikes jazz", "taste:jazz")]),
        ("I hate the beach.", [("Dislikes the beach", "taste:beach")]),
        ("My favorite color is green now.", [("Favorite color is green", "favorite:color")]),
        # age
        ("I'm 35 years old.", [("Is 35 years old", "age")]),
        # fears keep their object and read as a standing trait
        ("I'm afraid of flying.", [("Is afraid of flying", "fear:flying")]),
        ("I am scared of dogs.", [("Is scared of dogs", "fear:dogs")]),
        ("I'm not afraid of spiders anymore.", [("Is no longer afraid of spiders", "fear:spiders")]),
    ],
)
def test_slotted_statements(content: str, expected: list[tuple[str, str | None]]) -> None:
    assert pairs(derive(content)) == expected


@pytest.mark.parametrize(
    ("content", "kind", "text", "card"),
    [
        ("I have diabetes.", K.FACT, "Has diabetes", True),
        ("I was diagnosed with ADHD last year.", K.FACT, "Has ADHD", True),
        ("I'm afraid of flying.", K.TRAIT, "Is afraid of flying", False),
        ("I am scared of dogs.", K.TRAIT, "Is scared of dogs", False),
        ("I know Python and Rust.", K.KNOWLEDGE, "Knows Python and Rust", False),
        ("I speak French and German fluently.", K.KNOWLEDGE, "Speaks French and German", False),
        ("Remember that I'm training for a triathlon.", K.GOAL, "Is training for a triathlon", False),
        ("My daughter Mia turns 5 next week.", K.RELATIONSHIP, "Has a daughter named Mia", False),
        ("I don't eat meat.", K.PREFERENCE, "Doesn't eat meat", True),
        ("I'm Carl and I'm a pilot.", K.FACT, "Name: Carl", True),
    ],
)
def test_coverage_gaps(content: str, kind: InsightKind, text: str, card: bool) -> None:
    update = derive(content)
    insight = only(update, text)
    assert insight.kind is kind
    assert insight.evidence == ["m1"]
    assert (text in update.card_add) is card


def test_a_fear_is_not_also_a_passing_feeling() -> None:
    assert pairs(derive("I am scared of dogs.")) == [("Is scared of dogs", "fear:dogs")]
    assert [i.text for i in derive("I'm so scared about the exam.").new_insights] == ["Feels scared about the exam"]


@pytest.mark.parametrize(
    "content",
    [
        # other people
        "My friend lives in Paris.",
        "My sister is vegetarian.",
        "My boss quit his job.",
        # hypotheticals, wishes, plans
        "If I lived in Rome I'd be happy.",
        "I wish I lived in Paris.",
        "I'd love to live in Paris.",
        "I'm thinking about moving to Lisbon.",
        "I'm moving to Lisbon next month.",
        "Imagine I quit my job.",
        "If I were vegan, I'd eat tofu.",
        # questions and quotes
        "Do I live in Porto?",
        "Should I quit my job?",
        'He told me "I live in Oslo".',
        "You said I love jazz.",
        # the past, or one day
        "I moved to Faro when I was ten.",
        "I left my job early today.",
        "I quit my job years ago.",
        # ambiguous
        "I no longer live in Porto.",
        "I don't eat meat on Fridays.",
        "I know what you mean.",
        "Since I lost my job at Door Dash, things have been tough.",
        "I know Sarah from work.",
        "I'm Italian and I love pasta.",
        "Being my own boss and doing something I love is awesome.",
        "Summarize DIY like I'm 5 years old.",
    ],
)
def test_no_slotted_fact_about_the_user(content: str) -> None:
    update = derive(content)
    slotted = [(i.text, i.slot) for i in update.new_insights if i.slot is not None]
    assert slotted in ([], [("Loves pasta", "taste:pasta")]), slotted
    assert not any(c.startswith(("Lives in", "Name:", "Left", "Lost", "Is vegan")) for c in update.card_add)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("I'm Emily.", "Emily"),
        ("Hey, I'm Ted and I teach maths.", "Ted"),
        ("I'm Anne-Marie, nice to meet you.", "Anne-Marie"),
        ("I'm Stuck.", None),
        ("I'm Obsessed!", None),
        ("I'm Canadian.", None),
        ("I'm Sorry, I'm late.", None),
        ("I'm Jordan's mom.", None),
        ("i'm carl and i'm a pilot.", None),  # an all-lowercase writer gives no capital to tell a name apart
        ("Yesterday I'm Carl.", None),
    ],
)
def test_names_given_in_passing(content: str, name: str | None) -> None:
    names = [i.text for i in derive(content).new_insights if i.slot == "name"]
    assert names == ([f"Name: {name}"] if name else [])


def test_a_place_that_is_not_named_gets_no_residence_slot() -> None:
    assert pairs(derive("I moved to a new apartment.")) == [("Lives in a new apartment", None)]
    assert pairs(derive("I'm also a photographer.")) == [("Works as a photographer", None)]


def test_changes_within_one_batch_keep_the_latest_value_last_and_on_the_card() -> None:
    update = derive("I live in Porto.", "I moved to Lisbon.", "My name is Ann.", "Call me Annie.")
    assert pairs(update) == [
        ("Lives in Porto", "residence"),
        ("Lives in Lisbon", "residence"),
        ("Name: Ann", "name"),
        ("Name: Annie", "name"),
    ]
    assert update.card_add == ["Lives in Lisbon", "Name: Annie"]


def test_a_value_said_again_after_another_moves_last() -> None:
    update = derive("I live in Porto.", "I moved to Lisbon.", "Actually, I live in Porto again.")
    assert pairs(update) == [("Lives in Lisbon", "residence"), ("Lives in Porto", "residence")]
    assert only(update, "Lives in Porto").evidence == ["m1", "m3"]
    assert update.card_add == ["Lives in Porto"]


def test_standing_instructions_of_one_slot_replace_each_other_on_the_card() -> None:
    update = derive("Please always answer in French.", "From now on answer in English.")
    assert update.new_insights == []
    assert update.card_add == ["Standing instruction: answer in English"]
    assert "Standing instruction: answer in French" in update.card_remove
    assert "Standing instruction: answer in English" not in update.card_remove
    short = derive("Always keep answers short.")
    assert "Standing instruction: keep answers detailed" in short.card_remove
    assert not any("answer in" in c for c in short.card_remove)


def test_unslotted_instructions_remove_nothing() -> None:
    update = derive("Always be honest.")
    assert update.card_add == ["Standing instruction: be honest"]
    assert update.card_remove == []


# ------------------------------------------------------------------------------------------- through UserModeler

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def modeler(tmp_path: Path) -> Iterator[UserModeler]:
    with UserModeler(path=tmp_path / "store", embedder=HashingEmbedder()) as m:
        yield m


def sessions(modeler: UserModeler, user: str, *turns: str) -> UserModel:
    """Each turn observed as its own session, a day apart; returns the user's model."""
    for n, text in enumerate(turns):
        when = (T0 + timedelta(days=n)).isoformat()
        modeler.observe(
            user,
            [
                {"id": f"{user}-{n}-u", "role": "user", "content": text, "created_at": when},
                {"id": f"{user}-{n}-a", "role": "assistant", "content": "Noted.", "created_at": when},
            ],
            session_id=f"s{n}",
        )
    return modeler.user_model(user)


def current(model: UserModel) -> dict[str, Insight]:
    return {i.text: i for i in model.insights if i.is_current}


def superseded(model: UserModel) -> dict[str, Insight]:
    return {i.text: i for i in model.insights if not i.is_current}


def assert_one_current_per_slot(model: UserModel) -> None:
    counts = Counter(i.slot for i in model.insights if i.is_current and i.slot)
    assert all(n == 1 for n in counts.values()), counts


def insight_texts(modeler: UserModeler, user: str, query: str) -> tuple[str, list[str]]:
    ctx = modeler.context(user, query, max_tokens=400)
    return ctx.text, [item.text for item in ctx.items if item.source == "insight"]


@pytest.mark.parametrize(
    ("turns", "old", "new", "query"),
    [
        (("I live in Porto.", "I moved to Lisbon last month."), "Lives in Porto", "Lives in Lisbon", "where do I live"),
        (("My name is Ann.", "Actually, call me Annie."), "Name: Ann", "Name: Annie", "what is my name"),
        (("I love jazz.", "I don't like jazz anymore."), "Loves jazz", "Dislikes jazz", "jazz music"),
        (("I'm vegetarian.", "I'm not vegetarian anymore, I eat meat now."), "Is vegetarian", "Eats meat", "dinner"),
        (("I work as a nurse.", "I quit my job."), "Works as a nurse", "Left their job", "my work"),
        (("I'm afraid of flying.", "I'm not afraid of flying anymore."), "Is afraid of flying", None, "flying"),
    ],
)
def test_a_new_value_supersedes_the_old_one(
    modeler: UserModeler, turns: tuple[str, ...], old: str, new: str | None, query: str
) -> None:
    model = sessions(modeler, "ann", *turns)
    now, gone = current(model), superseded(model)
    new = new or "Is no longer afraid of flying"
    assert new in now and old in gone
    assert old not in now
    assert gone[old].superseded_by == now[new].id
    assert gone[old].valid_to is not None
    assert now[new].slot == gone[old].slot
    assert_one_current_per_slot(model)
    assert not any("anymore" in text.lower() for text in now)
    text, insight_items = insight_texts(modeler, "ann", query)
    assert new in text
    assert old not in insight_items


def test_a_change_of_job_after_leaving(modeler: UserModeler) -> None:
    model = sessions(modeler, "carl", "I'm Carl and I'm a pilot.", "I left my job.", "I'm a teacher now.")
    now = current(model)
    assert {"Name: Carl", "Works as a teacher"} <= set(now)
    assert {"Works as a pilot", "Left their job"} <= set(superseded(model))
    assert_one_current_per_slot(model)


def test_the_same_value_again_reinforces(modeler: UserModeler) -> None:
    model = sessions(modeler, "ann", "I live in Porto.", "I still live in Porto.")
    (porto,) = [i for i in model.insights if i.slot == "residence"]
    assert porto.is_current and porto.times_seen == 2


def test_moving_back_leaves_one_current_residence(modeler: UserModeler) -> None:
    model = sessions(
        modeler, "ann", "I live in Porto.", "I moved to Lisbon.", "I moved back to Porto, I live in Porto."
    )
    assert_one_current_per_slot(model)
    residences = [i.text for i in model.insights if i.is_current and i.slot == "residence"]
    assert residences == ["Lives in Porto"]
    assert "Lives in Lisbon" in superseded(model)


def test_second_hand_and_hypothetical_statements_do_not_supersede(modeler: UserModeler) -> None:
    model = sessions(
        modeler,
        "ann",
        "I live in Porto. My name is Ann.",
        "My friend lives in Paris. If I lived in Rome I'd be happy. Do I live in Porto?",
        'My sister said "call me Bea". I wish I lived in Oslo.',
    )
    assert superseded(model) == {}
    assert {"Lives in Porto", "Name: Ann"} <= set(current(model))
    assert not any(t.startswith("Lives in") and "Porto" not in t for t in current(model))


def test_standing_instruction_changes_reach_the_card(modeler: UserModeler) -> None:
    sessions(modeler, "ann", "Please always answer in French.", "From now on, answer in English.")
    card = modeler.user_model("ann").card
    assert "Standing instruction: answer in English" in card
    assert "Standing instruction: answer in French" not in card


def test_moving_back_within_one_batch_leaves_the_new_value_current(modeler: UserModeler) -> None:
    modeler.observe("ann", [{"id": "1", "role": "user", "content": "I live in Porto."}])
    modeler.observe(
        "ann",
        [
            {"id": "2", "role": "user", "content": "I moved to Lisbon."},
            {"id": "3", "role": "user", "content": "Actually, I live in Porto again."},
        ],
    )
    model = modeler.user_model("ann")
    assert_one_current_per_slot(model)
    assert [(i.text, i.evidence) for i in model.insights if i.is_current and i.slot == "residence"] == [
        ("Lives in Porto", ["3"])
    ]
    assert {i.text for i in model.insights if not i.is_current} == {"Lives in Porto", "Lives in Lisbon"}
