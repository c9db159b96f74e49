"""Token counting offline, and the embedders."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from personal_core import (
    EmbedderMismatchError,
    EstimateCounter,
    HashingEmbedder,
    InvalidInputError,
    UserModeler,
    from_chroma_embedding_function,
)
from personal_core import tokens as tokens_module
from personal_core.embedding import EmbedderUnavailableError, UnavailableEmbedder
from personal_core.store_pin import read_pin
from personal_core.tokens import TiktokenCounter, resolve_counter


def test_tiktoken_loads_from_llama_index_cache_without_network(real_counter: TiktokenCounter) -> None:
    assert real_counter.name == "tiktoken:o200k_base"
    assert real_counter.count("hello world") == 2
    assert tokens_module.find_cached_encoding_dir("cl100k_base") is not None


def test_fallback_estimate_is_explicit_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tokens_module, "find_cached_encoding_dir", lambda name: None)
    monkeypatch.setattr(tokens_module, "_COUNTERS", {})
    with caplog.at_level(logging.WARNING, logger="personal_core.tokens"):
        counter = tokens_module.default_counter("o200k_base")
    assert isinstance(counter, EstimateCounter)
    assert "not available offline" in caplog.text
    text = "An ordinary English sentence, with some punctuation and numbers like 12345."
    assert counter.count(text) >= TiktokenCounter(__import__("tiktoken").get_encoding("o200k_base")).count(text)
    assert counter.count(counter.truncate(text, 5)) <= 5


def test_truncate_respects_the_limit(real_counter: TiktokenCounter) -> None:
    text = "naïve café " * 200 + "🙂" * 50
    for limit in (0, 1, 7, 33, 100):
        assert real_counter.count(real_counter.truncate(text, limit)) <= limit
    assert real_counter.truncate("short", 10) == "short"


def test_resolve_counter_rejects_garbage() -> None:
    with pytest.raises(InvalidInputError):
        resolve_counter(42)


def test_hashing_embedder_is_deterministic_across_processes() -> None:
    emb = HashingEmbedder(64)
    here = emb.embed_query("I love hiking in the Alps")
    code = (
        "from personal_core import HashingEmbedder;"
        "print(list(HashingEmbedder(64).embed_query('I love hiking in the Alps')))"
    )
    there = eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert np.allclose(here, np.array(there, dtype=np.float32))
    assert abs(float(np.linalg.norm(here)) - 1.0) < 1e-5


def test_hashing_embedder_similarity_follows_word_overlap() -> None:
    emb = HashingEmbedder()
    a, b, c = emb.embed_documents(["I love hiking in the mountains", "hiking mountains", "quarterly tax report"])
    assert float(a @ b) > float(a @ c) + 0.3
    assert emb.embed_documents([]).shape == (0, 256)
    assert HashingEmbedder.from_name(emb.name) is not None and HashingEmbedder.from_name("other") is None


def test_chroma_embedding_function_adapter() -> None:
    class FakeEF:
        calls = 0

        @staticmethod
        def name() -> str:
            return "fake"

        def __call__(self, input: list[str]) -> list[list[float]]:
            FakeEF.calls += 1
            return [[float(len(t)), 1.0, 0.0] for t in input]

    emb = from_chroma_embedding_function(FakeEF())
    assert emb.name == "chroma:fake" and emb.dimension == 3
    vectors = emb.embed_documents(["ab", "abcd"])
    assert vectors.shape == (2, 3) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    with pytest.raises(InvalidInputError):
        from_chroma_embedding_function("not callable")


def _no_tiktoken_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As in a core-only install: no llama_index, no TIKTOKEN_CACHE_DIR, an empty temp dir."""
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tokens_module.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setitem(sys.modules, "llama_index", None)  # `import llama_index` now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "llama_index.core", raising=False)
    monkeypatch.setattr(tokens_module, "_COUNTERS", {})


def test_without_llama_index_the_modeler_opens_with_the_logged_estimate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: find_spec("llama_index.core") raised ModuleNotFoundError, so UserModeler() crashed."""
    _no_tiktoken_cache(monkeypatch, tmp_path)
    with pytest.raises(ModuleNotFoundError):
        importlib.util.find_spec("llama_index.core")  # the trap the fix guards against
    assert tokens_module.find_cached_encoding_dir("o200k_base") is None
    with caplog.at_level(logging.WARNING, logger="personal_core.tokens"):
        modeler = UserModeler(tmp_path / "store", embedder=HashingEmbedder(), shards=2)
    with modeler:
        assert isinstance(modeler.counter, EstimateCounter)
        modeler.observe("ann", [{"role": "user", "content": "I love hiking."}])
        assert modeler.context("ann", "hiking", max_tokens=100).tokens <= 100
    assert "not available offline" in caplog.text


def test_a_damaged_cache_file_is_ignored_not_downloaded_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """tiktoken deletes a cached file with the wrong hash and downloads it: such a file must not be used."""
    _no_tiktoken_cache(monkeypatch, tmp_path)
    key = hashlib.sha1(tokens_module._BLOB_URL.format(name="o200k_base").encode()).hexdigest()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / key).write_bytes(b"not a BPE file")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    with caplog.at_level(logging.WARNING, logger="personal_core.tokens"):
        assert isinstance(tokens_module.default_counter("o200k_base"), EstimateCounter)
    assert (cache / key).read_bytes() == b"not a BPE file"  # tiktoken never saw it (it would have deleted it)
    assert "ignoring" in caplog.text


def test_a_cache_dir_with_the_file_loads_tiktoken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tokens_module.find_cached_encoding_dir("o200k_base")
    assert source is not None
    _no_tiktoken_cache(monkeypatch, tmp_path)
    key = hashlib.sha1(tokens_module._BLOB_URL.format(name="o200k_base").encode()).hexdigest()
    (tmp_path / "cache").mkdir()
    shutil.copy(source / key, tmp_path / "cache" / key)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    counter = tokens_module.default_counter("o200k_base")
    assert isinstance(counter, TiktokenCounter) and counter.count("hello world") == 2


def test_unavailable_embedder_serves_reads_and_refuses_to_embed(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with UserModeler(path, embedder=HashingEmbedder(64), shards=2) as modeler:
        modeler.observe("ann", [{"role": "user", "content": "I love hiking."}])
    pin = read_pin(path)
    assert pin is not None and (pin["embedder"], pin["dimension"], pin["shards"]) == ("hashing-v1-64", 64, 2)
    placeholder = UnavailableEmbedder(pin["embedder"], pin["dimension"], hint="pass --embedder")
    with UserModeler(path, embedder=placeholder) as modeler:
        assert [i.text for i in modeler.user_model("ann").insights] == ["Loves hiking"]
        assert modeler.export("ann")["messages"][0]["content"] == "I love hiking."
        with pytest.raises(
            EmbedderUnavailableError, match="needs the store's embedder 'hashing-v1-64': pass --embedder"
        ):
            modeler.observe("ann", [{"role": "user", "content": "I love jazz."}])
        with pytest.raises(EmbedderUnavailableError):
            modeler.context("ann", "hiking")
        assert len(modeler.messages("ann")) == 1  # the refused observe stored nothing
    with pytest.raises(EmbedderMismatchError):
        UserModeler(path, embedder=UnavailableEmbedder("other", 64))


def test_read_pin_never_creates_a_store(tmp_path: Path) -> None:
    assert read_pin(tmp_path / "nothing") is None
    assert not (tmp_path / "nothing").exists()
    (tmp_path / "empty").mkdir()
    assert read_pin(tmp_path / "empty") is None and list((tmp_path / "empty").iterdir()) == []
