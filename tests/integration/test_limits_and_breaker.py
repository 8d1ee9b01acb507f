"""Rate limiter and circuit breaker through a real client over loopback (issue 7, in memory)."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence

import pytest

from ailib import (
    AiClientBuilder,
    CircuitBreakerPolicy,
    CircuitOpenError,
    CircuitState,
    InvalidRequestError,
    LocalRateLimitError,
    ProviderError,
    QuotaExceededError,
    RateLimitExceeded,
    RateLimitPolicy,
)
from ailib.metrics import InMemoryMetrics
from ailib.routing.endpoint import build_endpoint
from ailib.state import MemoryStateStore
from ailib.testing import FakeClock, Fault, MockProvider
from tests._timing import SLACK

RATE = 50.0
SECONDS = 4.0
THREADS = 16


def admitted_between(started: Sequence[float], start: float, seconds: float) -> list[float]:
    """The admission times (attempts' ``started_at``, taken as the limiter lets a call go) in ``[start, start + seconds)``."""
    return sorted(t for t in started if start <= t < start + seconds)


# Measured admission times (``started_at``) trail the limiter's reserved instants by a
# scheduling delay of up to a few ms. GCRA bounds reserved instants: at most rate * w +
# burst in any window of width w. A measured window of width 1 - MAX_JITTER therefore
# holds reservations spanning at most 1 s, so it must hold at most rate + burst.
MAX_JITTER = 0.05


def busiest_window(times: Sequence[float], width: float = 1.0 - MAX_JITTER) -> int:
    """The most arrivals in any window ``[t, t + width)``; windows starting at an arrival suffice."""
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


def expected_range(rate: float, seconds: float, burst: int) -> tuple[float, float]:
    """``rate * seconds`` +- 3 %, plus the burst."""
    return rate * seconds * 0.97 + burst, rate * seconds * 1.03 + burst


def open_with_503s(client, mock: MockProvider, req, n: int = 5) -> None:
    mock.enqueue(*[Fault.http_status(503)] * n)
    for _ in range(n):
        with pytest.raises(ProviderError):
            client.chat_completion(req)


def warm_up(client, req, threads: int) -> None:
    """One call from each of ``threads`` threads at once, so the pool holds a connection per thread."""
    pool = [threading.Thread(target=client.chat_completion, args=(req,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)


def drive(client, req, threads: int, t0: float, seconds: float) -> tuple[list[float], list[BaseException]]:
    """From ``threads`` threads, call flat out from wall time ``t0`` to ``t0 + seconds``; admission times and errors."""
    started: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        time.sleep(max(0.0, t0 - time.time()))
        while time.time() < t0 + seconds:
            try:
                resp = client.chat_completion(req)
            except Exception as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    started.append(resp.attempts[-1].started_at)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 30)
    return started, errors


@pytest.mark.alone
def test_sixteen_threads_admit_rate_times_seconds_plus_burst(mock, req):
    """16 threads on a 50 rps limit for 4 s admit 200 +- 3 % plus the burst, never more than rate + burst in one second."""
    policy = RateLimitPolicy(requests_per_second=RATE)
    burst = policy.effective_burst
    with AiClientBuilder(mock.provider()).with_rate_limit(policy).build() as client:
        warm_up(client, req, THREADS)
        t0 = time.time() + 1.0  # the warm-up's tokens are back by then: the bucket is full
        started, errors = drive(client, req, THREADS, t0, SECONDS)
    times = admitted_between(started, t0, SECONDS)
    low, high = expected_range(RATE, SECONDS, burst)
    assert not errors
    assert low <= len(times) <= high, len(times)
    assert busiest_window(times) <= RATE + burst
    assert mock.request_count == THREADS + len(started)


def test_after_five_503s_the_next_call_fails_fast_without_the_server(mock, req):
    """After 5 consecutive 503s the next calls raise CircuitOpenError in under 1 ms, recorded as a skipped attempt, server untouched."""
    with AiClientBuilder(mock.provider()).without_retry().build() as client:
        open_with_503s(client, mock, req)
        before = mock.request_count
        times = []
        for _ in range(5):  # the fastest of five: a loaded machine may preempt any single call
            start = time.perf_counter()
            with pytest.raises(CircuitOpenError) as info:
                client.chat_completion(req)
            times.append(time.perf_counter() - start)
    assert min(times) < 0.001 * SLACK, times
    assert mock.request_count == before == 5
    assert [a.outcome for a in info.value.attempts] == ["skipped"]


def test_exactly_one_probe_reaches_the_server_when_twenty_threads_call(mock, req):
    """Past the recovery timeout, 20 threads calling at once send exactly one probe; the other 19 fail fast."""
    clock = FakeClock()
    with AiClientBuilder(mock.provider()).without_retry().with_clock(clock).build() as client:
        open_with_503s(client, mock, req)
        clock.advance(CircuitBreakerPolicy().recovery_timeout * 1.2)  # past the window and its jitter
        mock.enqueue(Fault.delay(0.3))  # a slow probe: the others arrive while it is in flight
        barrier = threading.Barrier(20)
        outcomes: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            barrier.wait()
            try:
                client.chat_completion(req)
                result = "ok"
            except CircuitOpenError:
                result = "open"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        state = client.circuit_breaker().state
    assert mock.request_count == 5 + 1
    assert sorted(outcomes) == ["ok"] + ["open"] * 19
    assert state is CircuitState.CLOSED


def test_429_slows_the_limiter_and_leaves_the_breaker_closed(mock, req):
    """A 429 halves the limiter's rate and does not count toward a breaker that opens on one failure."""
    store = MemoryStateStore()
    policy = RateLimitPolicy(requests_per_second=10)
    builder = AiClientBuilder(mock.provider()).without_retry().with_rate_limit(policy).with_state_store(store)
    with builder.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=1)).build() as client:
        mock.enqueue(Fault.http_status(429))
        with pytest.raises(RateLimitExceeded):
            client.chat_completion(req)
        assert client.circuit_breaker().state is CircuitState.CLOSED
        client.chat_completion(req)
        factor = store.scoped(build_endpoint(mock.provider()).identity()[:16]).limiter("mock", policy, FakeClock()).factor
    assert mock.request_count == 2
    assert factor == pytest.approx(0.5 + 0.05)  # halved by the 429, +5 % back for the success


