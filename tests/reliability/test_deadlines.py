"""Deadlines and disk space: a stalled Chroma server or a full disk fails typed instead of hanging or losing data."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.chroma_server import free_port

from personal_core import HashingEmbedder, UserModeler, store_guards
from personal_core import store as store_module
from personal_core.errors import StoreError, StoreFullError, StoreUnavailableError
from personal_core.store import ChromaStore, http_client

TIMEOUT = 1.0
BOUND = 60.0  # a liveness bound only: a hang would otherwise hang the test run


def finishes(fn: Callable[[], Any]) -> BaseException | None:
    """Run ``fn`` in a thread; the exception it raised (None if it returned). Fails if it hangs."""
    return all_finish([fn])[0]


def all_finish(fns: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run each of ``fns`` in its own thread, all at once (their waits overlap); the exception each raised (None
    if it returned), in order. Fails if one hangs."""
    outcome: dict[int, BaseException | None] = {}

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            fn()
            outcome[i] = None
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome[i] = exc

    workers = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(BOUND)
    assert len(outcome) == len(fns), f"still blocked after {BOUND}s"
    return [outcome[i] for i in range(len(fns))]


class Proxy:
    """A TCP proxy on 127.0.0.1 to a real server; ``stall()`` makes it swallow every byte from then on."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.stalled = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if not self.stalled.is_set():
                    sink.sendall(data)
            except OSError:
                return

    def stall(self) -> None:
        self.stalled.set()

    def close(self) -> None:
        for s in self.sockets:
            s.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()
    for s in held:
        s.close()


def test_http_client_to_a_silent_server_fails_typed(silent_server: int) -> None:
    error = finishes(lambda: http_client("127.0.0.1", silent_server, timeout=TIMEOUT))
    assert isinstance(error, StoreUnavailableError), repr(error)
    assert "127.0.0.1" in str(error)


def test_http_client_with_the_server_down_fails_typed() -> None:
    error = finishes(lambda: http_client("127.0.0.1", free_port(), timeout=TIMEOUT))
    assert isinstance(error, StoreUnavailableError), repr(error)


def test_operations_on_a_server_that_stalls_fail_typed(chroma_server: tuple[str, int]) -> None:
    proxy = Proxy(chroma_server[1])
    try:
        client = http_client("127.0.0.1", proxy.port, timeout=TIMEOUT)
        store = ChromaStore(client=client, namespace="stall-test")
        store.ensure_pin("hashing-v1-256", 256, 2)
        assert store.load_user("alice") == []
        proxy.stall()
        ops = [lambda: store.load_user("alice"), lambda: store.apply([], [("alice", "x")]), store.user_ids]
        for error in all_finish(ops):  # each on its own: all three wait for their deadlines at the same time
            assert isinstance(error, StoreUnavailableError), repr(error)
    finally:
        proxy.close()


def test_a_full_disk_fails_the_flush_typed_and_loses_nothing(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage
    m = UserModeler(store_path, embedder=HashingEmbedder(), shards=2, flush_interval=3600)
    try:
        monkeypatch.setattr(
            store_guards.shutil, "disk_usage", lambda p: real(p)._replace(free=store_module.MIN_FREE_BYTES - 1)
        )
        m.observe("alice", [{"role": "user", "content": "I love tea."}])  # journaled: acknowledged
        with pytest.raises(StoreFullError, match="free"):
            m.flush_writes()
        assert m.stats()["journal_pending"] >= 1
        assert [x.content for x in m.messages("alice")] == ["I love tea."]
        assert m.internals.store.load_user("alice") == []  # nothing reached Chroma
        monkeypatch.setattr(store_guards.shutil, "disk_usage", real)  # space returns
        m.flush_writes()
        assert m.stats()["journal_pending"] == 0
    finally:
        m.close()
    with UserModeler(store_path, embedder=HashingEmbedder()) as again:
        assert [x.content for x in again.messages("alice")] == ["I love tea."]
        assert len(again.internals.store.load_user("alice")) >= 1


def test_a_store_error_names_the_cause(store_path: Path) -> None:
    # a read-only store (root ignores file modes, so the chromadb failure is classified directly)
    from personal_core.store import typed_store_error

    read_only = typed_store_error(PermissionError(13, "Permission denied"), "writing")
    assert isinstance(read_only, StoreError) and "permission" in str(read_only).lower()
    full = typed_store_error(RuntimeError("error returned from database: (code: 13) database or disk is full"), "x")
    assert isinstance(full, StoreFullError)
    unavailable = typed_store_error(ConnectionRefusedError(111, "Connection refused"), "loading")
    assert isinstance(unavailable, StoreUnavailableError)


def test_forget_on_a_full_disk_fails_typed_before_dropping_the_shard(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage
    with UserModeler(store_path, embedder=HashingEmbedder(), shards=1) as m:
        m.observe("keeper", [{"role": "user", "content": "I love long walks."}])
        m.observe("victim", [{"role": "user", "content": "I love secret things."}])
        m.flush_writes()
        monkeypatch.setattr(store_guards.shutil, "disk_usage", lambda p: real(p)._replace(free=1024))
        with pytest.raises(StoreError, match="forget") as caught:
            m.forget("victim")
        assert isinstance(caught.value.__cause__, StoreFullError)
        assert m.messages("victim") == []
        assert len(m.internals.store.load_user("keeper")) >= 1  # the shard was not dropped
        monkeypatch.setattr(store_guards.shutil, "disk_usage", real)
        m.forget("victim")  # space is back: the erasure finishes
        assert [x.content for x in m.messages("keeper")] == ["I love long walks."]
