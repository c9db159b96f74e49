"""Default embedder resolution, and concurrent use from threads."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from personal_core import EmbedderMismatchError, HashingEmbedder, UserModeler
from personal_core import embedding as modeler_module
from personal_core.store import CHROMA_DEFAULT_EMBEDDER


def test_default_is_hashing_with_a_warning_when_no_model_is_on_disk(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(modeler_module, "chroma_default_embedding_function", lambda: None)
    with caplog.at_level(logging.WARNING, logger="personal_core.modeler"), UserModeler(store_path) as m:
        assert isinstance(m.embedder, HashingEmbedder)
    assert "HashingEmbedder" in caplog.text


class _FakeDefaultEF:
    """Stands in for Chroma's on-disk default model (which tests must not download)."""

    @staticmethod
    def name() -> str:
        return "default"

    def __call__(self, input: list[str]) -> list[list[float]]:
        return [[1.0, float(len(t) % 7), 0.5, 0.25] for t in input]


def test_default_uses_chroma_model_when_present_and_pins_it(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modeler_module, "chroma_default_embedding_function", _FakeDefaultEF)
    with UserModeler(store_path) as m:
        assert m.embedder.name == CHROMA_DEFAULT_EMBEDDER and m.embedder.dimension == 4
        m.observe("ann", [{"role": "user", "content": "I love tea."}])
    with UserModeler(store_path) as m:  # reopened by its pin
        assert m.embedder.name == CHROMA_DEFAULT_EMBEDDER
    monkeypatch.setattr(modeler_module, "chroma_default_embedding_function", lambda: None)
    with pytest.raises(EmbedderMismatchError, match="pass embedder="):
        UserModeler(store_path)  # the pinned model is gone: say so rather than switch silently


def test_threads_observe_and_read_without_losing_anything(modeler: UserModeler) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                user = f"u{(n + i) % 5}"
                modeler.observe(user, [{"id": f"t{n}-{i}", "role": "user", "content": f"I love item{n}x{i}."}])
                modeler.context(user, f"item{n}x{i}", max_tokens=200)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    total = sum(len(modeler.messages(f"u{k}")) for k in range(5))
    assert total == 8 * 40
    modeler.flush_writes()
    modeler.internals.cache.clear()
    assert sum(len(modeler.messages(f"u{k}")) for k in range(5)) == 320
    assert sum(len(modeler.user_model(f"u{k}").insights) for k in range(5)) == 320
