"""LlamaIndex integration of Personal (chat-memory buffer, memory block, retriever): arriving in its own release.

Until then use :class:`personal_core.UserModeler` directly; this package only re-exports it.
"""

from personal_core import UserModeler

__all__ = ["UserModeler"]
