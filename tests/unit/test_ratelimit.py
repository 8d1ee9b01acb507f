"""RateLimiter: GCRA admission, FIFO, max_wait, token bucket, adaptation, headers."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailib.clock import FakeClock
from ailib.errors import ConfigurationError, LocalRateLimitError
from ailib.reliability.ratelimit import (
    RateLimiter,
    RateLimitPolicy,
    estimate_tokens,
    parse_reset_duration,
    parse_reset_timestamp,
)


class FrozenClock:
    """A clock that never moves: sleeps are recorded, so each wait is the caller's reserved offset."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def limiter(clock: object = None, **policy: object) -> RateLimiter:
    return RateLimiter(RateLimitPolicy(**policy), name="ep", clock=clock or FakeClock())  # type: ignore[arg-type]


def rejected_wait(lim: RateLimiter, **kwargs: object) -> float:
    with pytest.raises(LocalRateLimitError) as info:
        lim.acquire(**kwargs)  # type: ignore[arg-type]
    assert info.value.retry_after is not None
    return info.value.retry_after


# --- policy ---------------------------------------------------------------------------


def test_policy_defaults_match_the_contract() -> None:
    """RateLimitPolicy has the documented defaults (max_wait 30 s, adaptive)."""
    p = RateLimitPolicy(requests_per_second=5)
    assert (p.requests_per_minute, p.tokens_per_minute, p.burst, p.max_wait, p.adaptive) == (None, None, None, 30.0, True)


@pytest.mark.parametrize(
    ("kwargs", "burst"),
    [
        ({"requests_per_second": 50}, 50),
        ({"requests_per_second": 2.5}, 2),
        ({"requests_per_minute": 30}, 1),
        ({"requests_per_minute": 600}, 10),
        ({"requests_per_second": 50, "burst": 7}, 7),
    ],
)
def test_default_burst_is_one_seconds_worth_at_least_one(kwargs: dict, burst: int) -> None:
    """burst defaults to floor(requests per second), at least 1; an explicit burst wins."""
    assert RateLimitPolicy(**kwargs).effective_burst == burst


