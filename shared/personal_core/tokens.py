"""Token counting: tiktoken when its encoding is available offline, else an explicit, logged estimate.

tiktoken downloads its BPE file on first use. To stay offline, :func:`default_counter` only loads an
encoding whose file is already cached: in ``TIKTOKEN_CACHE_DIR``/``DATA_GYM_CACHE_DIR``, tiktoken's temp
cache, or the copy llama-index-core ships in ``llama_index/core/_static/tiktoken_cache``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidInputError

logger = logging.getLogger(__name__)

DEFAULT_ENCODING = "o200k_base"
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_ENV_LOCK = threading.Lock()
# tiktoken deletes a cached file whose SHA-256 differs from these and downloads it again: check first, so a
# damaged cache falls back to the estimate instead of reaching the network.
_KNOWN_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of text and truncates text to a token limit."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...


class TiktokenCounter:
    """Exact counts with a tiktoken ``Encoding``."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    @property
    def name(self) -> str:
        return f"tiktoken:{self._encoding.name}"

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        ids = self._encoding.encode(text, disallowed_special=())
        if len(ids) <= max_tokens:
            return text
        cut: str = self._encoding.decode(ids[:max_tokens])
        # decoding a prefix can end in a partial character; trim until it re-encodes within the limit
        while cut and self.count(cut) > max_tokens:
            cut = cut[:-1]
        return cut


class EstimateCounter:
    """Fallback when no tokenizer is available offline: a deliberately high estimate.

    It counts ``ceil(bytes / 3)``, which is above the real o200k/cl100k count for ordinary text, so
    budgets computed with it are not exceeded by the real model's tokenizer.
    """

    name = "estimate:bytes/3"

    def count(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3)

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        data = text.encode("utf-8", "surrogatepass")[: max_tokens * 3]
        return data.decode("utf-8", "ignore")


def _llama_index_cache() -> Path | None:
    """llama-index-core's bundled tiktoken cache, or None when llama-index-core is not installed.

    ``find_spec("llama_index.core")`` imports the parent package, so it *raises* (rather than returning None)
    when ``llama_index`` itself is missing, as in the core-only and ``[langchain]`` installs.
    """
    try:
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):  # no llama_index at all, or a module without a spec in sys.modules
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return path if path.is_dir() else None


def find_cached_encoding_dir(encoding: str) -> Path | None:
    """The directory holding ``encoding``'s BPE file in tiktoken's cache layout, or None."""
    key = hashlib.sha1(_BLOB_URL.format(name=encoding).encode()).hexdigest()
    candidates: list[Path | None] = [
        Path(os.environ["TIKTOKEN_CACHE_DIR"]) if os.environ.get("TIKTOKEN_CACHE_DIR") else None,
        Path(os.environ["DATA_GYM_CACHE_DIR"]) if os.environ.get("DATA_GYM_CACHE_DIR") else None,
        Path(tempfile.gettempdir()) / "data-gym-cache",
        _llama_index_cache(),
    ]
    for directory in candidates:
        if directory is not None and (directory / key).is_file() and _intact(directory / key, encoding):
            return directory
    return None


def _intact(path: Path, encoding: str) -> bool:
    expected = _KNOWN_SHA256.get(encoding)
    if expected is None:
        return True
    try:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return False
    if actual != expected:
        logger.warning("ignoring %s: not the %s file tiktoken expects (it would download it again)", path, encoding)
        return False
    return True


def load_tiktoken_offline(encoding: str) -> Any | None:
    """tiktoken's ``Encoding`` for ``encoding`` if it loads without network, else None."""
    try:
        import tiktoken
    except ImportError:
        return None
    directory = find_cached_encoding_dir(encoding)
    if directory is None:
        return None
    with _ENV_LOCK:  # tiktoken reads the cache dir from the environment at load time
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
        try:
            return tiktoken.get_encoding(encoding)
        except Exception as exc:  # noqa: BLE001 - any failure means "not available offline"
            logger.warning("tiktoken could not load %s from %s: %s", encoding, directory, exc)
            return None
        finally:
            if previous is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous


_COUNTERS: dict[str, TokenCounter] = {}


def default_counter(encoding: str = DEFAULT_ENCODING) -> TokenCounter:
    """A shared counter for ``encoding``: exact via tiktoken when offline-loadable, else the estimate."""
    if not isinstance(encoding, str) or not encoding:
        raise InvalidInputError("encoding must be a tiktoken encoding name such as 'o200k_base'")
    counter = _COUNTERS.get(encoding)
    if counter is None:
        enc = load_tiktoken_offline(encoding)
        if enc is not None:
            counter = TiktokenCounter(enc)
        else:
            logger.warning(
                "tiktoken encoding %r is not available offline (install llama-index-core, which ships it, or "
                "set TIKTOKEN_CACHE_DIR); counting tokens with the estimate ceil(bytes/3)",
                encoding,
            )
            counter = EstimateCounter()
        _COUNTERS[encoding] = counter
    return counter


def resolve_counter(counter: Any) -> TokenCounter:
    """Accept a :class:`TokenCounter`, an encoding name, a tiktoken ``Encoding``, or None (default)."""
    if counter is None:
        return default_counter()
    if isinstance(counter, str):
        return default_counter(counter)
    if isinstance(counter, TokenCounter):
        return counter
    if hasattr(counter, "encode") and hasattr(counter, "decode") and hasattr(counter, "name"):
        return TiktokenCounter(counter)
    raise InvalidInputError(f"cannot count tokens with {type(counter).__name__}")
