"""Retry decisions from real error bodies over loopback HTTP: Gemini's RetryInfo wait, limits no wait can lift."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, FallbackChain, Message, QuotaExceededError, RateLimitExceeded, RetryPolicy
from ailib.testing import Fault, MockProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def body(fmt: str, case: str, **changes: Any) -> bytes:
    data = json.loads((FIXTURES / fmt / "errors_retry.json").read_text())[case]["body"]
    for detail in data.get("error", {}).get("details", ()) if changes else ():
        detail.update({k: v for k, v in changes.items() if k in detail})
    return json.dumps(data).encode()


def req() -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")])


def test_gemini_retry_info_delay_is_waited_before_the_retry() -> None:
    """A Gemini 429 whose RetryInfo says "0.3s" is retried after exactly that wait (no header, no backoff guess)."""
    with MockProvider("gemini") as server:
        server.enqueue(Fault.http_status(429, body=body("gemini", "retry_info", retryDelay="0.3s")))
        policy = RetryPolicy(initial_delay=5.0, max_delay=5.0, jitter=None)  # a backoff would wait 5 s
        with AiClientBuilder(server.provider()).with_retry(policy).build() as client:
            start = time.monotonic()
            resp = client.chat_completion(req())
            elapsed = time.monotonic() - start
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    first = resp.attempts[0]
    assert isinstance(first.error, RateLimitExceeded) and first.error.retry_after == pytest.approx(0.3)
    assert first.wait_after == pytest.approx(0.3)
    assert 0.3 <= elapsed < 4.0


def test_gemini_retry_info_longer_than_max_retry_after_stops_at_once() -> None:
    """A RetryInfo wait above max_retry_after is not slept: the 429 is raised after one attempt."""
    with MockProvider("gemini") as server:
        server.enqueue(Fault.http_status(429, body=body("gemini", "retry_info")))  # 34.4 s
        policy = RetryPolicy(max_retry_after=1.0)
        with AiClientBuilder(server.provider()).with_retry(policy).build() as client, pytest.raises(RateLimitExceeded) as info:
            client.chat_completion(req())
    assert server.request_count == 1 and info.value.retry_after == pytest.approx(34.4)


@pytest.mark.parametrize(
    "fmt, status, case",
    [("openai", 429, "request_too_large"), ("openai", 402, "deepseek_insufficient_balance"), ("anthropic", 400, "credit_balance_too_low")],
)
def test_limits_no_wait_can_lift_are_tried_once(fmt: str, status: int, case: str) -> None:
    """OpenAI's too-large 429, DeepSeek's 402 and Anthropic's credit-balance 400 raise QuotaExceededError after one attempt."""
    with MockProvider(fmt) as server:
        server.enqueue(Fault.http_status(status, body=body(fmt, case)))
        with AiClientBuilder(server.provider()).build() as client, pytest.raises(QuotaExceededError) as info:
            client.chat_completion(req())
    assert server.request_count == 1 and len(info.value.attempts) == 1
    assert info.value.status_code == status and not info.value.is_retryable()


def test_a_request_too_large_moves_to_the_on_rate_limit_step_without_retrying() -> None:
    """After OpenAI's too-large 429, an on_rate_limit step takes over at once: no retry of the same request."""
    with MockProvider("openai") as server:
        server.enqueue(Fault.http_status(429, body=body("openai", "request_too_large")))
        chain = FallbackChain().on_rate_limit("bigger-limit-model")
        with AiClientBuilder(server.provider()).fallback(chain).build() as client:
            resp = client.chat_completion(req())
    assert server.request_count == 2 and resp.model == "bigger-limit-model"
    assert [a.outcome for a in resp.attempts] == ["error", "ok"] and isinstance(resp.attempts[0].error, QuotaExceededError)
