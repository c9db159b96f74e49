"""Identifier helpers: random ids for new objects, stable hashed ids for derived records."""

from __future__ import annotations

import hashlib
import uuid


def new_id(prefix: str) -> str:
    """A fresh random id such as ``msg_3f2a...``."""
    return f"{prefix}_{uuid.uuid4().hex}"


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id from ``parts`` (so re-applying the same work writes the same record)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}_{digest[:32]}"
