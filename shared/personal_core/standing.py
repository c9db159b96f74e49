"""Standing preferences and constraints, and low-content turns: pure text classifiers for the read path.

A *standing* item is something that must shape every answer in its domain: a diet, an allergy, a health
condition, a fear, a dislike, a budget, a strong like, a language or style instruction. Each one gets
*domains* from its words (a small lexicon: food, travel, health, shopping, ...); a query gets domains from its
words too, widened by :data:`REACH` (a travel question reaches the user's diet and health: they eat and move
while travelling). The packer gives standing items whose domains meet the query's a share of the budget of
their own, even when they share no word with the query ("Can you recommend cafes?" brings "Follows a strict
gluten-free diet"); a query with no domain forces nothing in.

A *low-content* turn ("Okay.", "Nice to meet you, Ann!", "Sounds great, thanks!") says nothing about the
user: it is never quoted in a context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .text import terms

#: Domains of words (listed in plain form; matched on the same stems as the lexical ranker uses).
_DOMAIN_WORDS: dict[str, str] = {
    "food": """smoothie smoothies banana bananas apple apples berries spinach kale avocado tomato tomatoes onion
        onions garlic mushroom mushrooms rice pasta noodles beans tofu yogurt juice juices chocolate candy sweets
        snacks vegetable plant-based high-protein dining dine food foods eat eats eating ate diet diets dietary meal
        meals restaurant restaurants cafe cafes café coffee tea dinner dinners lunch lunches breakfast brunch snack
        snacks recipe recipes cook cooks cooking bake baking dish dishes cuisine cuisines menu menus vegan vegans
        vegetarian pescatarian gluten dairy lactose peanut peanuts nut nuts shellfish seafood fish meat meats pork
        beef chicken egg eggs sugar keto kosher halal drink drinks wine beer alcohol cocktail cocktails bar bars pub
        pubs grocery groceries bakery bakeries pastry pastries dessert desserts pizza burger burgers sushi cheese milk
        bread food ingredient ingredients bistro eatery eateries diner takeout protein supplement supplements
        nutrition soup salad salads fruit vegetables spicy taste tasting chef""",
    "health": """stress stressed wellness wellbeing well-being mental meditation mindfulness sensory irritation joint
        joints respiratory breathing trauma concussion concussions nausea nauseous dyslexia adhd sickness medical heat
        allergy allergies allergic intolerance intolerant celiac coeliac diabetes diabetic asthma epilepsy condition
        conditions medication medications medicine doctor doctors pain injury injuries knee knees back wheelchair
        disability disabled blind deaf hearing mobility anxiety anxious depression health healthy chronic migraine
        migraines pregnant pregnancy sober sick illness therapy symptoms sleep insomnia heart blood pressure surgery
        hospital""",
    "fitness": """physical martial combat boxing karate workout-routine activewear sporty athletic active fit exercise
        exercises workout workouts gym run runs running runner hike hikes hiking hiker sport sports swim swimming yoga
        pilates training train fitness cardio marathon marathons cycling bike biking climbing climb strength muscle
        muscles endurance stretch stretching weights lifting""",
    "travel": """attraction attractions landmark landmarks monument monuments excursion excursions explore exploring
        sightsee paris rome london tokyo dubai vegas florence venice barcelona madrid lisbon berlin amsterdam prague
        vienna athens istanbul bangkok bali sydney york orleans chicago miami aspen hawaii iceland italy france spain
        japan mexico greece thailand portugal ibiza cancun kyoto seoul singapore dublin edinburgh alaska caribbean
        travel travels traveling travelling trip trips flight flights fly flying flies plane planes airport airports
        airline airlines vacation vacations holiday holidays hotel hotels hostel visit visiting tour tours tourist
        tourists destination destinations abroad cruise cruises itinerary journey sightseeing passport luggage resort
        resorts trek visa train trains""",
    "outdoors": """hunting hunt sun sunny heat humidity outdoor outdoors hike hiking camping camp nature beach beaches
        mountain mountains height heights adventure adventures climbing ski skiing surf surfing kayak kayaking park
        parks trail trails water ocean sea lake sailing sail boat boating fishing garden gardening""",
    "shopping": """buy buying bought shop shops shopping purchase purchases store stores gift gifts brand brands
        product products deal deals order ordering retailer""",
    "money": """budget budgets afford affordable expensive cheap cheaper price prices cost costs money save saving
        savings frugal spend spending pay paying luxury""",
    "screen": """fiction content zombie zombies thriller thrillers sci-fi fantasy apocalyptic violence violent episode
        episodes movie movies film films show shows series tv television watch watching netflix streaming anime comedy
        comedies horror drama dramas documentary documentaries cinema sitcom""",
    "music": """music song songs concert concerts album albums band bands singer singers jazz rock pop classical
        hip-hop rap blues metal punk opera reggae techno folk indie instrument instruments guitar piano violin listen
        listening karaoke playlist""",
    "reading": """book books read reading novel novels author authors poetry poem poems library fiction""",
    "games": """virtual vr simulation simulations role-playing larp graphics rpg rpgs tabletop mobile fantasy game
        games gaming videogame videogames console chess puzzle puzzles boardgames""",
    "art": """cultural culture historical museum monument monuments performance performances troupe troupes live
        heritage art arts museum museums painting paintings paint draw drawing gallery galleries sculpture photography
        craft crafts pottery theater theatre dance dancing festival festivals""",
    "leisure": """entertainment experience experiences event events party parties club clubs casino casinos gambling
        nightlife immersive interactive retreat retreats weekend weekends hobby hobbies fun activity activities bored
        boredom relax relaxing pastime pastimes leisure""",
    "tech": """artificial intelligence gadget gadgets wearable wearables tracker trackers technology tech device
        devices smartphone smartphones phone phones tablet tablets virtual vr ai simulation simulations digital online
        code coding python javascript bug bugs app apps software computer computers laptop laptops programming program
        developer flask django server servers database error errors crash crashes debugging debug api linux windows
        script scripts function compile""",
    "places": """crime safety safe nightlife city cities town towns neighborhood neighborhoods neighbourhood region
        regions place places area areas suburb suburbs urban rural countryside climate climates weather humid humidity
        heat hot cold temperate temperature rain rainy sunny noise noisy quiet crowded crowds downtown location
        locations""",
    "home": """house houses home homes apartment apartments flat rent renting neighborhood neighbourhood neighborhoods
        city cities living live move moving relocate garden furniture decor""",
    "work": """coworker coworkers employee employees staff team teams team-building company business management
        workshop workshops conference conferences off-site job jobs work working career careers office remote
        colleague colleagues boss meeting meetings interview interviews workplace salary""",
    "learning": """educational education project projects studies gre sat online calculus language languages research
        papers articles economics math mathematics history science physics chemistry biology subject subjects tutorial
        tutorials lecture lectures learn learning study studying course courses class classes exam exams school
        university tutor lesson lessons teach teaching textbook textbooks flashcards""",
    "fashion": """pattern patterns print prints floral graphic tee tees heel heels flats sneakers boots sandals
        garment garments polyester nylon cotton silk linen denim suede synthetic synthetics material materials textile
        textiles oversized sleeve sleeves sleeveless skirt skirts pants trousers shorts top tops blouse blouses suit
        suits outerwear layer layers footwear trendy fashionable stylish vintage second-hand thrift handmade cozy coat
        coats handbag handbags bag bags t-shirt t-shirts shirt shirts leather fur wool woolen logo logos jeans sweater
        sweaters clothes clothing wear wearing outfit outfits dress dresses jacket jackets shoes shoe fashion wardrobe
        fabric fabrics jewelry accessories""",
    "beauty": """foundation concealer toner toners facial cleanser cleansers cosmetic moisturizers sunscreen
        mascara blush primer eyeshadow eyeshadows palette palettes scrub scrubs exfoliating anti-aging wrinkles
        silicone silicones glitter shimmer ayurvedic lip lips balm lipstick nail nails moisturizer shampoo skincare
        makeup cosmetics beauty hair skin serum serums lotion fragrance perfume""",
    "vehicles": """sedan sedans hatchback hatchbacks mileage mpg hybrid hybrids minivan minivans trucks diesel
        convertible convertibles engine engines suvs fuel emissions automaker automakers car cars vehicle vehicles
        drive driving suv electric commute truck motorcycle""",
    "animals": """animal animals pet pets dog dogs cat cats zoo zoos wildlife""",
}


def _stems(words: str) -> frozenset[str]:
    return frozenset(t for w in words.split() for t in terms(w))


#: Stem -> the domains it belongs to.
LEXICON: dict[str, frozenset[str]] = {}
for _domain, _words in _DOMAIN_WORDS.items():
    for _stem in _stems(_words):
        LEXICON[_stem] = LEXICON.get(_stem, frozenset()) | {_domain}

#: Domains whose standing items bear on a question of a domain (besides its own).
REACH: dict[str, frozenset[str]] = {
    "food": frozenset({"health", "money"}),
    "travel": frozenset(
        {"food", "health", "money", "outdoors", "animals", "fitness", "places", "art", "music", "leisure", "fashion"}
    ),
    "outdoors": frozenset({"health", "fitness", "travel", "leisure", "fashion"}),
    "fitness": frozenset({"health", "food", "outdoors", "leisure", "places", "tech", "fashion"}),
    "health": frozenset({"food", "fitness", "leisure"}),
    "learning": frozenset({"tech", "reading", "screen", "games", "work"}),
    "tech": frozenset({"learning", "reading", "work"}),
    "shopping": frozenset({"money", "fashion", "beauty", "food", "vehicles"}),
    "fashion": frozenset({"money", "shopping"}),
    "beauty": frozenset({"health", "money", "animals"}),
    "home": frozenset({"money", "animals", "health", "places"}),
    "places": frozenset({"home", "money", "health"}),
    "work": frozenset({"places", "money", "leisure", "learning"}),
    "vehicles": frozenset({"money"}),
    **{d: frozenset({"money"}) for d in ("screen", "music", "reading", "games", "art")},
    "leisure": frozenset(
        {"screen", "music", "reading", "games", "art", "fitness", "outdoors", "food", "travel", "animals", "money"}
    ),
}
#: The domain of style and language instructions: it meets every query.
STYLE = "style"

_STYLE = re.compile(
    r"standing instruction|\b(?:answer|respond|reply|write|talk|speak)s?\s+(?:to\s+me\s+)?in\b|"
    r"\b(?:keep|make)\s+(?:your\s+|the\s+)?(?:answers?|replies|responses)\b",
    re.IGNORECASE,
)
#: Constraint and strong-preference markers (insights and user turns).
_CONSTRAINT = (
    r"allerg|intoleran|celiac|coeliac|diabet|vegan|vegetarian|pescatarian|kosher|halal|gluten|dairy-free|lactose|"
    r"\bdiets?\b|\b(?:can'?t|cannot|can\s+not|don'?t|doesn'?t|does\s+not|do\s+not|never|won'?t|will\s+not)\s+"
    r"(?:eat|drink|wear|use|fly|drive|swim|watch|stand|bear|tolerate|consider|consume|buy|purchase|read|smoke)|\bavoid|\brefus|afraid|scared|"
    r"terrified|\bfears?\b|phobi|\bhates?\b|\bdislike|aversion|not\s+a\s+(?:big\s+|huge\s+)?fan|no\s+interest|"
    r"not\s+interested|\b(?:don'?t|doesn'?t|do\s+not|does\s+not)\s+(?:like|enjoy|want|care\s+for)|prefer|"
    r"budget|afford|wheelchair|disab|\bblind\b|\bdeaf\b|mobility|chronic|asthma|epilep|migraine|pregnan|"
    r"\bsober\b|stay\s+away|objection|strictly|exclusively|^only\b|uncomfortable|averse|tolerance|tolerate|"
    r"\bfinds\b|no\s+longer\s+(?:eats|drinks|wears|buys|watches)|learns\s+best"
)
#: A strong like as the statement's predicate ("Loves jazz", "Melanie loves painting"), or a favourite.
_STRONG_LIKE = re.compile(
    r"^(?:[\w'-]+\s+)?(?:really\s+|also\s+)?(?:loves?|adores?|is\s+passionate\s+about|is\s+a\s+(?:huge|big)\s+fan\s+of)"
    r"\b|\bfavou?rite\b",
    re.IGNORECASE,
)
_STANDING_INSIGHT = re.compile(_CONSTRAINT, re.IGNORECASE)
_FEW = r"(?:[\w'-]+\s+){0,6}?"
_NEAR = r"(?:[\w'-]+\s+){0,3}?"
#: A user's own standing statement: the constraint is said of "I" or "my" ("I'm allergic to", "I avoid",
#: "I have a severe peanut allergy", "my diet"), not merely near it ("I was scared when we crashed").
_I_AM = (
    r"allergic|intolerant|vegan|vegetarian|pescatarian|celiac|coeliac|diabetic|(?:afraid|scared|terrified)\s+of|"
    r"not\s+into|fascinated\s+by|not\s+(?:a\s+)?(?:big\s+|huge\s+)?fan\s+of|not\s+interested\s+in|sober|averse\s+to|not\s+comfortable|"
    r"(?:on|following)\s+a\s+" + _FEW + r"diet"
)
_I_DO = (
    r"avoid|refuse|dislike|hate|detest|despise|loathe|prefer|prioriti[sz]e|stay\s+away|use\s+a\s+wheelchair|"
    r"can'?t\s+handle|find\s+it\s+(?:hard|difficult)|learn\s+best|"
    r"follow\s+a\s+" + _FEW + r"diet|get\s+(?:very\s+|really\s+)?uncomfortable|"
    r"(?:only|exclusively)\s+(?:eat|drink|wear|use|buy|watch|read|consider|travel|stay|listen)|"
    r"(?:can'?t|cannot|won'?t|will\s+not)\s+(?:stand|bear|consider|eat|drink|tolerate)|"
    r"(?:don'?t|do\s+not|never)\s+(?:eat|drink|consume|like|enjoy|want|wear|use|watch|fly|drive)"
)
_I_HAVE = (
    r"allerg(?:y|ies)|intolerance|aversion|phobia|fear\s+of|preference|no\s+interest|diabetes|asthma|epilepsy|"
    r"celiac|coeliac|(?:ethical\s+)?objection|a\s+(?:tight|limited|small)\s+budget"
)
#: A user's own standing statement: the constraint is said of "I" or "my" ("I'm allergic to", "I avoid",
#: "I have a severe peanut allergy", "my diet"), not merely near it ("I was scared when we crashed").
_STANDING_TURN = re.compile(
    rf"\bI(?:'m|\s+am)\s+{_NEAR}(?:{_I_AM})\b|\bI\s+{_NEAR}(?:{_I_DO})\b|"
    rf"\bI(?:\s+have|'ve)\s+(?:got\s+)?{_FEW}(?:{_I_HAVE})\b|"
    r"\bmy\s+(?:\w+\s+){0,2}(?:allerg(?:y|ies)|diet|budget|intolerance|phobia)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\s*I(?:'m|'ve|\s)", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
#: Slots (see the heuristic reasoner and the derivation prompt) whose holders are standing by nature.
_STANDING_SLOTS = (
    "diet",
    "budget",
    "allergy:",
    "health:",
    "dislike:",
    "like:",
    "food:",
    "fear:",
    "taste:",
    "instruction:",
    "favorite:",
    "only:",
    "habit:",
    "learns:",
    "choice:",
)
#: Kinds that never stand: a goal, a passing feeling, a belief or a skill does not constrain every answer.
_TRANSIENT_KINDS = frozenset({"goal", "emotion", "belief", "knowledge", "relationship"})
#: Longest third-person insight read as standing, in words.
MAX_STANDING_INSIGHT_WORDS = 16
#: A standing marker must start within an insight's first this many words (its predicate, not an aside).
HEAD_WORDS = 5
#: Longest user turn read as a standing statement, in words (longer turns are stories, not constraints).
MAX_STANDING_TURN_WORDS = 60

#: Words of greetings, thanks, acknowledgements and small talk (a turn made of them says nothing).
_PLEASANTRY = _stems(
    """hi hello hey hiya howdy greetings bye goodbye cheers thanks thank thx ty welcome please sorry okay ok
    okey alright sure great good nice cool awesome wonderful amazing fantastic perfect excellent glad
    happy pleasure meet meeting sounds sound help helping helped yeah yep yup yes no nope wow oh ah haha lol
    hehe hmm indeed absolutely definitely totally exactly right true agreed appreciate appreciated really
    much lot day morning evening night later soon see talk chat luck care take let know got get gotcha
    understand understood noted fine thing things anytime problem worries course that's it's what's you're
    that'll sounds congratulations congrats enjoy choice lovely brilliant""",
)
#: A capitalised word after the first one: a name ("Nice to meet you, Ann!").
_NAME = re.compile(r"(?<=\W)(?-i:[A-Z])[\w'-]+")
#: Most content words a pleasantry-bearing turn may hold and still say nothing (a name: "Nice to meet you, Ann!").
MAX_LOW_CONTENT_WORDS = 1


