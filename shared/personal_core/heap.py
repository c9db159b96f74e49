"""The process's C heap (glibc on Linux): return its free pages, cap its per-thread arenas.

Both are process-wide and do nothing where glibc is absent (macOS, Windows, musl).

glibc gives each thread that allocates its own arena (up to 8 per core) and keeps the free memory of each one
separately. chromadb runs its Rust code on a pool of threads and Personal calls Chroma off the caller's thread
(a watchdog), so loading a 100,000-message user touched several arenas; their free memory stayed mapped, and the
same load cost the process 190 to 320 MiB from run to run (``benchmarks/big_user.py``). With two arenas it costs
165 to 175 MiB. So a process that opens an embedded store caps the arenas at :data:`DEFAULT_ARENAS`
(:func:`cap_arenas`), unless its environment chose: ``MALLOC_ARENA_MAX`` or an ``arena_max`` in
``GLIBC_TUNABLES`` (glibc's own settings) win, and ``PERSONAL_MALLOC_ARENAS=0`` keeps glibc's default (another
number sets the cap).

The cap holds for arenas made afterwards: glibc fixes its limit once a process has more than 8 arenas, so in a
process that already ran many allocating threads (a big thread pool) it may not take; there, set
``MALLOC_ARENA_MAX=2`` in the environment the process starts with.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading

from .errors import ConfigurationError

logger = logging.getLogger(__name__)

#: Arenas a process with an embedded store is capped at (the main thread's and one more).
DEFAULT_ARENAS = 2
#: Environment variable of the cap: a number of arenas; ``0`` keeps glibc's default.
ARENAS_ENV = "PERSONAL_MALLOC_ARENAS"
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)

#: The most arenas :data:`ARENAS_ENV` may ask for (glibc's own default limit is 8 per core).
MAX_ARENAS = 1024

_capped: int | None = None
_cap_lock = threading.Lock()


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 - glibc has it, musl does not
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def trim_heap() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; False where there is none).

    After a large load or many writes, glibc keeps the freed temporaries' memory mapped (100 MB and more at
    100,000 messages); this returns it. Costs a few ms to tens of ms; ctypes releases the GIL meanwhile.
    """
    libc = _glibc()
    if libc is None:
        return False
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def arenas_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """The arena cap this process should get from :func:`cap_arenas`: None when its environment chose
    (``MALLOC_ARENA_MAX`` set, or ``PERSONAL_MALLOC_ARENAS=0``), else ``PERSONAL_MALLOC_ARENAS`` or
    :data:`DEFAULT_ARENAS`. A value that is not a whole number >= 0 raises :class:`ConfigurationError`."""
    if environ.get("MALLOC_ARENA_MAX") or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        return None
    raw = environ.get(ARENAS_ENV, "").strip()
    if not raw:
        return DEFAULT_ARENAS
    try:
        count = int(raw)
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_ARENAS:
        raise ConfigurationError(
            f"{ARENAS_ENV} must be a whole number of arenas from 0 (glibc's default) to {MAX_ARENAS}, got {raw!r}"
        )
    return count or None


def cap_arenas() -> int | None:
    """Cap glibc's malloc arenas for the rest of the process (see the module doc), once; returns the cap asked
    for, or None (the environment chose, or no glibc). Arenas made before stay.

    Raises :class:`ConfigurationError` when ``PERSONAL_MALLOC_ARENAS`` is not a whole number >= 0."""
    global _capped
    with _cap_lock:
        if _capped is not None:
            return _capped
        count = arenas_wanted()
        libc = _glibc() if count is not None else None
        if libc is None or count is None:
            return None
        mallopt = libc.mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        mallopt(_M_ARENA_MAX, count)  # glibc accepts any count > 0 (whether it still applies: see the module doc)
        _capped = count
        logger.info(
            "asked glibc to keep at most %d malloc arenas from now on (%s=0 keeps glibc's default)", count, ARENAS_ENV
        )
        return count
