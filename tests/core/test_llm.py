"""personal_core.llm: one error mapping for every way a call fails, the call's context, the shared policies."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from personal_core import (
    CallInfo,
    ConfigurationError,
    InvalidInputError,
    LLMError,
    ModelUpdate,
    OutputError,
    PersonalError,
    prompts,
    repair,
)
from personal_core.llm import (
    STRUCTURED_SCHEMA,
    ChatMessages,
    acall_llm,
    arun_detached,
    call_info,
    call_llm,
    calling,
    is_derivation_prompt,
    run_detached,
    structured_text,
    user_hash,
    wants_structured_output,
)

DERIVE = [
    {"role": "system", "content": prompts.DERIVE_SYSTEM.format(card_limit=40, summary_words=200)},
    {"role": "user", "content": "<messages>...</messages>"},
]
ASK = [
    {"role": "system", "content": prompts.ASK_SYSTEM.format(context="You maintain a theory-of-mind model")},
    {"role": "user", "content": "What does the user like?"},
]
app_var: contextvars.ContextVar[str] = contextvars.ContextVar("app_var", default="unset")


def test_errors_join_the_personal_error_tree() -> None:
    for error in (LLMError, OutputError, ConfigurationError, InvalidInputError):
        assert issubclass(error, PersonalError)
    assert issubclass(OutputError, ValueError), "still a ValueError, as before"
    assert repair.OutputError is OutputError
    with pytest.raises(OutputError):
        repair.extract_json_object("no json here")


def test_the_structured_output_policy_is_derivation_prompts_only() -> None:
    assert is_derivation_prompt(DERIVE) and wants_structured_output(DERIVE)
    reask = [*DERIVE, {"role": "assistant", "content": "oops"}, {"role": "user", "content": prompts.REASK}]
    assert wants_structured_output(reask)
    assert not wants_structured_output(ASK)
    assert not wants_structured_output([{"role": "user", "content": prompts.DERIVE_SYSTEM}])
    assert not wants_structured_output([])
    assert STRUCTURED_SCHEMA is ModelUpdate
    assert structured_text(ModelUpdate(card_add=["Name: Ann"])) == ModelUpdate(card_add=["Name: Ann"]).model_dump_json()
    assert structured_text({"card_add": ["Name: Ann"]}) == '{"card_add": ["Name: Ann"]}'
    assert structured_text("text") is None and structured_text(None) is None


def test_call_info_carries_a_hash_never_the_user_id() -> None:
    info = CallInfo.of("derive", user_id="ann@example.com", batch_id="b1")
    assert info.run_name == "personal.derive" and info.tags == ["personal", "personal:derive"]
    assert info.metadata == {
        "personal_kind": "derive",
        "personal_batch_id": "b1",
        "personal_user_hash": user_hash("ann@example.com"),
    }
    assert len(user_hash("ann")) == 16 and user_hash("ann") == user_hash("ann") != user_hash("bob")
    assert "ann" not in str(info.metadata)
    assert CallInfo("ask").metadata == {"personal_kind": "ask"}
    # outside a call: the kind comes from the prompt
    assert (
        call_info(DERIVE) == CallInfo("derive") and call_info(ASK) == CallInfo("ask") and call_info() == CallInfo("ask")
    )
    with calling(info):
        assert call_info(ASK) is info
    assert call_info(ASK) == CallInfo("ask")


def test_sync_failures_map_to_llm_error() -> None:
    def boom(messages: ChatMessages) -> str:
        raise ConnectionError("provider down")

    with pytest.raises(LLMError, match="ConnectionError: provider down") as caught:
        call_llm(boom, ASK, timeout=10)
    assert isinstance(caught.value.__cause__, ConnectionError)
    with pytest.raises(LLMError, match="returned int, not text"):
        call_llm(lambda m: 42, ASK, timeout=10)  # type: ignore[arg-type,return-value]

    release = threading.Event()
    with pytest.raises(LLMError, match=r"did not answer within 0\.05s"):
        call_llm(lambda m: str(release.wait(30)), ASK, timeout=0.05)
    release.set()  # the hung call's own thread ends


async def test_async_failures_map_to_llm_error() -> None:
    async def boom(messages: ChatMessages) -> str:
        raise ConnectionError("provider down")

    async def hang(messages: ChatMessages) -> str:
        await asyncio.Event().wait()
        return ""

    with pytest.raises(LLMError, match="ConnectionError: provider down"):
        await acall_llm(boom, ASK, timeout=10)
    with pytest.raises(LLMError, match=r"did not answer within 0\.05s"):
        await acall_llm(hang, ASK, timeout=0.05)
    release = threading.Event()
    with pytest.raises(LLMError, match=r"did not answer within 0\.05s"):
        await acall_llm(lambda m: str(release.wait(30)), ASK, timeout=0.05)
    release.set()
    with pytest.raises(LLMError, match="the LLM call failed: ConnectionError"):
        call_llm(boom, ASK, timeout=10)  # an async LLM from sync code


def test_a_sync_call_runs_with_the_call_info_and_nothing_else_of_the_callers_context() -> None:
    seen: list[tuple[str, CallInfo]] = []

    def llm(messages: ChatMessages) -> str:
        seen.append((app_var.get(), call_info(messages)))
        return "ok"

    info = CallInfo.of("derive", user_id="ann", batch_id="b1")
    token = app_var.set("the app's value")
    try:
        assert call_llm(llm, ASK, timeout=10, info=info) == "ok"
        with calling(info):
            assert call_llm(llm, ASK, timeout=10) == "ok"
        assert call_llm(llm, ASK, timeout=10) == "ok"
    finally:
        app_var.reset(token)
    assert seen == [("unset", info), ("unset", info), ("unset", CallInfo("ask"))]


async def test_an_async_call_sees_the_call_info() -> None:
    seen: list[CallInfo] = []

    async def llm(messages: ChatMessages) -> str:
        seen.append(call_info(messages))
        return "ok"

    def sync_llm(messages: ChatMessages) -> str:
        seen.append(call_info(messages))
        return "ok"

    info = CallInfo.of("ask", user_id="ann")
    assert await acall_llm(llm, ASK, timeout=10, info=info) == "ok"
    assert await acall_llm(sync_llm, ASK, timeout=10, info=info) == "ok"
    assert await acall_llm(llm, DERIVE, timeout=10) == "ok"
    assert seen == [info, info, CallInfo("derive")]
    assert call_info() == CallInfo("ask"), "reset after the call"


async def test_detached_runs_see_none_of_the_callers_context() -> None:
    token = app_var.set("the app's value")
    try:
        assert run_detached(app_var.get) == "unset"

        async def read() -> str:
            return app_var.get()

        assert await arun_detached(read) == "unset"
        assert app_var.get() == "the app's value"
    finally:
        app_var.reset(token)