def test_request_rate_from_per_minute() -> None:
    """requests_per_minute is converted to a per-second rate."""
    assert RateLimitPolicy(requests_per_minute=90).request_rate == pytest.approx(1.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_wait": 5.0},
        {"requests_per_second": 1, "requests_per_minute": 60},
        {"requests_per_second": 0},
        {"requests_per_second": -1},
        {"requests_per_second": math.inf},
        {"requests_per_minute": math.nan},
        {"requests_per_second": "10"},
        {"tokens_per_minute": 0},
        {"tokens_per_minute": 1000.5},
        {"requests_per_second": 1, "burst": 0},
        {"requests_per_second": 1, "burst": 1.5},
        {"tokens_per_minute": 1000, "burst": 5},
        {"requests_per_second": 1, "max_wait": -1.0},
        {"requests_per_second": 1, "adaptive": "yes"},
    ],
)
def test_policy_rejects_bad_values_with_configuration_error(kwargs: dict) -> None:
    """Missing or conflicting rates and out-of-range values raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RateLimitPolicy(**kwargs)


def test_policy_evolve_revalidates() -> None:
    """attrs.evolve makes variants and still checks cross-field rules."""
    p = RateLimitPolicy(requests_per_second=10)
    assert attrs.evolve(p, burst=3).burst == 3
    with pytest.raises(ConfigurationError):
        attrs.evolve(p, requests_per_minute=60)


def test_tokens_only_policy_is_valid() -> None:
    """A policy limiting only tokens has no request rate."""
    p = RateLimitPolicy(tokens_per_minute=10_000)
    assert p.request_rate is None and p.effective_burst is None


# --- GCRA -----------------------------------------------------------------------------


def test_idle_limiter_admits_a_full_burst_without_waiting() -> None:
    """An idle limiter admits ``burst`` requests at once, then spaces them 1/rate apart."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10, burst=3)
    assert [lim.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []
    assert lim.acquire() == pytest.approx(0.1)
    assert clock.sleeps == [pytest.approx(0.1)]


@pytest.mark.parametrize("burst", [1, 10, 50])
def test_admits_exactly_rate_times_period_plus_burst(burst: int) -> None:
    """At 50 rps for 4 s (instants 0..4 inclusive) a saturated limiter admits exactly 200 + burst."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=50, burst=burst)
    start = clock.monotonic()
    admitted = 0
    while True:
        lim.acquire()
        if clock.monotonic() - start > 4.0 + 1e-9:
            break
        admitted += 1
    assert admitted == 200 + burst


def test_per_minute_rate_spaces_requests() -> None:
    """60 requests per minute means one second between saturated requests."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_minute=60)
    assert [lim.acquire() for _ in range(3)] == [0.0, pytest.approx(1.0), pytest.approx(1.0)]


def test_bucket_refills_with_idle_time() -> None:
    """After idling long enough the full burst is available again, but never more."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10, burst=3)
    for _ in range(3):
        lim.acquire()
    clock.advance(60.0)
    assert [lim.acquire(max_wait=0) for _ in range(3)] == [0.0, 0.0, 0.0]
    rejected_wait(lim, max_wait=0)


def test_waiters_are_admitted_in_arrival_order() -> None:
    """Each later caller reserves a later instant: waits are 0 * burst then T, 2T, 3T..."""
    clock = FrozenClock()
    lim = limiter(clock, requests_per_second=10, burst=2)
    waits = [lim.acquire() for _ in range(6)]
    assert waits == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3), pytest.approx(0.4)]
    assert clock.sleeps == waits[2:]


def test_concurrent_callers_each_get_a_distinct_slot() -> None:
    """20 real threads at the same instant get distinct slots: burst at once, then k/rate each."""
    clock = FrozenClock()
    lim = limiter(clock, requests_per_second=10, burst=4)
    barrier = threading.Barrier(20)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        w = lim.acquire()
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [0.0] * 4 + [k / 10 for k in range(1, 17)]
    assert sorted(waits) == pytest.approx(expected)


def test_max_wait_zero_fails_fast_without_reserving() -> None:
    """max_wait=0 raises at once when no slot is free and leaves the schedule untouched."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10, burst=1)
    lim.acquire()
    for _ in range(5):
        assert rejected_wait(lim, max_wait=0) == pytest.approx(0.1)
    assert clock.sleeps == []
    clock.advance(0.1)
    assert lim.acquire(max_wait=0) == 0.0


def test_rejection_reports_the_wait_needed() -> None:
    """LocalRateLimitError.retry_after is the wait the request would have needed."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=1, max_wait=0.25)
    lim.acquire()
    lim.acquire()
    lim.acquire()  # waits 0.2
    with pytest.raises(LocalRateLimitError) as info:
        lim.acquire()
    assert info.value.retry_after == pytest.approx(0.3)
    assert "ep" in str(info.value)


def test_wait_equal_to_max_wait_is_admitted() -> None:
    """A request needing exactly max_wait is admitted."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=1)
    lim.acquire()
    assert lim.acquire(max_wait=0.1) == pytest.approx(0.1)


def test_explicit_max_wait_overrides_policy() -> None:
    """acquire(max_wait=...) replaces the policy's max_wait for that call."""
    lim = limiter(FrozenClock(), requests_per_second=1, burst=1, max_wait=30.0)
    lim.acquire()
    rejected_wait(lim, max_wait=0.5)
    assert lim.acquire() == pytest.approx(1.0)


def test_negative_tokens_rejected() -> None:
    """A negative token cost is a programming error."""
    with pytest.raises(ValueError):
        limiter(requests_per_second=1).acquire(-1)


# --- token bucket ---------------------------------------------------------------------


def test_token_bucket_spaces_by_tokens() -> None:
    """With 6000 tokens/min, a full bucket admits one second's share (100 tokens), then 100 more take 1 s."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    assert lim.acquire(100) == 0.0
    assert lim.acquire(100) == pytest.approx(1.0)


def test_token_bucket_never_releases_a_minutes_tokens_at_once() -> None:
    """An idle token bucket holds one second's share, not a minute's: the tokens admitted at
    once from idle never exceed tokens_per_minute / 60 (what OpenAI enforces per second)."""
    lim = limiter(FrozenClock(), tokens_per_minute=60_000)
    admitted = 0
    while True:
        try:
            lim.acquire(50, max_wait=0)
        except LocalRateLimitError:
            break
        admitted += 50
    assert admitted == 1000


def test_oversized_request_admitted_when_bucket_full() -> None:
    """A request above capacity is admitted from a full bucket and leaves a debt later callers wait out."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    assert lim.acquire(9000) == 0.0
    assert lim.acquire(100, max_wait=120) == pytest.approx(90.0)  # 8900 tokens of debt + 100 at 100 tokens/s


def test_oversized_request_waits_for_a_full_bucket() -> None:
    """A request above capacity waits until the bucket is completely full, not forever."""
    clock = FakeClock()
    lim = limiter(clock, tokens_per_minute=6000)
    lim.acquire(60)
    assert lim.acquire(9000) == pytest.approx(0.6)


def test_zero_token_request_ignores_token_bucket_unless_in_debt() -> None:
    """tokens=0 passes an exhausted-but-not-overdrawn bucket, and waits out a debt."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    lim.acquire(100)
    assert lim.acquire(0) == 0.0
    lim.reconcile(0, 600)
    assert lim.acquire(0) == pytest.approx(6.0)


def test_reconcile_refund_returns_tokens() -> None:
    """Reconciling an over-estimate gives the difference back to the bucket."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    lim.acquire(100)
    lim.reconcile(100, 20)
    assert lim.acquire(80, max_wait=0) == 0.0
    rejected_wait(lim, tokens=100, max_wait=0)


def test_reconcile_charge_takes_more_tokens() -> None:
    """Reconciling an under-estimate charges the extra tokens."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    lim.acquire(10)
    lim.reconcile(10, 60)
    assert lim.acquire(40, max_wait=0) == 0.0
    assert rejected_wait(lim, tokens=100, max_wait=0) == pytest.approx(1.0)


def test_refund_never_overfills_the_bucket() -> None:
    """A refund on a full bucket does not raise capacity above one second's share."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    lim.reconcile(5000, 0)
    assert lim.acquire(100, max_wait=0) == 0.0
    rejected_wait(lim, tokens=100, max_wait=0)


def test_reconcile_without_token_bucket_is_a_no_op() -> None:
    """reconcile on a requests-only limiter changes nothing."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=1)
    lim.reconcile(0, 10_000)
    assert lim.acquire(max_wait=0) == 0.0


def test_requests_and_tokens_wait_for_the_slower_bucket() -> None:
    """With both buckets, a request waits for whichever needs longer, reserving both at that instant."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=1, tokens_per_minute=6000)
    assert lim.acquire(100) == 0.0
    assert lim.acquire(100) == pytest.approx(1.0)  # tokens bound
    assert lim.acquire(0) == pytest.approx(1.1)  # then the request bucket, one interval after


# --- adaptation -----------------------------------------------------------------------


def test_rate_limited_halves_the_effective_rate() -> None:
    """A 429 halves the request rate: saturated spacing doubles."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10, burst=1)
    lim.on_rate_limited(None)
    assert lim.effective_rate == pytest.approx(5.0)
    lim.acquire()
    assert lim.acquire() == pytest.approx(0.2)


def test_concurrent_429s_within_a_second_decrease_once() -> None:
    """Several 429s in the same second count as one decrease; a later one decreases again."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10)
    for _ in range(5):
        lim.on_rate_limited(None)
    assert lim.factor == pytest.approx(0.5)
    clock.advance(1.0)
    lim.on_rate_limited(None)
    assert lim.factor == pytest.approx(0.25)


def test_decrease_floors_at_one_sixtieth() -> None:
    """Repeated 429s never push the rate below 1/60 of the configured rate."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=60)
    for _ in range(20):
        lim.on_rate_limited(None)
        clock.advance(1.0)
    assert lim.effective_rate == pytest.approx(1.0)


def test_retry_after_holds_all_admissions() -> None:
    """After a 429 with retry_after=2, nothing is admitted for 2 s."""
    lim = limiter(FrozenClock(), requests_per_second=100, burst=100)
    lim.on_rate_limited(2.0)
    assert rejected_wait(lim, max_wait=1.0) == pytest.approx(2.0)
    assert lim.acquire() == pytest.approx(2.0)


def test_burst_is_drained_after_a_429() -> None:
    """After a 429 traffic resumes one request per (reduced) interval, with no burst."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=10)
    lim.on_rate_limited(1.0)
    waits = [lim.acquire() for _ in range(3)]
    assert waits == [pytest.approx(1.0), pytest.approx(1.2), pytest.approx(1.4)]


def test_burst_shrinks_with_the_rate() -> None:
    """While slowed to half rate, a refilled bucket holds half the burst."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=10, burst=10)
    lim.on_rate_limited(None)
    clock.advance(60.0)
    assert [lim.acquire(max_wait=0) for _ in range(5)] == [0.0] * 5
    assert rejected_wait(lim, max_wait=0) == pytest.approx(0.2)


def test_success_adds_back_five_percent_capped() -> None:
    """Each success adds 5 % of the configured rate until the configured rate is reached."""
    lim = limiter(FakeClock(), requests_per_second=10)
    lim.on_rate_limited(None)
    for _ in range(4):
        lim.on_success()
    assert lim.factor == pytest.approx(0.7)
    for _ in range(50):
        lim.on_success()
    assert lim.factor == 1.0
    assert lim.effective_rate == pytest.approx(10.0)


def test_decrease_also_slows_the_token_bucket() -> None:
    """A 429 halves the token rate too: 50 tokens then take 1 s instead of 0.5 s."""
    lim = limiter(FrozenClock(), tokens_per_minute=6000)
    lim.acquire(100)
    lim.on_rate_limited(None)
    assert lim.acquire(50) == pytest.approx(1.0)
    assert lim.acquire(50) == pytest.approx(2.0)


def test_non_adaptive_limiter_ignores_feedback() -> None:
    """With adaptive=False, 429s, successes and headers change nothing."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=1, adaptive=False)
    lim.on_rate_limited(30.0)
    lim.observe_headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"})
    assert lim.factor == 1.0
    assert lim.acquire(max_wait=0) == 0.0
    assert lim.acquire() == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [-1.0, 0.0, math.nan])
