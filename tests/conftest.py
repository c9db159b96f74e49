"""Shared fixtures. Every test runs offline (pytest-socket refuses non-loopback sockets)."""

from __future__ import annotations

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
