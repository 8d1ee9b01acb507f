"""RateLimiter learning the provider's limits: x-ratelimit-limit-* set the rate, one second's
share as capacity, a 429 at known limits resyncs instead of halving, and the policy wins."""

from __future__ import annotations

import pytest

from ailib.clock import FakeClock
from ailib.errors import ConfigurationError, LocalRateLimitError
from ailib.reliability.ratelimit import LEARNING, RateLimiter, RateLimitPolicy, parse_limits

OPENAI_600 = {
    "x-ratelimit-limit-requests": "600",
    "x-ratelimit-limit-tokens": "60000",
    "x-ratelimit-remaining-requests": "599",
    "x-ratelimit-remaining-tokens": "59875",
    "x-ratelimit-reset-requests": "100ms",
    "x-ratelimit-reset-tokens": "125ms",
}


def admitted_at_once(lim: RateLimiter, tokens: int = 0) -> int:
    """How many acquires of ``tokens`` pass without waiting (the clock does not move)."""
    n = 0
    while n < 100_000:
        try:
            lim.acquire(tokens, max_wait=0)
        except LocalRateLimitError:
            return n
        n += 1
    return n


def wait_of(lim: RateLimiter, tokens: int = 0) -> float:
    with pytest.raises(LocalRateLimitError) as info:
        lim.acquire(tokens, max_wait=0)
    assert info.value.retry_after is not None
    return info.value.retry_after


