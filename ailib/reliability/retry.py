"""RetryPolicy and one call's retry run on tenacity.

A fresh ``tenacity.Retrying`` is built for every call on every target (never shared
across threads). All decisions sit in one predicate, in this order: is the error's class
retryable (and did the server not veto with ``x-should-retry: false``); are attempts
left; is the wait (the server's Retry-After when given, else backoff) within
``max_retry_after`` and the call's remaining deadline; does the endpoint's retry budget
allow one more (a 429 asks for none: waiting out a rate limit is pacing, see ``_paced``). Stopping early re-raises the last error at once, so a fallback can take
over instead of the call sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from typing import Any, Callable, Optional

import attrs
import tenacity

from .._validators import boolean, fail, number, one_of, status_codes, status_set
from .._value import value
from ..clock import Clock
from ..errors import AiLibError, QuotaExceededError, RateLimitExceeded

__all__ = ["RetryPolicy", "RetryRun", "NO_RETRY", "backoff_delay", "UNKNOWN_LATENCY"]

# The expected latency of an endpoint not yet observed (seconds): a short chat answer's.
UNKNOWN_LATENCY = 1.0

_JITTERS = ("full", "equal", "decorrelated", None)


_seconds = number("a number >= 0", low=0, finite=False)


def _attempts_map(value: Any) -> Any:
    """A copy of a ``max_attempts_by_error`` mapping (None and other values pass through to the validator)."""
    return dict(value) if isinstance(value, Mapping) else value


def _check_attempts_map(instance: Any, attribute: Any, value: Any) -> None:
    if value is None:
        return
    what = "None or a dict from exception classes to attempt counts (ints >= 1, at most max_attempts)"
    if not isinstance(value, dict):
        fail(instance, attribute, what, value)
    for cls, n in value.items():
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            fail(instance, attribute, what, value)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > instance.max_attempts:
            fail(instance, attribute, what + f" (max_attempts is {instance.max_attempts})", value)


@value(kw_only=True)
class RetryPolicy:
    """How a call retries on one target. ``max_attempts`` counts the first attempt.

    ``retry_on_status`` (None: the error classes decide) is a collection of HTTP status
    codes: an error with a status is then retried iff its status is in it (a server's
    ``x-should-retry: false`` still vetoes); errors without one (network, timeouts) keep
    the class rule.

    ``max_attempts_by_error`` (None: ``max_attempts`` for every error) maps error classes to
    their own count of attempts (``{RateLimitExceeded: 6, ProviderError: 2}``): after a
    failure, the entry for the nearest class of the error's MRO bounds the attempts made on
    the target so far. A count above ``max_attempts`` is a ``ConfigurationError`` (the overall
    maximum still bounds). It never makes a non-retryable error retried.

    ``failover_after`` (seconds; None: automatic): when a chain has a next target for a
    rate-limit error, a wait longer than this falls over to it at once instead of sleeping
    (the endpoint still rests until its Retry-After passes). Automatic: the next target's
    expected latency (its observed EWMA latency, ``UNKNOWN_LATENCY`` while it has none) plus
    what is left of its own rest. ``float("inf")`` always waits.
    """

    max_attempts: int = attrs.field(default=3, validator=number("an int >= 1", low=1, integer=True))
    initial_delay: float = attrs.field(default=0.5, validator=_seconds)
    max_delay: float = attrs.field(default=8.0, validator=_seconds)
    multiplier: float = attrs.field(default=2.0, validator=number("a number >= 1", low=1, finite=False))
    jitter: Optional[str] = attrs.field(default="full", validator=one_of(_JITTERS, "one of 'full', 'equal', 'decorrelated' or None"))
    respect_retry_after: bool = attrs.field(default=True, validator=boolean)
    max_retry_after: float = attrs.field(default=60.0, validator=_seconds)
    retry_budget: Optional[float] = attrs.field(
        default=0.1, validator=number("a fraction >= 0 or None", low=0, optional=True, finite=False)
    )
    retry_on_status: Optional[Collection[int]] = attrs.field(default=None, converter=status_set, validator=status_codes)
    failover_after: Optional[float] = attrs.field(
        default=None, validator=number("None or a number of seconds >= 0", low=0, optional=True, finite=False)
    )
    max_attempts_by_error: Optional[Mapping[type, int]] = attrs.field(
        default=None, converter=_attempts_map, validator=_check_attempts_map, hash=False
    )

    def attempts_for(self, error: BaseException) -> int:
        """The attempts allowed on one target when the latest failed with ``error``: the
        entry of ``max_attempts_by_error`` for the nearest class in its MRO, else ``max_attempts``."""
        by_error = self.max_attempts_by_error
        if by_error:
            for cls in type(error).__mro__:
                n = by_error.get(cls)
                if n is not None:
                    return n
        return self.max_attempts

    def with_max_attempts(self, attempts: int) -> RetryPolicy:
        """This policy with ``max_attempts=attempts`` (``max_retries`` overrides); counts per
        error kind above it come down to it."""
        by_error = self.max_attempts_by_error
        if by_error:
            by_error = {cls: min(n, attempts) for cls, n in by_error.items()}
        return attrs.evolve(self, max_attempts=attempts, max_attempts_by_error=by_error)

    @property
    def enabled(self) -> bool:
        """Whether the policy retries at all (``max_attempts > 1``)."""
        return self.max_attempts > 1

    def retries(self, error: AiLibError) -> bool:
        """Whether ``error``'s kind is worth another attempt under this policy."""
        codes = self.retry_on_status
        if codes is None or error.status_code is None:
            return error.is_retryable()
        return error.status_code in codes and error.should_retry is not False


