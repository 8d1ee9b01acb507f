"""RedisStateStore: shared limiter, breaker and budget semantics, atomic scripts, keys, configuration."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from ailib import (
    AiClientBuilder,
    CircuitBreakerPolicy,
    CircuitOpenError,
    CircuitState,
    ConfigurationError,
    LocalRateLimitError,
    ProviderError,
    RateLimitPolicy,
)
from ailib.clock import SYSTEM_CLOCK
from ailib.reliability.budget import RatioBudget
from ailib.reliability.circuit import CircuitBreaker
from ailib.reliability.ratelimit import RateLimiter
from ailib.state import RedisStateStore
from ailib.testing import FakeClock, Fault
from tests._timing import SLACK

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FAST = CircuitBreakerPolicy(failure_threshold=2, recovery_timeout=0.2, recovery_jitter=0.0)


def run_threads(n: int, target) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


def rejection(limiter: RateLimiter, tokens: int = 0) -> float:
    """The wait a ``max_wait=0`` acquire reports when it is refused."""
    with pytest.raises(LocalRateLimitError) as info:
        limiter.acquire(tokens, max_wait=0)
    return info.value.retry_after


def trip(breaker: CircuitBreaker, times: int = 2) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.acquire())


def recorder() -> tuple[list, object]:
    seen: list = []
    return seen, lambda name, old, new: seen.append((name, old, new))


# --- the store -----------------------------------------------------------------------------


def test_store_hands_out_one_object_per_name_of_the_in_memory_types(store_factory):
    """Each kind is got-or-created per name and is an instance of the in-memory class it replaces."""
    store = store_factory()
    policy = RateLimitPolicy(requests_per_second=5)
    limiter, breaker, budget = (
        store.limiter("ep", policy, SYSTEM_CLOCK),
        store.breaker("ep", FAST, SYSTEM_CLOCK),
        store.retry_budget("ep", 0.1, 2, SYSTEM_CLOCK),
    )
    assert isinstance(limiter, RateLimiter) and isinstance(breaker, CircuitBreaker) and isinstance(budget, RatioBudget)
    assert store.limiter("ep", policy, SYSTEM_CLOCK) is limiter and store.breaker("ep", FAST, SYSTEM_CLOCK) is breaker
    assert store.retry_budget("ep", 0.1, 2, SYSTEM_CLOCK) is budget and store.limiter("other", policy, SYSTEM_CLOCK) is not limiter


def test_keys_are_namespaced_by_kind_and_name(store_factory, rdb, namespace):
    """Using the three objects of endpoint "ep" writes exactly the keys {namespace}:{limiter,breaker,budget}:ep."""
    store = store_factory()
    store.limiter("ep", RateLimitPolicy(requests_per_second=5), SYSTEM_CLOCK).acquire()
    store.breaker("ep", FAST, SYSTEM_CLOCK).record_success(store.breaker("ep", FAST, SYSTEM_CLOCK).acquire())
    store.retry_budget("ep", 0.1, 2, SYSTEM_CLOCK).record_call()
    keys = {k.decode() for k in rdb.keys(f"{namespace}:*")}
    assert keys == {f"{namespace}:limiter:ep", f"{namespace}:breaker:ep", f"{namespace}:budget:ep"}


def test_keys_expire_after_key_ttl(store_factory, rdb, namespace):
    """Every key carries an expiry of about key_ttl; idle limiter and breaker keys are gone once it passes."""
    store = store_factory(key_ttl=0.5)
    store.limiter("ep", RateLimitPolicy(requests_per_second=100), SYSTEM_CLOCK).acquire()
    breaker = store.breaker("ep", CircuitBreakerPolicy(recovery_timeout=0.1, recovery_jitter=0.0), SYSTEM_CLOCK)
    breaker.record_success(breaker.acquire())
    store.retry_budget("ep", 0.1, 2, SYSTEM_CLOCK).record_call()
    ttl = {kind: rdb.pttl(f"{namespace}:{kind}:ep") for kind in ("limiter", "breaker", "budget")}
    assert 0 < ttl["limiter"] <= 520 and 0 < ttl["breaker"] <= 600
    assert 0 < ttl["budget"] <= 10_000  # a budget key lives at least its 10 s window
    time.sleep(0.7)
    assert rdb.exists(f"{namespace}:limiter:ep", f"{namespace}:breaker:ep") == 0


def test_redis_is_imported_only_when_the_store_is_used():
    """``import ailib`` and ``from ailib.state import RedisStateStore`` leave redis unimported until a store is built."""
    code = "import sys, ailib; from ailib.state import RedisStateStore; assert 'redis' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_redis_package_is_a_configuration_error(monkeypatch):
    """Without the redis package, building the store raises ConfigurationError naming the extra."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"ailib\[redis\]"):
        RedisStateStore("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(
    "url, kwargs", [("http://localhost", {}), ("", {}), ("redis://x", {"key_ttl": 0}), ("redis://x", {"namespace": ""})]
)
def test_bad_settings_are_configuration_errors(url, kwargs):
    """A non-Redis URL, an empty URL, a zero key_ttl or an empty namespace raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RedisStateStore(url, **kwargs)


# --- limiter -------------------------------------------------------------------------------


def test_two_stores_draw_on_one_bucket(store_factory):
    """After one store takes the whole burst, the other store's limiter must wait one interval."""
    a, b = store_factory(), store_factory()
    policy = RateLimitPolicy(requests_per_second=10, burst=2)
    la, lb = a.limiter("ep", policy, SYSTEM_CLOCK), b.limiter("ep", policy, SYSTEM_CLOCK)
    assert la.acquire(max_wait=0) == 0.0 and la.acquire(max_wait=0) == 0.0
    assert rejection(lb) == pytest.approx(0.1, abs=0.02)


