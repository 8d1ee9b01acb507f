"""Data flows down once through the call path: the permit routing took, the encoded body (no sockets)."""

from __future__ import annotations

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, CustomProviderBuilder, Message, RateLimitPolicy, RetryPolicy
from ailib.clock import FakeClock
from ailib.errors import AiLibError
from ailib.metrics import InMemoryMetrics
from ailib.testing import MockResponse, MockTransport

REQ = ChatCompletionRequest("m", [Message.user("hi")])
ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def _provider(name: str):
    return CustomProviderBuilder(name).with_base_url(f"http://{name}.invalid/v1").with_api_key("sk-mock-0").build_provider()


def test_a_permit_routing_took_is_passed_down_and_never_taken_twice():
    """Two endpoints with a burst of 2 each and time frozen serve exactly 4 calls (2 each), the 5th is refused."""
    transport = MockTransport(lambda req: ANSWER)
    metrics = InMemoryMetrics()
    limit = RateLimitPolicy(requests_per_second=1, burst=2, max_wait=0, adaptive=False)
    with (
        AiClientBuilder(_provider("a"))
        .with_round_robin_chain([_provider("b")])
        .with_rate_limit(limit)
        .with_clock(FakeClock())
        .with_transport(transport)
        .with_metrics(metrics)
        .without_retry()
        .build() as client
    ):
        for _ in range(4):
            client.chat_completion(REQ)
        with pytest.raises(AiLibError):
            client.chat_completion(REQ)
    hosts = [r.url.split("//")[1].split(".")[0] for r in transport.requests]
    assert sorted(hosts) == ["a", "a", "b", "b"]
    assert metrics.counter("ratelimit.rejected") >= 1


def test_a_call_encodes_its_body_once_for_every_retry():
    """A 503 then a 200: both attempts send the very same encoded body (made once, from the call's spec)."""
    answers = iter([MockResponse(503, json={"error": {"message": "busy"}}), ANSWER])
    transport = MockTransport(lambda req: next(answers))
    retry = RetryPolicy(initial_delay=0.001, max_delay=0.002)
    with AiClientBuilder(_provider("a")).with_transport(transport).with_retry(retry).build() as client:
        assert [a.outcome for a in client.chat_completion(REQ).attempts] == ["error", "ok"]
    first, second = transport.requests
    assert first.body is second.body
