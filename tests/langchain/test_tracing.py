"""The reasoner's LLM calls are runs of their own: named, tagged, with hashed metadata, and invisible to the
app's callbacks (even when derivation runs inline, inside the app's chain); only the reasoner's callbacks see them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tracers.context import collect_runs

from langchain_personal import AsyncChatModelLLM, ChatModelLLM, PersonalMemory
from personal_core import CallInfo, HashingEmbedder, is_derivation_prompt
from personal_core.llm import DERIVE_MARKER, acall_llm, call_llm, calling, user_hash

USER = "user-4711-private"
SECRET = "my passport number is X1234567"
UPDATE = {
    "new_insights": [
        {"kind": "fact", "text": "Travels abroad", "confidence": 0.8, "level": "inferred", "evidence": ["m1"]}
    ]
}


class ScriptedChatModel(GenericFakeChatModel):
    """A real LangChain chat model (callbacks, runs, configs) that answers derivation prompts with an update and
    every other prompt with ``"Noted."``."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        derive = bool(messages) and messages[0].type == "system" and str(messages[0].text).startswith(DERIVE_MARKER)
        reply = json.dumps(UPDATE) if derive else "Noted."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


class RunLog(BaseCallbackHandler):
    """Records every chat model run: its name, tags, metadata and prompt text."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.runs.append(
            {
                "name": kwargs.get("name"),
                "parent": parent_run_id,
                "tags": list(tags or []),
                "metadata": dict(metadata or {}),
                "system": "\n".join(str(m.text) for m in messages[0] if m.type == "system"),
                "text": "\n".join(str(m.text) for m in messages[0]),
            }
        )

    def derivations(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["system"].startswith(DERIVE_MARKER)]


def _prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages(
        [("system", "You are helpful.\n{user_context}"), MessagesPlaceholder("history"), ("human", "{question}")]
    )


def _memory(tmp_path: Path, llm: Any, **options: Any) -> PersonalMemory:
    return PersonalMemory(path=tmp_path / "store", llm=llm, embedder=HashingEmbedder(), inline=True, **options)


def _config(app: RunLog) -> RunnableConfig:
    return {"callbacks": [app], "configurable": {"user_id": USER, "session_id": "s1"}}


def _assert_private(run: dict[str, Any]) -> None:
    """No user id nor user text anywhere in a run's metadata or tags."""
    blob = json.dumps([run["metadata"], run["tags"]], default=str)
    assert USER not in blob and "passport" not in blob and "X1234567" not in blob


def test_inline_derivation_in_an_app_chain_is_invisible_to_the_apps_handler(tmp_path: Path) -> None:
    model = ScriptedChatModel(messages=iter(()))
    app, reasoner = RunLog(), RunLog()
    with _memory(tmp_path, model, reasoner_callbacks=[reasoner]) as memory:
        chain = memory.wrap(_prompt() | model, input_messages_key="question", history_messages_key="history")
        reply = chain.invoke({"question": SECRET}, config=_config(app))
        assert reply.content == "Noted."
        # derivation ran inline, during the app's chain run
        assert [i.text for i in memory.modeler.user_model(USER).insights] == ["Travels abroad"]

    assert len(app.runs) == 1 and app.derivations() == [], "the app's handler sees only the app's own call"
    assert SECRET in app.runs[0]["text"]
    assert len(reasoner.runs) == 1 and reasoner.derivations() == reasoner.runs, "only derivation calls"
    run = reasoner.runs[0]
    assert run["name"] == "personal.derive"
    assert run["parent"] is None, "a root run of its own, not a child of the app's chain"
    assert {"personal", "personal:derive"} <= set(run["tags"])
    assert run["metadata"]["personal_kind"] == "derive"
    assert SECRET in run["text"]  # the prompt itself goes to the reasoner's handler only
    _assert_private(run)


async def test_async_inline_derivation_is_invisible_to_the_apps_handler(tmp_path: Path) -> None:
    """An async adapter is awaited inside the app's run (same task, same context): it must not inherit it."""
    model = ScriptedChatModel(messages=iter(()))
    app, reasoner = RunLog(), RunLog()
    adapter = AsyncChatModelLLM(model, callbacks=[reasoner])
    async with _memory(tmp_path, adapter) as memory:
        chain = memory.wrap(_prompt() | model, input_messages_key="question", history_messages_key="history")
        reply = await chain.ainvoke({"question": SECRET}, config=_config(app))
        assert reply.content == "Noted."
        assert [i.text for i in (await memory.modeler.auser_model(USER)).insights] == ["Travels abroad"]

    assert len(app.runs) == 1 and app.derivations() == []
    assert [r["name"] for r in reasoner.runs] == ["personal.derive"]
    assert reasoner.runs[0]["parent"] is None
    _assert_private(reasoner.runs[0])


