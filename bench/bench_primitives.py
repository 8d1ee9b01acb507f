"""Micro-benchmark of the reliability primitives' hot paths.

Run: ``python bench/bench_primitives.py`` (from the repository root). Prints a markdown
table: per-operation cost in µs (best of several runs, uncontended, one thread) and the
admitted-rate error of a 50 rps limiter driven by 8 threads for 2 real seconds.
Target: every per-operation cost <= 5 µs.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ailib.reliability.budget import RatioBudget
from ailib.reliability.circuit import CircuitBreaker, CircuitBreakerPolicy
from ailib.reliability.ratelimit import RateLimiter, RateLimitPolicy

TARGET_US = 5.0


def per_op_us(op: Callable[[], object], iterations: int = 200_000, repeats: int = 5) -> float:
    """Best-of-``repeats`` mean cost of ``op()`` in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            op()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6


def loop_overhead_us(iterations: int = 200_000, repeats: int = 5) -> float:
    """Cost of the timing loop calling a no-op, to show what is measurement overhead."""
    return per_op_us(lambda: None, iterations, repeats)


def limiter_acquire() -> Callable[[], object]:
    lim = RateLimiter(RateLimitPolicy(requests_per_second=1e9, burst=10**9))
    return lim.acquire


def breaker_cycle() -> Callable[[], object]:
    breaker = CircuitBreaker(CircuitBreakerPolicy())
    acquire, success = breaker.acquire, breaker.record_success

    def op() -> None:
        success(acquire())

    return op


def budget_record_call() -> Callable[[], object]:
    return RatioBudget(0.1, floor=2).record_call


def admitted_rate(rate: float = 50.0, seconds: float = 2.0, threads: int = 8) -> tuple[int, float, float]:
    """Saturate a limiter (burst 1) from ``threads`` threads; count admissions in the ``seconds``
    after the first one. Returns admitted, expected (``rate * seconds``) and the error in %.
    """
    lim = RateLimiter(RateLimitPolicy(requests_per_second=rate, burst=1, max_wait=10.0))
    barrier = threading.Barrier(threads + 1)
    stamps: list[float] = []
    lock = threading.Lock()
    end = [0.0]

    def worker() -> None:
        barrier.wait()
        while True:
            lim.acquire()
            now = time.monotonic()
            with lock:
                stamps.append(now)
            if now >= end[0]:
                return

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    end[0] = time.monotonic() + seconds + 0.1
    barrier.wait()
    for t in pool:
        t.join()
    first = min(stamps)
    # Admissions are due at first + k / rate; cut half an interval early so timer jitter
    # cannot decide whether the one due exactly at first + seconds is counted.
    admitted = sum(1 for s in stamps if s < first + seconds - 0.5 / rate)
    expected = rate * seconds
    return admitted, expected, 100.0 * (admitted - expected) / expected


def main() -> None:
    overhead = loop_overhead_us()
    rows = [
        ("`RateLimiter.acquire()` (never waits)", per_op_us(limiter_acquire())),
        ("`CircuitBreaker.acquire()` + `record_success()` (CLOSED)", per_op_us(breaker_cycle())),
        ("`RatioBudget.record_call()`", per_op_us(budget_record_call())),
    ]
    admitted, expected, error = admitted_rate()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; loop overhead {overhead:.3f} µs (included below)\n")
    print("| operation | µs/op | target |")
    print("|---|---:|---|")
    for name, cost in rows:
        verdict = "ok" if cost <= TARGET_US else "OVER"
        print(f"| {name} | {cost:.3f} | <= {TARGET_US:g} µs {verdict} |")
    print(f"| limiter 50 rps, 8 threads, 2 s: admitted {admitted} vs {expected:g} expected | {error:+.2f} % | rate error |")


if __name__ == "__main__":
    main()
