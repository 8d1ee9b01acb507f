"""The guard around one attempt: the endpoint's rate limiter, its circuit breaker, and the
router's observer (in-flight counts, latency and error statistics)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .._headers import reports_limits
from ..clock import Clock
from ..errors import AiLibError, CircuitOpenError, LocalRateLimitError, QuotaExceededError, RateLimitExceeded
from ..routing.endpoint import Target
from ..state.memory import EndpointState
from .branch import Branch
from .rules import HedgeCancelledError

__all__ = ["Guard"]

Attempt = Callable[[Branch, Target], Any]


class Guard:
    """Admits an attempt (limiter permit, breaker permit), runs it, and reports back."""

    def __init__(self, clock: Clock, metrics: Any, record_skip: Callable[[Branch, Target, AiLibError], None], observer: Any = None) -> None:
        self.clock = clock
        self.metrics = metrics
        self.record_skip = record_skip
        self.observer = observer  # a router with on_start / on_end, or None

    def run(
        self,
        branch: Branch,
        target: Target,
        state: EndpointState,
        attempt: Attempt,
        body_size: Optional[Callable[[], int]] = None,
        admitted: bool = False,
    ) -> Any:
        """``attempt(branch, target)`` behind the endpoint's limiter and breaker.
        ``admitted``: routing already took this attempt's rate-limit permit. A failed
        attempt (not one refused here) is told to the branch's observer, ``branch.watch``."""
        limiter, breaker = state.limiter, state.breaker
        observer = self.observer
        if limiter is None and breaker is None and observer is None and state.learn is None:
            if branch.watch is None:
                return attempt(branch, target)
            try:
                return attempt(branch, target)
            except AiLibError as err:
                _tell(branch, err)
                raise
        spec = branch.spec
        ep = target.endpoint
        metrics = self.metrics
        tokens = 0
        if limiter is not None:
            if limiter.counts_tokens and body_size is not None:
                from ..reliability.ratelimit import estimate_tokens  # only a limited client loads the limiter

                tokens = estimate_tokens(body_size(), spec.request.max_tokens if spec.request is not None else None)
            max_wait = min(limiter.policy.max_wait, max(0.0, spec.deadline - self.clock.monotonic()))
            try:
                if admitted:  # routing took this permit when it chose the endpoint
                    waited = 0.0
                else:
                    waited = limiter.acquire(tokens, max_wait=max_wait)
            except LocalRateLimitError as err:
                metrics.incr_counter("ratelimit.rejected", tags={"provider": ep.provider})
                self.record_skip(branch, target, err)
                raise
            if waited > 0:
                metrics.incr_counter("ratelimit.waited", tags={"provider": ep.provider})
                metrics.observe("ratelimit.waited", waited, tags={"provider": ep.provider})
        permit = None
        if breaker is not None:
            breaker = breaker.for_model(target.model)
            try:
                permit = breaker.acquire(probe_timeout=ep.total_timeout)
            except CircuitOpenError as err:
                metrics.incr_counter("circuit.rejected", tags={"provider": ep.provider})
                spec.trace.event("circuit.rejected", provider=ep.provider, endpoint=ep.name)
                self.record_skip(branch, target, err)
                raise
        started = 0.0
        if observer is not None:
            observer.on_start(ep)
            started = self.clock.monotonic()
        try:
            result = attempt(branch, target)
        except AiLibError as err:
            if branch.watch is not None:
                _tell(branch, err)
            if observer is not None:  # a cancelled race loser says nothing about the endpoint
                observer.on_end(ep, self.clock.monotonic() - started, None if isinstance(err, HedgeCancelledError) else False)
            if breaker is not None and permit is not None:
                if breaker.policy.counts(err):
                    breaker.record_failure(permit)
                else:
                    breaker.release(permit)
            if isinstance(err, RateLimitExceeded) and not isinstance(err, QuotaExceededError):
                limiter = state.adopt_limiter()  # a first 429 gives an unconfigured endpoint its limiter
                if limiter is not None:
                    limiter.on_rate_limited(err.retry_after, err._rate_limit_headers)
            elif limiter is not None and err._rate_limit_headers:  # out of credit, or too large for any wait: no pacing signal
                limiter.observe_headers(err._rate_limit_headers)
            raise
        except BaseException:
            if observer is not None:
                observer.on_end(ep, self.clock.monotonic() - started, False)
            if breaker is not None and permit is not None:
                breaker.release(permit)
            raise
        if observer is not None:
            observer.on_end(ep, self.clock.monotonic() - started, True)
            if result.headers is not None:
                observer.on_headers(ep, result.headers)
        if breaker is not None and permit is not None:
            breaker.record_success(permit)
        if limiter is None and state.learn is not None and reports_limits(result.headers):
            limiter = state.adopt_limiter()  # the provider reported its limits: pace by them from now on
        if limiter is not None:
            limiter.on_success()
            headers = result.headers
            if headers is not None:
                limiter.observe_headers(headers)
            usage = result.usage
            if tokens and usage is not None:
                limiter.reconcile(tokens, usage.total_tokens)
        return result


def _tell(branch: Branch, err: AiLibError) -> None:
    """A failed attempt, told to the branch's observer (a cancellation is not a failure)."""
    if not isinstance(err, HedgeCancelledError):
        branch.watch(err)  # type: ignore[misc]  # called only when there is one
