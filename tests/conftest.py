"""Shared fixtures. Every test runs offline (pytest-socket refuses non-loopback sockets)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from personal_core import HashingEmbedder, UserModeler, default_counter
from personal_core.tokens import TiktokenCounter


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def modeler(store_path: Path) -> Iterator[UserModeler]:
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=4) as m:
        yield m


@pytest.fixture(scope="session")
def real_counter() -> TiktokenCounter:
    """The exact o200k_base counter (llama-index-core ships its BPE file, so it loads offline)."""
    counter = default_counter("o200k_base")
    assert isinstance(counter, TiktokenCounter), "tiktoken o200k_base should load offline in the test environment"
    return counter


@pytest.fixture(autouse=True)
def personal_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every default path (store, client journals) inside the test's temp dir."""
    home = tmp_path / "personal-home"
    monkeypatch.setenv("PERSONAL_HOME", str(home))
    return home


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on 127.0.0.1 (the binary ships in the chromadb wheel)."""
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma)] if chroma.exists() else [sys.executable, "-m", "chromadb.cli.cli"]
    path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    log = open(path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [*command, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"chroma server did not start: {(path / 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def http_client(chroma_server: tuple[str, int]) -> object:
    import chromadb
    from chromadb.config import Settings

    host, port = chroma_server
    return chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
