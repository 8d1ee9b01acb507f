"""Fallback + hedging, offline: a slow primary is hedged to the step a timeout would select.

With a FallbackChain and a HedgePolicy, the hedge goes to the on_timeout step (with its
model) instead of the primary's own endpoint; the first answer wins and the slow
primary's connection is closed.
"""

from __future__ import annotations

import os
import time

from ailib import AiClientBuilder, ChatCompletionRequest, FallbackChain, HedgePolicy, Message
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider

with MockProvider(name="openai-mock") as primary, MockProvider("anthropic", name="anthropic-mock") as anthropic:
    os.environ["ANTHROPIC_BASE_URL"] = anthropic.base_url  # the step's provider, offline
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-offline-example")
    primary.enqueue(Fault.delay(3.0))  # the primary is slow this time
    metrics = InMemoryMetrics()
    chain = FallbackChain().primary("gpt-4o").on_timeout("anthropic/claude-3-haiku")
    with AiClientBuilder(primary.provider()).fallback(chain).with_hedging(HedgePolicy(delay=0.2)).with_metrics(metrics).build() as client:
        start = time.monotonic()
        resp = client.chat_completion(ChatCompletionRequest("auto", [Message.user("hello")]))
        print(f"answered by {resp.provider}/{resp.model} in {time.monotonic() - start:.2f} s")
        print("attempts:", [(a.provider, a.outcome) for a in resp.attempts])
        print("hedge.won by step:", metrics.counter("hedge.won", step="on_timeout"))
