"""Routing and fallback over several real loopback MockProviders."""

from __future__ import annotations

import threading
import time

import attrs
import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    AllProvidersFailedError,
    AuthenticationError,
    ChatCompletionRequest,
    ConnectionOptions,
    FallbackChain,
    HealthCheck,
    LoadBalancingStrategy,
    Message,
    ModelArray,
    ModelEndpoint,
    ProviderError,
    RetryPolicy,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import FakeClock, Fault, MockProvider

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02)


@pytest.fixture
def trio():
    with MockProvider(name="one") as a, MockProvider("anthropic", name="two") as b, MockProvider("gemini", name="three") as c:
        yield a, b, c


@pytest.fixture
def dead_url() -> str:
    """The base URL of a server that is gone (connection refused)."""
    m = MockProvider()
    url = m.base_url
    m.close()
    return url


def req(model: str = "auto") -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.user("hi")])


def test_round_robin_rotation_order(trio):
    """Calls rotate one, two, three, one, two, three, each in its own wire format."""
    a, b, c = trio
    with AiClientBuilder(a.provider()).with_round_robin_chain([b.provider(), c.provider()]).build() as client:
        served = [client.chat_completion(req()).provider for _ in range(6)]
    assert served == ["one", "two", "three"] * 2
    assert (a.request_count, b.request_count, c.request_count) == (2, 2, 2)


def test_failover_order_across_wire_formats(trio):
    """OpenAI-format fails, Anthropic-format fails, Gemini-format answers: each hop spoke its own format."""
    a, b, c = trio
    a.enqueue(Fault.http_status(503))
    b.enqueue(Fault.http_status(529, error_type="overloaded_error"))
    metrics = InMemoryMetrics()
    with (
        AiClientBuilder(a.provider())
        .with_failover_chain([b.provider(), c.provider()])
        .without_retry()
        .with_metrics(metrics)
        .build() as client
    ):
        resp = client.chat_completion(req())
    assert resp.provider == "three" and resp.text == "Hello from MockProvider"
    assert [x.provider for x in resp.attempts] == ["one", "two", "three"]
    assert a.chat_requests[0].path == "/v1/chat/completions"
    assert b.chat_requests[0].path == "/v1/messages"
    assert c.chat_requests[0].path.endswith(":generateContent")
    assert metrics.counter("routing_mvp.request") == 1 and metrics.counter("routing_mvp.selected") == 3
    assert metrics.counter("routing_mvp.selected", provider="two") == 1


def test_all_failing_raises_all_providers_failed(trio):
    """When every target fails, AllProvidersFailedError has the errors in order and all attempts."""
    a, b, c = trio
    for m in trio:
        m.enqueue(Fault.http_status(503))
    with AiClientBuilder(a.provider()).with_failover_chain([b.provider(), c.provider()]).without_retry().build() as client:
        with pytest.raises(AllProvidersFailedError) as info:
            client.chat_completion(req())
    err = info.value
    assert [e.provider for e in err.errors] == ["one", "two", "three"] and all(isinstance(e, ProviderError) for e in err.errors)
    assert len(err.attempts) == 3 and err.last_error is err.errors[-1]


def test_401_does_not_fail_over(trio):
    """A 401 on the primary stops the chain: raised as itself, the next provider untouched."""
    a, b, _ = trio
    a.enqueue(Fault.http_status(401))
    with AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).build() as client:
        with pytest.raises(AuthenticationError) as info:
            client.chat_completion(req())
    assert b.request_count == 0 and len(info.value.attempts) == 1


def test_401_fails_over_when_a_chain_step_says_so(trio):
    """An always() step takes over after a 401 and counts fallback.step."""
    a, b, _ = trio
    a.enqueue(Fault.http_status(401))
    metrics = InMemoryMetrics()
    chain = FallbackChain().always("other-model")
    builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).fallback(chain).with_metrics(metrics)
    with builder.build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "one" and resp.model == "other-model"
    assert a.chat_requests[-1].json["model"] == "other-model" and b.request_count == 0
    assert metrics.counter("fallback.step", step="always") == 1


