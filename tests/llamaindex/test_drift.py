"""Sync and async twins behave alike (regressions of twins that had drifted apart)."""

from __future__ import annotations

import asyncio
import threading

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from llamaindex_personal import PersonalChatMemoryBuffer
from personal_core import UserModeler


async def test_aput_messages_takes_the_lock_put_messages_takes(modeler: UserModeler) -> None:
    memory = PersonalChatMemoryBuffer.from_defaults("ann", modeler=modeler)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a thread in the middle of put_messages / set
        with memory._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    task = asyncio.create_task(memory.aput_messages([ChatMessage(role=MessageRole.USER, content="I love tea.")]))
    await asyncio.sleep(0.3)
    assert not task.done(), "aput_messages must wait for the buffer's lock"
    assert modeler.messages("ann") == []
    release.set()
    await asyncio.wait_for(task, 10)
    holder.join(5)
    assert [m.content for m in modeler.messages("ann")] == ["I love tea."]
