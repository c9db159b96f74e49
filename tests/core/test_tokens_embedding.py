"""Token counting offline, and the embedders."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

from personal_core import EstimateCounter, HashingEmbedder, InvalidInputError, from_chroma_embedding_function
from personal_core import tokens as tokens_module
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