@pytest.mark.parametrize(
    ("headers", "limits"),
    [
        (OPENAI_600, (600.0, 60000.0)),
        ({"X-RateLimit-Limit-Requests": "3"}, (3.0, None)),
        ({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-tokens-limit": "80000"}, (50.0, None)),
        ({"x-ratelimit-limit-requests": "0", "x-ratelimit-limit-tokens": "lots"}, (None, None)),
        ({"x-ratelimit-limit-requests": "-5", "x-ratelimit-limit-tokens": "inf"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_parse_limits_reads_openai_and_anthropic_limit_headers(headers: dict, limits: tuple) -> None:
    """parse_limits gives (requests, tokens) per minute from either provider's headers, any case;
    Anthropic's tokens-limit (the stricter of its separate input and output limits) is not a
    prompt + max_tokens rate and is left out; garbage is None."""
    assert parse_limits(headers) == limits


def test_the_learning_policy_has_no_rate_but_cannot_be_written_by_hand() -> None:
    """LEARNING carries no rate (max_wait 30 s, adaptive) while RateLimitPolicy() still refuses to mean 'no limit'."""
    assert (LEARNING.request_rate, LEARNING.tokens_per_minute, LEARNING.max_wait, LEARNING.adaptive) == (None, None, 30.0, True)
    with pytest.raises(ConfigurationError):
        RateLimitPolicy()


def test_a_learning_limiter_admits_everything_until_the_provider_reports_a_limit() -> None:
    """With nothing reported, a LEARNING limiter never waits and keeps no token bucket."""
    lim = RateLimiter(LEARNING, clock=FakeClock())
    assert admitted_at_once(lim, tokens=10_000) == 100_000
    assert not lim.counts_tokens and lim.effective_rate is None


def test_limit_headers_set_the_request_rate_with_one_seconds_burst() -> None:
    """After x-ratelimit-limit-requests: 600 a LEARNING limiter admits 10 at once (one second's
    share), then one every 0.1 s."""
    clock = FakeClock()
    lim = RateLimiter(LEARNING, clock=clock)
    lim.observe_headers(OPENAI_600)
    assert lim.effective_rate == pytest.approx(10.0)
    assert admitted_at_once(lim) == 10
    assert wait_of(lim) == pytest.approx(0.1)


def test_limit_headers_set_the_token_rate_with_one_seconds_share() -> None:
    """After x-ratelimit-limit-tokens: 60000 a LEARNING limiter counts tokens and releases at
    most 1,000 tokens at once, then 1,000 per second."""
    clock = FakeClock()
    lim = RateLimiter(LEARNING, clock=clock)
    lim.observe_headers({"x-ratelimit-limit-tokens": "60000"})
    assert lim.counts_tokens
    assert admitted_at_once(lim, tokens=100) == 10
    assert wait_of(lim, tokens=500) == pytest.approx(0.5)


def test_anthropic_limit_headers_set_the_rates_too() -> None:
    """anthropic-ratelimit-requests-limit: 120 paces a LEARNING limiter at 2 per second."""
    lim = RateLimiter(LEARNING, clock=FakeClock())
    lim.observe_headers({"anthropic-ratelimit-requests-limit": "120", "anthropic-ratelimit-requests-remaining": "119"})
    assert admitted_at_once(lim) == 2
    assert wait_of(lim) == pytest.approx(0.5)


def test_a_new_reported_limit_replaces_the_learned_one() -> None:
    """When the reported limit changes, the learned rate follows it."""
    lim = RateLimiter(LEARNING, clock=FakeClock())
    lim.observe_headers({"x-ratelimit-limit-requests": "600"})
    lim.observe_headers({"x-ratelimit-limit-requests": "60"})
    assert lim.effective_rate == pytest.approx(1.0)


def test_a_configured_rate_takes_precedence_over_reported_limits() -> None:
    """A policy's requests_per_minute stays in force whatever the provider reports; the bucket
    the policy leaves unset (tokens) is learned."""
    lim = RateLimiter(RateLimitPolicy(requests_per_minute=60), clock=FakeClock())
    lim.observe_headers(OPENAI_600)
    assert lim.effective_rate == pytest.approx(1.0)
    assert lim.counts_tokens
    assert admitted_at_once(lim) == 1


def test_a_non_adaptive_limiter_learns_nothing() -> None:
    """With adaptive=False, limit headers set no rate."""
    lim = RateLimiter(RateLimitPolicy(requests_per_minute=6000, adaptive=False), clock=FakeClock())
    lim.observe_headers(OPENAI_600)
    assert lim.effective_rate == pytest.approx(100.0) and not lim.counts_tokens


def test_a_429_at_the_reported_limits_resyncs_without_slowing_down() -> None:
    """A 429 whose headers report the limits the limiter already paces at keeps the rate
    (factor 1), ignores the coarse Retry-After for the endpoint, and empties both buckets:
    the next request waits one interval, not a second's burst."""
    clock = FakeClock()
    lim = RateLimiter(RateLimitPolicy(requests_per_minute=600, tokens_per_minute=60000), clock=clock)
    lim.on_rate_limited(1.0, {**OPENAI_600, "x-ratelimit-remaining-tokens": "40", "x-ratelimit-reset-tokens": "85ms"})
    assert lim.factor == 1.0
    assert wait_of(lim, tokens=100) == pytest.approx(0.1)  # 100 tokens at 1,000 per second, no 1 s hold
    clock.advance(0.1)
    assert lim.acquire(100, max_wait=0) == 0.0


def test_a_429_reporting_a_limit_at_zero_waits_for_its_reset() -> None:
    """A resyncing 429 that reports nothing remaining holds admissions until that reset."""
    lim = RateLimiter(LEARNING, clock=FakeClock())
    lim.on_rate_limited(1.0, {**OPENAI_600, "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"})
    assert lim.factor == 1.0
    assert wait_of(lim) == pytest.approx(0.3)


def test_a_429_below_the_configured_rate_halves_it() -> None:
    """A 429 reporting a lower limit than the configured one is a real slow-down signal: the factor halves."""
    lim = RateLimiter(RateLimitPolicy(requests_per_minute=1200), clock=FakeClock())
    lim.on_rate_limited(None, OPENAI_600)
    assert lim.factor == pytest.approx(0.5)


def test_a_429_without_limit_headers_halves_as_before() -> None:
    """A 429 with no rate-limit headers halves the factor and holds for Retry-After."""
    lim = RateLimiter(RateLimitPolicy(requests_per_minute=600), clock=FakeClock())
    lim.on_rate_limited(2.0, {"retry-after": "2"})
    assert lim.factor == pytest.approx(0.5)
    assert wait_of(lim) == pytest.approx(2.0, abs=0.25)


def test_a_429_with_a_token_limit_the_bucket_cannot_follow_halves() -> None:
    """An Anthropic 429 at the learned request rate that also reports token limits (not learned)
    may be about tokens: it halves the factor instead of resyncing."""
    lim = RateLimiter(LEARNING, clock=FakeClock())
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "12",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "0",
    }
    lim.observe_headers(headers)
    lim.on_rate_limited(5.0, headers)
    assert lim.factor == pytest.approx(0.5)
