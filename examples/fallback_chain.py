"""Conditional fallback from model to model with a FallbackChain, offline.

Each step is used only when the previous failure matches its condition.
"""

from __future__ import annotations

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    ConnectionOptions,
    FallbackChain,
    LoadBalancingStrategy,
    Message,
    ModelArray,
    ModelEndpoint,
    RateLimitExceeded,
)
from ailib.testing import Fault, MockProvider

with MockProvider(name="gateway") as gateway:
    chain = (
        FallbackChain()
        .primary("gpt-4o")
        .on_condition(lambda error: isinstance(error, RateLimitExceeded))
        .fallback("small-model")
        .on_timeout("fast-model")
        .on_status([503], "other-region-model")
        .always("last-resort-model")
    )
    client = (
        AiClientBuilder(gateway.provider()).with_options(ConnectionOptions(first_byte_timeout=0.3)).without_retry().fallback(chain).build()
    )
    req = ChatCompletionRequest("auto", [Message.user("hello")])
    for fault, label in [
        (None, "no failure"),
        (Fault.http_status(429), "429"),
        (Fault.stall(1), "timeout"),
        (Fault.http_status(503), "503"),
        (Fault.http_status(401), "401"),
    ]:
        if fault is not None:
            gateway.enqueue(fault)
        resp = client.chat_completion(req)
        print(f"{label:>10}: answered by model {resp.model!r} after {len(resp.attempts)} attempt(s)")
    client.close()

# a nested step: after a failure the call goes to a ModelArray, served by its own strategy
with MockProvider(name="primary") as primary, MockProvider(name="pool-a") as a, MockProvider(name="pool-b") as b:
    pool = ModelArray("pool", LoadBalancingStrategy.ROUND_ROBIN)
    pool.add_endpoint(ModelEndpoint("pool-a", provider=a.provider("pool-a"), model="small-a"))
    pool.add_endpoint(ModelEndpoint("pool-b", provider=b.provider("pool-b"), model="small-b"))
    nested = FallbackChain().primary("gpt-4o").on_error(pool)
    with AiClientBuilder(primary.provider()).without_retry().fallback(nested).build() as client:
        primary.enqueue(*[Fault.http_status(503)] * 4)
        served = [client.chat_completion(req).provider for _ in range(4)]
        print("primary down, the pool step served:", served)
