"""Several processes (multiprocessing, spawn) sharing one RedisStateStore: one quota, one breaker."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any, Callable

import pytest

from ailib import AiClientBuilder, CircuitBreakerPolicy, CircuitOpenError, CircuitState, RateLimitPolicy
from ailib.clock import SYSTEM_CLOCK
from ailib.metrics import InMemoryMetrics
from ailib.state import RedisStateStore
from ailib.testing import Fault
from tests._timing import SLACK
from tests.integration.test_limits_and_breaker import admitted_between, busiest_window, expected_range

from . import _workers

CTX = multiprocessing.get_context("spawn")
TIMEOUT = 60.0


def start(target: Callable[..., None], arg_lists: list[tuple], results: Any) -> list[Any]:
    procs = [CTX.Process(target=target, args=(*args, results), daemon=True) for args in arg_lists]
    for p in procs:
        p.start()
    return procs


def collect(procs: list[Any], results: Any) -> list[dict]:
    """Every child's report, after checking each exited cleanly."""
    out = [results.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(timeout=TIMEOUT)
        assert p.exitcode == 0
    return out


@pytest.mark.alone
def test_four_processes_share_one_rate_limit(mock, redis_server, namespace):
    """4 processes x 4 threads on one shared 50 rps limit for 4 s admit 200 +- 3 % plus the burst in total, never more than rate + burst a second."""
    rate, seconds, procs_n = 50.0, 4.0, 4
    burst = RateLimitPolicy(requests_per_second=rate).effective_burst
    barrier, go, start_at, results = CTX.Barrier(procs_n + 1), CTX.Event(), CTX.Value("d", 0.0), CTX.Queue()
    args = (redis_server.url, namespace, mock.base_url, rate, 4, seconds, barrier, go, start_at)
    procs = start(_workers.rate_limited_caller, [args] * procs_n, results)
    barrier.wait(timeout=TIMEOUT)  # every process is up and warmed
    t0 = start_at.value = time.time() + 1.0  # the warm-up's tokens are back by then
    go.set()
    reports = collect(procs, results)
    started = [t for r in reports for t in r["started"]]
    times = admitted_between(started, t0, seconds)
    low, high = expected_range(rate, seconds, burst)
    assert all(r["using_redis"] and not r["errors"] for r in reports)
    assert low <= len(times) <= high, len(times)
    assert busiest_window(times) <= rate + burst


def test_breaker_opened_by_one_process_is_open_in_another(mock, req, redis_server, namespace):
    """A child process's five 503s open the breaker; this process's next call fails fast, server untouched, callback only in the child."""
    mock.enqueue(*[Fault.http_status(503)] * 5)
    results = CTX.Queue()
    [report] = collect(start(_workers.breaker_opener, [(redis_server.url, namespace, mock.base_url, 5)], results), results)
    metrics = InMemoryMetrics()
    store = RedisStateStore(redis_server.url, namespace=namespace)
    with AiClientBuilder(mock.provider()).without_retry().with_metrics(metrics).with_state_store(store).build() as client:
        with pytest.raises(CircuitOpenError) as info:
            client.chat_completion(req)
    assert report == {"outcomes": ["ProviderError"] * 5, "opened": 1, "using_redis": True}
    assert mock.request_count == 5 and [a.outcome for a in info.value.attempts] == ["skipped"]
    assert metrics.counter("circuit.rejected") == 1 and metrics.counter("circuit.opened") == 0


def test_exactly_n_probes_across_processes(redis_server, namespace):
    """4 processes x 5 threads racing on a half-open shared breaker get exactly half_open_max_calls = 3 probes in total."""
    policy = CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=0.2, recovery_jitter=0.0, half_open_max_calls=3)
    breaker = RedisStateStore(redis_server.url, namespace=namespace).breaker("ep", policy, SYSTEM_CLOCK)
    breaker.record_failure(breaker.acquire())
    time.sleep(0.25)
    barrier, results = CTX.Barrier(4), CTX.Queue()
    reports = collect(start(_workers.probe_taker, [(redis_server.url, namespace, 3, 5, barrier)] * 4, results), results)
    probes = [p for r in reports for p in r["probes"]]
    assert all(r["using_redis"] for r in reports)
    assert len(probes) == 3 and len(set(probes)) == 3
    assert sum(r["rejected"] for r in reports) == 17


def test_probe_of_a_dead_process_expires(redis_server, namespace):
    """A probe taken by a process that exits without reporting holds its slot only until its timeout; then another probe closes the breaker."""
    policy = CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=0.2, recovery_jitter=0.0)
    breaker = RedisStateStore(redis_server.url, namespace=namespace).breaker("ep", policy, SYSTEM_CLOCK)
    breaker.record_failure(breaker.acquire())
    time.sleep(0.25)
    results = CTX.Queue()
    probe_timeout = 1.5 * SLACK  # outlives the child's exit and collection on a loaded machine
    [report] = collect(start(_workers.dying_prober, [(redis_server.url, namespace, probe_timeout)], results), results)
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert report["using_redis"] and 0 < info.value.retry_after <= probe_timeout
    time.sleep(info.value.retry_after + 0.05)
    probe = breaker.acquire()
    breaker.record_success(probe)
    assert probe.is_probe and probe.probe_id != report["probe"] and breaker.state is CircuitState.CLOSED