def test_on_timeout_fires_on_timeout_not_on_500(trio):
    """on_timeout takes over after a timeout, and is skipped after a 500."""
    a, b, _ = trio
    chain = FallbackChain().on_timeout("slow-fallback")
    opts = ConnectionOptions(first_byte_timeout=0.2)
    builder = AiClientBuilder(a.provider()).with_options(opts).without_retry().fallback(chain)
    with builder.with_failover_chain([b.provider()]).build() as client:
        a.enqueue(Fault.stall(1.0), Fault.http_status(500))
        b.enqueue(Fault.http_status(500), Fault.stall(1.0), Fault.http_status(500))
        # one times out -> two (failover, plain 500) -> on_timeout step? no: the latest error is a 500
        with pytest.raises(AllProvidersFailedError):
            client.chat_completion(req())
        # one: 500 -> two: stall (timeout) -> on_timeout step runs on "one" with its model
        resp = client.chat_completion(req())
    assert resp.model == "slow-fallback" and resp.attempts[-1].provider == "one"


def test_explicit_model_is_preserved_across_failover(trio):
    """An explicit model is sent unchanged to every target."""
    a, b, _ = trio
    a.enqueue(Fault.http_status(503))
    with AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).without_retry().build() as client:
        client.chat_completion(req("gpt-4o"))
    assert a.chat_requests[0].json["model"] == "gpt-4o" and b.chat_requests[0].json["model"] == "gpt-4o"


def wait_for(predicate, timeout=5.0):
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_auto_model_defaults_per_provider(trio):
    """auto resolves to each target's own default model."""
    a, b, _ = trio
    other = attrs.evolve(b.provider(), default_model="claude-default")
    a.enqueue(Fault.http_status(503))
    with AiClientBuilder(a.provider()).with_failover_chain([other]).without_retry().build() as client:
        resp = client.chat_completion(req("auto"))
    assert a.chat_requests[0].json["model"] == "mock-model"
    assert b.chat_requests[0].json["model"] == "claude-default" and resp.model == "claude-default"


def test_unhealthy_endpoint_is_skipped_without_a_wire_attempt(trio, dead_url):
    """An endpoint marked unhealthy whose probe fails gets no chat request; one whose probe passes comes back."""
    a, _, _ = trio
    array = (
        ModelArray("arr")
        .add_endpoint(ModelEndpoint("good", url=a.base_url))
        .add_endpoint(ModelEndpoint("sick", url=dead_url, healthy=False))
    )
    metrics = InMemoryMetrics()
    with AiClient.with_model_array(array, metrics=metrics) as client:
        served = [client.chat_completion(req()).provider for _ in range(4)]
    assert served == ["good"] * 4 and a.request_count == 4
    assert metrics.counter("routing_mvp.health_fail") == 1  # probed once per interval, not per call
    with MockProvider(name="back") as back:
        revived = (
            ModelArray("arr")
            .add_endpoint(ModelEndpoint("good", url=a.base_url))
            .add_endpoint(ModelEndpoint("back", url=back.base_url, healthy=False))
        )
        with AiClient.with_model_array(revived) as client:
            # the probe runs in the background: calls go on meanwhile, and "back" returns once it passes
            assert wait_for(lambda: client.chat_completion(req()).provider == "back")
            served = [client.chat_completion(req()).provider for _ in range(4)]
        assert served.count("back") == 2 and back.request_count == 3


def test_health_check_probes_at_most_once_per_interval(trio):
    """With a health check, each endpoint is probed (in the background) on first use and then at most once per interval."""
    a, b, _ = trio
    clock = FakeClock()
    metrics = InMemoryMetrics()
    a_models = lambda: len([r for r in a.requests if r.method == "GET"])  # noqa: E731
    builder = (
        AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_health_check(HealthCheck(interval=30)).with_clock(clock)
    )
    with builder.with_metrics(metrics).build() as client:
        for _ in range(5):
            client.chat_completion(req())
        assert wait_for(lambda: a_models() == 1)
        for _ in range(5):
            client.chat_completion(req())
        assert a_models() == 1
        clock.advance(31)
        client.chat_completion(req())
        assert wait_for(lambda: a_models() == 2)
        client.chat_completion(req())
    assert a_models() == 2


