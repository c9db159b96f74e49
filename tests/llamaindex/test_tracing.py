"""The reasoner's LlamaIndex calls stay out of the app's callback handlers, are not nested under the app's spans,
and carry instrument tags (run name, kind, batch id, user hash: never the user id or text)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.llms.mock import MockFunctionCallingLLM

from llamaindex_personal import PersonalChatMemoryBuffer, as_reasoner_llm
from personal_core import CallInfo, HashingEmbedder, UserModeler
from personal_core.llm import DERIVE_MARKER, call_llm, calling, user_hash

USER = "user-4711-private"
SECRET = "My passport number is X1234567."
UPDATE = {"new_insights": [{"kind": "fact", "text": "Travels abroad", "evidence": ["m1"]}]}


def scripted_llm(callback_manager: CallbackManager | None = None) -> MockFunctionCallingLLM:
    """A function-calling LLM: the ModelUpdate tool when offered it, else ``"Noted."``."""

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        if kwargs.get("tools"):
            return ChatMessage(
                role="assistant", blocks=[ToolCallBlock(tool_call_id="t1", tool_name="ModelUpdate", tool_kwargs=UPDATE)]
            )
        return ChatMessage(role="assistant", content="Noted.")

    return MockFunctionCallingLLM(response_generator=respond, callback_manager=callback_manager)


class LegacyLog(BaseCallbackHandler):
    """A legacy callback handler recording the messages of every LLM event."""

    def __init__(self) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.prompts: list[str] = []

    def on_event_start(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        if event_type is CBEventType.LLM and payload and EventPayload.MESSAGES in payload:
            self.prompts.append("\n".join(str(m.content) for m in payload[EventPayload.MESSAGES]))
        return event_id

    def on_event_end(
        self, event_type: CBEventType, payload: dict[str, Any] | None = None, event_id: str = "", **kwargs: Any
    ) -> None:
        return None

    def start_trace(self, trace_id: str | None = None) -> None:
        return None

    def end_trace(self, trace_id: str | None = None, trace_map: dict[str, list[str]] | None = None) -> None:
        return None

    def derivations(self) -> list[str]:
        return [p for p in self.prompts if p.startswith(DERIVE_MARKER)]


class EventLog(BaseEventHandler):
    """An instrumentation event handler keeping chat-start events."""

    events: list[LLMChatStartEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventLog"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMChatStartEvent):
            self.events.append(event)


@pytest.fixture
def instrumented() -> Iterator[tuple[EventLog, SimpleSpanHandler]]:
    """Global (root dispatcher) event and span handlers, removed afterwards."""
    root = get_dispatcher()
    events, spans = EventLog(), SimpleSpanHandler()
    root.add_event_handler(events)
    root.add_span_handler(spans)
    yield events, spans
    root.event_handlers.remove(events)
    root.span_handlers.remove(spans)


def _engine(path: Path, use_async: bool) -> tuple[SimpleChatEngine, UserModeler, LegacyLog, LegacyLog]:
    # What ``Settings.callback_manager = CallbackManager([app])`` plus ``Settings.llm = llm`` amounts to: the
    # app's handler is on the LLM object itself, and the same LLM serves the app and Personal.
    app, reasoner = LegacyLog(), LegacyLog()
    app_callbacks = CallbackManager([app])
    llm = scripted_llm(app_callbacks)
    adapter = as_reasoner_llm(llm, use_async=use_async, callback_manager=CallbackManager([reasoner]))
    modeler = UserModeler(path, llm=adapter, embedder=HashingEmbedder(), shards=4, inline=True)
    memory = PersonalChatMemoryBuffer.from_defaults(USER, modeler=modeler)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=memory, callback_manager=app_callbacks)
    return engine, modeler, app, reasoner


def _check(
    modeler: UserModeler, app: LegacyLog, reasoner: LegacyLog, events: EventLog, spans: SimpleSpanHandler
) -> None:
    assert [i.text for i in modeler.user_model(USER).insights] == ["Travels abroad"], "derived inline"
    assert app.prompts and app.derivations() == [], "the app's handlers never see a derivation prompt"
    assert any(SECRET in p for p in app.prompts)
    assert reasoner.prompts and reasoner.derivations() == reasoner.prompts
    derive = [e for e in events.events if e.tags.get("personal_run") == "personal.derive"]
    app_events = [e for e in events.events if "personal_run" not in e.tags]
    assert derive and app_events, "global instrumentation still sees both, told apart by the tags"
    assert all(DERIVE_MARKER not in str(e.messages[0].content) for e in app_events)
    for event in derive:
        assert event.tags["personal_kind"] == "derive"
        blob = json.dumps(event.tags)
        assert USER not in blob and "passport" not in blob
    by_id = {s.id_: s for s in spans.completed_spans}

    def root(span_id: str | None) -> Any:
        span = by_id[str(span_id)]
        while span.parent_id is not None:
            span = by_id[span.parent_id]
        return span

    app_roots = {root(e.span_id).id_ for e in app_events}
    assert any(r.startswith("SimpleChatEngine.") for r in app_roots)
    for event in derive:
        span = root(event.span_id)
        assert span.id_ not in app_roots, "the derivation's spans are not nested under the app's spans"
        assert span.tags.get("personal_run") == "personal.derive"


def test_sync_chat_engine_with_inline_derivation(store_path: Path, instrumented: Any) -> None:
    events, spans = instrumented
    engine, modeler, app, reasoner = _engine(store_path, use_async=False)
    with modeler:
        assert str(engine.chat(SECRET)) == "Noted."
        _check(modeler, app, reasoner, events, spans)


async def test_async_chat_engine_with_inline_derivation(store_path: Path, instrumented: Any) -> None:
    """The async adapter is awaited inside the app's ``achat`` (same task): it must not inherit its context."""
    events, spans = instrumented
    engine, modeler, app, reasoner = _engine(store_path, use_async=True)
    async with modeler:
        assert str(await engine.achat(SECRET)) == "Noted."
        _check(modeler, app, reasoner, events, spans)


def test_call_info_becomes_instrument_tags(instrumented: Any) -> None:
    events, _ = instrumented
    adapter = as_reasoner_llm(scripted_llm())
    prompt = [{"role": "system", "content": DERIVE_MARKER + " ..."}, {"role": "user", "content": SECRET}]
    with calling(CallInfo.of("derive", user_id=USER, batch_id="b-42")):
        assert json.loads(call_llm(adapter, prompt, timeout=30))["new_insights"][0]["text"] == "Travels abroad"
    tags = [e.tags for e in events.events if e.tags.get("personal_run")]
    assert tags and all(t["personal_batch_id"] == "b-42" for t in tags)
    assert all(t["personal_user_hash"] == user_hash(USER) for t in tags)
    assert USER not in json.dumps(tags)


def test_the_llm_is_copied_once_and_never_changed(caplog: pytest.LogCaptureFixture) -> None:
    app_callbacks = CallbackManager([LegacyLog()])
    llm = scripted_llm(app_callbacks)
    adapter = as_reasoner_llm(llm)
    own = adapter._own_llm()
    assert own is adapter._own_llm() is not llm, "one copy, reused (with any client it creates)"
    assert llm.callback_manager is app_callbacks and own.callback_manager is adapter.callback_manager

    class Uncopyable(MockFunctionCallingLLM):
        def model_copy(self, *args: Any, **kwargs: Any) -> Any:
            raise TypeError("no copies")

    stubborn = Uncopyable()
    with caplog.at_level("WARNING"):
        assert as_reasoner_llm(stubborn)._own_llm() is stubborn
    assert "will see Personal's calls" in caplog.text
