"""``RedisStateStore``: hands out the shared objects, one per (kind, endpoint name)."""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

from ..._fork import register_after_fork
from ...clock import Clock
from ...errors import ConfigurationError
from ...reliability.budget import RatioBudget
from ...reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, TransitionCallback
from ...reliability.ratelimit import RateLimiter, RateLimitPolicy
from ..memory import ScopedStore
from ._link import Link
from ._objects import RedisCircuitBreaker, RedisRateLimiter, RedisRatioBudget
from ._scripts import Scripts

__all__ = ["RedisStateStore"]

T = TypeVar("T")


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ConfigurationError("RedisStateStore needs the redis package: pip install 'ailib[redis]'") from exc
    return redis


def _positive(name: str, value: Any, *, zero_ok: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        raise ConfigurationError(f"RedisStateStore {name} must be a number {'>=' if zero_ok else '>'} 0, got {value!r}")
    return float(value)


class RedisStateStore:
    """Per-endpoint retry budgets, circuit breakers and rate limiters shared through Redis.

    >>> store = RedisStateStore("redis://127.0.0.1:6379/0")
    >>> client = AiClientBuilder("openai").with_rate_limit(policy).with_state_store(store).build()

    Every process (and machine) whose clients use a store on the same Redis and
    ``namespace`` shares one quota, one breaker and one retry budget per endpoint: per
    endpoint name *and* endpoint identity (provider, base URL, routing headers and a
    one-way digest of the key; see ``scoped``), so two applications whose backends or keys
    differ share nothing even under the default namespace. Give each application its own
    ``namespace`` to keep apart even applications with the same backend and key (which by
    default share, as they share the provider's limits); ``scope_by_endpoint=False`` keys
    by endpoint name only, sharing across backends on purpose.
    ``key_ttl``: seconds an idle key lives after its last write. ``socket_timeout``: bound on
    each Redis round trip (and connect). ``retry_interval``: while Redis is unreachable,
    how often (real seconds) one operation tries it again; meanwhile objects use local
    state. Never raises on a Redis failure; a malformed URL or a missing ``redis`` package
    raises ``ConfigurationError``. Thread-safe; build one per process.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "ailib",
        key_ttl: float = 3600.0,
        socket_timeout: float = 0.25,
        retry_interval: float = 5.0,
        scope_by_endpoint: bool = True,
    ) -> None:
        redis = _import_redis()
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"RedisStateStore needs a redis:// URL, got {url!r}")
        if not isinstance(namespace, str) or not namespace:
            raise ConfigurationError(f"RedisStateStore namespace must be a non-empty string, got {namespace!r}")
        self.namespace = namespace
        self.scope_by_endpoint = bool(scope_by_endpoint)
        self.key_ttl = _positive("key_ttl", key_ttl)
        self.socket_timeout = _positive("socket_timeout", socket_timeout)
        self.retry_interval = _positive("retry_interval", retry_interval, zero_ok=True)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigurationError(f"RedisStateStore: bad Redis URL ({exc})") from None
        self._url = url  # for pickling (see __reduce__)
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname or ''}{':' if parts.port else ''}{parts.port or ''}{parts.path}"
        self._link = Link(self._where, self.retry_interval, (redis.exceptions.RedisError, OSError))
        self._scripts = Scripts(self._redis, self._where)
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], Any] = {}
        register_after_fork(self)
        self._link.run(self._redis.ping)  # an unreachable Redis warns now, not at the first call

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as its URL and settings (a client sent to another process shares the same
        Redis state there); a URL with a password raises ``pickle.PicklingError`` rather
        than carry it."""
        import functools
        import pickle

        if urlsplit(self._url).password is not None:
            raise pickle.PicklingError(
                f"RedisStateStore({self._where!r}) has a password in its URL, which a pickle would carry: "
                "build the store (and the client) in each process instead"
            )
        make = functools.partial(
            RedisStateStore,
            namespace=self.namespace,
            key_ttl=self.key_ttl,
            socket_timeout=self.socket_timeout,
            retry_interval=self.retry_interval,
        )
        return make, (self._url,)

    @property
    def using_redis(self) -> bool:
        """True while operations go to Redis (False while falling back to local state)."""
        return self._link.up

    def scoped(self, scope: str) -> Any:
        """This store as seen by one endpoint: keys carry ``scope`` (a digest of the
        endpoint's identity), so clients of other backends or keys share nothing with it.
        With ``scope_by_endpoint=False``, the store itself (keys by endpoint name only)."""
        return ScopedStore(self, scope) if self.scope_by_endpoint else self

    def key(self, kind: str, name: str, scope: str = "") -> str:
        """The Redis key of one object: ``{namespace}:{kind}:{scope}:{name}`` (without a
        scope, ``{namespace}:{kind}:{name}``)."""
        return f"{self.namespace}:{kind}:{scope}:{name}" if scope else f"{self.namespace}:{kind}:{name}"

    def _get(self, kind: str, name: str, scope: str, make: Callable[[str], T]) -> T:
        with self._lock:
            obj = self._objects.get((kind, scope, name))
            if obj is None:
                obj = self._objects[(kind, scope, name)] = make(self.key(kind, name, scope))
            return obj

    def retry_budget(self, name: str, ratio: float, floor: int, clock: Clock, *, scope: str = "") -> RatioBudget:
        """The retry budget of endpoint ``name`` (in Redis, shared)."""
        return self._get(
            "budget",
            name,
            scope,
            lambda key: RedisRatioBudget(self._link, self._scripts, key, ratio, floor=floor, clock=clock, key_ttl=self.key_ttl),
        )

    def breaker(
        self,
        name: str,
        policy: CircuitBreakerPolicy,
        clock: Clock,
        on_transition: Optional[TransitionCallback] = None,
        *,
        scope: str = "",
    ) -> CircuitBreaker:
        """The circuit breaker of endpoint ``name`` (in Redis, shared)."""
        return self._get(
            "breaker",
            name,
            scope,
            lambda key: RedisCircuitBreaker(
                self._link, self._scripts, key, policy, name=name, clock=clock, key_ttl=self.key_ttl, on_transition=on_transition
            ),
        )

    def limiter(self, name: str, policy: RateLimitPolicy, clock: Clock, *, scope: str = "") -> RateLimiter:
        """The rate limiter of endpoint ``name`` (in Redis, shared)."""
        return self._get(
            "limiter",
            name,
            scope,
            lambda key: RedisRateLimiter(self._link, self._scripts, key, policy, name=name, clock=clock, key_ttl=self.key_ttl),
        )

    def _after_fork_in_child(self) -> None:
        """In a forked child: drop the parent's connections unclosed (they are the parent's to
        use) and fresh locks; the next operation opens this process's own connection."""
        self._redis.connection_pool.reset()
        self._lock = threading.Lock()
        self._link.after_fork()
        self._scripts.after_fork()

    def close(self) -> None:
        """Disconnect the pool's connections (a later operation reconnects)."""
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisStateStore({self._where!r}, namespace={self.namespace!r})"
