"""Fixtures of the LlamaIndex integration tests (real UserModeler on a temp dir, offline LLMs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamaindex_personal import close_shared_modelers


@pytest.fixture(autouse=True)
def _close_shared_modelers() -> Iterator[None]:
    """Modelers opened by ``from_defaults(path=...)`` are process-wide: close them after each test."""
    yield
    close_shared_modelers()
