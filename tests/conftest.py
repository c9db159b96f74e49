"""Shared fixtures. Every test runs offline (pytest-socket refuses non-loopback sockets).

Backends: a module marked ``pytestmark = pytest.mark.both_backends`` runs each of its tests that uses the
``backend`` fixture (directly, or through ``modeler`` / the LangChain ``memory``) twice: ``test_x[embedded]`` on a
store in the test's temp dir and ``test_x[server]`` through ``HttpClient`` on one shared ``chroma run`` server,
in a namespace of its own (its collections are deleted at teardown). Unmarked tests get the embedded backend.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.chroma_server import start_chroma, stop
from support.examples import ExampleRunner

from personal_core import HashingEmbedder, UserModeler, default_counter
from personal_core.tokens import TiktokenCounter

BACKENDS = ("embedded", "server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run the tests using the `backend` fixture embedded and against a Chroma server"
    )
    use_memory_tmp(config)


def use_memory_tmp(config: pytest.Config) -> None:
    """Put the tests' temp dirs (``tmp_path``, ``tempfile``) in RAM (``/dev/shm``) when it is there.

    Nearly every test opens a store: Chroma's SQLite and the journal (``synchronous=FULL``) fsync each commit, which
    on a shared VM's disk made up a good part of the suite's wall time. A test proves what the code does, not the
    disk's durability (the crash tests kill processes, not the machine), so RAM proves the same, faster. Only when
    neither ``--basetemp`` nor ``$TMPDIR`` says where (``TMPDIR=/tmp pytest`` runs on disk). pyproject's
    ``tmp_path_retention_policy = "failed"`` removes a passing test's dir at once, so little RAM is held.
    """
    shm = Path("/dev/shm")
    if config.option.basetemp or os.environ.get("TMPDIR") or not (shm.is_dir() and os.access(shm, os.W_OK)):
        return
    if shutil.disk_usage(shm).free < 2 * 2**30:
        return
    tempfile.tempdir = str(shm)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


class Backend:
    """Where a test's stores live: ``where(name)`` gives the store arguments of ``UserModeler``/``PersonalMemory``.

    Embedded: ``{"path": tmp_path / name}``. Server: ``{"client": HttpClient, "namespace": <test prefix>-<name>}``,
    so opening the same ``name`` again reopens the same store (a reopen on the server, as another process would).
    In both modes the journals stay inside the test's temp dir (``$PERSONAL_HOME`` is per test).
    """

    def __init__(self, kind: str, tmp_path: Path, client: Any = None) -> None:
        self.kind = kind
        self._tmp_path = tmp_path
        self._client = client
        self._prefix = "t" + uuid.uuid4().hex[:12]
        self._opened: list[UserModeler] = []

    @property
    def server(self) -> bool:
        return self.kind == "server"

    @property
    def client(self) -> Any:
        """The test's ``HttpClient`` (server backend only)."""
        assert self.server, "the embedded backend has no client"
        return self._client

    def where(self, name: str = "store") -> dict[str, Any]:
        if self.server:
            return {"client": self.client, "namespace": f"{self._prefix}-{name}"}
        return {"path": self._tmp_path / name}

    def modeler(self, name: str = "store", **options: Any) -> UserModeler:
        """A ``UserModeler`` on store ``name`` (closed at teardown if the test did not close it)."""
        opened = UserModeler(**self.where(name), **options)
        self._opened.append(opened)
        return opened

    def teardown(self) -> None:
        for opened in self._opened:
            opened.close()
        if self.server:
            client = self.client
            for collection in client.list_collections():
                if collection.name.startswith(f"{self._prefix}-"):
                    client.delete_collection(collection.name)

    def __repr__(self) -> str:
        return self.kind


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The store backend of the test: embedded unless its module is marked ``both_backends`` (then both)."""
    kind = getattr(request, "param", "embedded")
    assert kind in BACKENDS
    client = request.getfixturevalue("http_client") if kind == "server" else None  # starts the server once
    chosen = Backend(kind, tmp_path, client)
    yield chosen
    chosen.teardown()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """An embedded store's directory (for tests of embedded-only behaviour)."""
    return tmp_path / "store"


@pytest.fixture
def modeler(backend: Backend) -> Iterator[UserModeler]:
    with backend.modeler(embedder=HashingEmbedder(), shards=4) as m:
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


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on 127.0.0.1 (the binary ships in the chromadb wheel)."""
    path = tmp_path_factory.mktemp("chroma-server")
    proc, port = start_chroma(path / "data", path / "server.log")
    try:
        yield "127.0.0.1", port
    finally:
        stop(proc)


@pytest.fixture
def http_client(chroma_server: tuple[str, int]) -> object:
    import chromadb
    from chromadb.config import Settings

    host, port = chroma_server
    return chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))


@pytest.fixture(scope="session")
def example_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleRunner]:
    """Runs documentation examples as written, each in a fresh process forked after the heavy imports."""
    runner = ExampleRunner(tmp_path_factory.mktemp("example-output"))
    try:
        yield runner
    finally:
        runner.close()
