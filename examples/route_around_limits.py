"""Routing around rate limits, offline: with A limited to 2 requests/s and B free, calls
that A cannot admit now go to B instead of waiting (counted as routing_mvp.rerouted)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ailib import AiClientBuilder, ChatCompletionRequest, Message, RateLimitPolicy
from ailib.metrics import InMemoryMetrics
from ailib.testing import MockProvider

req = ChatCompletionRequest("auto", [Message.user("hello")])
with MockProvider(name="a") as a, MockProvider(name="b") as b:
    metrics = InMemoryMetrics()
    builder = AiClientBuilder(a.provider()).with_round_robin_chain([b.provider()]).with_metrics(metrics)
    builder = builder.with_rate_limit(RateLimitPolicy(requests_per_second=2), provider=a.provider())
    with builder.build() as client, ThreadPoolExecutor(8) as pool:
        start = time.monotonic()
        served = list(pool.map(lambda _: client.chat_completion(req).provider, range(20)))
        print(f"20 calls in {time.monotonic() - start:.2f} s: a={served.count('a')} b={served.count('b')}")
        print("rerouted:", metrics.counter("routing_mvp.rerouted"))
