"""Non-blocking exclusive file locks (advisory ``flock``; released when the holder closes or dies).

A lock *file* alone is not enough for a single-writer guarantee: deleting it while it is held lets the next
process create a new file and lock that. :func:`try_lock_directory` therefore also locks the directory itself
(which cannot be replaced while the store lives in it), and :func:`try_lock_file` locks a file that is in use
(the journal's SQLite file), whose deletion would lose the data anyway.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO


def _flock(fd: int) -> bool:
    """Take an exclusive, non-blocking ``flock`` on ``fd`` (POSIX); False if another holder has it."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


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
        elif not _flock(handle.fileno()):
            raise OSError("locked")
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class HeldLock:
    """Locks held together until :meth:`close` (or the process's death): descriptors and lock-file handles."""

    def __init__(self, fds: Sequence[int] = (), handles: Sequence[IO[str]] = ()) -> None:
        self._fds = list(fds)
        self._handles = list(handles)

    @property
    def closed(self) -> bool:
        return not self._fds and not self._handles

    def close(self) -> None:
        """Release every lock (closing a descriptor releases its ``flock``)."""
        fds, self._fds = self._fds, []
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()
        for fd in fds:
            os.close(fd)


def try_lock_directory(directory: Path, lock_file: str) -> HeldLock | None:
    """Lock ``directory`` itself and ``directory/lock_file`` (which records our pid); None if either is held.

    Deleting the lock file does not free the directory's lock, so a second opener is refused all the same.
    Where directories cannot be opened (Windows) only the lock file is locked.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fds: list[int] = []
    if os.name != "nt":
        fd = os.open(directory, os.O_RDONLY)
        if not _flock(fd):
            os.close(fd)
            return None
        fds.append(fd)
    handle = try_lock(directory / lock_file)  # also refuses holders that lock only the file (older versions)
    if handle is None:
        for fd in fds:
            os.close(fd)
        return None
    return HeldLock(fds, [handle])


def try_lock_file(path: Path) -> HeldLock | None:
    """Lock the file at ``path`` itself (created empty if missing); None if another holder has it.

    On POSIX this is a ``flock`` on the file, which SQLite's own (``fcntl``) locks do not interact with. Close
    the lock only after every SQLite connection to the file is closed: closing any descriptor of a file drops
    the process's ``fcntl`` locks on it. On Windows, where byte-range locks are mandatory, a ``<path>.lock``
    file beside it is locked instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        handle = try_lock(path.with_name(f"{path.name}.lock"))
        return None if handle is None else HeldLock(handles=[handle])
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _flock(fd):
        os.close(fd)
        return None
    return HeldLock([fd])


def holder_pid(path: Path) -> str:
    """The pid recorded in a lock file (best effort)."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"
