"""Where live reliability state is kept: in memory by default; Redis to share it.

``RedisStateStore`` is imported on first use, so ``import ailib`` never imports redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Protocol

from ..clock import Clock
from ..reliability.budget import RatioBudget
from ..reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, TransitionCallback
from .memory import EndpointState, MemoryStateStore

if TYPE_CHECKING:  # the limiter loads with the first rate-limited client
    from ..reliability.ratelimit import RateLimiter, RateLimitPolicy

__all__ = ["StateStore", "EndpointState", "MemoryStateStore", "RedisStateStore"]


class StateStore(Protocol):
    """Where a client keeps each endpoint's live reliability state
    (``AiClientBuilder.with_state_store``): one object per endpoint name and kind, the same
    one for every client given the same store. ``MemoryStateStore`` and ``RedisStateStore``
    are the two kept here.

    A store may also have ``scoped(scope) -> store``: a client then asks it, per endpoint,
    for the objects under a digest of that endpoint's identity (base URL, routing headers,
    a one-way digest of its key), so endpoints that share a name but not a backend or a
    key share nothing. A store without it is given endpoint names only."""

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock) -> RatioBudget:
        """The retry budget of endpoint ``name``."""
        ...

    def breaker(
        self,
        name: str,
        policy: CircuitBreakerPolicy,
        clock: Clock,
        on_transition: Optional[TransitionCallback] = None,
    ) -> CircuitBreaker:
        """The circuit breaker of endpoint ``name``."""
        ...

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock) -> RateLimiter:
        """The rate limiter of endpoint ``name``."""
        ...


def __getattr__(name: str) -> Any:
    if name == "RedisStateStore":
        from .redis import RedisStateStore

        return RedisStateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
