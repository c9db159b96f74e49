"""Embedders: the :class:`Embedder` protocol, an offline :class:`HashingEmbedder`, and adapters.

Personal always computes embeddings itself and hands them to Chroma, so Chroma never downloads a model.
A store remembers the name and dimension of the embedder it was created with and refuses another one.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .chroma_client import CHROMA_DEFAULT_EMBEDDER, chroma_default_embedding_function
from .errors import ConfigurationError, EmbedderError, EmbedderMismatchError, InvalidInputError
from .text import terms

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into fixed-size vectors. ``name`` and ``dimension`` identify it in a store."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> Any: ...

    def embed_query(self, text: str) -> Any: ...


def as_matrix(vectors: Any, dimension: int, rows: int | None = None) -> Vectors:
    """``vectors`` (lists or arrays) as an L2-normalised float32 matrix of width ``dimension``.

    Raises :class:`EmbedderError` unless they form ``rows`` (if given) x ``dimension`` finite numbers: a vector
    Chroma would refuse must be refused before anything is acknowledged.
    """
    try:
        with np.errstate(all="ignore"):
            matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # ragged lists, strings, objects
        raise EmbedderError(f"the embedder returned something that is not a matrix of numbers: {exc}") from exc
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dimension or (rows is not None and matrix.shape[0] != rows):
        expected = f"({rows if rows is not None else 'n'}, {dimension})"
        raise EmbedderError(f"the embedder returned vectors of shape {matrix.shape}; expected {expected}")
    if not np.isfinite(matrix).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(matrix))[:, 0]})
        raise EmbedderError(f"the embedder returned NaN or infinite values (in vectors {bad[:10]})")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vectors = matrix / norms
    return normalised


class HashingEmbedder:
    """Offline, deterministic embedder: signed feature hashing of stemmed words and word pairs.

    It needs no model and no network. It captures word overlap, not meaning; use a real embedder
    (any Chroma embedding function, LangChain ``Embeddings`` or LlamaIndex ``BaseEmbedding``) for semantics.
    """

    _NAME = re.compile(r"^hashing-v1-(\d+)$")

    def __init__(self, dimension: int = 256) -> None:
        if not isinstance(dimension, int) or dimension < 8:
            raise InvalidInputError("HashingEmbedder dimension must be an int >= 8")
        self._dimension = dimension

    @classmethod
    def from_name(cls, name: str) -> HashingEmbedder | None:
        """Rebuild the embedder a store recorded as ``name``, or None if it is not a hashing embedder."""
        match = cls._NAME.match(name)
        return cls(int(match.group(1))) if match else None

    @property
    def name(self) -> str:
        return f"hashing-v1-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> Vectors:
        vec = np.zeros(self._dimension, dtype=np.float32)
        words = terms(text)
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        counts: dict[str, int] = {}
        for feature in features:
            counts[feature] = counts.get(feature, 0) + 1
        for feature, count in counts.items():
            # blake2b, not crc32: CRC is linear, so similar strings collide systematically
            h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
            sign = 1.0 if (h >> 63) & 1 else -1.0
            weight = 1.0 + math.log(count)
            if " " in feature:
                weight *= 0.5
            vec[h % self._dimension] += sign * weight
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> Vectors:
        return self._vector(text)


class CallableEmbedder:
    """Adapts a function ``texts -> vectors`` (for example a Chroma ``EmbeddingFunction``) to :class:`Embedder`.

    ``dimension`` is measured with one probe call when not given.
    """

    def __init__(
        self,
        fn: Callable[[list[str]], Any],
        name: str,
        dimension: int | None = None,
        query_fn: Callable[[list[str]], Any] | None = None,
    ) -> None:
        self._fn = fn
        self._query_fn = query_fn or fn
        self._name = name
        self._dimension = dimension if dimension is not None else len(np.asarray(fn(["dimension probe"]))[0])

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return as_matrix(self._fn(list(texts)), self._dimension, rows=len(texts))

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = as_matrix(self._query_fn([text]), self._dimension, rows=1)[0]
        return vector


class CheckedEmbedder:
    """Wraps any :class:`Embedder` so every vector it returns is checked (shape, finite) and normalised."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return as_matrix(self.inner.embed_documents(texts), self.dimension, rows=len(texts))

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = as_matrix(self.inner.embed_query(text), self.dimension, rows=1)[0]
        return vector