def domains_of(words: Iterable[str]) -> frozenset[str]:
    """The domains of stemmed ``words`` (see :func:`personal_core.text.terms`)."""
    found: set[str] = set()
    for word in words:
        hit = LEXICON.get(word)
        if hit:
            found |= hit
    return frozenset(found)


def item_domains(text: str) -> frozenset[str]:
    """The domains a standing item's ``text`` constrains (plus :data:`STYLE` for style instructions)."""
    found = domains_of(terms(text))
    return found | {STYLE} if _STYLE.search(text) else found


#: Words with a sense outside their domains ("run a loop", "book a trip", "play a file"): they give a query its
#: domain only when no other word does.
AMBIGUOUS = _stems("run runs running ran train trains training book books booking booked play plays playing")


def query_reach(query_terms: Iterable[str]) -> dict[str, int]:
    """Domain -> weight for a query: 2 for the query's own domains, 1 for those they reach (:data:`REACH`) and
    for :data:`STYLE`; empty when the query names no domain. :data:`AMBIGUOUS` words count only alone."""
    words = list(query_terms)
    own = domains_of(w for w in words if w not in AMBIGUOUS) or domains_of(words)
    if not own:
        return {}
    reach = {d: 1 for domain in own for d in REACH.get(domain, ())}
    reach.update({d: 2 for d in own})
    reach[STYLE] = 1
    return reach


