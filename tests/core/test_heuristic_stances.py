"""Tests for the heuristic reasoner's standing stances: avoidance, refusal, restriction, aversion, discomfort,
evaluations, learning style, intolerance, and conditions named as a reason (made-up sentences only)."""

from __future__ import annotations

import pytest

from personal_core.heuristic import HeuristicReasoner
from personal_core.model import InsightKind, Message, Role
from personal_core.standing import is_standing_insight
from personal_core.update import ModelUpdate

K = InsightKind


def derive(*contents: str) -> ModelUpdate:
    messages = [Message(id=f"m{i + 1}", user_id="u1", role=Role.USER, content=c) for i, c in enumerate(contents)]
    return HeuristicReasoner().derive(messages)


def pairs(update: ModelUpdate) -> list[tuple[str, str | None]]:
    return [(i.text, i.slot) for i in update.new_insights]


def texts(update: ModelUpdate) -> list[str]:
    return [i.text for i in update.new_insights]


@pytest.mark.parametrize(
    ("content", "text"),
    [
        # avoidance
        ("I avoid crowded night markets.", "Avoids crowded night markets"),
        ("I strictly avoid anything involving deep water.", "Avoids anything involving deep water"),
        ("Honestly, I try to avoid trains with no air conditioning.", "Avoids trains with no air conditioning"),
        ("Because of a back injury, I need to avoid lifting heavy boxes.", "Avoids lifting heavy boxes"),
        (
            "I adamantly avoid any board games that take more than an hour.",
            "Avoids any board games that take more than an hour",
        ),
        # refusal
        ("I refuse to buy shoes made of crocodile skin.", "Refuses to buy shoes made of crocodile skin"),
        # restriction
        ("I only wear linen shirts in summer.", "Only wears linen shirts in summer"),
        ("I exclusively watch silent films from the twenties.", "Exclusively watches silent films from the twenties"),
        ("I strictly buy secondhand furniture.", "Strictly buys secondhand furniture"),
        ("I never wear wristwatches.", "Never wears wristwatches"),
        ("I don't drink carbonated drinks.", "Doesn't drink carbonated drinks"),
        ("I do not watch cooking contests.", "Doesn't watch cooking contests"),
        # aversion, preference and disinterest nouns
        ("I have a strong aversion to pickled herring.", "Dislikes pickled herring"),
        ("I have an intense dislike for karaoke bars.", "Dislikes karaoke bars"),
        ("I have a strong preference for paper maps over apps.", "Prefers paper maps over apps"),
        ("I have no interest in celebrity gossip.", "Has no interest in celebrity gossip"),
        ("I have a very low tolerance for spicy sauces.", "Has a low tolerance for spicy sauces"),
        # strong dislike and coordinate adjectives
        ("I strongly dislike loud, smoky pubs.", "Dislikes loud smoky pubs"),
        ("I dislike any kind of escape room.", "Dislikes any kind of escape room"),
        # being
        ("I'm not interested in stamp collecting.", "Is not interested in stamp collecting"),
        ("I am really uncomfortable with rollercoasters.", "Is uncomfortable with rollercoasters"),
        ("I am averse to guided bus tours.", "Is averse to guided bus tours"),
        ("I'm a strict vegan.", "Is vegan"),
        # evaluations, learning style, intolerance
        ("I find opera performances tedious.", "Finds opera performances tedious"),
        ("I find crossword puzzles incredibly relaxing.", "Finds crossword puzzles relaxing"),
        ("I learn best by building small projects.", "Learns best by building small projects"),
        ("I can't tolerate strong perfumes.", "Can't tolerate strong perfumes"),
        # the whole message in quotes is the user's own statement
        ('"I avoid roller skating."', "Avoids roller skating"),
    ],
)
def test_standing_stances_are_learned_and_standing(content: str, text: str) -> None:
    update = derive(content)
    assert text in texts(update), texts(update)
    insight = next(i for i in update.new_insights if i.text == text)
    assert insight.kind in (K.PREFERENCE, K.FACT)
    assert is_standing_insight(insight.text, insight.kind.value, insight.slot)


