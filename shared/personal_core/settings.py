"""``Settings``: the constructor options of :class:`~personal_core.modeler.UserModeler`, validated once.

Pure: no I/O. The facade builds one frozen :class:`Settings` from its keyword arguments with
:meth:`Settings.build`; every service reads what it needs from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .context import PackingPolicy
from .errors import InvalidInputError
from .inputs import check_non_negative_int, check_positive_int, check_seconds

#: Budget of ``context()`` when none is given.
DEFAULT_MAX_TOKENS = 500
#: ``refresh_after="auto"`` with a ``client``: other processes may write the same server.
SHARED_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class DeriverSettings:
    """When LLM batches form and how failed ones are retried."""

    batch_tokens: int = 512
    max_batch_age: float = 300.0
    max_attempts: int = 5
    backoff_base: float = 2.0
    interval: float = 0.5


@dataclass(frozen=True)
class Settings:
    """Every option of a :class:`~personal_core.modeler.UserModeler` but the objects it is given."""

    namespace: str = "personal"
    shards: int | None = None
    cache_users: int = 1024
    refresh_after: float | None = None
    journal_path: Path | None = None
    flush_interval: float = 1.0
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    packing: PackingPolicy = field(default_factory=PackingPolicy)
    deriver: DeriverSettings = field(default_factory=DeriverSettings)
    inline: bool = False
    background: bool = True
    llm_timeout: float = 60.0

    @classmethod
    def build(
        cls,
        *,
        shared: bool,
        namespace: str = "personal",
        shards: int | None = None,
        cache_users: int = 1024,
        refresh_after: float | Literal["auto"] | None = "auto",
        journal_path: str | os.PathLike[str] | None = None,
        flush_interval: float = 1.0,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        packing: PackingPolicy | None = None,
        batch_tokens: int = 512,
        max_batch_age: float = 300.0,
        inline: bool = False,
        llm_timeout: float = 60.0,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        background: bool = True,
    ) -> Settings:
        """Validated settings; ``shared`` is True when a Chroma client (possibly shared) holds the store.

        Raises :class:`~personal_core.errors.InvalidInputError` naming the first bad option.
        """
        if packing is not None and not isinstance(packing, PackingPolicy):
            raise InvalidInputError(f"packing must be a PackingPolicy, got {type(packing).__name__}")
        return cls(
            namespace=namespace,
            shards=None if shards is None else check_positive_int("shards", shards),
            cache_users=check_positive_int("cache_users", cache_users),
            refresh_after=_refresh(refresh_after, shared=shared),
            journal_path=None if journal_path is None else Path(journal_path),
            flush_interval=check_seconds("flush_interval", flush_interval),
            default_max_tokens=check_non_negative_int("max_tokens", default_max_tokens),
            packing=packing or PackingPolicy(),
            deriver=DeriverSettings(
                batch_tokens=check_positive_int("batch_tokens", batch_tokens),
                max_batch_age=check_seconds("max_batch_age", max_batch_age),
                max_attempts=check_positive_int("max_attempts", max_attempts),
                backoff_base=check_seconds("backoff_base", backoff_base),
            ),
            inline=bool(inline),
            background=bool(background),
            llm_timeout=check_seconds("llm_timeout", llm_timeout),
        )


def _refresh(value: object, *, shared: bool) -> float | None:
    if value == "auto":
        return SHARED_REFRESH_SECONDS if shared else None
    if value is None:
        return None
    return check_seconds("refresh_after", value, extra="'auto' or None")
