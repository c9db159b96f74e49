"""LangChain integration of Personal: a theory-of-mind model of each user in chains, retrievers and agents.

Start with :class:`PersonalMemory`::

    from langchain_personal import PersonalMemory

    memory = PersonalMemory(path="./personal-store")
    chain = memory.wrap(prompt | model, input_messages_key="question", history_messages_key="history")
    chain.invoke({"question": "Hi!"}, config={"configurable": {"user_id": "ann", "session_id": "s1"}})

    retriever = memory.as_retriever(user_id="ann", k=4)           # insights as Documents
    agent = create_agent(model, tools=[memory.as_tool()], middleware=[memory.middleware()])
"""

from personal_core import UserModeler

from ._embeddings import LangChainEmbedder
from ._llm import AsyncChatModelLLM, ChatModelLLM
from ._messages import to_core, to_langchain
from .history import PersonalChatMessageHistory
from .memory import PersonalMemory
from .middleware import PersonalMiddleware
from .retriever import PersonalRetriever
from .tool import PersonalAskTool
from .wrap import PersonalRunnable

__all__ = [
    "AsyncChatModelLLM",
    "ChatModelLLM",
    "LangChainEmbedder",
    "PersonalAskTool",
    "PersonalChatMessageHistory",
    "PersonalMemory",
    "PersonalMiddleware",
    "PersonalRetriever",
    "PersonalRunnable",
    "UserModeler",
    "to_core",
    "to_langchain",
]
