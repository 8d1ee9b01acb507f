"""In-process state: each endpoint's retry budget, circuit breaker and rate limiter.

A store hands out one object per (endpoint name, kind); clients given the same store
share them, so their calls draw on one budget, one breaker and one quota per endpoint.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, cast

from .._value import mutable_value
from ..clock import Clock
from ..reliability.budget import RatioBudget
from ..reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, TransitionCallback
from ..reliability.spend import SpendLedger

if TYPE_CHECKING:
    from ..reliability._model_scope import ModelBreakers
    from ..reliability.ratelimit import RateLimiter, RateLimitPolicy

__all__ = ["EndpointState", "MemoryStateStore"]


@mutable_value
class EndpointState:
    """The live reliability state of one endpoint: a holder of its parts (each optional, set
    once the client is built or later), compared by value."""

    retry_budget: Optional[RatioBudget] = None
    breaker: Optional[CircuitBreaker | ModelBreakers] = None
    limiter: Optional[RateLimiter] = None
    hedge_budget: Optional[RatioBudget] = None


_T = TypeVar("_T")


class MemoryStateStore:
    """Thread-safe get-or-create of per-endpoint state objects, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], Any] = {}

    def _get(self, key: tuple[str, str], make: Callable[[], _T]) -> _T:
        with self._lock:
            obj = self._objects.get(key)
            if obj is None:
                obj = self._objects[key] = make()
            return cast(_T, obj)

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock) -> RatioBudget:
        """The retry budget of endpoint ``name`` (in this process)."""
        return self._get(("retry_budget", name), lambda: RatioBudget(ratio, floor=floor, clock=clock))

    def breaker(
        self, name: str, policy: CircuitBreakerPolicy, clock: Clock, on_transition: Optional[TransitionCallback] = None
    ) -> CircuitBreaker:
        """The circuit breaker of endpoint ``name`` (in this process)."""
        return self._get(("breaker", name), lambda: CircuitBreaker(policy, name=name, clock=clock, on_transition=on_transition))

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock) -> RateLimiter:
        """The rate limiter of endpoint ``name`` (in this process)."""
        from ..reliability.ratelimit import RateLimiter  # only a rate-limited client loads the limiter

        return self._get(("limiter", name), lambda: RateLimiter(policy, name=name, clock=clock))

    def spend_ledger(self) -> SpendLedger:
        """The spend of every client whose budget uses this store (``with_budget(usd,
        store=...)``), in this process."""
        return self._get(("spend", "usd"), SpendLedger)