def test_ask_inside_an_app_chain_is_a_personal_ask_run(tmp_path: Path) -> None:
    model = ScriptedChatModel(messages=iter(()))
    app, reasoner = RunLog(), RunLog()
    with _memory(tmp_path, model, reasoner_callbacks=[reasoner]) as memory:
        memory.modeler.observe(USER, [{"role": "user", "content": SECRET}])
        tool = RunnableLambda(lambda question: memory.modeler.ask(USER, question))
        assert tool.invoke("Where does the user go?", config={"callbacks": [app]}) == "Noted."

    assert app.runs == [], "the app's handler sees neither the derivation nor the ask call"
    assert [r["name"] for r in reasoner.runs] == ["personal.derive", "personal.ask"]
    ask = reasoner.runs[1]
    assert {"personal", "personal:ask"} <= set(ask["tags"]) and ask["metadata"]["personal_kind"] == "ask"
    assert "Travels abroad" in ask["system"]
    _assert_private(ask)


def test_call_info_set_by_the_core_reaches_the_run_metadata_as_a_hash() -> None:
    reasoner, app = RunLog(), RunLog()
    adapter = ChatModelLLM(ScriptedChatModel(messages=iter(())), callbacks=[reasoner])
    prompt = [{"role": "system", "content": DERIVE_MARKER + " ..."}, {"role": "user", "content": SECRET}]
    assert is_derivation_prompt(prompt)

    def app_step(_: Any) -> str:
        # the core's sync path: call_llm runs the adapter in a thread of its own, carrying only the CallInfo
        with calling(CallInfo.of("derive", user_id=USER, batch_id="b-42")):
            return call_llm(adapter, prompt, timeout=30)

    assert RunnableLambda(app_step).invoke("go", config={"callbacks": [app]}) == json.dumps(UPDATE)
    assert app.runs == []
    run = reasoner.runs[0]
    assert run["metadata"]["personal_batch_id"] == "b-42"
    assert run["metadata"]["personal_user_hash"] == user_hash(USER) != USER
    _assert_private(run)


async def test_call_info_reaches_an_async_adapter() -> None:
    reasoner = RunLog()
    adapter = AsyncChatModelLLM(ScriptedChatModel(messages=iter(())), callbacks=[reasoner])
    ask = [{"role": "system", "content": "You answer questions"}, {"role": "user", "content": "Diet?"}]
    info = CallInfo.of("ask", user_id=USER)
    assert await acall_llm(adapter, ask, timeout=30, info=info) == "Noted."
    assert await acall_llm(adapter, ask, timeout=30) == "Noted."  # no CallInfo: the kind comes from the prompt
    first, second = reasoner.runs
    assert first["name"] == second["name"] == "personal.ask"
    assert first["metadata"]["personal_user_hash"] == user_hash(USER)
    assert "personal_user_hash" not in second["metadata"]


async def test_context_scoped_handlers_of_the_app_do_not_see_the_reasoner() -> None:
    """Handlers an app installs through context variables (``collect_runs``, LangSmith's ``tracing_context``) are
    not inherited either: the reasoner's calls run detached from the caller's context."""
    model = ScriptedChatModel(messages=iter(()))
    reasoner = RunLog()
    sync_adapter = ChatModelLLM(model, callbacks=[reasoner])
    async_adapter = AsyncChatModelLLM(model, callbacks=[reasoner])
    prompt = [{"role": "system", "content": DERIVE_MARKER + " ..."}, {"role": "user", "content": SECRET}]
    with collect_runs() as collected:
        model.invoke("the app's own call")
        assert sync_adapter(prompt) == json.dumps(UPDATE)
        assert await async_adapter(prompt) == json.dumps(UPDATE)
    assert [run.name for run in collected.traced_runs] == ["ScriptedChatModel"], "only the app's call"
    assert [r["name"] for r in reasoner.runs] == ["personal.derive", "personal.derive"]


def test_reasoner_callbacks_arguments(tmp_path: Path) -> None:
    import pytest

    from personal_core import InvalidInputError

    with pytest.raises(InvalidInputError, match="need an llm"):
        PersonalMemory(path=tmp_path / "a", reasoner_callbacks=[RunLog()], embedder=HashingEmbedder())
    with pytest.raises(InvalidInputError, match="pass them to it"):
        PersonalMemory(path=tmp_path / "b", llm=lambda m: "{}", reasoner_callbacks=[RunLog()])
    with pytest.raises(InvalidInputError, match="BaseCallbackHandler"):
        ChatModelLLM(ScriptedChatModel(messages=iter(())), callbacks=[object()])  # type: ignore[list-item]