def test_refused_acquire_reserves_nothing(store_factory):
    """Refused acquires leave the schedule alone: two in a row report the same wait."""
    limiter = store_factory().limiter("ep", RateLimitPolicy(requests_per_second=1, burst=1), SYSTEM_CLOCK)
    limiter.acquire()
    first, second = rejection(limiter), rejection(limiter)
    assert first == pytest.approx(1.0, abs=0.05) and second == pytest.approx(first, abs=0.05)


def test_acquire_returns_the_reserved_wait_and_sleeps_it_on_the_callers_clock(store_factory):
    """The wait comes from Redis's schedule and is slept through the injected clock."""
    clock = FakeClock()
    limiter = store_factory().limiter("ep", RateLimitPolicy(requests_per_second=10, burst=1), clock)
    limiter.acquire()
    waited = limiter.acquire()
    assert waited == pytest.approx(0.1, abs=0.02) and clock.sleeps == [waited]


def test_token_bucket_is_shared_and_reconciled(store_factory):
    """One second's share of tokens (the bucket's capacity) taken by one store makes the other wait; a refund by reconcile lets it in at once."""
    a, b = store_factory(), store_factory()
    policy = RateLimitPolicy(tokens_per_minute=600)
    la, lb = a.limiter("ep", policy, SYSTEM_CLOCK), b.limiter("ep", policy, SYSTEM_CLOCK)
    la.acquire(10)
    assert rejection(lb, 10) == pytest.approx(1.0, abs=0.05)
    la.reconcile(10, 5)
    assert lb.acquire(5, max_wait=0) == 0.0


def test_limits_learned_from_headers_pace_the_shared_buckets(store_factory):
    """Two stores' LEARNING limiters that each saw x-ratelimit-limit-requests: 600 share one
    request bucket in Redis: one second's share (10) at once between them, then 0.1 s apart."""
    from ailib.reliability.ratelimit import LEARNING

    a, b = store_factory(), store_factory()
    la, lb = a.limiter("ep", LEARNING, SYSTEM_CLOCK), b.limiter("ep", LEARNING, SYSTEM_CLOCK)
    for lim in (la, lb):
        lim.observe_headers({"x-ratelimit-limit-requests": "600"})
    for _ in range(5):
        la.acquire(max_wait=0)
        lb.acquire(max_wait=0)
    assert rejection(lb) == pytest.approx(0.1, abs=0.05)


