"""RetryPolicy and one call's retry run: backoff, Retry-After, deadline, budget — on FakeClock."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ailib import AiClient, AiClientBuilder, ConfigurationError, ConnectionOptions, RetryPolicy
from ailib.errors import AuthenticationError, DeadlineExceededError, ProviderError, RateLimitExceeded
from ailib.reliability.budget import RatioBudget
from ailib.reliability.retry import RetryRun, backoff_delay
from ailib.testing import FakeClock

policies = st.builds(
    RetryPolicy,
    initial_delay=st.floats(0, 5),
    max_delay=st.floats(0, 60),
    multiplier=st.floats(1, 4),
    jitter=st.sampled_from(["full", "equal", "decorrelated", None]),
)


@given(policies, st.integers(0, 40), st.floats(0, 60), st.floats(0, 1, exclude_max=True))
def test_backoff_stays_within_its_bounds(policy, n, previous, u):
    """Every jitter mode stays within its documented interval."""
    cap = min(policy.max_delay, policy.initial_delay * policy.multiplier**n) if n < 200 else policy.max_delay
    d = backoff_delay(policy, n, previous, lambda: u)
    if policy.jitter == "full":
        assert 0 <= d <= cap + 1e-9
    elif policy.jitter == "equal":
        assert cap / 2 - 1e-9 <= d <= cap + 1e-9
    elif policy.jitter == "decorrelated":
        assert d <= policy.max_delay + 1e-9 and d >= min(policy.initial_delay, policy.max_delay) - 1e-9
    else:
        assert d == pytest.approx(cap)


def test_full_jitter_formula():
    """Full jitter is uniform(0, min(max_delay, initial * multiplier**n))."""
    p = RetryPolicy(initial_delay=0.5, multiplier=2.0, max_delay=8.0)
    assert backoff_delay(p, 0, 0, lambda: 0.999999) == pytest.approx(0.5, rel=1e-5)
    assert backoff_delay(p, 3, 0, lambda: 0.5) == pytest.approx(2.0)
    assert backoff_delay(p, 10, 0, lambda: 0.5) == pytest.approx(4.0)  # capped at 8


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_attempts=0),
        dict(initial_delay=-1),
        dict(multiplier=0.5),
        dict(jitter="wild"),
        dict(retry_budget=-0.1),
        dict(max_attempts=True),
    ],
)
def test_policy_validation(kwargs):
    """Invalid policies raise ConfigurationError at construction (and evolve re-checks)."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)
    with pytest.raises(ConfigurationError):
        attrs.evolve(RetryPolicy(), **kwargs)


def run_for(policy, clock, *, deadline=float("inf"), budget=None, stops=None):
    return RetryRun(
        policy,
        clock=clock,
        deadline=deadline,
        budget=budget,
        rng=lambda: 0.5,
        on_stop=lambda r, e: stops.append(r) if stops is not None else None,
    )


def test_non_retryable_stops_at_once(fake_clock):
    """A non-retryable class gives no wait."""
    assert run_for(RetryPolicy(), fake_clock).decide(AuthenticationError("no"), 1) is None


def test_retry_after_replaces_backoff(fake_clock):
    """With Retry-After the wait is exactly the server's value, shorter or longer than backoff."""
    run = run_for(RetryPolicy(initial_delay=4.0), fake_clock)
    assert run.decide(RateLimitExceeded("x", retry_after=3.0), 1) == 3.0
    assert run.decide(RateLimitExceeded("x", retry_after=0.1), 1) == 0.1


def test_retry_after_ignored_when_told(fake_clock):
    """respect_retry_after=False uses backoff only."""
    wait = run_for(RetryPolicy(initial_delay=0.1, respect_retry_after=False), fake_clock).decide(RateLimitExceeded("x", retry_after=3.0), 1)
    assert wait == pytest.approx(0.05)


def test_retry_after_above_max_stops_without_sleeping(fake_clock):
    """A Retry-After above max_retry_after ends retrying on this target at once."""
    stops = []
    wait = run_for(RetryPolicy(max_retry_after=10), fake_clock, stops=stops).decide(RateLimitExceeded("x", retry_after=30), 1)
    assert wait is None and stops == ["retry_after_too_long"] and fake_clock.sleeps == []


def test_wait_beyond_deadline_stops(fake_clock):
    """A wait that would pass the call's deadline stops retrying instead of sleeping."""
    stops = []
    run = run_for(RetryPolicy(), fake_clock, deadline=fake_clock.monotonic() + 1.0, stops=stops)
    assert run.decide(RateLimitExceeded("x", retry_after=2.0), 1) is None and stops == ["deadline"]


def test_attempts_exhausted(fake_clock):
    """After max_attempts the run stops and says so."""
    stops = []
    assert run_for(RetryPolicy(max_attempts=3), fake_clock, stops=stops).decide(ProviderError("x"), 3) is None
    assert stops == ["exhausted"]


def test_budget_refusal_stops(fake_clock):
    """When the budget has no permit left, the run stops with 'budget_exhausted'."""
    budget = RatioBudget(0.0, floor=1, clock=fake_clock)
    stops = []
    run = run_for(RetryPolicy(max_attempts=5), fake_clock, budget=budget, stops=stops)
    assert run.decide(ProviderError("x"), 1) is not None
    assert run.decide(ProviderError("x"), 2) is None and stops == ["budget_exhausted"]


def test_call_replays_through_tenacity_and_sleeps_on_the_clock(fake_clock):
    """call() retries 500, 500 then succeeds; the sleeps are the clock's, with backoff values."""
    results = [ProviderError("a"), ProviderError("b"), "ok"]

    def fn():
        r = results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    assert run_for(RetryPolicy(initial_delay=1.0), fake_clock).call(fn) == "ok"
    assert fake_clock.sleeps == [0.5, 1.0]


def test_call_reraises_the_last_error(fake_clock):
    """When retries run out, the last error itself is raised (not a tenacity RetryError)."""
    errors = [ProviderError("1"), ProviderError("2"), ProviderError("3")]

    def fn():
        raise errors.pop(0)

    with pytest.raises(ProviderError, match="3"):
        run_for(RetryPolicy(max_attempts=3), fake_clock).call(fn)


def test_deadline_error_is_never_retried(fake_clock):
    """DeadlineExceededError is a TimeoutError that is not retried."""
    assert run_for(RetryPolicy(), fake_clock).decide(DeadlineExceededError("late"), 1) is None


def test_connection_options_map_onto_retry_policy():
    """max_retries/retry_delay are the short form of RetryPolicy."""
    from ailib._assembly import Config, retry_policy

    opts = ConnectionOptions(max_retries=4, retry_delay=0.25)
    p = retry_policy(Config(provider="openai"), opts)
    assert (p.max_attempts, p.initial_delay) == (5, 0.25)
    assert retry_policy(Config(provider="openai"), ConnectionOptions(max_retries=0)).max_attempts == 1
    assert retry_policy(Config(provider="openai"), None) == RetryPolicy()


def test_default_client_retries_three_times(mock):
    """A client retries with RetryPolicy() defaults unless told otherwise."""
    c = AiClient(mock.provider())
    assert c._pipeline.retry == RetryPolicy()
    assert AiClientBuilder(mock.provider()).without_retry().build()._pipeline.retry.max_attempts == 1


def test_fake_clock_is_monotonic_and_records_sleeps():
    """FakeClock.sleep advances time and records the request; negative sleeps do not rewind."""
    c = FakeClock(start=10)
    c.sleep(1.5)
    c.sleep(-3)
    assert c.monotonic() == 11.5 and c.sleeps == [1.5, -3]
