"""Every public callable of ailib says what it does: a walk over the public surface."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import ailib
import ailib.errors
import ailib.metrics
import ailib.testing

PUBLIC_MODULES = (ailib, ailib.errors, ailib.metrics, ailib.testing)


def _own_doc(obj: Any) -> str:
    """``obj``'s own docstring (a class's is not inherited from its bases)."""
    if inspect.isclass(obj):
        return (obj.__dict__.get("__doc__") or "").strip()
    if isinstance(obj, property):
        obj = obj.fget
    elif isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return (getattr(obj, "__doc__", None) or "").strip()


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods, class methods and properties that ailib's own classes define for ``cls``."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("ailib"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (property, classmethod, staticmethod)) or inspect.isfunction(value):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", value


def public_callables() -> dict[str, Any]:
    """Every name in the public modules' ``__all__`` that is a class or function, and its classes' public methods."""
    found: dict[str, Any] = {}
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants such as COUNTERS
            found[f"{obj.__module__}.{obj.__qualname__}"] = obj
            if inspect.isclass(obj):
                found.update(_members(obj))
    return found


def test_the_walk_sees_the_whole_surface():
    """The walk reaches the client, the builder, the error tree, metrics and the testing kit, methods included."""
    names = public_callables()
    for expected in (
        "ailib.client.AiClient.chat_completion",
        "ailib._builder.AiClientBuilder.with_connection_options",
        "ailib.errors.ClientClosedError",
        "ailib.metrics.Metrics.start_timer",
        "ailib.testing._provider.MockProvider",
    ):
        assert expected in names, expected
    assert len(names) > 200


def test_every_public_callable_has_a_docstring():
    """No public class, function, method or property of ailib, ailib.errors, ailib.metrics or ailib.testing lacks a docstring."""
    missing = sorted(name for name, obj in public_callables().items() if not _own_doc(obj))
    assert not missing, f"{len(missing)} without a docstring: {missing}"