NO_RETRY = RetryPolicy(max_attempts=1)


def backoff_delay(policy: RetryPolicy, retry_index: int, previous: float, rng: Callable[[], float] = random.random) -> float:
    """The sleep before retry number ``retry_index`` (0 for the first retry).

    full: ``uniform(0, cap)``; equal: ``cap/2 + uniform(0, cap/2)``; decorrelated:
    ``min(max_delay, uniform(initial, 3 * previous))``; None: ``cap``; where
    ``cap = min(max_delay, initial_delay * multiplier ** retry_index)``.
    """
    try:
        cap = min(policy.max_delay, policy.initial_delay * policy.multiplier**retry_index)
    except OverflowError:
        cap = policy.max_delay
    jitter = policy.jitter
    if jitter == "full":
        return rng() * cap
    if jitter == "equal":
        return cap / 2 + rng() * cap / 2
    if jitter == "decorrelated":
        low = policy.initial_delay
        high = max(low, 3 * (previous or low))
        return min(policy.max_delay, low + rng() * (high - low))
    return cap


def _paced(error: AiLibError) -> bool:
    """A 429 that is not out of credit: waiting it out is pacing (the retry waits the
    server's Retry-After and then the endpoint's rate limiter), so it spends no retry budget."""
    return isinstance(error, RateLimitExceeded) and not isinstance(error, QuotaExceededError)


class RetryRun:
    """One call's retries on one target: builds the tenacity ``Retrying`` and decides.

    ``budget`` (an object with ``try_spend() -> bool``) bounds retries per endpoint;
    ``on_stop(reason)`` and ``on_retry(error, wait)`` let the pipeline count and record;
    ``fall_over(error, wait) -> bool`` says whether another target should take a rate-limited
    call rather than this one waiting ``wait`` seconds (stop reason ``"fall_over"``).
    """

    __slots__ = ("policy", "clock", "deadline", "budget", "rng", "on_stop", "on_retry", "next_wait", "_previous", "sleep", "fall_over")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        deadline: float,
        budget: Any = None,
        rng: Callable[[], float] = random.random,
        on_stop: Optional[Callable[[str, AiLibError], None]] = None,
        on_retry: Optional[Callable[[AiLibError, float], None]] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        fall_over: Optional[Callable[[AiLibError, float], bool]] = None,
    ) -> None:
        self.fall_over = fall_over
        self.sleep = sleep or clock.sleep
        self.policy = policy
        self.clock = clock
        self.deadline = deadline
        self.budget = budget
        self.rng = rng
        self.on_stop = on_stop
        self.on_retry = on_retry
        self.next_wait = 0.0
        self._previous = 0.0

    def retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            sleep=self.sleep,
            retry=self._should_retry,
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` with retries. The first attempt runs outside tenacity (the success
        path costs nothing extra); after a failure, tenacity replays that failure as its
        attempt 1 and takes over, so numbering and decisions are the same either way."""
        try:
            return fn()
        except AiLibError as exc:
            first = exc
        return self.after(first, fn)

    def after(self, first: AiLibError, fn: Callable[[], Any]) -> Any:
        """The rest of ``call`` once ``fn``'s first attempt has failed with ``first`` (for a
        caller that made that attempt itself, before it needed a RetryRun)."""
        if not self.policy.retries(first):
            raise first
        replay = [first]

        def attempt() -> Any:
            if replay:
                raise replay.pop()
            return fn()

        return self.retrying()(attempt)

    def decide(self, error: BaseException, attempt_number: int) -> Optional[float]:
        """The wait before the next attempt, or None to stop with ``error``."""
        if not isinstance(error, AiLibError) or not self.policy.retries(error):
            return None
        policy = self.policy
        allowed = policy.attempts_for(error)
        if attempt_number >= allowed:
            if allowed > 1:
                self._stop("exhausted", error)
            return None
        if policy.respect_retry_after and error.retry_after is not None:
            if error.retry_after > policy.max_retry_after:
                self._stop("retry_after_too_long", error)
                return None
            wait = error.retry_after  # the server's own schedule, as the official SDKs do
        else:
            wait = backoff_delay(policy, attempt_number - 1, self._previous, self.rng)
        if self.fall_over is not None and isinstance(error, RateLimitExceeded) and self.fall_over(error, wait):
            self._stop("fall_over", error)
            return None
        if self.clock.monotonic() + wait >= self.deadline:
            self._stop("deadline", error)
            return None
        if self.budget is not None and not _paced(error) and not self.budget.try_spend():
            self._stop("budget_exhausted", error)
            return None
        return wait

    def _stop(self, reason: str, error: AiLibError) -> None:
        if self.on_stop is not None:
            self.on_stop(reason, error)

    def _should_retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if error is None:
            return False
        wait = self.decide(error, state.attempt_number)
        if wait is None:
            return False
        self.next_wait = wait
        self._previous = wait
        return True

    def _wait(self, state: tenacity.RetryCallState) -> float:
        return self.next_wait

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if self.on_retry is not None and isinstance(error, AiLibError):
            self.on_retry(error, self.next_wait)