def test_a_condition_named_as_a_reason_is_a_fact() -> None:
    update = derive("I skip the stairs because of my asthma.")
    assert "Has asthma" in texts(update)
    assert "Has asthma" in update.card_add


def test_a_severe_allergy_noun_names_the_allergen() -> None:
    assert texts(derive("I have a severe allergy to sesame.")) == ["Allergic to sesame"]
    assert "Allergic to severe" not in texts(derive("I have a severe allergy to sesame."))


@pytest.mark.parametrize(
    "content",
    [
        # questions, how-to and requests
        "Should I avoid dairy before a run?",
        "How I avoid burnout is a long story.",
        "Tell me how to avoid merge conflicts.",
        # hypotheticals and reported speech
        "If I avoided sugar for a month, would I lose weight.",
        "My sister says I avoid every difficult conversation.",
        "You said I only wear black, which is wrong.",
        "Imagine I refuse to pay the invoice.",
        # other people
        "My brother avoids gluten.",
        "She refuses to eat mushrooms.",
        "Tom only wears sneakers.",
        # a quote inside a message
        'The sign at the door read "I avoid nothing" in big letters.',
        'My friend keeps saying "I never wear hats" to everyone.',
        # pronouns, quantities and moments
        "I avoid it.",
        "I only drink twice a day.",
        "I only use it for work.",
        "I never watch them.",
        "I find it boring.",
        "I find that hard to believe.",
        "I refuse to believe that.",
        # negated stances are not stances
        "I don't avoid anything.",
        "I can't tolerate it anymore.",
    ],
)
def test_no_stance_from_questions_hypotheticals_others_quotes_or_pronouns(content: str) -> None:
    stance_leads = ("Avoids", "Refuses", "Only", "Exclusively", "Strictly", "Never", "Doesn't", "Finds", "Can't")
    assert not [t for t in texts(derive(content)) if t.startswith(stance_leads)], texts(derive(content))


def test_a_change_of_mind_supersedes_an_avoidance() -> None:
    update = derive("I avoid karaoke.", "I love karaoke now.")
    slots = dict(pairs(update))
    assert slots["Avoids karaoke"] == slots["Loves karaoke"] == "taste:karaoke"


def test_a_later_restriction_of_the_same_habit_takes_its_slot() -> None:
    update = derive("I only wear wool socks.", "I only wear cotton socks.")
    assert pairs(update) == [("Only wears wool socks", "only:wear"), ("Only wears cotton socks", "only:wear")]


def test_a_clause_after_and_is_not_part_of_the_object() -> None:
    assert texts(derive("I prefer audiobooks and dislike printed manuals.")) == ["Prefers audiobooks"]
    assert texts(derive("I dislike sitcoms and find them repetitive.")) == ["Dislikes sitcoms"]


def test_deterministic_and_no_other_kinds() -> None:
    content = "I avoid fried food, I only drink tea and I have no interest in football."
    first, second = derive(content), derive(content)
    assert pairs(first) == pairs(second)
    assert texts(first) == ["Avoids fried food", "Only drinks tea", "Has no interest in football"]


# --------------------------------------------------------------------------------------------------------------
# Choices among offered options
# --------------------------------------------------------------------------------------------------------------

OPTIONS = (
    "Here are a few ideas for your weekend:\n"
    "1. Take a guided kayak tour along the river.\n"
    "2. Visit the modern art museum downtown.\n"
    "3. Join a pottery workshop for beginners."
)
INLINE = (
    "You could rent a cabin by the lake, book a spa hotel in the old town, or join a cycling tour through the hills."
)


def converse(*turns: tuple[Role, str]) -> ModelUpdate:
    messages = [Message(id=f"m{i + 1}", user_id="u1", role=role, content=c) for i, (role, c) in enumerate(turns)]
    return HeuristicReasoner().derive(messages)


