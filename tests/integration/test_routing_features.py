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


def test_with_options_view_shares_the_parents_breaker_and_overrides_retries():
    """with_options(max_retries=0) sends one attempt where the parent retries, and its failures open the parent's shared breaker."""
    from ailib import CircuitBreakerPolicy, CircuitOpenError, ProviderError, RetryPolicy

    with MockProvider() as mock:
        builder = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=None))
        with builder.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=2)).build() as client:
            view = client.with_options(max_retries=0)
            mock.enqueue(Fault.http_status(503), Fault.http_status(503))
            with pytest.raises(ProviderError) as info:
                view.chat_completion(REQ)
            assert len(info.value.attempts) == 1 and mock.request_count == 1
            with pytest.raises(ProviderError):
                view.chat_completion(REQ)
            with pytest.raises(CircuitOpenError):  # the parent sees the circuit its view opened
                client.chat_completion(REQ)
            assert mock.request_count == 2


def test_with_options_timeout_and_deadline_apply_to_the_view_only():
    """A view's timeout (and deadline) bounds its calls; the parent's calls keep their own."""
    from ailib import DeadlineExceededError, TimeoutError

    with MockProvider(latency=0.4) as mock, AiClientBuilder(mock.provider()).without_retry().build() as client:
        with pytest.raises(TimeoutError):
            client.with_options(timeout=0.1).chat_completion(REQ)
        with pytest.raises(DeadlineExceededError):
            client.with_options(deadline=0.1).chat_completion(REQ)
        assert client.chat_completion(REQ).text


def test_with_options_hedging_none_sends_one_request():
    """with_options(hedging=None) on a racing client sends only the primary; the parent still races."""
    metrics = InMemoryMetrics()
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_metrics(metrics)
        with builder.with_hedging(HedgePolicy(delay=0, max_extra_load=1.0)).build() as client:
            client.with_options(hedging=None).chat_completion(REQ)
            assert a.request_count + b.request_count == 1 and metrics.counter("hedge.fired") == 0
            client.chat_completion(REQ)
            assert metrics.counter("hedge.fired") == 1


def test_with_options_checks_its_arguments_and_a_view_does_not_close_the_parent():
    """Unknown or ill-typed overrides raise ConfigurationError; closing a view leaves the parent open, closing the parent closes the view."""
    from ailib import ClientClosedError, ConfigurationError

    with MockProvider() as mock:
        client = AiClientBuilder(mock.provider()).build()
        for bad in ({"tiemout": 1}, {"timeout": "5"}, {"max_retries": -1}, {"deadline": 0}, {"retry": 3}):
            with pytest.raises(ConfigurationError):
                client.with_options(**bad)
        view = client.with_options(timeout=5)
        view.close()
        assert client.chat_completion(REQ).text and view.chat_completion(REQ).text
        client.close()
        with pytest.raises(ClientClosedError, match="closed"):
            view.chat_completion(REQ)


def test_calls_route_around_an_endpoint_whose_limiter_cannot_admit_them():
    """With A limited to 2 req/s and B free, 20 calls from 8 threads over a round robin finish in under 1.5 s, counted as rerouted."""
    import threading

    from ailib import RateLimitPolicy

    metrics = InMemoryMetrics()
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        builder = AiClientBuilder(a.provider()).with_round_robin_chain([b.provider()]).with_metrics(metrics)
        builder = builder.with_rate_limit(RateLimitPolicy(requests_per_second=2, adaptive=False), provider=a.provider())
        with builder.build() as client:
            todo = list(range(20))
            lock = threading.Lock()
            errors: list = []

            def work():
                while True:
                    with lock:
                        if not todo:
                            return
                        todo.pop()
                    try:
                        client.chat_completion(REQ)
                    except Exception as exc:
                        errors.append(exc)

            start = time.monotonic()
            threads = [threading.Thread(target=work) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            elapsed = time.monotonic() - start
    assert errors == [] and a.request_count + b.request_count == 20
    assert elapsed < 1.5  # without rerouting, A's ten calls alone take 4.5 s
    assert a.request_count <= 5 and metrics.counter("routing_mvp.rerouted") >= 5


def test_when_no_endpoint_can_admit_the_call_waits_for_the_soonest():
    """Both endpoints limited: a call goes to the one whose next permit comes first and waits for it."""
    from ailib import RateLimitPolicy

    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()])
        builder = builder.with_rate_limit(RateLimitPolicy(requests_per_second=1, burst=1, adaptive=False))
        with builder.build() as client:
            served = [client.chat_completion(REQ).provider for _ in range(3)]
    assert served[:2] == ["a", "b"] and served[2] in ("a", "b")  # the third waited (< 1 s) for a permit


