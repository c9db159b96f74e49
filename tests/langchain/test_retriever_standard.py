"""LangChain's standard retriever tests (langchain-tests RetrieversIntegrationTests) on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_personal import PersonalMemory, PersonalRetriever
from personal_core import HashingEmbedder

STATEMENTS = [
    "I love hiking in the Alps.",
    "I love trail running.",
    "I'm allergic to peanuts.",
    "I want to climb Mont Blanc next summer.",
    "My name is Ann and I live in Porto.",
    "I love hiking with my dog.",
]


class TestPersonalRetrieverStandard(RetrieversIntegrationTests):
    memory: PersonalMemory

    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> Iterator[None]:
        with PersonalMemory(path=tmp_path / "store", embedder=HashingEmbedder(), shards=4) as memory:
            for text in STATEMENTS:
                memory.modeler.observe("ann", [{"role": "user", "content": text}])
            memory.modeler.observe("bob", [{"role": "user", "content": "I love hiking in Norway."}])
            assert len(memory.modeler.user_model("ann").current_insights()) >= 3
            self.memory = memory
            yield

    @property
    def retriever_constructor(self) -> type[PersonalRetriever]:
        return PersonalRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "user_id": "ann"}

    @property
    def retriever_query_example(self) -> str:
        return "hiking trips"
