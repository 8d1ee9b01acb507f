"""Circuit breaker: stop calling an endpoint that is failing, probe it, close on recovery.

::

    CLOSED --(failure_threshold consecutive failures, or failure_ratio over window)--> OPEN
    OPEN --(jittered recovery_timeout elapsed; next acquire)--> HALF_OPEN
    HALF_OPEN --(a probe succeeds)--> CLOSED
    HALF_OPEN --(a probe fails)--> OPEN (fresh jittered recovery window)
    any --isolate()--> OPEN until reset();  any --reset()--> CLOSED

Every call takes a ``Permit`` from ``acquire()`` and hands it back exactly once through
``record_success``, ``record_failure`` or ``release``. Permits carry the breaker's
*generation*, which changes on every transition; a report whose generation is not the
current one is ignored (it describes the endpoint before the last transition). A probe
permit also has a deadline: once it has expired its slot is reclaimed and its late report
is ignored too. So no report can count twice or move the breaker out of a state it did
not observe.

State is a handful of plain fields changed under one lock, ready to be mirrored in a
shared store.
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Callable, Collection
from typing import Any

import attrs

from ailib._validators import number, one_of, status_codes, status_set
from ailib.clock import SYSTEM_CLOCK, Clock
from ailib.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    NetworkError,
    ProtocolError,
    ProviderError,
    StreamInterruptedError,
    TimeoutError,
)
from ailib.reliability._window import _SlidingCounts

from .._value import value

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerPolicy",
    "CircuitState",
    "Permit",
    "is_breaker_failure",
]

_EPS = 1e-9
RATIO_EPS = _EPS  # public within ailib: the Redis breaker's Lua script uses the same slack


@value(kw_only=True)
class CircuitBreakerPolicy:
    """When a breaker opens and how it recovers. Invalid values raise ConfigurationError.

    ``failure_threshold`` counts consecutive failures; ``window`` and ``min_calls`` apply
    only to ``failure_ratio``. The open period is ``recovery_timeout * (1 + recovery_jitter
    * U[0, 1))``.

    ``failure_status`` (None: 5xx count, 4xx do not) is a collection of HTTP status codes:
    an error with a status then counts as a failure iff its status is listed; errors
    without one (timeouts, network) keep the usual rule. ``scope="model"`` keeps one
    breaker per (endpoint, model), so one failing model behind a gateway leaves the others
    alone; ``"endpoint"`` (the default) keeps one per endpoint.
    """

    failure_threshold: int = attrs.field(default=5, validator=number("an integer >= 1", low=1, integer=True))
    failure_ratio: float | None = attrs.field(
        default=None, validator=number("None or a number in (0, 1]", low=0, low_open=True, high=1, optional=True)
    )
    window: float = attrs.field(default=30.0, validator=number("a number > 0", low=0, low_open=True))
    min_calls: int = attrs.field(default=10, validator=number("an integer >= 1", low=1, integer=True))
    recovery_timeout: float = attrs.field(default=30.0, validator=number("a number >= 0", low=0))
    half_open_max_calls: int = attrs.field(default=1, validator=number("an integer >= 1", low=1, integer=True))
    recovery_jitter: float = attrs.field(default=0.1, validator=number("a number >= 0", low=0))
    failure_status: Collection[int] | None = attrs.field(default=None, converter=status_set, validator=status_codes)
    scope: str = attrs.field(default="endpoint", validator=one_of(("endpoint", "model"), "'endpoint' or 'model'"))

    def counts(self, error: BaseException) -> bool:
        """Whether ``error`` counts as a failure of the endpoint under this policy."""
        codes = self.failure_status
        status = getattr(error, "status_code", None)
        if codes is None or status is None or isinstance(error, DeadlineExceededError):
            return is_breaker_failure(error)
        return status in codes


class CircuitState(enum.Enum):
    """A breaker's state: CLOSED (calls pass), OPEN (calls fail fast), HALF_OPEN (probes pass)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN


def is_breaker_failure(error: BaseException) -> bool:
    """True when ``error`` says the endpoint is unwell (5xx, timeout, network, protocol).

    False for the caller's own deadline, every 4xx (429 included) and local fast-fails.
    A ``StreamInterruptedError`` counts unless its ``cause`` is known not to.
    """
    if isinstance(error, StreamInterruptedError):
        return error.cause is None or is_breaker_failure(error.cause)
    if isinstance(error, DeadlineExceededError):
        return False
    return isinstance(error, (TimeoutError, NetworkError, ProviderError, ProtocolError))