def from_chroma_embedding_function(ef: Any, name: str | None = None) -> CallableEmbedder:
    """Wrap any Chroma ``EmbeddingFunction`` (called as ``ef(input=[...])``) as an :class:`Embedder`.

    The name defaults to ``chroma:<ef.name()>[:<model_name>]`` so two different models do not share a store.
    """
    if not callable(ef):
        raise InvalidInputError("a Chroma embedding function must be callable")
    if name is None:
        base = ef.name() if hasattr(ef, "name") and callable(ef.name) else type(ef).__name__
        model = getattr(ef, "model_name", None) or getattr(ef, "MODEL_NAME", None)
        name = f"chroma:{base}" + (f":{model}" if model else "")
    query = getattr(ef, "embed_query", None)

    def docs(texts: list[str]) -> Any:
        return ef(input=texts)

    return CallableEmbedder(docs, name=name, query_fn=(lambda t: query(input=t)) if callable(query) else None)


def resolve_embedder(embedder: Any) -> Embedder:
    """Accept an :class:`Embedder`, a Chroma embedding function, or raise a clear error.

    Embedders other than Personal's own are wrapped in a :class:`CheckedEmbedder`: their vectors are checked.
    """
    if isinstance(embedder, (HashingEmbedder, CallableEmbedder, CheckedEmbedder)):
        return embedder
    if isinstance(embedder, Embedder):
        return CheckedEmbedder(embedder)
    if callable(embedder):
        return from_chroma_embedding_function(embedder)
    raise InvalidInputError(
        f"embedder must implement Embedder (name, dimension, embed_documents, embed_query) "
        f"or be a Chroma EmbeddingFunction, got {type(embedder).__name__}"
    )


def choose_embedder(embedder: Any | None, pin: dict[str, Any] | None) -> Embedder:
    """The embedder a store opens with: the one given, else the one its pin names (when it can be rebuilt
    here), else for a new store Chroma's default model when it is already on disk, else the offline
    :class:`HashingEmbedder` (with a warning). Raises :class:`EmbedderMismatchError` for a pinned embedder
    that must be passed in."""
    if embedder is not None:
        return resolve_embedder(embedder)
    if pin is not None and pin.get("embedder"):
        name = str(pin["embedder"])
        hashing = HashingEmbedder.from_name(name)
        if hashing is not None:
            return hashing
        if name == CHROMA_DEFAULT_EMBEDDER:
            ef = chroma_default_embedding_function()
            if ef is not None:
                return from_chroma_embedding_function(ef, name=CHROMA_DEFAULT_EMBEDDER)
        raise EmbedderMismatchError(
            f"this store was created with embedder {name!r}; pass embedder= with that embedder to open it"
        )
    ef = chroma_default_embedding_function()
    if ef is not None:
        return from_chroma_embedding_function(ef, name=CHROMA_DEFAULT_EMBEDDER)
    logger.warning(
        "no embedder given and Chroma's default model is not on disk: using the offline HashingEmbedder "
        "(word overlap, not meaning). Pass embedder= for semantic search."
    )
    return HashingEmbedder()


class EmbedderUnavailableError(ConfigurationError):
    """Something needed the store's embedder, but the store was opened with an :class:`UnavailableEmbedder`."""


class UnavailableEmbedder:
    """A stand-in with a store's pinned ``name`` and ``dimension`` that refuses to embed.

    Opening a store with it (``UserModeler(embedder=UnavailableEmbedder(pin["embedder"], pin["dimension"]))``)
    serves everything that reads stored vectors only (``user_model``, ``messages``, ``export``, ``stats``,
    ``forget``) without the real model; anything that must embed new text raises
    :class:`EmbedderUnavailableError` with ``hint`` (how to supply the real embedder).
    """

    def __init__(self, name: str, dimension: int, hint: str = "open the store with it (embedder=...)") -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInputError("name must be the store's embedder name")
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise InvalidInputError("dimension must be a positive int")
        self._name = name
        self._dimension = dimension
        self.hint = hint

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def _refuse(self) -> EmbedderUnavailableError:
        return EmbedderUnavailableError(f"this needs the store's embedder {self._name!r}: {self.hint}")

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        raise self._refuse()

    def embed_query(self, text: str) -> Vectors:
        raise self._refuse()