def match(domains: frozenset[str], reach: Mapping[str, int]) -> int:
    """How well an item of ``domains`` fits a query's ``reach`` (0: not at all)."""
    return max((reach.get(d, 0) for d in domains), default=0)


def is_standing_insight(text: str, kind: str, slot: str | None = None) -> bool:
    """Whether an insight states a standing preference or constraint (diet, allergy, fear, dislike, budget,
    strong like, style instruction...): a standing slot, a style instruction, a first-person statement like a
    standing turn, or a marker among its first :data:`HEAD_WORDS` words ("Is allergic to peanuts", "Melanie
    loves painting"; not "...appreciates the themes of self-acceptance and love")."""
    if slot and slot.startswith(_STANDING_SLOTS):
        return True
    if _STYLE.search(text):
        return True
    if kind in _TRANSIENT_KINDS:
        return False
    if is_standing_turn(text) or (_FIRST_PERSON.match(text) and _STANDING_INSIGHT.search(text)):
        return True  # a first-person statement (an LLM may write the user's own words down)
    if len(text.split()) > MAX_STANDING_INSIGHT_WORDS:
        return False  # a story, not a standing statement
    found = _STANDING_INSIGHT.search(text) or _STRONG_LIKE.search(text)
    return found is not None and len(text[: found.start()].split()) < HEAD_WORDS


