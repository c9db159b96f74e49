"""Tests for the heuristic reasoner's events, activities and plans, and the relative dates they carry (made-up
sentences only)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from personal_core.heuristic import HeuristicReasoner
from personal_core.heuristic.when import find_when
from personal_core.model import InsightKind, Message, Role
from personal_core.update import ModelUpdate

#: A Thursday.
SAID = datetime(2024, 5, 16, 10, 30)


def derive(*contents: str, role: Role = Role.USER, said: datetime = SAID) -> ModelUpdate:
    messages = [
        Message(id=f"m{i + 1}", user_id="u1", role=role, content=c, created_at=said) for i, c in enumerate(contents)
    ]
    return HeuristicReasoner().derive(messages)


def texts(update: ModelUpdate) -> list[str]:
    return [i.text for i in update.new_insights]


@pytest.mark.parametrize(
    ("content", "text"),
    [
        # past events, with the date resolved against the day the message was written
        ("I just joined a rowing club last week!", "Joined a rowing club in the week before 2024-05-16"),
        ("Yesterday I went to a glassblowing workshop.", "Went to a glassblowing workshop on 2024-05-15"),
        ("I adopted a tabby kitten two days ago.", "Adopted a tabby kitten on 2024-05-14"),
        ("Last month I ran my first half marathon.", "Ran their first half marathon in April 2024"),
        ("I bought a secondhand accordion last year.", "Bought a secondhand accordion in 2023"),
        (
            "I started knitting scarves about three years ago.",
            "Started knitting scarves about 3 years before 2024-05-16",
        ),
        ("I graduated last week!", "Graduated in the week before 2024-05-16"),
        # "last Friday" said on a Thursday is six days before
        ("Last Friday I visited my aunt in Ghent.", "Visited their aunt in Ghent on 2024-05-10"),
        # no date: the day the insight is listed under says when it was told
        ("Thanks! I finally finished the birdhouse for my niece.", "Finished the birdhouse for their niece"),
        ("I've started a blog about tide pools.", "Has started a blog about tide pools"),
        ("I've been to Reykjavik twice.", "Has been to Reykjavik twice"),
        # ongoing activities and habits
        ("I've been volunteering at the animal shelter.", "Has been volunteering at the animal shelter"),
        ("I'm currently reading a novel about lighthouse keepers.", "Is reading a novel about lighthouse keepers"),
        ("I usually play chess with my grandfather.", "Usually plays chess with their grandfather"),
        ("I swim at the lake every morning.", "Swims at the lake every morning"),
        ("I was in the final of a regional quiz contest.", "Was in the final of a regional quiz contest"),
        ("I was invited to a pottery exhibition.", "Was invited to a pottery exhibition"),
        # plans say when
        ("I'm going to a beekeeping conference in June.", "Is going to a beekeeping conference in June"),
        ("I'm going to the coast next weekend.", "Is going to the coast in the weekend after 2024-05-16"),
        # "we": the user took part, with others
        ("We adopted a rescue greyhound.", "Adopted a rescue greyhound with others"),
        ("We went camping with my cousins.", "Went camping with their cousins"),
        # a subject left out at the start, with a time or "just"
        ("Took a ferry to the islands last weekend.", "Took a ferry to the islands in the weekend before 2024-05-16"),
        ("Just finished my first quilt!", "Finished their first quilt"),
        ("Been practicing calligraphy at night.", "Has been practicing calligraphy at night"),
        # telling news is not reporting someone's words; a second event joined by "and"
        ("I'm so excited to tell you I signed up for a choir.", "Signed up for a choir"),
        ("I took your advice and watched the documentary last night.", "Watched the documentary on 2024-05-15"),
        # a name with a colon stays whole
        ("I usually play Half-Life: Alyx or CS:GO on weekends.", "Usually plays Half-Life"),
    ],
)
def test_events_are_learned_with_their_dates(content: str, text: str) -> None:
    update = derive(content)
    assert text in texts(update), texts(update)


def test_an_event_is_a_fact_cited_by_its_turn_and_a_plan_a_goal() -> None:
    update = derive("I joined a hiking club.", "I'm going to a film festival in October.")
    joined = next(i for i in update.new_insights if i.text == "Joined a hiking club")
    going = next(i for i in update.new_insights if i.text == "Is going to a film festival in October")
    assert joined.kind == InsightKind.FACT and joined.evidence == ["m1"]
    assert going.kind == InsightKind.GOAL and going.evidence == ["m2"]
    assert update.card_add == []  # events never reach the card


def test_a_name_with_a_colon_is_not_cut() -> None:
    assert texts(derive("I usually play CS:GO with my cousins.")) == ["Usually plays CS:GO with their cousins"]


@pytest.mark.parametrize(
    "content",
    [
        # questions
        "Did I tell you I went to Lisbon?",
        "I went to the fair, remember?",
        # hypotheticals, wishes, reported speech
        "If I joined the band I would need a bass.",
        "I wish I had adopted a dog.",
        "Imagine I bought a boat.",
        "She said I won the raffle.",
        "My brother thinks I started a podcast.",
        'He wrote "I ran a marathon" on his profile.',
        # third person
        "My sister joined a rowing club last week.",
        "He went to a glassblowing workshop.",
        # negation
        "I didn't go to the concert.",
        "I never finished the course.",
        "I haven't started the course yet.",
        "I won't give up!",
        "I went there but not for long.",
        # relative clauses: the verb says what the thing is, not what the user did
        "The book I read last year changed my mind.",
        "The help I got from my neighbours was great.",
        "Here is the vase I made last week.",
        # pointing at the conversation or vague
        "I made this for you!",
        "I got it.",
        "I went back.",
        "I had a feeling about it.",
        "I made sure to check.",
        # feelings are not events
        "I got so nervous.",
        "I was thrilled.",
        # a passing remark without a date is not a plan
        "I'm going to the gym.",
        # subject left out: "Made my day!" is about something else
        "Made my day!",
        "Got me thinking.",
    ],
)
def test_non_events_yield_no_event(content: str) -> None:
    update = derive(content)
    assert not [i for i in update.new_insights if i.kind in (InsightKind.FACT, InsightKind.GOAL)], texts(update)


@pytest.mark.parametrize(
    "content",
    [
        "Please simplify this text: In this study we interviewed nurses and presented a new triage tool.",
        "Can you proofread my email: I visited the warehouse yesterday and met the new supplier.",
        "Rewrite the following paragraph for a journal: we built a prototype and tested it with students.",
    ],
)
def test_text_pasted_to_work_on_is_not_the_user_s_life(content: str) -> None:
    assert texts(derive(content)) == []


def test_the_user_s_own_words_before_a_paste_still_count() -> None:
    update = derive("I went to a glassblowing workshop yesterday. Now can you check this text: we built a kiln.")
    assert texts(update) == ["Went to a glassblowing workshop on 2024-05-15"]


def test_a_long_message_is_a_document_not_a_story() -> None:
    body = " ".join(["The committee reviewed the budget and the schedule for the next quarter."] * 12)
    assert texts(derive(f"We presented our results at the summit. {body}")) == []
    story = texts(derive("We presented our results at the summit."))
    assert story == ["Presented their results at the summit with others"]


def test_the_assistant_s_events_are_never_the_user_s() -> None:
    assert derive("I went to a glassblowing workshop yesterday.", role=Role.ASSISTANT).is_empty()


def test_an_ambiguous_weekday_stays_as_written() -> None:
    # "last Thursday" said on a Friday may mean the day before or eight days before
    update = derive("Last Thursday I went to a tango lesson.", said=datetime(2024, 5, 17, 9, 0))
    assert texts(update) == ["Went to a tango lesson last thursday"]


def test_long_objects_are_cut_at_a_phrase_boundary() -> None:
    update = derive(
        "I made a lemon cake and shared it with some of the people in my weekly evening pottery class group."
    )
    (text,) = texts(update)
    assert text.startswith("Made a lemon cake and shared it with some of the people")
    assert not text.endswith((" in", " the", " their", " with"))
    assert len(text.split()) <= 16


@pytest.mark.parametrize(
    ("phrase", "resolved"),
    [
        ("yesterday", "on 2024-05-15"),
        ("last night", "on 2024-05-15"),
        ("tomorrow", "on 2024-05-17"),
        ("today", ""),
        ("recently", ""),
        ("three days ago", "on 2024-05-13"),
        ("about 10 days ago", "about 2024-05-06"),
        ("two weeks ago", "2 weeks before 2024-05-16"),
        ("a month ago", "in April 2024"),
        ("a few weeks ago", "a few weeks before 2024-05-16"),
        ("last week", "in the week before 2024-05-16"),
        ("this past weekend", "in the weekend before 2024-05-16"),
        ("last month", "in April 2024"),
        ("last year", "in 2023"),
        ("last Monday", "on 2024-05-13"),
        ("last Wednesday", None),  # the day before: "yesterday" would have been said
        ("next week", "in the week after 2024-05-16"),
        ("next month", "in June 2024"),
        ("next year", "in 2025"),
    ],
)
def test_relative_dates(phrase: str, resolved: str | None) -> None:
    found = find_when(f"It happened {phrase}.", date(2024, 5, 16))
    assert found is not None
    assert found.resolved == resolved


def test_january_minus_a_month_is_december_of_the_year_before() -> None:
    found = find_when("last month", date(2024, 1, 3))
    assert found is not None and found.resolved == "in December 2023"


def test_no_date_without_a_time_expression_or_a_day() -> None:
    assert find_when("I went to the market.", date(2024, 5, 16)) is None
    found = find_when("I went yesterday.", None)
    assert found is not None and found.resolved is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("I'm so proud of you!", []),
        ("I'm really happy for you.", []),
        ("I'm so glad you made it.", []),
        ("I'm proud of my garden this year.", ["Feels proud"]),
        ("I'm so happy.", ["Feels happy"]),
    ],
)
def test_a_reaction_to_the_other_person_is_not_the_user_s_feeling(content: str, expected: list[str]) -> None:
    assert [i.text for i in derive(content).new_insights if i.kind == InsightKind.EMOTION] == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("My kids love the aquarium.", ["Their kids love the aquarium"]),
        ("My daughter started ballet last week.", ["Their daughter started ballet in the week before 2024-05-16"]),
        ("My little brother is learning to juggle.", ["Their little brother is learning to juggle"]),
        ("My wife loves it.", []),  # pointing at the conversation
        ("The bike my son bought is red.", []),  # a relative clause
        ("My mom said I was lazy.", []),
        ("If my dad went there he would love it.", []),
        ("My husband didn't go to the game.", []),
    ],
)
def test_what_the_user_s_people_did_or_like(content: str, expected: list[str]) -> None:
    update = derive(content)
    assert [i.text for i in update.new_insights if i.kind == InsightKind.RELATIONSHIP] == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("I painted this after I visited the botanical garden.", ["Visited the botanical garden"]),
        ("Took some trial and error but it works now.", []),  # "It took ...": a dropped "it", not the user
        ("Worked out fine in the end.", []),
        ("Went to the flea market with my uncle.", ["Went to the flea market with their uncle"]),
    ],
)
def test_clause_openers_and_dropped_subjects(content: str, expected: list[str]) -> None:
    assert [i.text for i in derive(content).new_insights if i.kind == InsightKind.FACT] == expected


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("My wife and I adopted a puppy last week.", "Adopted a puppy with their wife in the week before 2024-05-16"),
        ("Me and my sister started a bakery last year.", "Started a bakery with their sister in 2023"),
        ("My son and I went fishing yesterday.", "Went fishing with their son on 2024-05-15"),
        ("We adopted a puppy last week.", "Adopted a puppy with others in the week before 2024-05-16"),
    ],
)
def test_an_event_shared_with_someone_is_the_users_and_says_with_whom(content: str, text: str) -> None:
    # "Me and my sister started ..." is not only the sister's event, and "My wife and I" names the wife
    assert texts(derive(content)) == [text]
