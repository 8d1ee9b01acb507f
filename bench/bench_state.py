"""Benchmark of the shared state store: Redis-backed limiter and breaker vs in memory.

Run: ``python bench/bench_state.py [--redis-url URL]`` (from the repository root). Without
``--redis-url`` it starts its own ``redis-server`` on a free loopback port (the binary must
be installed). Prints a markdown table:

* µs per uncontended ``RateLimiter.acquire()`` (never waits), per breaker check
  (``acquire()`` while CLOSED, and with its ``record_success()``) and for all the state
  work of one call (budget, limiter, breaker, adaptation), in memory and with Redis, plus
  a Redis ``PING`` through the same client as the round-trip floor;
* the admitted rate of a 50 rps limit (burst 1) driven flat out for 3 s by 4 processes x
  2 threads sharing one Redis limit, against the configured rate; with 4 processes each
  holding its own in-memory limiter as the baseline (what sharing prevents: 4x the rate).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ailib.clock import SYSTEM_CLOCK
from ailib.reliability.circuit import CircuitBreakerPolicy
from ailib.reliability.ratelimit import RateLimitPolicy
from ailib.state import MemoryStateStore, RedisStateStore

RATE = 50.0
SECONDS = 3.0
PROCESSES = 4
THREADS = 2


def per_op_us(op: Callable[[], object], iterations: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` mean cost of ``op()`` in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            op()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best * 1e6


def limiter_acquire(store: Any) -> Callable[[], object]:
    return store.limiter("bench-acquire", RateLimitPolicy(requests_per_second=1e9, burst=10**9), SYSTEM_CLOCK).acquire


def breaker_check(store: Any) -> Callable[[], object]:
    breaker = store.breaker("bench-check", CircuitBreakerPolicy(), SYSTEM_CLOCK)
    acquire, success = breaker.acquire, breaker.record_success

    def op() -> None:
        success(acquire())

    return op


def breaker_acquire(store: Any) -> Callable[[], object]:
    return store.breaker("bench-acquire-only", CircuitBreakerPolicy(), SYSTEM_CLOCK).acquire


def one_call(store: Any) -> Callable[[], object]:
    """Every state operation the pipeline does for one successful call with a limiter and a breaker."""
    budget = store.retry_budget("bench-call", 0.1, 10, SYSTEM_CLOCK)
    limiter = store.limiter("bench-call", RateLimitPolicy(requests_per_second=1e9, burst=10**9), SYSTEM_CLOCK)
    breaker = store.breaker("bench-call", CircuitBreakerPolicy(), SYSTEM_CLOCK)

    def op() -> None:
        budget.record_call()
        limiter.acquire()
        breaker.record_success(breaker.acquire())
        limiter.on_success()
        limiter.observe_headers({})

    return op


def make_store(url: Optional[str], namespace: str) -> Any:
    return MemoryStateStore() if url is None else RedisStateStore(url, namespace=namespace)


def hammer(url: Optional[str], namespace: str, barrier: Any, go: Any, start_at: Any, results: Any) -> None:
    """In a child process: from THREADS threads, acquire flat out for SECONDS; report admission times."""
    store = make_store(url, namespace)
    limiter = store.limiter("bench-rate", RateLimitPolicy(requests_per_second=RATE, burst=1, max_wait=10.0), SYSTEM_CLOCK)
    stamps: list[float] = []
    lock = threading.Lock()
    barrier.wait()
    go.wait()
    t0 = start_at.value

    def worker() -> None:
        time.sleep(max(0.0, t0 - time.time()))
        while time.time() < t0 + SECONDS + 0.2:
            limiter.acquire()
            now = time.time()
            with lock:
                stamps.append(now)

    pool = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put(stamps)


def admitted_rate(url: Optional[str]) -> tuple[int, float, float]:
    """Admissions of 4 processes over SECONDS from the first one: admitted, expected, error %."""
    ctx = multiprocessing.get_context("spawn")
    barrier, go, start_at, results = ctx.Barrier(PROCESSES + 1), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    procs = [ctx.Process(target=hammer, args=(url, namespace, barrier, go, start_at, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    barrier.wait()  # every process is up
    start_at.value = time.time() + 0.3
    go.set()
    stamps = [s for _ in procs for s in results.get(timeout=120)]
    for p in procs:
        p.join()
    first = min(stamps)
    # Admissions are due at first + k / rate; cut half an interval early so timer jitter
    # cannot decide whether the one due exactly at first + SECONDS is counted.
    admitted = sum(1 for s in stamps if s < first + SECONDS - 0.5 / RATE)
    expected = RATE * SECONDS
    return admitted, expected, 100.0 * (admitted - expected) / expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: install it (apt-get install redis-server) or pass --redis-url")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit("redis-server did not start")
            time.sleep(0.05)
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="use this Redis instead of starting a redis-server")
    args = parser.parse_args()
    proc, url = (None, args.redis_url) if args.redis_url else start_redis()
    try:
        memory = MemoryStateStore()
        redis_store = RedisStateStore(url, namespace=f"bench-{uuid.uuid4().hex[:8]}")
        ping = per_op_us(redis_store._redis.ping, 2000)
        rows = [
            (
                "`RateLimiter.acquire()` (never waits)",
                per_op_us(limiter_acquire(memory), 200_000),
                per_op_us(limiter_acquire(redis_store), 2000),
            ),
            (
                "breaker check: `acquire()` (CLOSED)",
                per_op_us(breaker_acquire(memory), 200_000),
                per_op_us(breaker_acquire(redis_store), 2000),
            ),
            (
                "breaker `acquire()` + `record_success()` (CLOSED)",
                per_op_us(breaker_check(memory), 200_000),
                per_op_us(breaker_check(redis_store), 2000),
            ),
            (
                "one call's state work: budget, limiter, breaker, adaptation",
                per_op_us(one_call(memory), 100_000),
                per_op_us(one_call(redis_store), 1000),
            ),
        ]
        shared = admitted_rate(url)
        separate = admitted_rate(None)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; Redis PING round trip {ping:.1f} µs\n")
    print("| operation | in memory µs/op | Redis µs/op |")
    print("|---|---:|---:|")
    for name, mem_us, redis_us in rows:
        print(f"| {name} | {mem_us:.2f} | {redis_us:.1f} |")
    print()
    print(f"| {RATE:g} rps limit (burst 1), {PROCESSES} processes x {THREADS} threads, {SECONDS:g} s | admitted | expected | error |")
    print("|---|---:|---:|---:|")
    for name, (admitted, expected, error) in (("one shared Redis limit", shared), ("baseline: a limiter per process", separate)):
        print(f"| {name} | {admitted} | {expected:g} | {error:+.2f} % |")


if __name__ == "__main__":
    main()