def test_an_out_of_credit_429_leaves_the_limiter_rate_alone(mock, req):
    """A 429 meaning the account is out of credit (insufficient_quota) says nothing about pace: the limiter's rate stays whole."""
    store = MemoryStateStore()
    policy = RateLimitPolicy(requests_per_second=10)
    with AiClientBuilder(mock.provider()).without_retry().with_rate_limit(policy).with_state_store(store).build() as client:
        mock.enqueue(Fault.http_status(429, error_type="insufficient_quota", message="You exceeded your current quota"))
        with pytest.raises(QuotaExceededError):
            client.chat_completion(req)
        factor = store.scoped(build_endpoint(mock.provider()).identity()[:16]).limiter("mock", policy, FakeClock()).factor
    assert factor == pytest.approx(1.0)


def test_400_does_not_trip_the_breaker(mock, req):
    """A 400 on a breaker that opens on one failure leaves it closed: the next call reaches the server."""
    metrics = InMemoryMetrics()
    builder = AiClientBuilder(mock.provider()).without_retry().with_metrics(metrics)
    with builder.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=1)).build() as client:
        mock.enqueue(Fault.http_status(400))
        with pytest.raises(InvalidRequestError):
            client.chat_completion(req)
        client.chat_completion(req)
    assert mock.request_count == 2
    assert metrics.counter("circuit.opened") == 0


def test_circuit_counters_follow_open_reject_probe_close(mock, req):
    """circuit.opened, .rejected, .half_open and .closed each count 1 over open -> reject -> probe -> close."""
    clock, metrics = FakeClock(), InMemoryMetrics()
    with AiClientBuilder(mock.provider()).without_retry().with_clock(clock).with_metrics(metrics).build() as client:
        open_with_503s(client, mock, req)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(req)
        clock.advance(CircuitBreakerPolicy().recovery_timeout * 1.2)
        client.chat_completion(req)
    counts = {name: metrics.counter(f"circuit.{name}") for name in ("opened", "rejected", "half_open", "closed")}
    assert counts == {"opened": 1, "rejected": 1, "half_open": 1, "closed": 1}


def test_ratelimit_counters_count_a_wait_and_a_rejection(mock, req):
    """A call that waits for the bucket counts ratelimit.waited; one that cannot be admitted before its deadline counts ratelimit.rejected."""
    clock, metrics = FakeClock(), InMemoryMetrics()
    policy = RateLimitPolicy(requests_per_second=1, burst=1, max_wait=5.0)
    builder = AiClientBuilder(mock.provider()).with_rate_limit(policy).with_clock(clock).with_metrics(metrics)
    with builder.build() as client:
        client.chat_completion(req)  # takes the burst
        client.chat_completion(req)  # waits one (fake) second
        waited = metrics.counter("ratelimit.waited")
        with pytest.raises(LocalRateLimitError) as info:
            client.chat_completion(req, deadline=0.5)  # needs 1 s, may wait 0.5 s
    assert waited == 1 and clock.sleeps == [pytest.approx(1.0)]
    assert metrics.counter("ratelimit.rejected") == 1
    assert mock.request_count == 2 and [a.outcome for a in info.value.attempts] == ["skipped"]
