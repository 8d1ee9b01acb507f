"""Breakers scoped per model: one ``CircuitBreaker`` per (endpoint, model), made on first use.

Behind a gateway (a LiteLLM proxy, OpenRouter) one endpoint serves many models; with
``CircuitBreakerPolicy(scope="model")`` a model that keeps failing opens only its own
circuit. Each model's breaker comes from the state store under the name
``"{endpoint}#{model}"``, so a shared store (Redis) keys it per model too.
"""

from __future__ import annotations

import threading
from typing import Callable

from .circuit import CircuitBreaker, CircuitBreakerPolicy

__all__ = ["ModelBreakers", "model_breaker_name"]


def model_breaker_name(endpoint: str, model: str) -> str:
    """The store name of ``model``'s breaker on ``endpoint``."""
    return f"{endpoint}#{model}"


class ModelBreakers:
    """An endpoint's breakers, one per model. ``make(name)`` gets one from the store.

    Routing never skips the endpoint as a whole (``accepting`` is always True): each
    attempt takes a permit from its model's breaker. ``isolate()``/``reset()`` apply to
    every model's breaker, and an isolated endpoint's new model breakers start isolated.
    """

    def __init__(self, name: str, policy: CircuitBreakerPolicy, make: Callable[[str], CircuitBreaker]) -> None:
        self.name = name
        self.policy = policy
        self._make = make
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._isolated = False

    def for_model(self, model: str) -> CircuitBreaker:
        """``model``'s breaker on this endpoint (made on first use)."""
        breaker = self._breakers.get(model)
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(model)
            if breaker is None:
                breaker = self._make(model_breaker_name(self.name, model))
                if self._isolated:
                    breaker.isolate()
                self._breakers[model] = breaker
            return breaker

    def accepting(self) -> bool:
        """Always True: whether a call may go is up to its model's breaker."""
        return True

    @property
    def isolated(self) -> bool:
        return self._isolated

    @property
    def models(self) -> dict[str, CircuitBreaker]:
        """The breakers made so far, by model (a copy)."""
        with self._lock:
            return dict(self._breakers)

    def isolate(self) -> None:
        """Force every model's breaker OPEN until ``reset()`` (models seen later too)."""
        with self._lock:
            self._isolated = True
            breakers = list(self._breakers.values())
        for breaker in breakers:
            breaker.isolate()

    def reset(self) -> None:
        """Force every model's breaker CLOSED."""
        with self._lock:
            self._isolated = False
            breakers = list(self._breakers.values())
        for breaker in breakers:
            breaker.reset()

    def __repr__(self) -> str:
        return f"ModelBreakers(name={self.name!r}, models={sorted(self._breakers)!r})"
