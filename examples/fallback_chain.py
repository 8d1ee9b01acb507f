"""Conditional fallback from model to model (the seed's FallbackChain example), offline.

Each step is used only when the previous failure matches its condition.
"""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, FallbackChain, Message, RateLimitExceeded
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
    client = AiClientBuilder(gateway.provider()).with_options(ConnectionOptions(first_byte_timeout=0.3)).without_retry().fallback(chain).build()
    req = ChatCompletionRequest("auto", [Message.user("hello")])
    for fault, label in [(None, "no failure"), (Fault.http_status(429), "429"), (Fault.stall(1), "timeout"), (Fault.http_status(503), "503"), (Fault.http_status(401), "401")]:
        if fault is not None:
            gateway.enqueue(fault)
        resp = client.chat_completion(req)
        print(f"{label:>10}: answered by model {resp.model!r} after {len(resp.attempts)} attempt(s)")
    client.close()