def test_meaningless_retry_after_holds_nothing(bad: float) -> None:
    """A zero, negative or NaN retry_after adds no hold (the rate still halves)."""
    lim = limiter(FrozenClock(), requests_per_second=10, burst=5)
    lim.on_rate_limited(bad)
    assert lim.acquire(max_wait=0) == 0.0


# --- headers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("2h", 7200.0),
        ("1h2m3s", 3723.0),
        ("500us", 0.0005),
        ("1.5", 1.5),
        (" 7s ", 7.0),
        ("0s", 0.0),
    ],
)
def test_parse_reset_duration(text: str, seconds: float) -> None:
    """OpenAI/Groq reset durations parse to seconds."""
    assert parse_reset_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1x", "-1s", "1s2", "s", "inf", "nan", "1 s", None, 5, b"1s"])
def test_parse_reset_duration_rejects_garbage(text: object) -> None:
    """Anything that is not a duration parses to None, never raises."""
    assert parse_reset_duration(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2023-11-14T22:13:50Z", 30.0),
        ("2023-11-14T22:13:50.5Z", 30.5),
        ("2023-11-14T22:13:50.123456789Z", 30.123456),
        ("2023-11-14T23:13:50+01:00", 30.0),
        ("2023-11-14T22:13:50", 30.0),
    ],
)
def test_parse_reset_timestamp(text: str, seconds: float) -> None:
    """RFC 3339 reset timestamps give seconds from the wall clock (1_700_000_000 = 22:13:20Z)."""
    assert parse_reset_timestamp(text, 1_700_000_000.0) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "tomorrow", "2023-13-45T00:00:00Z", "Z", None, 12])
