"""In-process state: each endpoint's retry budget, circuit breaker and rate limiter.

A store hands out one object per (endpoint name, kind); clients given the same store
share them, so their calls draw on one budget, one breaker and one quota per endpoint.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, cast

from ..clock import Clock
from ..reliability.budget import RatioBudget
from ..reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, TransitionCallback

if TYPE_CHECKING:
    from ..reliability._model_scope import ModelBreakers
    from ..reliability.ratelimit import RateLimiter, RateLimitPolicy

__all__ = ["EndpointState", "MemoryStateStore"]


class EndpointState:
    """The live reliability state of one endpoint (each part optional; mutable, by value).

    A plain slotted class, not attrs: it is defined on every client's import path.
    """

    __slots__ = ("retry_budget", "breaker", "limiter", "hedge_budget")

    def __init__(
        self,
        retry_budget: Optional[RatioBudget] = None,
        breaker: Optional[CircuitBreaker | ModelBreakers] = None,
        limiter: Optional[RateLimiter] = None,
        hedge_budget: Optional[RatioBudget] = None,
    ) -> None:
        self.retry_budget = retry_budget
        self.breaker = breaker
        self.limiter = limiter
        self.hedge_budget = hedge_budget

    def _values(self) -> tuple[Any, ...]:
        return (self.retry_budget, self.breaker, self.limiter, self.hedge_budget)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, EndpointState)
        return self._values() == other._values()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value: unhashable

    def __repr__(self) -> str:
        return (
            f"EndpointState(retry_budget={self.retry_budget!r}, breaker={self.breaker!r}, "
            f"limiter={self.limiter!r}, hedge_budget={self.hedge_budget!r})"
        )


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
