"""The ``requests``, ``attempts``, ``tokens`` and ``cost_usd`` counters, on each metrics backend,
over real loopback MockProviders; and the price a call's cost is keyed on."""

from __future__ import annotations

import re
from typing import Optional

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, HedgePolicy, Message, ProviderError, RetryPolicy
from ailib.metrics import InMemoryMetrics, PrometheusMetrics
from ailib.testing import Fault, MockProvider, Reply

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05)
REQ = ChatCompletionRequest("mock-model", [Message.user("hi")])
# 100 prompt tokens (60 read from a cache, 20 written to it), 30 output tokens (12 of them reasoning).
DETAILED = Reply("Hello", prompt_tokens=100, completion_tokens=30, cached_tokens=60, cache_write_tokens=20, reasoning_tokens=12)
# USD per million: input 2, output 10, cached reads 1, cache writes 3.
PRICES = {"mock-model": {"input": 2.0, "output": 10.0, "cached_input": 1.0, "cache_write": 3.0}}
# Anthropic reports every detail but reasoning; its prompt_tokens is input + cache reads + cache writes.
DETAILED_COST = (20 * 2.0 + 30 * 10.0 + 60 * 1.0 + 20 * 3.0) / 1_000_000


def _client(mock: MockProvider, metrics: object, **kw: object):
    builder = AiClientBuilder(mock.provider()).with_retry(FAST).with_metrics(metrics).with_prices(kw.get("prices", PRICES))
    return builder.build()


def _prom(text: str, series: str) -> Optional[float]:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


# -- in-memory backend -------------------------------------------------------------------------------
def test_a_call_counts_one_request_one_attempt_its_tokens_by_kind_and_its_cost():
    """A successful Anthropic-format call counts requests{ok} 1, attempts{ok} 1, tokens per kind as reported, and cost_usd."""
    metrics = InMemoryMetrics()
    with MockProvider("anthropic", name="mock") as mock:
        mock.reply = DETAILED
        with _client(mock, metrics) as client:
            resp = client.chat_completion(REQ)
    tags = {"provider": "mock", "model": "mock-model"}
    assert metrics.counter("requests", outcome="ok", **tags) == 1
    assert metrics.counter("attempts", outcome="ok", **tags) == 1
    assert {k: metrics.counter("tokens", kind=k, **tags) for k in ("input", "output", "cached", "cache_write", "reasoning")} == {
        "input": 100,
        "output": 30,
        "cached": 60,
        "cache_write": 20,
        "reasoning": 0,  # the Anthropic format has no reasoning count: the mock's 12 are not reported
    }
    assert metrics.counter("cost_usd", **tags) == pytest.approx(DETAILED_COST)
    assert resp.cost == pytest.approx(DETAILED_COST)


def test_openai_reasoning_tokens_are_counted_under_their_own_kind():
    """The OpenAI format reports reasoning tokens: tokens{kind="reasoning"} holds them, output holds every output token."""
    metrics = InMemoryMetrics()
    with MockProvider("openai", name="mock") as mock:
        mock.reply = DETAILED
        with _client(mock, metrics) as client:
            client.chat_completion(REQ)
    assert metrics.counter("tokens", kind="reasoning") == 12
    assert metrics.counter("tokens", kind="output") == 30
    assert metrics.counter("tokens", kind="cached") == 60


def test_a_retried_call_counts_every_attempt_but_its_tokens_once():
    """Two 503s then an answer: attempts{error} 2 and attempts{ok} 1, but one request and the answer's tokens once."""
    metrics = InMemoryMetrics()
    with MockProvider(name="mock") as mock:
        mock.enqueue(Fault.http_status(503), Fault.http_status(503))
        with _client(mock, metrics) as client:
            client.chat_completion(REQ)
    assert metrics.counter("attempts", outcome="error") == 2
    assert metrics.counter("attempts", outcome="ok") == 1
    assert metrics.counter("requests") == 1
    assert metrics.counter("tokens", kind="input") == 10 and metrics.counter("tokens", kind="output") == 5


def test_a_hedged_call_counts_only_the_winners_tokens():
    """A primary that stalls and a hedge that answers: attempts{cancelled} 1, attempts{ok} 1, tokens of one answer."""
    metrics = InMemoryMetrics()
    with MockProvider(name="mock") as mock:
        mock.enqueue(Fault.delay(2.0))
        builder = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.05)).with_metrics(metrics).with_prices(PRICES)
        with builder.build() as client:
            resp = client.chat_completion(REQ)
    assert [a.outcome for a in resp.attempts] == ["cancelled", "ok"]
    assert metrics.counter("attempts", outcome="cancelled") == 1 and metrics.counter("attempts", outcome="ok") == 1
    assert metrics.counter("requests") == 1
    assert metrics.counter("tokens", kind="input") == 10
    assert metrics.counter("cost_usd") == pytest.approx((10 * 2.0 + 5 * 10.0) / 1_000_000)


def test_a_failed_call_counts_an_error_request_and_no_tokens():
    """A call whose every attempt fails counts requests{outcome="error"} 1 and no tokens or cost."""
    metrics = InMemoryMetrics()
    with MockProvider(name="mock") as mock:
        mock.enqueue(*[Fault.http_status(500)] * 3)
        with _client(mock, metrics) as client, pytest.raises(ProviderError):
            client.chat_completion(REQ)
    assert metrics.counter("requests", outcome="error", provider="mock", model="mock-model") == 1
    assert metrics.counter("requests", outcome="ok") == 0
    assert metrics.counter("tokens") == 0 and metrics.counter("cost_usd") == 0


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini", "cohere"])
def test_a_finished_stream_counts_its_tokens_and_cost_once(fmt):
    """A stream read to its end counts one request, its usage's tokens and its cost, exactly once, in every format."""
    metrics = InMemoryMetrics()
    with MockProvider(fmt, name="mock") as mock, _client(mock, metrics) as client:
        with client.chat_completion_stream(REQ) as stream:
            text = "".join(c.delta_text for c in stream)
        assert text == "Hello from MockProvider"
    assert metrics.counter("requests", outcome="ok") == 1
    assert metrics.counter("tokens", kind="input") == 10 and metrics.counter("tokens", kind="output") == 5
    assert metrics.counter("cost_usd") == pytest.approx(stream.cost) == pytest.approx((10 * 2.0 + 5 * 10.0) / 1_000_000)