class SeedTimer:
    def __init__(self, owner: SeedMetrics) -> None:
        self.owner = owner

    def stop(self) -> None:
        self.owner.stops += 1


class SeedMetrics:
    """The seed's custom metrics shape: incr_counter(name, value) and start_timer(name) -> timer with stop()."""

    def __init__(self) -> None:
        self.starts: list = []
        self.stops = 0
        self.counters: dict = {}

    def incr_counter(self, name, value=1):
        self.counters[name] = self.counters.get(name, 0) + value

    def start_timer(self, name):
        self.starts.append(name)
        return SeedTimer(self)


def test_a_seed_shaped_metrics_object_gets_a_timer_per_call_and_per_attempt():
    """start_timer is called once per call (request.duration) and once per wire attempt (attempt.duration), each timer stopped."""
    from ailib import RetryPolicy

    seed = SeedMetrics()
    with MockProvider() as mock:
        mock.enqueue(Fault.http_status(503))
        builder = AiClientBuilder(mock.provider()).with_metrics(seed).with_retry(RetryPolicy(initial_delay=0.001, jitter=None))
        with builder.build() as client:
            for _ in range(3):
                client.chat_completion(REQ)
            with client.chat_completion_stream(REQ) as stream:
                assert "".join(c.delta_text for c in stream)
    assert sorted(seed.starts) == ["attempt.duration"] * 5 + ["request.duration"] * 4
    assert seed.stops == len(seed.starts)


def test_fallback_on_status_codes():
    """FallbackChain.on_status([503], model) advances on a 503 and is skipped for a 500; bad codes are a ConfigurationError."""
    from ailib import ConfigurationError, ProviderError

    with MockProvider(name="gw") as gw:
        chain = FallbackChain().primary("big").on_status([503], "small")
        with AiClientBuilder(gw.provider()).fallback(chain).without_retry().build() as client:
            gw.enqueue(Fault.http_status(503))
            assert client.chat_completion(REQ).model == "small"
            gw.enqueue(Fault.http_status(500))
            with pytest.raises(ProviderError):
                client.chat_completion(REQ)
        assert [r.json["model"] for r in gw.chat_requests] == ["big", "small", "big"]
    for bad in ([], ["503"], [42], None):
        with pytest.raises(ConfigurationError):
            FallbackChain().primary("big").on_status(bad, "small")


def test_health_based_keeps_an_endpoint_after_one_transient_500():
    """After one transient 500 on A among healthy calls, A serves at least 40 % of the next 200 calls under HEALTH_BASED."""
    from ailib import AiClient, LoadBalancingStrategy, ModelArray, ModelEndpoint

    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        array = ModelArray("arr", LoadBalancingStrategy.HEALTH_BASED)
        array.add_endpoint(ModelEndpoint("a", url=a.base_url)).add_endpoint(ModelEndpoint("b", url=b.base_url))
        with AiClient.with_model_array(array) as client:
            for _ in range(10):
                client.chat_completion(REQ)
            a.enqueue(Fault.http_status(500))
            for _ in range(4):
                client.chat_completion(REQ)
            before = a.request_count
            served = [client.chat_completion(REQ).provider for _ in range(200)]
    assert served.count("a") >= 80 and a.request_count - before >= 80
