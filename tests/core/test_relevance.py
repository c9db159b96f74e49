"""Relevance of a context: standing preferences always considered, a relevance floor, no pleasantries."""

from __future__ import annotations

from typing import Any

from personal_core import HashingEmbedder, UserModeler
from personal_core.context import PackingPolicy
from personal_core.standing import (
    is_low_content,
    is_standing_insight,
    is_standing_turn,
    item_domains,
    match,
    query_reach,
)
from personal_core.text import terms

FILLER = [
    "Can you explain how Python decorators work?",
    "Let's refactor the billing module of my project.",
    "What is the difference between a list and a tuple?",
    "My landlord finally fixed the heating in the hallway.",
    "How do I configure logging handlers in a library?",
]


def _turns(*contents: str, role: str = "user", session: str = "s") -> list[dict[str, Any]]:
    return [{"role": role, "content": c, "session_id": session} for c in contents]


def _texts(modeler: UserModeler, user: str, query: str, budget: int = 500) -> list[str]:
    return [i.text for i in modeler.context(user, query, max_tokens=budget).items]


def test_an_off_topic_query_gets_the_fear_but_not_unrelated_excerpts_or_pleasantries(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [
            {"role": "user", "content": "My Flask app crashes on startup", "session_id": "a"},
            {"role": "assistant", "content": "Sounds great, thanks!", "session_id": "a"},
            {"role": "user", "content": "Sounds great, thanks!", "session_id": "b"},
            {"role": "user", "content": "I'm afraid of flying", "session_id": "c"},
        ],
    )
    ctx = modeler.context("ann", "Help me book a flight", max_tokens=500)
    text = ctx.text
    assert "afraid of flying" in text
    assert "Flask" not in text and "Sounds great" not in text
    assert ctx.tokens < 500, "a context may be shorter than its budget"
    # the same store answers a coding question with the crash, and without the fear
    coding = modeler.context("ann", "Why does my Flask app crash?", max_tokens=500).text
    # the floor drops unrelated EXCERPTS; insights are few and distilled and compete on score (they may stay)
    assert "Flask app crashes" in coding and 'afraid of flying"' not in coding


def test_the_quickstart_context_holds_no_assistant_greeting(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [
            {"role": "user", "content": "Hi, I'm Ann. I live in Porto and I'm allergic to peanuts."},
            {"role": "assistant", "content": "Nice to meet you, Ann!"},
            {"role": "user", "content": "I love hiking and I want to run a marathon next year."},
        ],
    )
    ctx = modeler.context("ann", "Suggest a snack for my long hike", max_tokens=300)
    assert "Nice to meet you" not in ctx.text
    assert "Allergic to peanuts" in ctx.text and "Loves hiking" in ctx.text
    assert not [i for i in ctx.items if i.source == "message" and "Nice" in i.text]


def test_a_diet_comes_with_a_food_question_that_shares_no_word_with_it(modeler: UserModeler) -> None:
    modeler.observe("ann", _turns("I follow a strict gluten-free and dairy-free diet.", session="diet"))
    assert modeler.user_model("ann").card == ["Follows a strict gluten-free and dairy-free diet"]
    modeler.set_card("ann", [])  # off the card: only the standing tier can bring it now
    if True:
        for i in range(25):
            modeler.observe(
                "ann",
                _turns(FILLER[i % len(FILLER)], session=f"f{i}")
                + _turns(f"Sure, here is answer {i} about that.", role="assistant", session=f"f{i}"),
            )
        assert modeler.user_model("ann").card == []
        cafes = modeler.context("ann", "Can you recommend cafes in San Francisco?", max_tokens=300)
        assert "Follows a strict gluten-free and dairy-free diet" in [i.text for i in cafes.items]
        trip = _texts(modeler, "ann", "Plan a weekend trip to Lisbon for me", 300)
        assert "Follows a strict gluten-free and dairy-free diet" in trip, "travellers eat too"
        # a coding question gets no standing tier (no domain fits); insights are not floored, so the diet may
        # still compete on score for leftover budget, after anything that matches the question


def test_a_standing_turn_surfaces_without_any_reasoning(backend: Any) -> None:
    class Nothing:
        name = "nothing"

        def derive(self, messages: Any) -> Any:
            from personal_core import ModelUpdate

            return ModelUpdate()

    with backend.modeler(embedder=HashingEmbedder(), reasoner=Nothing()) as modeler:
        modeler.observe("bob", _turns("I have a severe peanut allergy, so I must avoid peanuts.", session="p"))
        for i in range(20):
            modeler.observe("bob", _turns(FILLER[i % len(FILLER)], session=f"f{i}"))
        texts = _texts(modeler, "bob", "I'm visiting Thailand next month. Which restaurants should I try?", 300)
        assert any("peanut allergy" in t for t in texts)
        assert not any("peanut" in t for t in _texts(modeler, "bob", "How do I rename a git branch?", 300))


def test_an_empty_query_applies_no_floor(modeler: UserModeler) -> None:
    modeler.observe("ann", _turns(*FILLER))
    assert len([i for i in modeler.context("ann", "", max_tokens=2000).items if i.source == "message"]) == 5
    floored = modeler.context("ann", "Help me book a flight", max_tokens=2000)
    assert not [i for i in floored.items if i.source == "message"]


def test_the_floor_is_a_policy(backend: Any) -> None:
    with backend.modeler(embedder=HashingEmbedder(), packing=PackingPolicy(min_score=0.0)) as modeler:
        modeler.observe("ann", _turns(*FILLER))
        items = modeler.context("ann", "Help me book a flight", max_tokens=2000).items
        assert len([i for i in items if i.source == "message"]) == 5, "min_score=0 packs whatever fits"


