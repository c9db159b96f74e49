"""PersonalRetriever: insights as NodeWithScore(TextNode) with metadata, sync and async."""

from __future__ import annotations

import pytest
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from llamaindex_personal import PersonalRetriever
from personal_core import InvalidInputError, UserModeler

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


@pytest.fixture
def ann(modeler: UserModeler) -> UserModeler:
    modeler.observe(
        "ann",
        [
            {"id": "m1", "role": "user", "content": "I love hiking in the mountains."},
            {"id": "m2", "role": "user", "content": "I'm allergic to peanuts."},
            {"id": "m3", "role": "user", "content": "I want to run a marathon next year."},
        ],
        session_id="s1",
    )
    modeler.observe("bob", [{"role": "user", "content": "I love sushi."}])
    return modeler


def test_retrieves_insights_as_nodes_with_metadata(ann: UserModeler) -> None:
    nodes = PersonalRetriever("ann", ann).retrieve("mountain hiking trip")
    assert nodes and all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    top = nodes[0]
    assert top.node.get_content() == "Loves hiking in the mountains"
    assert top.node.metadata["kind"] == "preference"
    assert top.node.metadata["evidence"] == ["m1"]
    assert top.node.metadata["user_id"] == "ann" and top.node.metadata["level"] == "explicit"
    assert 0 < top.node.metadata["confidence"] <= 1
    insight = next(i for i in ann.user_model("ann").insights if i.text == "Loves hiking in the mountains")
    assert top.node.node_id == insight.id
    scores = [n.score or 0.0 for n in nodes]
    assert scores == sorted(scores, reverse=True)
    llm_view = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "kind: preference" in llm_view and "m1" not in llm_view and "user_id" not in llm_view


def test_top_k_kinds_and_users(ann: UserModeler) -> None:
    assert len(PersonalRetriever("ann", ann, similarity_top_k=1).retrieve("anything")) == 1
    goals = PersonalRetriever("ann", ann, kinds=["goal"]).retrieve("plans")
    assert [n.node.get_content() for n in goals] == ["Wants to run a marathon next year"]
    texts = {n.node.get_content() for n in PersonalRetriever("bob", ann).retrieve("food")}
    assert texts == {"Loves sushi"}


async def test_aretrieve(ann: UserModeler) -> None:
    nodes = await PersonalRetriever("ann", ann).aretrieve(QueryBundle("peanut allergy"))
    assert nodes[0].node.get_content() == "Allergic to peanuts"


def test_bad_input(ann: UserModeler) -> None:
    with pytest.raises(InvalidInputError, match="unknown insight kind"):
        PersonalRetriever("ann", ann, kinds=["hobbies"])
    with pytest.raises(InvalidInputError, match="similarity_top_k"):
        PersonalRetriever("ann", ann, similarity_top_k=0)
    with pytest.raises(InvalidInputError, match="user_id"):
        PersonalRetriever("", ann)
    with pytest.raises(InvalidInputError, match="user_id is required"):
        PersonalRetriever.from_defaults(modeler=ann)
    with pytest.raises(InvalidInputError, match="modeler"):
        PersonalRetriever("ann", object())  # type: ignore[arg-type]
