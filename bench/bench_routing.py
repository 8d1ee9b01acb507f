"""Routing overhead per call: building the plan (select + failover order) for 3 and 30 endpoints.

Each strategy's ``plan()`` is timed on real endpoints with real circuit breakers (the
health filter reads each breaker's state), against the single-target baseline in the
same run. Target: <= 20 us per call.

    python bench/bench_routing.py
"""

from __future__ import annotations

import time

from ailib import ChatCompletionRequest, CustomProviderBuilder, LoadBalancingStrategy, Message
from ailib.metrics import NoopMetrics
from ailib.reliability.circuit import CircuitBreaker, CircuitBreakerPolicy
from ailib.routing.base import StaticRouter
from ailib.routing.endpoint import build_endpoint
from ailib.routing.router import ChainRouter

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def endpoints(n: int) -> list:
    out = []
    for i in range(n):
        spec = CustomProviderBuilder(f"ep{i}").with_base_url(f"http://127.0.0.1:9/{i}").with_default_chat_model("m").build_provider()
        out.append(build_endpoint(spec, name=f"ep{i}", weight=1 + i % 3))
    return out


def per_call_us(plan, n: int = 20000) -> float:
    for _ in range(1000):
        plan(REQ)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            plan(REQ)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main() -> None:
    rows = []
    for size in (3, 30):
        eps = endpoints(size)
        breakers = {ep.name: CircuitBreaker(CircuitBreakerPolicy(), name=ep.name) for ep in eps}
        rows.append((size, "single target (baseline)", per_call_us(StaticRouter(eps[:1]).plan)))
        for strategy in LoadBalancingStrategy:
            router = ChainRouter(eps, strategy, metrics=NoopMetrics(), breakers=lambda ep, b=breakers: b[ep.name])
            if strategy is LoadBalancingStrategy.LATENCY_BASED:
                for ep in eps:
                    router.on_start(ep)
                    router.on_end(ep, 0.01, True)
            rows.append((size, strategy.name, per_call_us(router.plan)))
    print("| endpoints | strategy | plan + select per call |")
    print("|---|---|---|")
    for size, name, us in rows:
        print(f"| {size} | {name} | {us:.1f} µs |")


if __name__ == "__main__":
    main()