@value
class Permit:
    """Leave to make one call; report it back exactly once.

    ``generation`` is the breaker's generation at issue. A probe permit (``is_probe``) has
    a ``probe_id`` and an ``expires_at`` (breaker clock); a closed-state permit is shared
    by every caller of that generation.
    """

    generation: int
    probe_id: int | None = None
    expires_at: float | None = None

    @property
    def is_probe(self) -> bool:
        return self.probe_id is not None


TransitionCallback = Callable[[str, CircuitState, CircuitState], Any]


class CircuitBreaker:
    """A thread-safe circuit breaker for one endpoint.

    ``on_transition(name, old, new)`` runs after every transition, outside the lock, in
    the thread that caused it. It should not raise; if it does, the exception reaches
    that caller after the transition is committed (a probe permit the same ``acquire``
    took is released first).
    """

    def __init__(
        self,
        policy: CircuitBreakerPolicy | None = None,
        *,
        name: str = "",
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
        on_transition: TransitionCallback | None = None,
    ) -> None:
        self.policy = policy if policy is not None else CircuitBreakerPolicy()
        self.name = name
        self._clock = clock
        self._rng = rng
        self._on_transition = on_transition
        self._lock = threading.Lock()
        # --- state: plain fields, all changed under self._lock ---
        self._state = _CLOSED
        self._generation = 0
        self._consecutive = 0
        self._open_until = 0.0
        self._isolated = False
        self._probes: dict[int, float] = {}  # probe_id -> expires_at
        self._next_probe_id = 0
        self._window = _SlidingCounts(self.policy.window, channels=2) if self.policy.failure_ratio else None
        # The permit every CLOSED caller shares; None unless CLOSED. Read without the lock.
        self._closed_permit: Permit | None = Permit(0)

    # --- reading -------------------------------------------------------------------

    def accepting(self) -> bool:
        """Lock-free routing check: False while OPEN (or isolated) and not yet due a probe.

        A racy read is fine here: routing only orders targets, ``acquire`` decides.
        """
        if self._state is not _OPEN:
            return True
        return not self._isolated and self._clock.monotonic() >= self._open_until

    @property
    def state(self) -> CircuitState:
        """The state as of now: OPEN whose recovery time has passed reads as HALF_OPEN.

        Reading never transitions (and never fires ``on_transition``); the actual move
        to HALF_OPEN happens at the next ``acquire``.
        """
        with self._lock:
            if self._state is _OPEN and not self._isolated and self._clock.monotonic() >= self._open_until:
                return _HALF_OPEN
            return self._state

    @property
    def isolated(self) -> bool:
        """True between ``isolate()`` and ``reset()``."""
        return self._isolated

    def for_model(self, model: str) -> CircuitBreaker:
        """The breaker that guards ``model`` on this endpoint: this one (endpoint scope)."""
        return self

    # --- the call path -------------------------------------------------------------

    def acquire(self, probe_timeout: float | None = None) -> Permit:
        """Leave to call the endpoint, or ``CircuitOpenError`` with ``retry_after``.

        In HALF_OPEN at most ``half_open_max_calls`` probes are out at once; a probe not
        reported within ``probe_timeout`` seconds (> 0; default ``recovery_timeout``, or
        1 s when that is 0) expires: its slot goes to a new probe and its report is ignored.
        """
        if probe_timeout is not None and not probe_timeout > 0:
            raise ValueError(f"probe_timeout must be > 0, got {probe_timeout!r}")
        permit = self._closed_permit  # lock-free hot path; a racing transition makes it stale, not wrong
        if permit is not None:
            return permit
        return self._acquire_slow(probe_timeout)

    def _acquire_slow(self, probe_timeout: float | None) -> Permit:
        transitions: list[tuple[CircuitState, CircuitState]] = []
        retry_after: float | None = None
        permit: Permit | None = None
        with self._lock:
            now = self._clock.monotonic()
            if self._state is _CLOSED:
                permit = self._closed_permit
            elif self._state is _OPEN and (self._isolated or now < self._open_until):
                retry_after = None if self._isolated else self._open_until - now
            else:
                if self._state is _OPEN:
                    self._transition(_HALF_OPEN, transitions)
                probes = self._probes
                if probes:
                    for pid in [pid for pid, exp in probes.items() if now >= exp]:
                        del probes[pid]
                if len(probes) < self.policy.half_open_max_calls:
                    timeout = probe_timeout if probe_timeout is not None else self.policy.recovery_timeout or 1.0
                    pid = self._next_probe_id
                    self._next_probe_id = pid + 1
                    probes[pid] = now + timeout
                    permit = Permit(self._generation, pid, now + timeout)
                else:
                    retry_after = max(0.0, min(probes.values()) - now)
        if transitions:
            try:
                self._notify(transitions)
            except BaseException:
                if permit is not None:
                    self.release(permit)
                raise
        if permit is None:
            raise CircuitOpenError(f"circuit for {self.name} is open", retry_after=retry_after)
        return permit

    def record_success(self, permit: Permit) -> None:
        """The call succeeded: resets the consecutive count; a live probe closes the circuit."""
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if permit.generation != self._generation:
                return
            if self._state is _CLOSED:
                self._consecutive = 0
                if self._window is not None:
                    self._count(self._clock.monotonic(), failed=False)
            elif self._take_probe(permit):
                self._transition(_CLOSED, transitions)
        if transitions:
            self._notify(transitions)

    def record_failure(self, permit: Permit) -> None:
        """The call failed in a way that counts (see ``is_breaker_failure``)."""
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if permit.generation != self._generation:
                return
            if self._state is _CLOSED:
                self._consecutive += 1
                trip = self._consecutive >= self.policy.failure_threshold
                if self._window is not None:
                    trip = self._count(self._clock.monotonic(), failed=True) or trip
                if trip:
                    self._transition(_OPEN, transitions)
            elif self._take_probe(permit):
                self._transition(_OPEN, transitions)
        if transitions:
            self._notify(transitions)

    def release(self, permit: Permit) -> None:
        """Hand back a permit whose outcome says nothing about health (a 400, a cancelled hedge)."""
        if permit.probe_id is None:
            return
        with self._lock:
            if permit.generation == self._generation:
                self._probes.pop(permit.probe_id, None)

    # --- manual control ------------------------------------------------------------

    def isolate(self) -> None:
        """Force OPEN until ``reset()``; outstanding permits become stale."""
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = True
            self._transition(_OPEN, transitions, jitter=False)
        self._notify(transitions)

    def reset(self) -> None:
        """Force CLOSED with zeroed counts; outstanding permits become stale."""
        transitions: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._isolated = False
            self._transition(_CLOSED, transitions)
        self._notify(transitions)

    # --- internals (call with the lock held) -----------------------------------------

    def _count(self, now: float, *, failed: bool) -> bool:
        """Add one call to the ratio window; True when the failure ratio trips."""
        window = self._window
        assert window is not None
        current = window.advance(now)
        current[0] += 1
        window.totals[0] += 1
        if failed:
            current[1] += 1
            window.totals[1] += 1
        calls, failures = window.totals
        ratio = self.policy.failure_ratio
        return failed and ratio is not None and calls >= self.policy.min_calls and failures + _EPS >= ratio * calls

    def _take_probe(self, permit: Permit) -> bool:
        """Consume a HALF_OPEN probe's report; False if it is unknown, reported or expired."""
        if permit.probe_id is None:
            return False
        expires_at = self._probes.pop(permit.probe_id, None)
        return expires_at is not None and self._clock.monotonic() < expires_at

    def _transition(self, new: CircuitState, transitions: list[tuple[CircuitState, CircuitState]], *, jitter: bool = True) -> None:
        """Enter ``new`` with fresh counts and a new generation; queue the callback."""
        old = self._state
        self._generation += 1
        self._state = new
        self._consecutive = 0
        self._probes.clear()
        if self._window is not None:
            self._window.clear()
        if new is _OPEN:
            jitter_factor = self.policy.recovery_jitter * self._rng() if jitter else 0.0
            self._open_until = self._clock.monotonic() + self.policy.recovery_timeout * (1.0 + jitter_factor)
        self._closed_permit = Permit(self._generation) if new is _CLOSED else None
        if old is not new:
            transitions.append((old, new))

    def _notify(self, transitions: list[tuple[CircuitState, CircuitState]]) -> None:
        callback = self._on_transition
        if callback is not None:
            for old, new in transitions:
                callback(self.name, old, new)

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self._state.value})"
