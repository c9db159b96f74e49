"""The C heap: glibc's arenas are capped in a process that opens an embedded store (see personal_core/heap.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from personal_core import UserModeler, heap
from personal_core.embedding import HashingEmbedder
from personal_core.errors import ConfigurationError


def test_the_environment_decides_the_cap() -> None:
    assert heap.arenas_wanted({}) == heap.DEFAULT_ARENAS
    assert heap.arenas_wanted({"MALLOC_ARENA_MAX": "8"}) is None  # glibc's own settings win
    assert heap.arenas_wanted({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}) is None
    assert heap.arenas_wanted({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}) == heap.DEFAULT_ARENAS
    assert heap.arenas_wanted({heap.ARENAS_ENV: "0"}) is None  # glibc's default kept
    assert heap.arenas_wanted({heap.ARENAS_ENV: " 3 "}) == 3
    for bad in ("two", "-1", "1.5", str(2**32)):
        with pytest.raises(ConfigurationError, match=heap.ARENAS_ENV):
            heap.arenas_wanted({heap.ARENAS_ENV: bad})


def test_a_bad_setting_fails_the_open_typed_and_holds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_capped", None)
    monkeypatch.setenv(heap.ARENAS_ENV, "lots")
    with pytest.raises(ConfigurationError, match="whole number"):
        UserModeler(tmp_path / "store", embedder=HashingEmbedder())
    monkeypatch.setenv(heap.ARENAS_ENV, "0")
    with UserModeler(tmp_path / "store", embedder=HashingEmbedder()) as modeler:  # no lock was left behind
        modeler.observe("ann", [{"role": "user", "content": "I live in Lisbon."}])
        assert modeler.context("ann", "where do I live").items


#: Opens an embedded store, then has 6 threads allocate at once and counts glibc's arenas (malloc_info's heaps).
_COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from personal_core import UserModeler
    from personal_core.embedding import HashingEmbedder

    modeler = UserModeler(tempfile.mkdtemp(), embedder=HashingEmbedder())
    held, barrier = [], threading.Barrier(6)

    def allocate():
        mine = [bytes(1000 + i) for i in range(200)]  # over pymalloc's 512 bytes: glibc's malloc
        barrier.wait()
        held.append(mine)

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    out = sys.argv[1]
    stream = libc.fopen(out.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    modeler.close()
    """
)


def _arenas(tmp_path: Path, setting: str) -> int:
    out = tmp_path / f"malloc-{setting}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    env[heap.ARENAS_ENV] = setting
    subprocess.run([sys.executable, "-c", _COUNT_ARENAS, str(out)], env=env, check=True, timeout=120)
    return out.read_text().count("<heap nr=")


@pytest.mark.skipif(heap._glibc() is None, reason="glibc only")
def test_an_embedded_store_caps_the_arenas(tmp_path: Path) -> None:
    assert _arenas(tmp_path, "0") > heap.DEFAULT_ARENAS  # glibc's default: an arena per allocating thread
    assert _arenas(tmp_path, "") <= heap.DEFAULT_ARENAS
