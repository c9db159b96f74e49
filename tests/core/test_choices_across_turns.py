"""A choice resolves against the options the assistant offered in the previous ``observe()`` call.

Chat integrations record one exchange per call (the user's turn and the assistant's reply), so the list the
assistant offers and the user's choice always arrive in two calls.
"""

from __future__ import annotations

import pytest

from personal_core import HashingEmbedder, UserModeler

OPTIONS = (
    "Here are three ideas for your weekend:\n"
    "1. Take a guided kayak tour along the river.\n"
    "2. Visit the modern art museum downtown.\n"
    "3. Join a pottery workshop for beginners."
)


def _texts(modeler: UserModeler, user_id: str = "ann") -> list[str]:
    return [i.text for i in modeler.user_model(user_id).insights]


@pytest.fixture
def modeler(store_path) -> UserModeler:  # type: ignore[no-untyped-def]
    with UserModeler(store_path, embedder=HashingEmbedder()) as m:
        yield m


def test_a_choice_in_the_next_exchange_resolves_against_the_offered_list(modeler: UserModeler) -> None:
    modeler.observe(
        "ann",
        [dict(role="user", content="What should I do this weekend?"), dict(role="assistant", content=OPTIONS)],
        session_id="s1",
    )
    modeler.observe(
        "ann",
        [
            dict(id="pick", role="user", content="I'll go with option 2."),
            dict(role="assistant", content="Enjoy the museum!"),
        ],
        session_id="s1",
    )
    chosen = [i for i in modeler.user_model("ann").insights if i.text.startswith("Chose:")]
    assert [(i.text, i.evidence) for i in chosen] == [("Chose: Visit the modern art museum downtown", ["pick"])]


def test_only_the_turn_just_before_counts(modeler: UserModeler) -> None:
    modeler.observe("ann", [dict(role="assistant", content=OPTIONS)], session_id="s1")
    modeler.observe(
        "ann",
        [dict(role="user", content="Thanks."), dict(role="assistant", content="You're welcome.")],
        session_id="s1",
    )
    modeler.observe("ann", [dict(role="user", content="I'll go with option 2.")], session_id="s1")
    assert not any(t.startswith("Chose:") for t in _texts(modeler))


def test_another_sessions_list_does_not_count(modeler: UserModeler) -> None:
    modeler.observe("ann", [dict(role="assistant", content=OPTIONS)], session_id="s1")
    modeler.observe("ann", [dict(role="user", content="I'll go with option 2.")], session_id="s2")
    assert not any(t.startswith("Chose:") for t in _texts(modeler))


def test_another_users_list_does_not_count(modeler: UserModeler) -> None:
    modeler.observe("bob", [dict(role="assistant", content=OPTIONS)], session_id="s1")
    modeler.observe("ann", [dict(role="user", content="I'll go with option 2.")], session_id="s1")
    assert not any(t.startswith("Chose:") for t in _texts(modeler))


def test_the_list_is_found_after_a_reopen(store_path) -> None:  # type: ignore[no-untyped-def]
    with UserModeler(store_path, embedder=HashingEmbedder()) as first:
        first.observe("ann", [dict(role="assistant", content=OPTIONS)], session_id="s1")
    with UserModeler(store_path, embedder=HashingEmbedder()) as second:
        second.observe("ann", [dict(role="user", content="The pottery workshop sounds perfect.")], session_id="s1")
        assert "Chose: Join a pottery workshop for beginners" in _texts(second)
