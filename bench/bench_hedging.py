"""Tail latency with and without hedging ("The Tail at Scale"), in one run.

A MockProvider with a heavy-tailed latency (95% of calls 5-15 ms, 5% 500-800 ms) serves
N calls from 8 threads twice: unhedged, and hedged at delay="p95" (default budget:
max_extra_load=0.1). Reports p50/p99/p99.9, the p99 ratio, and the extra requests sent.
Target: p99 at least 10x lower, with at most 10% extra requests.

    python bench/bench_hedging.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ailib import AiClientBuilder, ChatCompletionRequest, HedgePolicy, Message
from ailib.testing import MockProvider


def heavy_tail(seed: int):
    rng = random.Random(seed)
    lock = threading.Lock()

    def latency() -> float:
        with lock:
            slow = rng.random() < 0.05
            return rng.uniform(0.5, 0.8) if slow else rng.uniform(0.005, 0.015)

    return latency


def run(calls: int, hedge: HedgePolicy | None) -> dict:
    with MockProvider(latency=heavy_tail(7)) as mock:
        builder = AiClientBuilder(mock.provider()).without_circuit_breaker()
        if hedge is not None:
            builder = builder.with_hedging(hedge)
        client = builder.build()
        req = ChatCompletionRequest("auto", [Message.user("hi")])

        def one(_: int) -> float:
            t = time.perf_counter()
            client.chat_completion(req)
            return time.perf_counter() - t

        with ThreadPoolExecutor(8) as pool:
            times = sorted(pool.map(one, range(calls)))
        client.close()
        sent = mock.request_count

    def q(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))] * 1000

    return {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "extra": (sent - calls) / calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    plain = run(args.calls, None)
    hedged = run(args.calls, HedgePolicy(delay="p95"))
    print(f"| {args.calls} calls, 5% slow (500-800 ms) | p50 | p99 | p99.9 | extra requests |")
    print("|---|---|---|---|---|")
    print(f"| unhedged | {plain['p50']:.0f} ms | {plain['p99']:.0f} ms | {plain['p999']:.0f} ms | {plain['extra']:.1%} |")
    print(f'| hedged, delay="p95" | {hedged["p50"]:.0f} ms | {hedged["p99"]:.0f} ms | {hedged["p999"]:.0f} ms | {hedged["extra"]:.1%} |')
    print(
        f"| ratio (unhedged / hedged) | {plain['p50'] / hedged['p50']:.1f}x | {plain['p99'] / hedged['p99']:.1f}x | {plain['p999'] / hedged['p999']:.1f}x | |"
    )


if __name__ == "__main__":
    main()
