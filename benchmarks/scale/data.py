"""Synthetic users for the scale benchmark: a seeded vocabulary, the insights and messages each user is fed
(identical for Personal and the baselines), the sampled users and the query plans every system answers."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from personal_core import InsightKind, InsightLevel

from .config import ADD_BATCH, Config

TOPICS = (
    "jazz", "chess", "astronomy", "pottery", "opera", "robotics", "birdwatching", "poetry", "football", "origami",
    "photography", "sailing", "knitting", "calligraphy", "skiing", "history", "surfing", "genealogy", "baking",
    "woodworking", "tennis", "mythology", "podcasts", "architecture", "cryptography", "gardening", "ballet", "anime",
    "beekeeping", "volcanoes",
)  # fmt: skip
PLACES = (
    "Paris", "Lisbon", "Kyoto", "Oslo", "Lima", "Cairo", "Austin", "Hanoi", "Quebec", "Dakar", "Berlin", "Seville",
    "Nairobi", "Bergen", "Porto", "Cusco", "Tbilisi", "Hobart", "Reykjavik", "Valparaiso", "Krakow", "Marrakesh",
    "Osaka", "Tallinn", "Bogota", "Lyon", "Galway", "Busan", "Perth", "Zanzibar",
)  # fmt: skip
FOODS = (
    "ramen", "tacos", "falafel", "risotto", "dumplings", "paella", "curry", "sushi", "pierogi", "ceviche", "pho",
    "lasagna", "shakshuka", "bibimbap", "goulash", "empanadas", "couscous", "moussaka", "gnocchi", "laksa",
)  # fmt: skip
ACTIVITIES = (
    "hiking", "cycling", "swimming", "climbing", "running", "rowing", "dancing", "painting", "cooking", "reading",
    "camping", "fishing", "yoga", "skating", "drawing", "singing", "kayaking", "juggling", "gaming", "sketching",
)  # fmt: skip
GOALS = (
    "learn Spanish", "run a marathon", "write a novel", "buy a house", "learn the piano", "start a business",
    "get a pilot licence", "learn to code", "visit Japan", "lose ten kilos", "build a cabin", "learn to sail",
    "finish a PhD", "adopt a dog", "climb Kilimanjaro", "learn Mandarin", "open a bakery", "save for retirement",
)  # fmt: skip
JOBS = (
    "nurse", "teacher", "carpenter", "lawyer", "pilot", "chef", "plumber", "librarian", "designer", "pharmacist",
    "farmer", "journalist", "architect", "dentist", "electrician", "translator", "geologist", "firefighter",
)  # fmt: skip
EMOTIONS = ("anxious", "excited", "hopeful", "frustrated", "curious", "nervous", "proud", "calm", "worried", "thrilled")
TRAITS = ("impatient", "curious", "organised", "spontaneous", "competitive", "frugal", "stubborn", "punctual")
RELATIVES = ("sister", "brother", "cousin", "daughter", "son", "grandmother", "uncle", "aunt", "partner", "friend")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "March", "May", "July", "September", "November")
PETS = ("cat", "dog", "parrot", "rabbit", "tortoise", "hamster")

INSIGHT_TEMPLATES: dict[InsightKind, tuple[str, ...]] = {
    InsightKind.PREFERENCE: (
        "Likes {topic} in {place}",
        "Prefers {food} to {food2}",
        "Enjoys {activity} on {day}s",
    ),
    InsightKind.GOAL: ("Wants to {goal} before {month}", "Plans a trip to {place} to try {food}"),
    InsightKind.FACT: ("Works as a {job} in {place}", "Has a {pet} and lives near {place}"),
    InsightKind.BELIEF: ("Believes {topic} should be taught in schools in {place}",),
    InsightKind.KNOWLEDGE: ("Knows a lot about {topic} and some {topic2}",),
    InsightKind.EMOTION: ("Feels {emotion} about {activity} lately",),
    InsightKind.TRAIT: ("Is {trait} when it comes to {activity}",),
    InsightKind.RELATIONSHIP: ("Has a {relative} in {place} who loves {topic}",),
}
SELF_STATEMENTS = (
    "I love {activity}.",
    "I want to {goal} this year.",
    "I'm a {job} and I live in {place}.",
    "I really enjoy {food} on {day}s.",
    "My {relative} lives in {place}.",
    "I'm allergic to {food}.",
)
NEUTRAL_CHAT = (
    "What's the weather like in {place} tomorrow?",
    "Can you summarise this article about {topic}?",
    "Thanks, that was helpful!",
    "How long does it take to get from {place} to {place2}?",
    "Tell me a joke about {topic}.",
    "Give me three ideas for a {food} recipe.",
)
QUERIES = (
    "what should I do in {place} this weekend?",
    "recommend a podcast about {topic}",
    "help me plan dinner, maybe {food}",
    "any advice on how to {goal}?",
    "suggest a {activity} plan for {day}",
    "write a birthday message for my {relative}",
)


# --------------------------------------------------------------------------------------------- synthetic text
def fill(template: str, rng: random.Random) -> str:
    """``template`` with its ``{slot}`` placeholders drawn from the vocabulary."""
    return template.format(
        topic=rng.choice(TOPICS),
        topic2=rng.choice(TOPICS),
        place=rng.choice(PLACES),
        place2=rng.choice(PLACES),
        food=rng.choice(FOODS),
        food2=rng.choice(FOODS),
        activity=rng.choice(ACTIVITIES),
        goal=rng.choice(GOALS),
        job=rng.choice(JOBS),
        emotion=rng.choice(EMOTIONS),
        trait=rng.choice(TRAITS),
        relative=rng.choice(RELATIVES),
        day=rng.choice(DAYS),
        month=rng.choice(MONTHS),
        pet=rng.choice(PETS),
    )


def insight_proposal(rng: random.Random) -> tuple[str, InsightKind]:
    kind = rng.choice(list(INSIGHT_TEMPLATES))
    return fill(rng.choice(INSIGHT_TEMPLATES[kind]), rng), kind


def chat_message(rng: random.Random) -> str:
    """Half first-person self-statements (the heuristic learns from them), half neutral chat."""
    pool = SELF_STATEMENTS if rng.random() < 0.5 else NEUTRAL_CHAT
    return fill(rng.choice(pool), rng)


def query(rng: random.Random) -> str:
    return fill(rng.choice(QUERIES), rng)


def user_name(index: int) -> str:
    return f"user-{index:06d}"


# --------------------------------------------------------------------------------------------- synthetic data
InsightRow = tuple[str, InsightKind, float, InsightLevel]


def synthetic_insights(config: Config) -> Iterator[tuple[str, list[InsightRow]]]:
    """Per user, the ``--insights`` proposals ``(text, kind, confidence, level)`` (seeded, the same on every call)."""
    rng = random.Random(config.seed)
    for index in range(config.users):
        rows: list[InsightRow] = []
        for _ in range(config.insights):
            text, kind = insight_proposal(rng)
            level = InsightLevel.EXPLICIT if rng.random() < 0.7 else InsightLevel.INFERRED
            rows.append((text, kind, round(rng.uniform(0.55, 0.95), 2), level))
        yield user_name(index), rows


def synthetic_messages(config: Config) -> Iterator[tuple[str, list[str]]]:
    """Per user, the ``--messages`` chat messages (seeded, the same on every call)."""
    rng = random.Random(config.seed + 1)
    for index in range(config.users):
        yield user_name(index), [chat_message(rng) for _ in range(config.messages)]


def user_documents(config: Config) -> Iterator[tuple[str, list[str]]]:
    """Per user, every text Personal is fed: the insight texts, then the message texts."""
    for (user, insights), (_, messages) in zip(synthetic_insights(config), synthetic_messages(config), strict=True):
        yield user, [row[0] for row in insights] + messages


def document_batches(config: Config, limit: int = ADD_BATCH) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """The baselines' documents as ``(texts, user ids, document ids)`` batches of at most ``limit``."""
    texts: list[str] = []
    users: list[str] = []
    ids: list[str] = []
    for user, docs in user_documents(config):
        for i, text in enumerate(docs):
            texts.append(text)
            users.append(user)
            ids.append(f"{user}:{i}")
            if len(texts) >= limit:
                yield texts, users, ids
                texts, users, ids = [], [], []
    if texts:
        yield texts, users, ids


def sample_users(config: Config) -> tuple[list[str], list[str]]:
    """Users read cold in the timed phase, and others left for a cold profile."""
    order = [user_name(i) for i in range(config.users)]
    random.Random(config.seed + 2).shuffle(order)
    return order[: config.cold_sample], order[config.cold_sample : config.cold_sample + 100]


Plan = list[tuple[str, str]]


def query_plans(config: Config, sampled: Sequence[str]) -> tuple[Plan, Plan, random.Random]:
    """``(user, query)`` of the cold calls (one per sampled user) and of the warm calls, and the RNG to go on with.

    The serving phase and the head-to-head phase use the same plans, so every system answers the same queries.
    """
    rng = random.Random(config.seed + 4)
    cold = [(user, query(rng)) for user in sampled]
    warm: Plan = []
    for _ in range(config.warm_calls):
        user = rng.choice(sampled)
        warm.append((user, query(rng)))
    return cold, warm, rng


def total_documents(config: Config) -> int:
    return config.users * (config.insights + config.messages)
