"""wrap(): streaming runs nest in traces exactly like invoke (the stream path used to drop the run manager)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage


class Runs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.model_parents: list[UUID | None] = []
        self.chain_runs: dict[UUID, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.chain_runs[run_id] = str(kwargs.get("name") or (serialized or {}).get("name"))

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.model_parents.append(parent_run_id)


def _wrapped_parent(runs: Runs) -> UUID:
    (parent,) = runs.model_parents
    assert parent is not None and runs.chain_runs.get(parent) == "PersonalRunnable", runs.chain_runs
    return parent


def test_invoke_and_stream_nest_the_model_run_under_the_wrapper(memory, make_model, cfg) -> None:
    for use_stream in (False, True):
        runs = Runs()
        chain = memory.wrap(make_model("Hello!"))
        config = {**cfg("ann", f"s-{use_stream}"), "callbacks": [runs]}
        if use_stream:
            list(chain.stream("Hi, I love jazz.", config=config))
        else:
            chain.invoke("Hi, I love jazz.", config=config)
        _wrapped_parent(runs)


async def test_astream_nests_the_model_run_under_the_wrapper(memory, make_model, cfg, acollect) -> None:
    runs = Runs()
    chain = memory.wrap(make_model("Hello!"))
    await acollect(chain.astream("Hi, I love jazz.", config={**cfg("ann", "s"), "callbacks": [runs]}))
    _wrapped_parent(runs)