@pytest.mark.parametrize(
    ("offer", "reply", "chosen"),
    [
        (OPTIONS, "I'll go with option 3.", "Chose: Join a pottery workshop for beginners"),
        (OPTIONS, "The second option sounds great to me.", "Chose: Visit the modern art museum downtown"),
        (OPTIONS, "I think the guided kayak tour would be perfect.", "Chose: Take a guided kayak tour along the river"),
        (INLINE, "The cycling tour through the hills sounds ideal.", "Chose: join a cycling tour through the hills"),
    ],
)
def test_a_choice_resolves_to_what_was_offered(offer: str, reply: str, chosen: str) -> None:
    update = converse((Role.USER, "What should I do this weekend?"), (Role.ASSISTANT, offer), (Role.USER, reply))
    assert chosen in texts(update)
    insight = next(i for i in update.new_insights if i.text == chosen)
    assert insight.evidence == ["m3"]
    assert is_standing_insight(insight.text, insight.kind.value, insight.slot)


def test_what_a_choice_turns_down_is_learned() -> None:
    reply = "I'll go with option 2. The water activities don't really appeal to me. The other options seem too messy."
    update = converse((Role.ASSISTANT, OPTIONS), (Role.USER, reply))
    assert texts(update) == [
        "Chose: Visit the modern art museum downtown",
        "Dislikes water activities",
        "Dislikes options that are too messy",
    ]


@pytest.mark.parametrize(
    ("turns"),
    [
        # no list offered just before: the number resolves against nothing
        [(Role.USER, "I'll go with option 2.")],
        [(Role.ASSISTANT, "Sure, happy to help."), (Role.USER, "Option 1 sounds great.")],
        # a number outside the list, a negated or questioned choice
        [(Role.ASSISTANT, OPTIONS), (Role.USER, "I'll go with option 7.")],
        [(Role.ASSISTANT, OPTIONS), (Role.USER, "Option 2 doesn't sound great.")],
        [(Role.ASSISTANT, OPTIONS), (Role.USER, "Would option 2 be better?")],
        # a description that fits no single option
        [(Role.ASSISTANT, OPTIONS), (Role.USER, "The train ride sounds perfect.")],
        # the list was offered before another user turn: it no longer stands
        [(Role.ASSISTANT, OPTIONS), (Role.USER, "Thanks."), (Role.USER, "I'll go with option 1.")],
    ],
)
def test_no_choice_without_a_list_just_before_it(turns: list[tuple[Role, str]]) -> None:
    update = converse(*turns)
    assert not [t for t in texts(update) if t.startswith("Chose")], texts(update)
    assert not [t for t in texts(update) if "option 1" in t.lower() or "option 2" in t.lower()]


def test_a_statement_about_an_option_number_is_not_kept() -> None:
    assert texts(derive("I think option 2 is the most effective for me.")) == []


@pytest.mark.parametrize(
    "content",
    [
        "I need to avoid the race condition in this loop.",
        "I won't buy a new phone this year.",
        "I don't buy that argument.",
        "I refuse to give up.",
        "I'm not interested in your opinion.",
    ],
)
def test_tasks_decisions_and_idioms_are_not_stances(content: str) -> None:
    assert texts(derive(content)) == []


def test_a_numbered_step_that_works_is_not_a_choice() -> None:
    steps = "Try these:\n1. Clear the cache.\n2. Restart the server."
    update = converse((Role.ASSISTANT, steps), (Role.USER, "Number 2 works, thanks."))
    assert texts(update) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("I have an allergy to coconut.", ["Allergic to coconut"]),
        ("I prefer vegan, cruelty-free soaps.", ["Prefers vegan cruelty-free soaps"]),
        ("I only use unscented, hypoallergenic lotions.", ["Only uses unscented hypoallergenic lotions"]),
        ("I dislike pizza, my least favorite food.", ["Dislikes pizza"]),
        ("I avoid cars, which is hard here.", ["Avoids cars"]),
    ],
)
def test_coordinate_adjectives_join_and_asides_do_not(content: str, expected: list[str]) -> None:
    assert texts(derive(content)) == expected
