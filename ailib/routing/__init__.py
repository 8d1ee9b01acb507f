"""Routing: ModelArray strategies, failover and round-robin chains, FallbackChain, health checks.

The public names are imported on first use (PEP 562): a default client routes nothing and
never loads ``fallback``, ``health`` or ``model_array``.
"""

from typing import TYPE_CHECKING, Any

_LAZY = {
    "FallbackChain": "ailib.routing.fallback",
    "HealthCheck": "ailib.routing.health",
    "LoadBalancingStrategy": "ailib.routing.model_array",
    "ModelArray": "ailib.routing.model_array",
    "ModelEndpoint": "ailib.routing.model_array",
}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from .fallback import FallbackChain
    from .health import HealthCheck
    from .model_array import LoadBalancingStrategy, ModelArray, ModelEndpoint


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ailib.routing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["FallbackChain", "HealthCheck", "LoadBalancingStrategy", "ModelArray", "ModelEndpoint"]
