"""The shared objects: a breaker, a rate limiter and a retry budget whose state lives in Redis.

Each is a subclass of its in-memory counterpart with the same methods and semantics; the
in-memory state underneath is the fallback while Redis is unreachable (see ``Link``).
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Optional

from ..._value import value
from ...clock import Clock
from ...errors import CircuitOpenError, LocalRateLimitError
from ...reliability import budget as _budget
from ...reliability import circuit as _circuit
from ...reliability import ratelimit as _rl
from ...reliability._window import WINDOW_BUCKETS
from ...reliability.budget import RatioBudget
from ...reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, CircuitState, Permit, TransitionCallback
from ...reliability.ratelimit import RateLimiter, RateLimitPolicy
from ...reliability.spend import EPSILON_USD, Hold, SpendLedger
from ._link import LOCAL, Link, text, transitions
from ._scripts import Scripts

__all__ = ["RedisCircuitBreaker", "RedisRateLimiter", "RedisRatioBudget", "RedisSpendLedger"]


@value
class _SharedPermit(Permit):
    """A permit issued by the Redis breaker (a plain ``Permit`` comes from local state)."""


class RedisCircuitBreaker(CircuitBreaker):
    """A ``CircuitBreaker`` whose state lives in Redis; its in-memory state is the fallback.

    Same methods and semantics as ``CircuitBreaker``; see the module docstring for the
    key layout. ``isolate()`` and ``reset()`` apply to the local state too, so an isolated
    endpoint stays isolated while Redis is down.
    """

    def __init__(
        self,
        link: Link,
        scripts: Scripts,
        key: str,
        policy: CircuitBreakerPolicy,
        *,
        name: str,
        clock: Clock,
        key_ttl: float,
        rng: Callable[[], float] = random.random,
        on_transition: Optional[TransitionCallback] = None,
    ) -> None:
        super().__init__(policy, name=name, clock=clock, rng=rng, on_transition=on_transition)
        self.key = key
        self._link = link
        self._scripts = scripts
        self._keys = [key]
        self._ttl_ms = math.ceil((key_ttl + policy.recovery_timeout * (1.0 + policy.recovery_jitter)) * 1000)
        self._ratio = "" if policy.failure_ratio is None else policy.failure_ratio
        # how far ahead open_until can be (the longest open period); later values are absurd
        self._horizon = policy.recovery_timeout * (1.0 + policy.recovery_jitter) + 1.0

    # -- reading --
    def _read(self) -> Any:
        return self._link.run(self._scripts.breaker_state, keys=self._keys, args=[self._horizon])

    @property
    def state(self) -> CircuitState:
        """The shared state as of now (OPEN past its recovery time reads HALF_OPEN)."""
        res = self._read()
        return super().state if res is LOCAL else CircuitState(text(res[0]))

    @property
    def isolated(self) -> bool:
        res = self._read()
        return self._isolated if res is LOCAL else bool(res[1])

    # -- the call path --
    def acquire(self, probe_timeout: Optional[float] = None) -> Permit:
        if probe_timeout is not None and not probe_timeout > 0:
            raise ValueError(f"probe_timeout must be > 0, got {probe_timeout!r}")
        timeout = probe_timeout if probe_timeout is not None else self.policy.recovery_timeout or 1.0
        res = self._link.run(
            self._scripts.breaker_acquire, keys=self._keys, args=[timeout, self.policy.half_open_max_calls, self._ttl_ms, self._horizon]
        )
        if res is LOCAL:
            return super().acquire(probe_timeout)
        status = text(res[0])
        permit: Optional[Permit] = None
        if status == "ok":
            permit = _SharedPermit(int(res[1]))
        elif status == "probe":
            permit = _SharedPermit(int(res[1]), int(res[2]), float(res[3]))
        if len(res) > 5:
            try:
                self._notify(transitions(res[5:]))
            except BaseException:
                if permit is not None:
                    self.release(permit)
                raise
        if permit is None:
            retry_after = float(res[4]) if res[4] not in (b"", "") else None
            raise CircuitOpenError(f"circuit for {self.name} is open", retry_after=retry_after)
        return permit

    def record_success(self, permit: Permit) -> None:
        if type(permit) is _SharedPermit:
            self._record("success", permit)
        else:
            super().record_success(permit)

    def record_failure(self, permit: Permit) -> None:
        if type(permit) is _SharedPermit:
            self._record("failure", permit)
        else:
            super().record_failure(permit)

    def release(self, permit: Permit) -> None:
        if type(permit) is not _SharedPermit:
            super().release(permit)
        elif permit.probe_id is not None:
            self._record("release", permit)

    def _record(self, op: str, permit: Permit) -> None:
        policy = self.policy
        args = [
            op,
            permit.generation,
            "" if permit.probe_id is None else permit.probe_id,
            policy.failure_threshold,
            self._ratio,
            policy.window / WINDOW_BUCKETS,
            WINDOW_BUCKETS,
            policy.min_calls,
            self._open_for(),
            _circuit.RATIO_EPS,
            self._ttl_ms,
            self._horizon,
        ]
        res = self._link.run(self._scripts.breaker_record, keys=self._keys, args=args)
        if res is not LOCAL and res:
            self._notify(transitions(res))

    def _open_for(self) -> float:
        return self.policy.recovery_timeout * (1.0 + self.policy.recovery_jitter * self._rng())

    # -- manual control --
    def isolate(self) -> None:
        local: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = True
            self._transition(CircuitState.OPEN, local, jitter=False)
        res = self._link.run(
            self._scripts.breaker_isolate, keys=self._keys, args=[self.policy.recovery_timeout, self._ttl_ms, self._horizon]
        )
        self._notify(local if res is LOCAL else transitions(res))

    def reset(self) -> None:
        local: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = False
            self._transition(CircuitState.CLOSED, local)
        res = self._link.run(self._scripts.breaker_reset, keys=self._keys, args=[self._ttl_ms, self._horizon])
        self._notify(local if res is LOCAL else transitions(res))

    def __repr__(self) -> str:
        return f"RedisCircuitBreaker(name={self.name!r}, key={self.key!r})"


class RedisRateLimiter(RateLimiter):
    """A ``RateLimiter`` whose buckets live in Redis; its in-memory buckets are the fallback.

    Same methods and semantics as ``RateLimiter``. ``acquire`` reserves the instant in
    Redis and sleeps the returned wait on the caller's clock.
    """

    def __init__(self, link: Link, scripts: Scripts, key: str, policy: RateLimitPolicy, *, name: str, clock: Clock, key_ttl: float) -> None:
        super().__init__(policy, name=name, clock=clock)
        self.key = key
        self._link = link
        self._scripts = scripts
        self._keys = [key]
        self._key_ttl = key_ttl
        self._acquire_args = self._bucket_args()
        self._shared_factor = 1.0  # as of this process's last round trip

    @property
    def factor(self) -> float:
        res = self._link.run(self._scripts.client.hget, self.key, "factor")
        if res is LOCAL:
            return self._factor
        if res is None:
            return 1.0
        try:
            factor = float(res)
        except ValueError:
            factor = math.nan
        if not 0.0 < factor <= 1.0:  # NaN too: as the scripts read it, an unreadable factor is a whole rate
            self._scripts.ignored("limiter", self.key, "factor")
            return 1.0
        return factor

    @property
    def effective_rate(self) -> Optional[float]:
        interval = self._req_interval
        return None if interval is None else self.factor / interval

    def acquire(self, tokens: int = 0, *, max_wait: Optional[float] = None) -> float:
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens!r}")
        limit = self.policy.max_wait if max_wait is None else max_wait
        res = self._link.run(
            self._scripts.limiter_acquire, keys=self._keys, args=[*self._acquire_args, tokens, limit, _rl.WAIT_EPS, self._key_ttl]
        )
        if res is LOCAL:
            return super().acquire(tokens, max_wait=max_wait)
        wait = float(res[1])
        self._shared_factor = float(res[2])
        if not int(res[0]):
            raise LocalRateLimitError(f"rate limiter {self.name} cannot admit within {limit:g}s", retry_after=wait)
        if wait > 0.0:
            self._clock.sleep(wait)
        return wait

    def reconcile(self, estimated: int, actual: int) -> None:
        if self._tok_interval is None or actual == estimated:
            return
        res = self._link.run(self._scripts.limiter_reconcile, keys=self._keys, args=[actual - estimated, self._tok_interval, self._key_ttl])
        if res is LOCAL:
            super().reconcile(estimated, actual)

    def _learn(self, rpm: Optional[float], tpm: Optional[float]) -> bool:
        changed = super()._learn(rpm, tpm)
        if changed:  # the scripts take the buckets' shapes from each call's arguments
            self._acquire_args = self._bucket_args()
        return changed

    def _bucket_args(self) -> list[Any]:
        return [
            "" if self._req_interval is None else self._req_interval,
            self._req_tau,
            "" if self._tok_interval is None else self._tok_interval,
            self._tok_tau,
        ]

    def _slow_down(self, retry_after: Optional[float]) -> None:
        self._rate_limited(_rl.DECREASE, retry_after, lambda: super(RedisRateLimiter, self)._slow_down(retry_after))

    def _drain(self, hold: float) -> None:
        # the shared script drains the request bucket and holds; the factor stays (x 1)
        self._rate_limited(1.0, hold, lambda: super(RedisRateLimiter, self)._drain(hold))

    def _rate_limited(self, decrease: float, retry_after: Optional[float], local: Callable[[], None]) -> None:
        ra = float(retry_after) if isinstance(retry_after, (int, float)) and retry_after > 0 else ""
        args = [decrease, _rl.MIN_FACTOR, _rl.DECREASE_COOLDOWN, ra, _rl.MAX_HOLD, self._acquire_args[0], self._req_tau, self._key_ttl]
        res = self._link.run(self._scripts.limiter_rate_limited, keys=self._keys, args=args)
        if res is LOCAL:
            local()
        else:
            self._shared_factor = float(res)

    def on_success(self) -> None:
        if not self.policy.adaptive or (self._shared_factor >= 1.0 and self._link.up):
            return
        res = self._link.run(self._scripts.limiter_success, keys=self._keys, args=[_rl.INCREASE])
        if res is LOCAL:
            super().on_success()
        else:
            self._shared_factor = float(res)

    def _hold(self, now: float, seconds: float) -> None:
        res = self._link.run(self._scripts.limiter_hold, keys=self._keys, args=[seconds, _rl.MAX_HOLD, self._key_ttl])
        if res is LOCAL:
            super()._hold(now, seconds)

    def __repr__(self) -> str:
        return f"RedisRateLimiter(name={self.name!r}, key={self.key!r}, policy={self.policy!r})"


class RedisRatioBudget(RatioBudget):
    """A ``RatioBudget`` whose window lives in Redis; its in-memory window is the fallback."""

    __slots__ = ("_args", "_keys", "_link", "_script", "key")

    def __init__(
        self, link: Link, scripts: Scripts, key: str, ratio: float, *, floor: int, clock: Clock, key_ttl: float, window: float = 10.0
    ) -> None:
        super().__init__(ratio, floor=floor, window=window, clock=clock)
        self.key = key
        self._link = link
        self._script = scripts.budget
        self._keys = [key]
        ttl_ms = math.ceil(max(key_ttl, self.window) * 1000)
        self._args = [self.ratio, self.floor, self.window / WINDOW_BUCKETS, WINDOW_BUCKETS, _budget.EPS, ttl_ms]

    def _run(self, op: str) -> Any:
        return self._link.run(self._script, keys=self._keys, args=[op, *self._args])

    def record_call(self) -> None:
        if self._run("call") is LOCAL:
            super().record_call()

    def try_spend(self) -> bool:
        res = self._run("spend")
        return super().try_spend() if res is LOCAL else bool(res)

    def available(self) -> int:
        res = self._run("available")
        return super().available() if res is LOCAL else int(res)

    def __repr__(self) -> str:
        return f"RedisRatioBudget(key={self.key!r}, ratio={self.ratio:g}, floor={self.floor}, window={self.window:g})"


class RedisSpendLedger(SpendLedger):
    """A ``SpendLedger`` kept in one Redis hash (``{namespace}:spend:usd``), shared by every
    process on the store's namespace; its in-memory ledger is the fallback while Redis is
    unreachable (spend made meanwhile is counted locally only). The key never expires:
    ``reset()`` starts it again. A hold whose process died is dropped after its lease."""

    def __init__(self, link: Link, scripts: Scripts, key: str) -> None:
        super().__init__()
        self.key = key
        self._link = link
        self._scripts = scripts
        self._keys = [key]

    def hold(self, amount: float, limit: float, lease: float) -> tuple[Optional[Hold], float, float]:
        res = self._link.run(self._scripts.spend_hold, keys=self._keys, args=[amount, limit, max(1.0, lease), EPSILON_USD])
        if res is LOCAL:
            return super().hold(amount, limit, lease)
        ok, hid, spent, held = res
        hold = Hold(int(hid), amount, shared=True) if int(ok) else None
        return hold, float(text(spent)), float(text(held))

    def settle(self, hold: Hold, cost: float) -> None:
        if not hold.shared:
            super().settle(hold, cost)
        elif self._link.run(self._scripts.spend_settle, keys=self._keys, args=[hold.id, cost]) is LOCAL:
            super().add(cost)  # Redis went away meanwhile: its hold expires there; the cost is counted here

    def release(self, hold: Hold) -> None:
        if not hold.shared:
            super().release(hold)
        else:
            self._link.run(self._scripts.spend_settle, keys=self._keys, args=[hold.id, 0])

    def add(self, cost: float) -> None:
        if self._link.run(self._scripts.spend_settle, keys=self._keys, args=["", cost]) is LOCAL:
            super().add(cost)

    def spent(self) -> float:
        res = self._link.run(self._scripts.spend_read, keys=self._keys)
        return super().spent() if res is LOCAL else float(text(res[0]))

    def held(self) -> float:
        res = self._link.run(self._scripts.spend_read, keys=self._keys)
        return super().held() if res is LOCAL else float(text(res[1]))

    def reset(self) -> None:
        super().reset()
        self._link.run(self._scripts.spend_reset, keys=self._keys)

    def __repr__(self) -> str:
        return f"RedisSpendLedger(key={self.key!r})"