def test_parse_reset_timestamp_rejects_garbage(text: object) -> None:
    """Unparsable timestamps give None, never raise."""
    assert parse_reset_timestamp(text, 1_700_000_000.0) is None


def test_openai_headers_with_nothing_remaining_hold_until_reset() -> None:
    """x-ratelimit-remaining-requests: 0 holds admissions for x-ratelimit-reset-requests."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30.5s"})
    assert rejected_wait(lim, max_wait=0) == pytest.approx(90.5)


def test_headers_with_requests_remaining_hold_nothing() -> None:
    """A positive remaining count leaves the limiter alone."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "6m0s"})
    assert lim.acquire(max_wait=0) == 0.0


def test_token_headers_hold_too() -> None:
    """x-ratelimit-remaining-tokens: 0 holds until x-ratelimit-reset-tokens."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers({"X-RateLimit-Remaining-Tokens": "0", "X-RateLimit-Reset-Tokens": "20ms"})
    assert rejected_wait(lim, max_wait=0) == pytest.approx(0.02)


def test_longest_exhausted_reset_wins() -> None:
    """With requests and tokens both exhausted, admissions wait for the later reset."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers(
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "5s",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "2s",
        }
    )
    assert rejected_wait(lim, max_wait=0) == pytest.approx(5.0)