def test_a_stream_left_early_counts_its_request_but_no_tokens():
    """A stream the caller leaves after its first chunk counts requests{ok} (it opened) and no tokens: no usage came."""
    metrics = InMemoryMetrics()
    with MockProvider(name="mock") as mock, _client(mock, metrics) as client:
        with client.chat_completion_stream(REQ) as stream:
            next(iter(stream))
    assert metrics.counter("requests", outcome="ok") == 1
    assert metrics.counter("tokens") == 0 and metrics.counter("cost_usd") == 0


# -- Prometheus backend (a real prometheus_client registry) -------------------------------------------
def test_prometheus_exports_requests_attempts_tokens_and_cost():
    """The exposition has ailib_requests_total, ailib_attempts_total, ailib_tokens_total per kind and ailib_cost_usd_total."""
    metrics = PrometheusMetrics()
    with MockProvider("anthropic", name="mock") as mock:
        mock.reply = DETAILED
        mock.enqueue(Fault.http_status(503))
        with _client(mock, metrics) as client:
            client.chat_completion(REQ)
    text = metrics.exposition()
    assert _prom(text, 'ailib_requests_total{model="mock-model",outcome="ok",provider="mock"}') == 1.0
    assert _prom(text, 'ailib_attempts_total{model="mock-model",outcome="error",provider="mock"}') == 1.0
    assert _prom(text, 'ailib_attempts_total{model="mock-model",outcome="ok",provider="mock"}') == 1.0
    assert _prom(text, 'ailib_tokens_total{kind="input",model="mock-model",provider="mock"}') == 100.0
    assert _prom(text, 'ailib_tokens_total{kind="cached",model="mock-model",provider="mock"}') == 60.0
    assert _prom(text, 'ailib_tokens_total{kind="cache_write",model="mock-model",provider="mock"}') == 20.0
    assert _prom(text, 'ailib_cost_usd_total{model="mock-model",provider="mock"}') == pytest.approx(DETAILED_COST)
    assert "# TYPE ailib_tokens_total counter" in text


def test_prometheus_counts_a_streams_tokens():
    """A streamed call's tokens reach the Prometheus counter when the stream ends with usage."""
    metrics = PrometheusMetrics()
    with MockProvider(name="mock") as mock, _client(mock, metrics) as client:
        client.chat_completion_stream(REQ).collect()
    text = metrics.exposition()
    assert _prom(text, 'ailib_tokens_total{kind="output",model="mock-model",provider="mock"}') == 5.0


# -- the price a cost is keyed on ---------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_alias_answered_by_a_dated_model_is_priced_by_the_alias_when_only_it_has_a_price(stream):
    """Requested mock-model, answered by mock-model-2024-08-06 (not in the table): priced as mock-model, streamed or not."""
    with MockProvider(name="mock") as mock:
        mock.reply = Reply("Hello", model="mock-model-2024-08-06")
        with _client(mock, InMemoryMetrics()) as client:
            resp = client.chat_completion_stream(REQ).collect() if stream else client.chat_completion(REQ)
            totals = client.usage_totals()
    assert resp.cost == pytest.approx((10 * 2.0 + 5 * 10.0) / 1_000_000)
    assert totals[("mock", "mock-model-2024-08-06")].cost == pytest.approx(resp.cost)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_reported_model_s_own_price_wins_over_the_requested_alias(stream):
    """With prices for both the alias and the dated model, the model the provider reported sets the cost, streamed or not."""
    prices = {**PRICES, "mock-model-2024-08-06": (1.0, 1.0)}
    with MockProvider(name="mock") as mock:
        mock.reply = Reply("Hello", model="mock-model-2024-08-06")
        with _client(mock, InMemoryMetrics(), prices=prices) as client:
            resp = client.chat_completion_stream(REQ).collect() if stream else client.chat_completion(REQ)
    assert resp.cost == pytest.approx((10 + 5) * 1.0 / 1_000_000)


# -- a user's own object (adapted) ---------------------------------------------------------------------
class TaggedCounts:
    """A user's object with only incr_counter(name, value, tags)."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, float, dict[str, str]]] = []

    def incr_counter(self, name: str, value: float, tags: dict[str, str]) -> None:
        self.counts.append((name, value, dict(tags or {})))


def test_a_users_own_metrics_object_receives_tokens_and_cost():
    """An adapted object with only incr_counter gets the tokens per kind and the cost (a float) of a call."""
    seen = TaggedCounts()
    with MockProvider("anthropic", name="mock") as mock:
        mock.reply = DETAILED
        with _client(mock, seen) as client:
            client.chat_completion(REQ)
    tokens = {tags["kind"]: value for name, value, tags in seen.counts if name == "tokens"}
    assert tokens == {"input": 100, "output": 30, "cached": 60, "cache_write": 20}
    [(cost, tags)] = [(value, tags) for name, value, tags in seen.counts if name == "cost_usd"]
    assert cost == pytest.approx(DETAILED_COST) and tags == {"provider": "mock", "model": "mock-model"}
