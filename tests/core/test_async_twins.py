"""Every public method of UserModeler has an async twin with the same parameters (no **kwargs drift)."""

from __future__ import annotations

import inspect

from personal_core import UserModeler

SYNC_ONLY = {"close"}  # aclose is its twin but also ends the async worker task


def _public_methods() -> list[str]:
    return [
        name
        for name, value in vars(UserModeler).items()
        if (not name.startswith("_") and callable(value) and not name.startswith("a")) or name in ("add_insight", "ask")
    ]


def test_every_public_method_has_an_async_twin_with_the_same_parameters() -> None:
    missing, different = [], []
    for name in _public_methods():
        twin = getattr(UserModeler, f"a{name}", None)
        if twin is None:
            missing.append(name)
            continue
        assert inspect.iscoroutinefunction(twin), f"a{name} must be async"
        if name in SYNC_ONLY:
            continue
        sync_params = list(inspect.signature(getattr(UserModeler, name)).parameters.values())
        async_params = list(inspect.signature(twin).parameters.values())
        if [(p.name, p.kind, p.default) for p in sync_params] != [(p.name, p.kind, p.default) for p in async_params]:
            different.append(name)
    assert missing == [] and different == []
