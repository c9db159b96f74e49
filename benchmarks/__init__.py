"""Benchmarks of personal-memory (run as modules: ``python -m benchmarks.layout``, ``python -m benchmarks.scale``)."""
