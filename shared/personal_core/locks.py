"""Non-blocking exclusive file locks (advisory ``flock``; released when the holder closes or dies)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO


def try_lock(path: Path) -> IO[str] | None:
    """Lock ``path`` (created if missing) and return the open handle, or None if another holder has it.

    The holder's pid is written into the file, for error messages. Close the handle to release the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def holder_pid(path: Path) -> str:
    """The pid recorded in a lock file (best effort)."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"
