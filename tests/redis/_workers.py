"""Functions run in child processes (multiprocessing, spawn) by the Redis tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from ailib import AiClientBuilder, ChatCompletionRequest, CircuitBreakerPolicy, CustomProviderBuilder, Message, RateLimitPolicy
from ailib.clock import SYSTEM_CLOCK
from ailib.errors import AiLibError, CircuitOpenError
from ailib.metrics import InMemoryMetrics
from ailib.state import RedisStateStore

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def provider(base_url: str) -> Any:
    """The same endpoint name ("mock") in every process, so they share its Redis keys."""
    return (
        CustomProviderBuilder("mock")
        .with_base_url(base_url)
        .with_wire_format("openai")
        .with_default_chat_model("mock-model")
        .build_provider()
    )


def _run_threads(n: int, target: Any) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rate_limited_caller(
    url: str, namespace: str, base_url: str, rps: float, threads: int, seconds: float, barrier: Any, go: Any, start_at: Any, results: Any
) -> None:
    """Warm up, meet the other processes, then call flat out from ``threads`` threads from wall time
    ``start_at`` for ``seconds``; report every admitted call's ``started_at``."""
    store = RedisStateStore(url, namespace=namespace)
    client = AiClientBuilder(provider(base_url)).with_rate_limit(RateLimitPolicy(requests_per_second=rps)).with_state_store(store).build()
    started: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    _run_threads(threads, lambda: client.chat_completion(REQ))  # one pooled connection per thread
    barrier.wait()
    go.wait()
    t0 = start_at.value

    def worker() -> None:
        time.sleep(max(0.0, t0 - time.time()))
        while time.time() < t0 + seconds:
            try:
                resp = client.chat_completion(REQ)
            except AiLibError as exc:
                with lock:
                    errors.append(repr(exc))
            else:
                with lock:
                    started.append(resp.attempts[-1].started_at)

    _run_threads(threads, worker)
    client.close()
    results.put({"started": started, "errors": errors, "using_redis": store.using_redis})


def breaker_opener(url: str, namespace: str, base_url: str, failures: int, results: Any) -> None:
    """Make ``failures`` calls (the parent's server answers 503) with no retries; report what happened."""
    store = RedisStateStore(url, namespace=namespace)
    metrics = InMemoryMetrics()
    client = AiClientBuilder(provider(base_url)).without_retry().with_metrics(metrics).with_state_store(store).build()
    outcomes = []
    for _ in range(failures):
        try:
            client.chat_completion(REQ)
            outcomes.append("ok")
        except AiLibError as exc:
            outcomes.append(type(exc).__name__)
    client.close()
    results.put({"outcomes": outcomes, "opened": metrics.counter("circuit.opened"), "using_redis": store.using_redis})


def probe_taker(url: str, namespace: str, max_probes: int, threads: int, barrier: Any, results: Any) -> None:
    """From ``threads`` threads at once, try to take a probe of the shared breaker "ep"."""
    store = RedisStateStore(url, namespace=namespace)
    breaker = store.breaker(
        "ep", CircuitBreakerPolicy(recovery_timeout=0.2, recovery_jitter=0.0, half_open_max_calls=max_probes), SYSTEM_CLOCK
    )
    local_barrier = threading.Barrier(threads)
    probes: list[int] = []
    rejected = [0]
    lock = threading.Lock()
    barrier.wait()

    def worker() -> None:
        local_barrier.wait()
        try:
            permit = breaker.acquire(probe_timeout=60.0)
        except CircuitOpenError:
            with lock:
                rejected[0] += 1
        else:
            with lock:
                probes.append(permit.probe_id)

    _run_threads(threads, worker)
    results.put({"probes": probes, "rejected": rejected[0], "using_redis": store.using_redis})


def dying_prober(url: str, namespace: str, probe_timeout: float, results: Any) -> None:
    """Take a probe of the shared breaker "ep" and exit without ever reporting it."""
    store = RedisStateStore(url, namespace=namespace)
    breaker = store.breaker("ep", CircuitBreakerPolicy(recovery_timeout=0.2, recovery_jitter=0.0), SYSTEM_CLOCK)
    permit = breaker.acquire(probe_timeout=probe_timeout)
    results.put({"probe": permit.probe_id, "using_redis": store.using_redis})