def test_open_circuit_moves_on_and_health_based_skips_it(trio):
    """An endpoint whose breaker is open is skipped by routing: no wire attempt reaches it."""
    a, _, _ = trio
    with MockProvider(name="other") as other:
        array = (
            ModelArray("arr", LoadBalancingStrategy.HEALTH_BASED)
            .add_endpoint(ModelEndpoint("a", url=a.base_url))
            .add_endpoint(ModelEndpoint("b", url=other.base_url))
        )
        metrics = InMemoryMetrics()
        with AiClient.with_model_array(array, metrics=metrics) as client:
            client.circuit_breaker("a").isolate()
            served = [client.chat_completion(req()).provider for _ in range(4)]
        assert served == ["b"] * 4 and a.request_count == 0
        # a client with more than one target counts every call, even when routing left one
        assert metrics.counter("routing_mvp.request") == 4 and metrics.counter("routing_mvp.selected", provider="b") == 4


def test_no_healthy_endpoint_falls_back_to_the_builders_provider(trio, dead_url):
    """When no array endpoint is usable, the builder's provider serves, counting no_endpoint and fallback_default."""
    _, b, _ = trio
    array = ModelArray("arr").add_endpoint(ModelEndpoint("x", url=dead_url, healthy=False))
    metrics = InMemoryMetrics()
    with AiClientBuilder(b.provider()).with_model_array(array).with_metrics(metrics).build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "two" and resp.attempts[0].endpoint == "two (default)" and b.request_count == 1
    assert metrics.counter("routing_mvp.no_endpoint") == 1 and metrics.counter("routing_mvp.fallback_default") == 1


@pytest.mark.alone
def test_32_threads_200_calls_round_robin_is_exact(trio):
    """32 threads x 200 calls over a 3-endpoint round robin give each endpoint 2,133 +- 1 calls."""
    a, b, c = trio
    errors = []
    with AiClientBuilder(a.provider()).with_round_robin_chain([b.provider(), c.provider()]).build() as client:

        def work():
            for _ in range(200):
                try:
                    client.chat_completion(req())
                except Exception as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == []
    counts = (a.request_count, b.request_count, c.request_count)
    assert sum(counts) == 6400 and all(abs(n - 2133) <= 1 for n in counts)


def test_weighted_array_over_loopback(trio):
    """A weighted array sends traffic in proportion to weights (smooth WRR, exact per cycle)."""
    a, _, _ = trio
    with MockProvider() as light_server:
        array = ModelArray("w", LoadBalancingStrategy.WEIGHTED)
        array.add_endpoint(ModelEndpoint("heavy", url=a.base_url, weight=3)).add_endpoint(
            ModelEndpoint("light", url=light_server.base_url, weight=1)
        )
        with AiClient.with_model_array(array) as client:
            served = [client.chat_completion(req()).provider for _ in range(40)]
        assert served.count("heavy") == 30 and light_server.request_count == 10


def test_least_connections_avoids_the_busy_endpoint():
    """While one endpoint holds a slow call, least-connections sends new calls to the idle one."""
    with MockProvider() as slow, MockProvider() as fast:
        slow.enqueue(Fault.delay(0.8))
        array = ModelArray("lc", LoadBalancingStrategy.LEAST_CONNECTIONS)
        array.add_endpoint(ModelEndpoint("slow", url=slow.base_url)).add_endpoint(ModelEndpoint("fast", url=fast.base_url))
        with AiClient.with_model_array(array) as client:
            first = threading.Thread(target=lambda: client.chat_completion(req()))
            first.start()
            deadline = time.monotonic() + 5
            while slow.request_count == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            served = [client.chat_completion(req()).provider for _ in range(3)]
            first.join()
        assert served == ["fast", "fast", "fast"] and slow.request_count == 1


def test_with_failover_and_fallback_chain_views(trio):
    """with_failover appends providers; fallback_chain() lists single-target clients in order."""
    a, b, c = trio
    base = AiClient(a.provider())
    client = base.with_failover([b.provider(), c.provider()])
    singles = client.fallback_chain()
    assert [s.provider for s in singles] == ["one", "two", "three"]
    a.enqueue(Fault.http_status(503), Fault.http_status(503), Fault.http_status(503))
    for single in singles:  # the seed's hand-written loop
        try:
            resp = single.chat_completion(req())
            break
        except ProviderError:
            continue
    assert resp.provider == "two"
    for x in (base, client, *singles):
        x.close()


def test_retry_then_failover(trio):
    """Each target retries per policy before the chain moves on."""
    a, b, _ = trio
    a.enqueue(*[Fault.http_status(502)] * 3)
    with AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_retry(FAST).build() as client:
        resp = client.chat_completion(req())
    assert [x.provider for x in resp.attempts] == ["one", "one", "one", "two"] and a.request_count == 3
