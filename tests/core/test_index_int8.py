"""The message index holds vectors as int8 codes with a scale per row: a quarter of the memory, cosines within a
few 1e-3 of float32's, the same order for clearly separated scores, identical vectors still tied."""

from __future__ import annotations

import numpy as np

from personal_core import HashingEmbedder
from personal_core.index import Int8Rows, quantize
from personal_core.ranking import cosines

EMB = HashingEmbedder(dimension=256)


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_cosines_are_close_to_float32_and_chunks_do_not_matter() -> None:
    m = _unit(5000, 256, 1)  # more rows than one chunk
    rows = Int8Rows.of(m)
    for q in (m[3], _unit(1, 256, 2)[0], EMB.embed_query("tea in lisbon")):
        exact = m @ q
        got = cosines(rows, q)  # type: ignore[arg-type]
        assert got.dtype == np.float32 and got.shape == (5000,)
        error = np.abs(got - exact)
        assert error.max() < 4e-3 and error.mean() < 1e-3
        per_row = (rows.codes.astype(np.float32) @ q) * rows.scales  # the same product without chunks
        assert np.allclose(got, per_row, rtol=0, atol=1e-5)
        top = np.argsort(-exact)[:5]
        assert set(np.argsort(-got)[:5]) & set(top)  # the best rows stay at the top
    assert rows.nbytes == 5000 * 256 + 5000 * 4  # a quarter of float32's 5000 x 256 x 4, plus the scales


def test_rows_read_like_a_float32_matrix() -> None:
    m = _unit(40, 16, 3)
    rows = Int8Rows.of(m)
    assert rows.shape == (40, 16) and len(rows) == 40 and rows.dtype == np.float32
    picked = rows[np.array([5, 0, 5])]
    assert picked.dtype == np.float32 and picked.shape == (3, 16)
    assert np.array_equal(picked[0], picked[2]) and np.array_equal(picked[1], rows[0])
    assert np.abs(np.asarray(rows) - m).max() <= rows.scales.max() / 2 + 1e-7
    assert np.array_equal(np.asarray(rows), rows[:])


def test_identical_vectors_tie_and_zero_vectors_stay_zero() -> None:
    v = EMB.embed_query("ramen in kyoto")
    m = np.stack([v, np.zeros_like(v), v, -v])
    codes, scales = quantize(m)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    assert scales[1] == 0 and not codes[1].any()
    scores = cosines(Int8Rows(codes, scales), v)  # type: ignore[arg-type]
    assert scores[0] == scores[2] and scores[1] == 0 and scores[3] == -scores[0]
    assert abs(scores[0] - 1.0) < 2e-3


def test_quantizing_what_was_dequantized_gives_the_same_codes() -> None:
    m = _unit(200, 64, 4)
    codes, scales = quantize(m)
    again, again_scales = quantize(Int8Rows(codes, scales)[:])
    assert np.array_equal(codes, again)
    assert np.allclose(scales, again_scales, rtol=1e-6, atol=0)
