"""Personal's framework-free core: a theory-of-mind model of each user, stored in Chroma.

Start with :class:`UserModeler`::

    from personal_core import UserModeler

    with UserModeler(path="./personal-store") as modeler:
        modeler.observe("ann", [{"role": "user", "content": "I'm vegetarian and I love hiking."}])
        print(modeler.context("ann", "what should I cook tonight?").text)

The public API is exactly the names in ``personal_core.__all__`` (re-exported here), plus
``personal_core.llm``, the protocol LLM adapters implement; other submodules are internal and may change
between releases. ``docs/architecture.md`` maps the layers behind the facade.
"""

from .candidates import SearchHit
from .chroma_client import http_client
from .context import CLOSE_TAG, OPEN_TAG, PackingPolicy
from .embedding import CallableEmbedder, Embedder, HashingEmbedder, from_chroma_embedding_function
from .errors import (
    ClosedError,
    ConfigurationError,
    EmbedderError,
    EmbedderMismatchError,
    InvalidInputError,
    JournalCorruptError,
    LLMError,
    OutputError,
    PersonalError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreUnavailableError,
)
from .heuristic import HeuristicReasoner
from .llm import CallInfo, is_derivation_prompt
from .model import (
    ContextItem,
    Insight,
    InsightKind,
    InsightLevel,
    Message,
    Role,
    UserContext,
    UserModel,
    validate_session_id,
    validate_user_id,
)
from .modeler import UserModeler
from .reasoner import LLMReasoner
from .tokens import EstimateCounter, TiktokenCounter, TokenCounter, default_counter
from .update import ModelUpdate, NewInsight, Reasoner, Supersession

__version__ = "0.1.0"

__all__ = [
    "CLOSE_TAG",
    "OPEN_TAG",
    "CallInfo",
    "CallableEmbedder",
    "ClosedError",
    "ConfigurationError",
    "ContextItem",
    "Embedder",
    "EmbedderError",
    "EmbedderMismatchError",
    "EstimateCounter",
    "HashingEmbedder",
    "HeuristicReasoner",
    "Insight",
    "InsightKind",
    "InsightLevel",
    "InvalidInputError",
    "JournalCorruptError",
    "LLMError",
    "LLMReasoner",
    "Message",
    "ModelUpdate",
    "NewInsight",
    "OutputError",
    "PackingPolicy",
    "PersonalError",
    "Reasoner",
    "Role",
    "SearchHit",
    "StoreError",
    "StoreFullError",
    "StoreLockedError",
    "StoreReadOnlyError",
    "StoreUnavailableError",
    "Supersession",
    "TiktokenCounter",
    "TokenCounter",
    "UserContext",
    "UserModel",
    "UserModeler",
    "__version__",
    "default_counter",
    "from_chroma_embedding_function",
    "http_client",
    "is_derivation_prompt",
    "validate_session_id",
    "validate_user_id",
]
