"""In-process state: each endpoint's retry budget, circuit breaker and rate limiter.

A store hands out one object per (kind, scope, endpoint name); clients given the same
store share them, so their calls draw on one budget, one breaker and one quota per
endpoint. A client asks ``store.scoped(scope)`` (when the store has it) for each endpoint,
with a digest of the endpoint's identity (provider, base URL, routing headers and a
one-way digest of its key) as the scope, so two clients whose endpoints share a name but
not a backend or a key share nothing.
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

__all__ = ["EndpointState", "MemoryStateStore", "ScopedStore"]


@mutable_value
class EndpointState:
    """The live reliability state of one endpoint: a holder of its parts (each optional, set
    once the client is built or later), compared by value."""

    retry_budget: Optional[RatioBudget] = None
    breaker: Optional[CircuitBreaker | ModelBreakers] = None
    limiter: Optional[RateLimiter] = None
    hedge_budget: Optional[RatioBudget] = None
    # makes the endpoint's learning limiter (``ratelimit.LEARNING``) on the first rate-limit
    # signal when none is configured; the guard calls it (the store shares the one it makes)
    learn: Optional[Callable[[], RateLimiter]] = None

    def adopt_limiter(self) -> Optional[RateLimiter]:
        """The endpoint's limiter, made now by ``learn`` if there is none yet."""
        limiter = self.limiter
        if limiter is None and self.learn is not None:
            limiter = self.limiter = self.learn()
        return limiter


_T = TypeVar("_T")


class MemoryStateStore:
    """Thread-safe get-or-create of per-endpoint state objects, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], Any] = {}

    def _get(self, key: tuple[str, str, str], make: Callable[[], _T]) -> _T:
        with self._lock:
            obj = self._objects.get(key)
            if obj is None:
                obj = self._objects[key] = make()
            return cast(_T, obj)

    def scoped(self, scope: str) -> ScopedStore:
        """This store as seen by one endpoint: objects under ``scope`` (an endpoint identity
        digest) are apart from those of every other scope."""
        return ScopedStore(self, scope)

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock, *, scope: str = "") -> RatioBudget:
        """The retry budget of endpoint ``name`` (in this process)."""
        return self._get(("retry_budget", scope, name), lambda: RatioBudget(ratio, floor=floor, clock=clock))

    def breaker(
        self,
        name: str,
        policy: CircuitBreakerPolicy,
        clock: Clock,
        on_transition: Optional[TransitionCallback] = None,
        *,
        scope: str = "",
    ) -> CircuitBreaker:
        """The circuit breaker of endpoint ``name`` (in this process)."""
        return self._get(("breaker", scope, name), lambda: CircuitBreaker(policy, name=name, clock=clock, on_transition=on_transition))

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock, *, scope: str = "") -> RateLimiter:
        """The rate limiter of endpoint ``name`` (in this process)."""
        from ..reliability.ratelimit import RateLimiter  # only a rate-limited client loads the limiter

        return self._get(("limiter", scope, name), lambda: RateLimiter(policy, name=name, clock=clock))

    def spend_ledger(self) -> SpendLedger:
        """The spend of every client whose budget uses this store (``with_budget(usd,
        store=...)``), in this process: one per store, whatever the endpoints."""
        return self._get(("spend", "", "usd"), SpendLedger)


class ScopedStore:
    """A store's objects under one scope: the same three methods, each passing ``scope`` on."""

    def __init__(self, store: Any, scope: str) -> None:
        self.store = store
        self.scope = scope

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock) -> RatioBudget:
        """The retry budget of endpoint ``name`` within this scope."""
        budget: RatioBudget = self.store.retry_budget(name, ratio, floor, clock, scope=self.scope)
        return budget

    def breaker(
        self, name: str, policy: CircuitBreakerPolicy, clock: Clock, on_transition: Optional[TransitionCallback] = None
    ) -> CircuitBreaker:
        """The circuit breaker of endpoint ``name`` within this scope."""
        breaker: CircuitBreaker = self.store.breaker(name, policy, clock, on_transition, scope=self.scope)
        return breaker

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock) -> RateLimiter:
        """The rate limiter of endpoint ``name`` within this scope."""
        limiter: RateLimiter = self.store.limiter(name, policy, clock, scope=self.scope)
        return limiter

    def __repr__(self) -> str:
        return f"ScopedStore({self.store!r}, scope={self.scope!r})"
