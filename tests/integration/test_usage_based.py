"""USAGE_BASED routing over real loopback MockProviders: the endpoint with the most
rate-limit headroom left goes first, read from the provider's x-ratelimit-* headers or the
client's own limiter."""

from __future__ import annotations

import json

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    LoadBalancingStrategy,
    Message,
    ModelArray,
    ModelEndpoint,
    RateLimitPolicy,
)
from ailib.testing import FakeClock, Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def answer_with_headers(headers: dict) -> Fault:
    """A 200 OpenAI chat answer carrying ``headers`` (shape of an OpenAI answer, made-up values)."""
    body = {
        "id": "chatcmpl-usage",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Fault("raw", status=200, body=json.dumps(body).encode(), headers=headers)


def test_the_endpoint_reporting_more_remaining_requests_goes_first():
    """After A reports 1 % of its requests left and B 90 %, the next four calls all go to B.
    (The limits are 60,000 a minute: a client learns them as its rates, and four calls at once
    fit in one second's share of that.)"""
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        a.enqueue(answer_with_headers({"x-ratelimit-limit-requests": "60000", "x-ratelimit-remaining-requests": "600"}))
        b.enqueue(answer_with_headers({"x-ratelimit-limit-requests": "60000", "x-ratelimit-remaining-requests": "54000"}))
        array = ModelArray("u", LoadBalancingStrategy.USAGE_BASED)
        array.add_endpoint(ModelEndpoint(provider=a.provider())).add_endpoint(ModelEndpoint(provider=b.provider()))
        with AiClientBuilder(a.provider()).with_model_array(array).with_clock(FakeClock()).build() as client:
            first = sorted(client.chat_completion(REQ).provider for _ in range(2))
            later = [client.chat_completion(REQ).provider for _ in range(4)]
    assert first == ["a", "b"] and later == ["b"] * 4


def test_a_reported_share_holds_only_until_its_reset():
    """A's 1-of-100 report with x-ratelimit-reset-requests 2s stops counting after 2 s: A is in rotation again."""
    clock = FakeClock()
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        a.enqueue(
            answer_with_headers(
                {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "2s"}
            )
        )
        array = ModelArray("u", LoadBalancingStrategy.USAGE_BASED)
        array.add_endpoint(ModelEndpoint(provider=a.provider())).add_endpoint(ModelEndpoint(provider=b.provider()))
        with AiClientBuilder(a.provider()).with_model_array(array).with_clock(clock).build() as client:
            assert client.chat_completion(REQ).provider == "a"
            assert [client.chat_completion(REQ).provider for _ in range(3)] == ["b"] * 3
            clock.advance(2.5)
            assert sorted(client.chat_completion(REQ).provider for _ in range(2)) == ["a", "b"]


def test_the_client_limiter_with_more_free_capacity_goes_first():
    """A limited to a burst of 2 and B to a burst of 10 (no time passing): of 6 calls A takes 1 and B 5."""
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        array = ModelArray("u", LoadBalancingStrategy.USAGE_BASED)
        array.add_endpoint(ModelEndpoint(provider=a.provider())).add_endpoint(ModelEndpoint(provider=b.provider()))
        builder = AiClientBuilder(a.provider()).with_model_array(array).with_clock(FakeClock())
        builder.with_rate_limit(RateLimitPolicy(requests_per_second=1, burst=2), provider=a.provider())
        builder.with_rate_limit(RateLimitPolicy(requests_per_second=10, burst=10), provider=b.provider())
        with builder.build() as client:
            for _ in range(6):
                client.chat_completion(REQ)
    assert (a.request_count, b.request_count) == (1, 5)
