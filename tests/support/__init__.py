"""Test helpers (no network, no real models)."""