def test_a_query_naming_a_domain_gets_no_unrelated_insights_an_open_one_gets_them(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        _turns(
            "We adopted a greyhound yesterday.",
            "I went to a jazz concert last weekend.",
            "I'm going to a pottery class next week.",
        ),
    )
    learned = {i.text for i in modeler.user_model("ann").insights}
    assert len(learned) == 3, learned  # each of them is in the model...
    coding = [i for i in modeler.context("ann", "Why does my Python import fail?").items if i.source == "insight"]
    assert coding == []  # ...but none fills a coding question's context
    music = [i.text for i in modeler.context("ann", "Recommend a jazz album").items if i.source == "insight"]
    assert len(music) == 1 and "jazz concert" in music[0]
    open_query = [i for i in modeler.context("ann", "Any ideas for today?").items if i.source == "insight"]
    assert len(open_query) == 3  # no domain named: what the user does may all help


def test_an_assistant_congratulating_is_never_quoted(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [
            {"role": "user", "content": "We adopted a puppy called Luna and I usually go running."},
            {"role": "assistant", "content": "Congratulations on Luna!"},
            {"role": "assistant", "content": "Great choice! Enjoy."},
        ],
    )
    for query in ("Why does my loop run slowly?", "What should I do with Luna?", "running shoes"):
        quoted = [i.text for i in modeler.context("ann", query).items if i.source == "message"]
        assert not any("Congratulations" in t or "Enjoy" in t for t in quoted), (query, quoted)


def test_low_content_turns() -> None:
    for text in ["Okay.", "Nice to meet you, Ann!", "Sounds great, thanks!", "Glad to help!", "Thank you so much!"]:
        assert is_low_content(text), text
    for text in ["Congratulations on Luna!", "Great choice! Enjoy.", "Congrats, Ann!"]:
        assert is_low_content(text), text
    for text in ["Yes, in Paris.", "I'm afraid of flying", "My Flask app crashes", "I love jazz", "I enjoy chess"]:
        assert not is_low_content(text), text


def test_standing_recognition_and_domains() -> None:
    assert is_standing_insight("Follows a strict gluten-free and dairy-free diet", "preference")
    assert is_standing_insight("Is afraid of flying", "trait", "fear:flying")
    assert is_standing_insight("Standing instruction: answer in Spanish", "fact")
    assert not is_standing_insight("Wants to run a marathon next year", "goal")
    assert not is_standing_insight("Works as a nurse", "fact")
    assert is_standing_turn("I strictly avoid restaurants that serve gluten.")
    assert not is_standing_turn("The restaurant was lovely and we stayed late.")
    diet = item_domains("Follows a strict gluten-free and dairy-free diet")
    assert "food" in diet
    assert match(diet, query_reach(terms("Can you recommend cafes in San Francisco?"))) == 2
    assert match(diet, query_reach(terms("Help me book a flight"))) == 1
    assert match(diet, query_reach(terms("Why does my Python script crash?"))) == 0
    assert query_reach(terms("hello there")) == {}
    style = item_domains("Standing instruction: answer in Spanish")
    assert match(style, query_reach(terms("Recommend a movie"))) == 1


def test_a_learned_avoidance_comes_with_a_question_that_shares_no_word_with_it(modeler: UserModeler) -> None:
    modeler.observe("cy", _turns("I strictly avoid synthetic fabrics like acrylic.", session="pref"))
    assert "Avoids synthetic fabrics like acrylic" in [i.text for i in modeler.user_model("cy").insights]
    for i in range(25):
        modeler.observe(
            "cy",
            _turns(FILLER[i % len(FILLER)], session=f"f{i}")
            + _turns(f"Sure, here is answer {i} about that.", role="assistant", session=f"f{i}"),
        )
    assert "Avoids synthetic fabrics like acrylic" in _texts(modeler, "cy", "Which sweaters should I pack?", 300)
    assert "Avoids synthetic fabrics like acrylic" in _texts(modeler, "cy", "Suggest a warm jacket for winter", 300)


def test_new_stances_are_standing_and_their_domains_meet_the_question() -> None:
    assert is_standing_insight("Only wears linen shirts", "preference", "only:wear")
    assert is_standing_insight("Refuses to watch slasher films", "preference")
    assert is_standing_insight("Is uncomfortable with rollercoasters", "preference")
    assert is_standing_insight("Has a low tolerance for spicy sauces", "preference")
    assert not is_standing_insight("Thinks that option 2 is the most effective for them", "belief")
    heels = item_domains("Dislikes high heels")
    assert "fashion" in heels
    assert match(heels, query_reach(terms("What shoes suit a wedding?"))) == 2
    museums = item_domains("Has no interest in historical museums")
    assert match(museums, query_reach(terms("What should I see on my trip to Vienna?"))) == 1
    stress = query_reach(terms("How can I cope with stress?"))
    assert match(item_domains("Dislikes meditation"), stress) == 2
    assert match(heels, query_reach(terms("Why does my Python script crash?"))) == 0


def test_a_word_with_another_sense_gives_a_query_its_domain_only_alone() -> None:
    from personal_core.standing import query_reach
    from personal_core.text import terms

    python = query_reach(terms("Why does my Python loop run slowly?"))
    assert python.get("tech") == 2 and "fitness" not in python
    rome = query_reach(terms("Help me book a trip to Rome"))
    assert rome.get("travel") == 2 and rome.get("reading") != 2
    assert query_reach(terms("Where should I go running?")).get("fitness") == 2