def test_a_429_seen_by_one_process_slows_every_process(store_factory):
    """on_rate_limited in one store halves the shared factor, holds every store for retry_after, and successes add 5 % back."""
    a, b = store_factory(), store_factory()
    policy = RateLimitPolicy(requests_per_second=10)
    la, lb = a.limiter("ep", policy, SYSTEM_CLOCK), b.limiter("ep", policy, SYSTEM_CLOCK)
    la.on_rate_limited(retry_after=0.5)
    assert lb.factor == 0.5 and lb.effective_rate == 5.0
    assert rejection(lb) == pytest.approx(0.5, abs=0.05)
    lb.acquire(max_wait=2.0)
    lb.on_success()
    assert la.factor == pytest.approx(0.55)


def test_exhausted_headers_hold_every_process(store_factory):
    """x-ratelimit-remaining-requests: 0 with a 2 s reset, seen by one store, holds the other store's acquires for 2 s."""
    a, b = store_factory(), store_factory()
    policy = RateLimitPolicy(requests_per_second=10)
    a.limiter("ep", policy, SYSTEM_CLOCK).observe_headers({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"})
    assert rejection(b.limiter("ep", policy, SYSTEM_CLOCK)) == pytest.approx(2.0, abs=0.05)


def test_limiter_script_is_atomic_under_sixteen_threads(store_factory):
    """16 threads x 150 fail-fast acquires on a shared 1600-request bucket that does not refill admit exactly 1600, emptying it for every store."""
    policy = RateLimitPolicy(requests_per_minute=1, burst=1600)
    limiter = store_factory().limiter("ep", policy, SYSTEM_CLOCK)
    admitted = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(150):
            try:
                limiter.acquire(max_wait=0)
            except LocalRateLimitError:
                continue
            with lock:
                admitted[0] += 1

    run_threads(16, worker)
    assert admitted[0] == 1600
    assert rejection(store_factory().limiter("ep", policy, SYSTEM_CLOCK)) > 0


# --- breaker -------------------------------------------------------------------------------


def test_breaker_opened_through_one_store_is_open_in_another(store_factory):
    """Failures reported through one store open the breaker for every store, with time until the probe."""
    a, b = store_factory(), store_factory()
    trip(a.breaker("ep", FAST, SYSTEM_CLOCK))
    other = b.breaker("ep", FAST, SYSTEM_CLOCK)
    assert other.state is OPEN
    with pytest.raises(CircuitOpenError) as info:
        other.acquire()
    assert 0 < info.value.retry_after <= 0.2


def test_transition_callbacks_run_where_the_transition_happened(store_factory):
    """CLOSED->OPEN is reported to the store whose failure opened it; OPEN->HALF_OPEN to the store whose acquire moved it."""
    (seen_a, cb_a), (seen_b, cb_b) = recorder(), recorder()
    a = store_factory().breaker("ep", FAST, SYSTEM_CLOCK, cb_a)
    b = store_factory().breaker("ep", FAST, SYSTEM_CLOCK, cb_b)
    trip(a)
    assert seen_a == [("ep", CLOSED, OPEN)] and seen_b == []
    time.sleep(0.25)
    b.acquire()
    assert seen_a == [("ep", CLOSED, OPEN)] and seen_b == [("ep", OPEN, HALF_OPEN)]


def test_a_success_resets_the_shared_consecutive_count(store_factory):
    """failure, success, failure through two stores does not open a breaker needing 2 consecutive failures."""
    a, b = store_factory().breaker("ep", FAST, SYSTEM_CLOCK), store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    a.record_failure(a.acquire())
    b.record_success(b.acquire())
    a.record_failure(a.acquire())
    assert a.state is CLOSED


def test_probe_success_closes_and_probe_failure_reopens(store_factory):
    """After recovery one probe goes out; its failure re-opens for a fresh window, the next probe's success closes."""
    breaker = store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    trip(breaker)
    time.sleep(0.25)
    probe = breaker.acquire()
    assert probe.is_probe and breaker.state is HALF_OPEN
    breaker.record_failure(probe)
    assert breaker.state is OPEN
    time.sleep(0.25)
    breaker.record_success(breaker.acquire())
    assert breaker.state is CLOSED


def test_half_open_admits_exactly_max_calls_probes_from_sixteen_threads(store_factory):
    """16 threads racing on a half-open shared breaker get exactly half_open_max_calls probes."""
    policy = CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=0.1, recovery_jitter=0.0, half_open_max_calls=3)
    breaker = store_factory().breaker("ep", policy, SYSTEM_CLOCK)
    trip(breaker, 1)
    time.sleep(0.15)
    barrier = threading.Barrier(16)
    probes: list[int] = []

    def worker() -> None:
        barrier.wait()
        try:
            probes.append(breaker.acquire(probe_timeout=30).probe_id)
        except CircuitOpenError:
            pass

    run_threads(16, worker)
    assert len(probes) == 3 and len(set(probes)) == 3


def test_consecutive_count_is_exact_under_sixteen_threads(store_factory, rdb, namespace):
    """1600 failures from 16 threads leave the count at exactly 1600 below a threshold of 1601; one more opens it, once."""
    seen, callback = recorder()
    breaker = store_factory().breaker("ep", CircuitBreakerPolicy(failure_threshold=1601), SYSTEM_CLOCK, callback)
    run_threads(16, lambda: [breaker.record_failure(breaker.acquire()) for _ in range(100)])
    assert int(rdb.hget(f"{namespace}:breaker:ep", "consec")) == 1600 and breaker.state is CLOSED
    breaker.record_failure(breaker.acquire())
    assert breaker.state is OPEN and seen == [("ep", CLOSED, OPEN)]


def test_unreported_probe_expires_and_its_late_report_is_ignored(store_factory):
    """A probe not reported within probe_timeout frees its slot for another store; its late success changes nothing."""
    a, b = store_factory().breaker("ep", FAST, SYSTEM_CLOCK), store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    trip(a)
    time.sleep(0.25)
    hung = a.acquire(probe_timeout=0.2)
    with pytest.raises(CircuitOpenError) as info:
        b.acquire()
    assert 0 < info.value.retry_after <= 0.2
    time.sleep(0.25)
    fresh = b.acquire(probe_timeout=5)
    a.record_success(hung)
    assert fresh.is_probe and b.state is HALF_OPEN


def test_stale_permit_from_before_reopening_is_ignored(store_factory):
    """A closed-state permit reported after the breaker opened (and closed again) does not count."""
    breaker = store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    old = breaker.acquire()
    trip(breaker)
    time.sleep(0.25)
    breaker.record_success(breaker.acquire())
    breaker.record_failure(breaker.acquire())
    breaker.record_failure(old)
    assert breaker.state is CLOSED


def test_released_probe_frees_its_slot_without_deciding(store_factory):
    """release() of a probe keeps HALF_OPEN and lets the next probe through."""
    breaker = store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    trip(breaker)
    time.sleep(0.25)
    breaker.release(breaker.acquire())
    assert breaker.state is HALF_OPEN and breaker.acquire().is_probe


def test_isolate_holds_every_store_open_until_reset_and_never_expires(store_factory, rdb, namespace):
    """isolate() opens the breaker for every store past its recovery time, with no key expiry, until reset()."""
    a, b = store_factory(key_ttl=0.3).breaker("ep", FAST, SYSTEM_CLOCK), store_factory().breaker("ep", FAST, SYSTEM_CLOCK)
    a.isolate()
    time.sleep(0.4)
    assert b.state is OPEN and b.isolated and rdb.pttl(f"{namespace}:breaker:ep") == -1
    with pytest.raises(CircuitOpenError) as info:
        b.acquire()
    assert info.value.retry_after is None
    b.reset()
    assert a.state is CLOSED and not a.isolated and rdb.pttl(f"{namespace}:breaker:ep") > 0


def test_failure_ratio_over_the_shared_window_opens(store_factory):
    """With failure_ratio 0.5 and min_calls 4, two failures in four calls from two stores open the breaker."""
    policy = CircuitBreakerPolicy(failure_threshold=100, failure_ratio=0.5, min_calls=4, window=10.0)
    a, b = store_factory().breaker("ep", policy, SYSTEM_CLOCK), store_factory().breaker("ep", policy, SYSTEM_CLOCK)
    a.record_success(a.acquire())
    b.record_failure(b.acquire())
    a.record_success(a.acquire())
    assert b.state is CLOSED
    b.record_failure(b.acquire())
    assert a.state is OPEN


# --- budget --------------------------------------------------------------------------------


def test_retry_budget_is_shared(store_factory):
    """Permits spent through one store are gone for the other; calls recorded by either add to the allowance."""
    a, b = store_factory().retry_budget("ep", 0.5, 2, SYSTEM_CLOCK), store_factory().retry_budget("ep", 0.5, 2, SYSTEM_CLOCK)
    assert a.try_spend() and a.try_spend()
    assert not b.try_spend() and b.available() == 0
    b.record_call()
    b.record_call()
    assert a.available() == 1 and a.try_spend() and not b.try_spend()


def test_budget_script_is_atomic_under_sixteen_threads(store_factory):
    """16 threads x 50 try_spend on a shared floor of 500 and ratio 0 are granted exactly 500, leaving none for any store."""
    budget = store_factory().retry_budget("ep", 0.0, 500, SYSTEM_CLOCK)
    granted = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            if budget.try_spend():
                with lock:
                    granted[0] += 1

    run_threads(16, worker)
    assert granted[0] == 500
    assert store_factory().retry_budget("ep", 0.0, 500, SYSTEM_CLOCK).available() == 0


# --- through the client --------------------------------------------------------------------


def test_breaker_opened_by_one_client_fails_the_other_fast(mock, req, store_factory):
    """After 5 503s through one client, a client on another store fails at once (one Redis round trip, no HTTP), skipped, server untouched."""
    first = AiClientBuilder(mock.provider()).without_retry().with_state_store(store_factory()).build()
    second = AiClientBuilder(mock.provider()).without_retry().with_state_store(store_factory()).build()
    mock.enqueue(*[Fault.http_status(503)] * 5)
    for _ in range(5):
        with pytest.raises(ProviderError):
            first.chat_completion(req)
    times = []
    for _ in range(5):  # the fastest of five: a loaded machine may preempt any single call
        start = time.perf_counter()
        with pytest.raises(CircuitOpenError) as info:
            second.chat_completion(req)
        times.append(time.perf_counter() - start)
    first.close()
    second.close()
    assert min(times) < 0.005 * SLACK, times  # a round trip to Redis on a loaded machine: a few ms
    assert mock.request_count == 5 and [a.outcome for a in info.value.attempts] == ["skipped"]


def test_exactly_one_probe_reaches_the_server_through_redis(mock, req, store_factory):
    """Past a shared breaker's recovery time, 20 threads calling at once send exactly one (slow) probe."""
    policy = CircuitBreakerPolicy(recovery_timeout=0.3, recovery_jitter=0.0)
    client = AiClientBuilder(mock.provider()).without_retry().with_circuit_breaker(policy).with_state_store(store_factory()).build()
    mock.enqueue(*[Fault.http_status(503)] * 5)
    for _ in range(5):
        with pytest.raises(ProviderError):
            client.chat_completion(req)
    time.sleep(0.35)
    mock.enqueue(Fault.delay(0.3))
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            client.chat_completion(req)
            outcomes.append("ok")
        except CircuitOpenError:
            outcomes.append("open")

    run_threads(20, worker)
    state = client.circuit_breaker().state
    client.close()
    assert mock.request_count == 6 and sorted(outcomes) == ["ok"] + ["open"] * 19
    assert state is CLOSED
