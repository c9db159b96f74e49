"""PersonalRetriever: insights as Documents, per user, in RAG chains."""

from __future__ import annotations

from datetime import datetime

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_personal import PersonalMemory, PersonalRetriever
from personal_core import InvalidInputError

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def _say(memory: PersonalMemory, user_id: str, *texts: str) -> None:
    for text in texts:
        memory.modeler.observe(user_id, [{"role": "user", "content": text, "id": f"{user_id}-{abs(hash(text))}"}])


def test_documents_carry_the_insight_metadata(memory) -> None:
    _say(memory, "ann", "I'm allergic to peanuts.")
    [doc] = memory.as_retriever(user_id="ann").invoke("peanuts")
    insight = memory.modeler.user_model("ann").insights[0]
    assert doc.page_content == "Allergic to peanuts" and doc.id == insight.id
    md = doc.metadata
    assert md["id"] == insight.id and md["kind"] == "fact" and md["user_id"] == "ann"
    assert md["confidence"] == insight.confidence and md["evidence"] == insight.evidence
    assert datetime.fromisoformat(md["valid_from"]) == insight.valid_from and md["valid_to"] is None
    assert md["score"] > 0 and md["times_seen"] == 1 and md["level"] == "explicit"


def test_rag_chain_returns_only_that_users_insights(memory, make_model, cfg) -> None:
    _say(memory, "ann", "I love hiking.", "I'm allergic to peanuts.")
    _say(memory, "bob", "I love cycling.", "I'm vegetarian.", "I love chess.")
    model = make_model()
    retriever = memory.as_retriever(k=10)  # no user bound: each run's config says whose insights

    def fmt(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_messages([("system", "About the user:\n{notes}"), ("human", "{question}")])
    rag = {"notes": retriever | fmt, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()

    assert rag.invoke("What snack for my hike?", config=cfg("ann")) == "ok"
    ann = model.system_text(-1)
    rag.invoke("What snack for my hike?", config=cfg("bob"))
    bob = model.system_text(-1)
    assert set(ann.splitlines()[1:]) == {"Loves hiking", "Allergic to peanuts"}
    assert set(bob.splitlines()[1:]) == {"Loves cycling", "Is vegetarian", "Loves chess"}


async def test_async_and_per_call_arguments(memory) -> None:
    _say(memory, "ann", "I love hiking.", "I love jazz.", "I want to learn Spanish.", "I'm allergic to cats.")
    retriever = memory.as_retriever(user_id="ann", k=2)
    assert len(await retriever.ainvoke("hobbies")) == 2
    assert len(retriever.invoke("hobbies", k=4)) == 4
    goals = retriever.invoke("anything", kinds=["goal"])
    assert [d.page_content for d in goals] == ["Wants to learn Spanish"]
    prefs = await memory.as_retriever(user_id="ann", kinds="preference", k=10).ainvoke("music")
    assert {d.metadata["kind"] for d in prefs} == {"preference"} and len(prefs) == 2
    assert memory.as_retriever(user_id="bob").invoke("hiking") == []  # unknown user: nothing, no error
    assert [d.page_content for d in retriever.invoke("jazz", user_id="ann", k=1)] == ["Loves jazz"]


def test_missing_user_id_and_bad_arguments_are_clear_errors(memory, cfg) -> None:
    retriever = memory.as_retriever()
    with pytest.raises(InvalidInputError, match=r'config\["configurable"\]\["user_id"\] is missing'):
        retriever.invoke("x")
    with pytest.raises(InvalidInputError, match=r'config\["configurable"\]\["user_id"\] must be a str, got int'):
        retriever.invoke("x", config={"configurable": {"user_id": 5}})
    with pytest.raises(InvalidInputError, match="k must be a non-negative int"):
        memory.as_retriever(user_id="ann", k=-1)
    with pytest.raises(InvalidInputError, match="k must be a non-negative int"):
        memory.as_retriever(user_id="ann").invoke("x", k="3")
    with pytest.raises(InvalidInputError, match="unknown insight kind"):
        memory.as_retriever(user_id="ann", kinds=["hobby-ish"])
    with pytest.raises(InvalidInputError, match="query must be a str"):
        memory.as_retriever(user_id="ann").invoke(123)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="needs modeler="):
        PersonalRetriever(user_id="ann")
    with pytest.raises(InvalidInputError, match="not both"):
        PersonalRetriever(memory=memory, modeler=memory.modeler)


def test_superseded_insights_only_on_request(memory) -> None:
    old = memory.modeler.add_insight("ann", "Lives in Lisbon", "fact")
    from personal_core import ModelUpdate, NewInsight, Supersession

    class Mover:
        name = "mover"

        def derive(self, messages):  # a reasoner reporting that the user moved
            return ModelUpdate(
                supersessions=[
                    Supersession(
                        insight_id=old.id,
                        replacement=NewInsight(kind="fact", text="Lives in Porto", evidence=[messages[0].id]),
                    )
                ]
            )

    memory.modeler.internals.ingest.inline = Mover()  # swap the inline reasoner for this one change
    memory.modeler.observe("ann", [{"role": "user", "content": "I moved to Porto."}])
    assert [d.page_content for d in memory.as_retriever(user_id="ann").invoke("where do I live")] == ["Lives in Porto"]
    both = memory.as_retriever(user_id="ann", include_superseded=True).invoke("where do I live")
    by_text = {d.page_content: d for d in both}
    assert set(by_text) == {"Lives in Porto", "Lives in Lisbon"}
    assert by_text["Lives in Lisbon"].metadata["valid_to"] is not None


def _four(memory: PersonalMemory) -> None:
    _say(memory, "ann", "I love hiking.", "I love jazz.", "I want to learn Spanish.", "I'm allergic to cats.")


def test_search_kwargs_k_filter_and_threshold_are_honoured(memory) -> None:
    _four(memory)
    assert len(memory.as_retriever(user_id="ann").invoke("hobbies")) == 4  # default k
    assert len(memory.as_retriever(user_id="ann", search_kwargs={"k": 1}).invoke("hobbies")) == 1
    prefs = memory.as_retriever(user_id="ann", search_kwargs={"filter": {"kind": "preference"}}).invoke("music")
    assert {d.page_content for d in prefs} == {"Loves hiking", "Loves jazz"}
    for where in ({"kind": ["goal", "fact"]}, {"kind": {"$in": ["goal", "fact"]}}):
        docs = memory.as_retriever(user_id="ann", search_kwargs={"filter": where}).invoke("anything")
        assert {d.metadata["kind"] for d in docs} == {"goal", "fact"}
    scores = [d.metadata["score"] for d in memory.as_retriever(user_id="ann").invoke("jazz music")]
    cut = (scores[0] + scores[1]) / 2  # between the best and the second best
    above = memory.as_retriever(
        user_id="ann", search_type="similarity_score_threshold", search_kwargs={"score_threshold": cut}
    ).invoke("jazz music")
    assert [d.page_content for d in above] == ["Loves jazz"]
    plain = memory.as_retriever(user_id="ann", search_kwargs={"score_threshold": scores[0] + 1})
    assert plain.invoke("jazz music") == []
    assert len(plain.invoke("jazz music", score_threshold=0.0)) == 4  # per call, as k and kinds


def test_search_kwargs_through_the_constructor_and_per_call(memory) -> None:
    _four(memory)
    retriever = PersonalRetriever(
        memory=memory, user_id="ann", search_kwargs={"k": 2, "filter": {"kind": "preference"}}
    )
    assert retriever.k == 2 and retriever.kinds == ["preference"]
    assert {d.metadata["kind"] for d in retriever.invoke("x")} == {"preference"}
    assert len(retriever.invoke("x", k=1)) == 1


def test_unsupported_search_type_and_search_kwargs_are_clear_errors(memory) -> None:
    with pytest.raises(InvalidInputError, match=r"search_type 'mmr' is not supported.*similarity, similarity_score"):
        memory.as_retriever(user_id="ann", search_type="mmr")
    with pytest.raises(InvalidInputError, match=r"unsupported search_kwargs \['fetch_k', 'lambda_mult'\]"):
        memory.as_retriever(user_id="ann", search_kwargs={"k": 2, "fetch_k": 20, "lambda_mult": 0.5})
    with pytest.raises(InvalidInputError, match=r'needs search_kwargs\["score_threshold"\]'):
        memory.as_retriever(user_id="ann", search_type="similarity_score_threshold")
    with pytest.raises(InvalidInputError, match="unsupported filter"):
        memory.as_retriever(user_id="ann", search_kwargs={"filter": {"user_id": "bob"}})
    with pytest.raises(InvalidInputError, match="unknown insight kind"):
        memory.as_retriever(user_id="ann", search_kwargs={"filter": {"kind": "hobby"}})
    with pytest.raises(InvalidInputError, match="k is given twice"):
        memory.as_retriever(user_id="ann", k=3, search_kwargs={"k": 1})
    with pytest.raises(InvalidInputError, match="score_threshold must be a number"):
        memory.as_retriever(user_id="ann", search_kwargs={"score_threshold": "high"})
    with pytest.raises(InvalidInputError, match="k must be a non-negative int"):
        memory.as_retriever(user_id="ann", search_kwargs={"k": -2})


def test_tags_and_metadata_reach_the_run(memory) -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    class Spy(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts: list[tuple[list[str], dict[str, object]]] = []

        def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, tags=None, metadata=None, **kw):  # type: ignore[no-untyped-def]
            self.starts.append((list(tags or []), dict(metadata or {})))

    _four(memory)
    spy = Spy()
    retriever = memory.as_retriever(user_id="ann", tags=["personal"], metadata={"app": "demo"})
    retriever.invoke("music", config={"callbacks": [spy], "tags": ["call"], "metadata": {"req": 1}})
    [(tags, metadata)] = spy.starts
    assert {"personal", "call"} <= set(tags)
    assert metadata["app"] == "demo" and metadata["req"] == 1
