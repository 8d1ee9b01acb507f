"""Functions run in child processes (multiprocessing, spawn) by the shared spend-cap tests."""

from __future__ import annotations

from typing import Any

from ailib import AiClientBuilder, AiLibError, ChatCompletionRequest, Message
from ailib.state import RedisStateStore

from ._workers import provider

PRICES = {"mock-model": (100.0, 200.0)}


def budgeted_batch(url: str, namespace: str, base_url: str, usd: float, n: int, barrier: Any, results: Any) -> None:
    """Meet the other processes, then run a batch of ``n`` calls under a budget of ``usd`` shared
    through Redis; report the costs of the answers and the kinds of errors."""
    store = RedisStateStore(url, namespace=namespace)
    client = AiClientBuilder(provider(base_url)).with_prices(PRICES).with_budget(usd, store=store).build()
    requests = [ChatCompletionRequest("auto", [Message.user(f"q{i}")], max_tokens=5) for i in range(n)]
    barrier.wait()
    out = client.chat_completion_batch(requests, concurrency=4)
    costs = [r.cost for r in out if not isinstance(r, AiLibError)]
    errors = sorted({type(r).__name__ for r in out if isinstance(r, AiLibError)})
    results.put({"costs": costs, "errors": errors, "using_redis": store.using_redis, "spent": client.spent_usd()})
    client.close()
    store.close()