def test_anthropic_headers_hold_until_the_reset_timestamp() -> None:
    """anthropic-ratelimit-requests-remaining: 0 holds until the RFC 3339 reset (wall clock)."""
    clock = FakeClock(wall_start=1_700_000_000.0)
    lim = limiter(clock, requests_per_second=100)
    lim.observe_headers({"Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Requests-Reset": "2023-11-14T22:13:50Z"})
    assert rejected_wait(lim, max_wait=0) == pytest.approx(30.0)
    clock.advance(30.0)
    assert lim.acquire(max_wait=0) == 0.0


def test_reset_in_the_past_holds_nothing() -> None:
    """A reset timestamp already passed adds no hold."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers({"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2020-01-01T00:00:00Z"})
    assert lim.acquire(max_wait=0) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-requests": "zero", "x-ratelimit-reset-requests": "1s"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"},
        {"x-ratelimit-remaining-requests": "0"},
        {"x-ratelimit-remaining-requests": "nan", "x-ratelimit-reset-requests": "1s"},
        {"x-ratelimit-remaining-requests": None, "x-ratelimit-reset-requests": None},
        {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "not a date"},
        {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": 17},
        {1: 2, None: "x"},
        {},
    ],
)
def test_garbage_headers_are_ignored(headers: dict) -> None:
    """Unparsable or incomplete rate-limit headers change nothing and never raise."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers(headers)  # type: ignore[arg-type]
    assert lim.acquire(max_wait=0) == 0.0


def test_broken_header_mapping_is_ignored() -> None:
    """A mapping whose iteration fails does not fail the call."""

    class Broken(dict):
        def items(self) -> Iterator:  # type: ignore[override]
            raise TypeError("nope")

    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers(Broken())
    assert lim.acquire(max_wait=0) == 0.0


def test_absurd_reset_is_capped_at_a_day() -> None:
    """A reset years away holds for at most one day."""
    lim = limiter(FrozenClock(), requests_per_second=100)
    lim.observe_headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999999h"})
    assert rejected_wait(lim, max_wait=0) == pytest.approx(86_400.0)


# --- estimate -------------------------------------------------------------------------


def test_estimate_tokens_adds_prompt_and_completion() -> None:
    """The estimate is ceil(chars / 4) plus max_tokens."""
    assert estimate_tokens(400, 50) == 150
    assert estimate_tokens(401, 50) == 151


def test_estimate_tokens_defaults_completion_to_256() -> None:
    """Without max_tokens the completion allowance is 256."""
    assert estimate_tokens(0, None) == 256
    assert RateLimiter.estimate_tokens(40, None) == 266


# --- properties -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 10.0, 50.0]),
    burst=st.integers(min_value=1, max_value=8),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=120),
)
def test_never_admits_more_than_rate_times_interval_plus_burst(rate: float, burst: int, gaps: list) -> None:
    """For any arrival pattern, admissions in any interval [a, b] number at most rate*(b-a) + burst."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=rate, burst=burst)
    admitted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        try:
            lim.acquire(max_wait=0)
        except LocalRateLimitError:
            continue
        admitted.append(clock.monotonic())
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= rate * (admitted[j] - admitted[i]) + burst + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    tokens=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=40),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=40, max_size=40),
)
def test_admission_instants_never_go_backwards(tokens: list, gaps: list) -> None:
    """Sequential callers are admitted in order: each admission instant is >= the previous one."""
    clock = FakeClock()
    lim = limiter(clock, requests_per_second=5, tokens_per_minute=6000)
    last = -math.inf
    for cost, gap in zip(tokens, gaps):
        clock.advance(gap)
        waited = lim.acquire(cost, max_wait=1e6)
        assert waited >= 0
        assert clock.monotonic() >= last
        last = clock.monotonic()
