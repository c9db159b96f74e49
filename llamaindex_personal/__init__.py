"""LlamaIndex integration of Personal: a theory-of-mind model of each user, in one memory object.

- :class:`PersonalChatMemoryBuffer`: ``memory=`` for chat engines and agents; the user's context first, then
  the session's recent history within ``token_limit``; learns from every message put.
- :class:`PersonalMemoryBlock`: the user's context as a block of LlamaIndex's ``Memory``.
- :class:`PersonalRetriever`: the user's insights as ``NodeWithScore(TextNode)``.
- :func:`as_reasoner_llm` / :func:`as_embedder`: any LlamaIndex ``LLM`` as Personal's reasoner, any
  ``BaseEmbedding`` as its embedder.

Quickstart::

    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.llms import MockLLM
    from llamaindex_personal import PersonalChatMemoryBuffer

    memory = PersonalChatMemoryBuffer.from_defaults(user_id="ann", path="./personal-store")
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(), memory=memory)
    engine.chat("I'm allergic to peanuts.")
"""

from personal_core import InvalidInputError, UserModeler

from ._embeddings import as_embedder
from ._llm import AsyncLlamaIndexReasonerLLM, LlamaIndexReasonerLLM, as_reasoner_llm
from ._modelers import close_shared_modelers
from .block import PersonalMemoryBlock
from .buffer import PersonalChatMemoryBuffer
from .retriever import PersonalRetriever

__all__ = [
    "AsyncLlamaIndexReasonerLLM",
    "InvalidInputError",
    "LlamaIndexReasonerLLM",
    "PersonalChatMemoryBuffer",
    "PersonalMemoryBlock",
    "PersonalRetriever",
    "UserModeler",
    "as_embedder",
    "as_reasoner_llm",
    "close_shared_modelers",
]
