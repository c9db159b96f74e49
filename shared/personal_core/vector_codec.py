"""Vectors as compact codes: int8 quantization (what the message index holds in memory) and the text form a
vector takes inside a Chroma record's metadata (pure numpy, no I/O)."""

from __future__ import annotations

import base64

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
CodeArray = npt.NDArray[np.int8]

INT8 = "i8:"  # base64 of the float32 scale then the int8 codes
FLOAT32 = "f32:"  # base64 of the float32 components


def quantize(vectors: npt.ArrayLike) -> tuple[CodeArray, FloatArray]:
    """Rows as int8 codes and one float32 scale each (``row ~= codes * scale``, the largest component is 127)."""
    rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    scales = (np.abs(rows).max(axis=1, initial=0.0) / np.float32(127.0)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    codes = np.rint(rows / safe[:, None]).clip(-127, 127).astype(np.int8)
    return codes, scales


def encode(vector: npt.ArrayLike, as_int8: bool) -> str:
    """A vector as text: int8 codes with their scale (a quarter of the bytes; quantizing the decoded vector
    again gives the same codes), or float32 exactly."""
    if as_int8:
        codes, scales = quantize(vector)
        return INT8 + base64.b64encode(scales[:1].tobytes() + codes[0].tobytes()).decode()
    return FLOAT32 + base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()


def as_stored(vector: npt.ArrayLike) -> FloatArray:
    """``vector`` as the store keeps it (int8 codes with a scale, decoded): every record is built with this form,
    so a process that wrote a record and one that reads it back rank with the same numbers."""
    return decode(encode(vector, as_int8=True))


def decode(text: str) -> FloatArray:
    """The float32 vector of :func:`encode`'s text; ``ValueError`` when it is not one (bad prefix, base64 or
    length)."""
    try:
        if text.startswith(INT8):
            raw = base64.b64decode(text[len(INT8) :])
            if len(raw) < 4:
                raise ValueError("too short")
            scale = np.frombuffer(raw[:4], dtype=np.float32)[0]
            decoded: FloatArray = np.frombuffer(raw[4:], dtype=np.int8).astype(np.float32) * scale
            return decoded
        if text.startswith(FLOAT32):
            return np.frombuffer(base64.b64decode(text[len(FLOAT32) :]), dtype=np.float32)
    except ValueError as exc:  # binascii.Error is one; a float32 text of a length not divisible by 4 too
        raise ValueError(f"not an encoded vector: {exc}") from exc
    raise ValueError("not an encoded vector")
