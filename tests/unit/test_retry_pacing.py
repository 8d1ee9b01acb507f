"""Waiting out a 429 is pacing, not a retry storm: it spends none of the endpoint's retry
budget, which still bounds retries of real failures."""

from __future__ import annotations

from ailib.errors import ProviderError, QuotaExceededError, RateLimitExceeded
from ailib.reliability.budget import RatioBudget
from ailib.reliability.retry import RetryPolicy, RetryRun


def run_for(clock, budget, stops):
    return RetryRun(
        RetryPolicy(max_attempts=5),
        clock=clock,
        deadline=float("inf"),
        budget=budget,
        rng=lambda: 0.5,
        on_stop=lambda r, e: stops.append(r),
    )


def test_a_429_retry_spends_no_retry_budget(fake_clock):
    """With the budget used up, a 429 is still retried after its Retry-After, and the budget's last permit is left."""
    budget = RatioBudget(0.0, floor=1, clock=fake_clock)
    stops: list[str] = []
    run = run_for(fake_clock, budget, stops)
    for attempt in (1, 2, 3, 4):
        assert run.decide(RateLimitExceeded("slow down", status_code=429, retry_after=1.0), attempt) == 1.0
    assert budget.available() == 1 and stops == []


def test_real_failures_still_spend_the_budget_after_429s(fake_clock):
    """After 429 retries, a 503 spends the budget's one permit and the next 503 stops with 'budget_exhausted'."""
    budget = RatioBudget(0.0, floor=1, clock=fake_clock)
    stops: list[str] = []
    run = run_for(fake_clock, budget, stops)
    assert run.decide(RateLimitExceeded("slow down", status_code=429, retry_after=0.5), 1) == 0.5
    assert run.decide(ProviderError("unavailable", status_code=503), 2) is not None
    assert run.decide(ProviderError("unavailable", status_code=503), 3) is None and stops == ["budget_exhausted"]


def test_out_of_credit_is_not_pacing(fake_clock):
    """A QuotaExceededError (a 429 no wait fixes) gets no budget exemption: it is not retried at all."""
    budget = RatioBudget(0.0, floor=1, clock=fake_clock)
    stops: list[str] = []
    run = run_for(fake_clock, budget, stops)
    assert run.decide(QuotaExceededError("insufficient_quota", status_code=429), 1) is None
    assert budget.available() == 1
