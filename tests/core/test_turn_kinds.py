"""A stored turn is classified once (low content, standing domains), on the message object itself."""

from __future__ import annotations

from datetime import datetime, timezone

from personal_core.model import Role
from personal_core.records import StoredMessage
from personal_core.standing_groups import StandingCache


def stored(content: str, role: Role = Role.USER, message_id: str = "m1") -> StoredMessage:
    return StoredMessage.of(
        id=message_id,
        user_id="ann",
        session_id="s1",
        role=role,
        content=content,
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        metadata=None,
        history_only=False,
        seq=0,
    )


def test_a_turn_is_classified_once_and_a_changed_message_again() -> None:
    cache = StandingCache()
    allergy = stored("I'm allergic to peanuts, keep that in mind for any recipe.")
    low, domains = cache.turn(allergy)
    assert not low and domains and "food" in domains
    assert allergy.turn_kind == (False, domains)
    marker = (False, frozenset({"marker"}))  # a value no classification gives
    allergy.remember_turn_kind(marker)  # what is cached is what is returned: no second classification
    assert cache.turn(allergy) == marker
    edited = stored("Thanks!")  # the same id with other content is another object, classified on its own
    assert cache.turn(edited) == (True, None)
    assert cache.turn(stored("I'm allergic to peanuts.", role=Role.ASSISTANT)) == (False, None)  # not the user's
    assert allergy == stored("I'm allergic to peanuts, keep that in mind for any recipe.")  # the slot is no field
