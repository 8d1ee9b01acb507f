"""Routing features of issue 15 over real loopback servers: fallback with hedging, per-call
views, routing around rate limits, seed-shaped metrics timers."""

from __future__ import annotations

import time

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    FallbackChain,
    HedgePolicy,
    Message,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def wait_for(predicate, timeout=5.0):
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@pytest.fixture
def openai_and_anthropic(monkeypatch):
    with MockProvider(name="primary") as primary, MockProvider("anthropic", name="anthropic") as anthropic:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
        yield primary, anthropic


def test_a_hedge_goes_to_the_step_a_timeout_would_select(openai_and_anthropic):
    """With a 3 s primary and HedgePolicy(delay=0.2), .primary("gpt-4o").on_timeout("anthropic/claude-3-haiku") answers from the Anthropic step in < 0.5 s and the primary's connection is closed."""
    primary, anthropic = openai_and_anthropic
    primary.enqueue(Fault.delay(3.0))
    metrics = InMemoryMetrics()
    chain = FallbackChain().primary("gpt-4o").on_timeout("anthropic/claude-3-haiku")
    builder = AiClientBuilder(primary.provider()).fallback(chain).with_hedging(HedgePolicy(delay=0.2)).with_metrics(metrics)
    with builder.build() as client:
        start = time.monotonic()
        resp = client.chat_completion(REQ)
        assert time.monotonic() - start < 0.5
        assert wait_for(lambda: primary.chat_requests[0].disconnected_at is not None)
    assert resp.provider == "anthropic" and resp.model == "claude-3-haiku"
    assert primary.chat_requests[0].json["model"] == "gpt-4o" and anthropic.chat_requests[0].json["model"] == "claude-3-haiku"
    assert [(a.provider, a.outcome, a.hedge) for a in resp.attempts] == [("primary", "cancelled", True), ("anthropic", "ok", True)]
    assert metrics.counter("fallback.step", step="on_timeout") == 1
    assert metrics.counter("hedge.won", step="on_timeout", attempt="hedge1") == 1 and metrics.counter("hedge.fired", step="on_timeout") == 1


def test_a_step_that_a_timeout_would_not_select_is_not_raced(openai_and_anthropic):
    """A chain with only on_rate_limit hedges to the primary's own endpoint, never to that step."""
    primary, anthropic = openai_and_anthropic
    primary.enqueue(Fault.delay(3.0))
    chain = FallbackChain().primary("gpt-4o").on_rate_limit("anthropic/claude-3-haiku")
    with AiClientBuilder(primary.provider()).fallback(chain).with_hedging(HedgePolicy(delay=0.2)).build() as client:
        resp = client.chat_completion(REQ)
    assert resp.provider == "primary" and anthropic.request_count == 0
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("cancelled", True), ("ok", True)]


def test_when_the_raced_step_fails_the_primary_still_answers(openai_and_anthropic):
    """The first success wins: a failing step hedge does not end the call while the primary is still running."""
    primary, anthropic = openai_and_anthropic
    primary.enqueue(Fault.delay(0.5))
    anthropic.enqueue(*[Fault.http_status(500)] * 4)
    chain = FallbackChain().primary("gpt-4o").on_timeout("anthropic/claude-3-haiku")
    with AiClientBuilder(primary.provider()).fallback(chain).with_hedging(HedgePolicy(delay=0.05)).without_retry().build() as client:
        resp = client.chat_completion(REQ)
    assert resp.provider == "primary" and anthropic.request_count == 1