def is_standing_turn(text: str) -> bool:
    """Whether a user's own turn states a standing constraint in the first person ("I have a severe peanut
    allergy", "I avoid crowded places"); long turns are stories and never count."""
    return bool(standing_turn_domains(text, check_only=True))


def standing_turn_domains(text: str, check_only: bool = False) -> frozenset[str]:
    """The domains of the sentences of a user turn that state a standing constraint (empty: none does). Only
    those sentences count: "Can I watch you play? I'm allergic to fur." constrains animals, not films."""
    if len(text.split()) > MAX_STANDING_TURN_WORDS:
        return frozenset()
    text = text.replace("\u2019", "'")
    found: set[str] = set()
    for sentence in _SENTENCE.split(text):
        if _STANDING_TURN.search(sentence) or _STYLE.search(sentence):
            domains = item_domains(sentence)
            if check_only:
                return domains | {STYLE}
            found |= domains
    return frozenset(found)


def is_low_content(text: str) -> bool:
    """Whether a turn says nothing worth quoting: no content word at all ("Okay.", "Sounds great, thanks!"), or
    greetings, thanks and acknowledgements around a name only ("Nice to meet you, Ann!", "Thanks, Caroline!")."""
    words = terms(text)
    content = [w for w in words if w not in _PLEASANTRY]
    if not content:
        return True
    if len(content) > MAX_LOW_CONTENT_WORDS or len(content) == len(words):
        return False
    names = {terms(w)[0] for w in _NAME.findall(text) if terms(w)}
    return all(w in names for w in content)
