"""PersonalMemory: building or wrapping a UserModeler, ownership, and argument errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from langchain_core.messages import HumanMessage

import langchain_personal
from langchain_personal import PersonalMemory
from personal_core import ClosedError, HashingEmbedder, InvalidInputError, UserModeler

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.both_backends  # each test using `backend` runs embedded and on a server


def test_given_modeler_is_shared_and_left_open(backend: Backend) -> None:
    with UserModeler(**backend.where("s"), embedder=HashingEmbedder()) as modeler:
        memory = PersonalMemory(modeler)
        assert memory.modeler is modeler
        memory.history("ann").add_user_message("I love tea.")
        memory.close()
        assert modeler.user_model("ann").insights[0].text == "Loves tea"  # still open


def test_built_modeler_is_owned_and_closed(backend: Backend) -> None:
    with PersonalMemory(**backend.where("s"), embedder=HashingEmbedder(), default_max_tokens=123) as memory:
        assert memory.modeler.default_max_tokens == 123  # other UserModeler options pass through
        assert "hashing" in repr(memory)
    with pytest.raises(ClosedError):
        memory.modeler.messages("ann")


async def test_async_lifecycle(backend: Backend) -> None:
    async with PersonalMemory(**backend.where("s"), embedder=HashingEmbedder()) as memory:
        await memory.history("ann").aadd_messages([])
        await memory.aflush()
    with pytest.raises(ClosedError):
        memory.modeler.messages("ann")


def test_default_path_comes_from_personal_home(personal_home: Path) -> None:
    with PersonalMemory(embedder=HashingEmbedder()) as memory:
        memory.flush()
    assert (personal_home / "store" / "chroma.sqlite3").exists()


def test_argument_errors(tmp_path: Path) -> None:
    with UserModeler(tmp_path / "s", embedder=HashingEmbedder()) as modeler:
        with pytest.raises(InvalidInputError, match=r"not both.*path"):
            PersonalMemory(modeler, path=tmp_path / "other")
        with pytest.raises(InvalidInputError, match=r"not both.*inline"):
            PersonalMemory(modeler, inline=True)
    with pytest.raises(InvalidInputError, match=r"modeler must be a personal_core\.UserModeler"):
        PersonalMemory("./store")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="llm must be"):
        PersonalMemory(path=tmp_path / "t", llm="gpt-4o", embedder=HashingEmbedder())


def test_public_api() -> None:
    assert set(langchain_personal.__all__) >= {
        "PersonalMemory",
        "PersonalChatMessageHistory",
        "PersonalRetriever",
        "PersonalMiddleware",
        "ChatModelLLM",
        "AsyncChatModelLLM",
        "LangChainEmbedder",
    }
    assert (Path(langchain_personal.__file__).parent / "py.typed").exists()


async def test_memory_exposes_the_corrections(memory) -> None:
    memory.history("ann", "s").add_messages([HumanMessage("I live in Porto.")])
    (porto,) = memory.modeler.user_model("ann").insights
    braga = memory.correct("ann", porto.id, "Lives in Braga")
    assert memory.modeler.user_model("ann").card == ["Lives in Braga"]
    await memory.aretract("ann", braga.id, "moved again")
    assert memory.modeler.user_model("ann").current_insights() == []
    assert await memory.aset_card("ann", ["Name: Ann"]) == ["Name: Ann"]
    assert memory.set_card("ann", []) == []
