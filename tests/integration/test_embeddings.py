"""Embeddings over real loopback HTTP: each format's wire body, parts put back in order, and the
chat reliability stack (retries, Retry-After, deadlines, fallback, breaker, limits, metrics)."""

from __future__ import annotations

import time

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ConfigurationError,
    ConnectionOptions,
    DeadlineExceededError,
    EmbeddingRequest,
    FallbackChain,
    InvalidRequestError,
    ProtocolError,
    Provider,
    ProviderError,
    RateLimitExceeded,
    RateLimitPolicy,
    RetryPolicy,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider
from ailib.testing._mock_embed import mock_embedding, mock_tokens


def _client(mock: MockProvider, provider: str = "openai", **kw) -> AiClient:
    base = mock.url + "/v1" if provider in ("openai", "ollama") else mock.url
    return AiClient(provider, options=ConnectionOptions(api_key="k", base_url=base, retry_delay=0.01, **kw))


def test_openai_sends_base64_and_gets_the_vectors_in_order() -> None:
    """OpenAI is asked for base64 with the default embedding model; the decoded vectors equal the
    mock's float vectors, in input order, with the billed tokens as usage."""
    texts = [f"text number {i}" for i in range(7)]
    with MockProvider("openai") as mock, _client(mock) as client:
        resp = client.embed(texts, dimensions=32)
    body = mock.requests[0].json
    assert body == {"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64", "dimensions": 32}
    assert resp.vectors == [mock_embedding(t, 32) for t in texts]
    assert (resp.provider, resp.model, resp.dimensions) == ("openai", "text-embedding-3-small", 32)
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == sum(map(mock_tokens, texts))
    assert [a.outcome for a in resp.attempts] == ["ok"]


@pytest.mark.parametrize(
    ("fmt", "provider", "path", "model"),
    [
        ("gemini", "gemini", "/v1beta/models/gemini-embedding-001:batchEmbedContents", "gemini-embedding-001"),
        ("cohere", "cohere", "/v2/embed", "embed-v4.0"),
        ("openai", "ollama", "/api/embed", "nomic-embed-text"),
        ("openai", "azure_openai", "/openai/deployments/text-embedding-3-small/embeddings", "text-embedding-3-small"),
    ],
)
def test_each_format_embeds_through_its_own_endpoint(fmt: str, provider: str, path: str, model: str) -> None:
    """Gemini, Cohere v2, Ollama and Azure each get their endpoint and default embedding model and
    give back the mock's vectors in order."""
    texts = ["alpha", "beta", "gamma"]
    with MockProvider(fmt) as mock, _client(mock, provider) as client:
        resp = client.embed(texts, dimensions=8)
    assert mock.requests[0].route == path
    assert resp.vectors == [mock_embedding(t, 8) for t in texts]
    assert resp.model == model and resp.provider == provider


@pytest.mark.parametrize(
    ("fmt", "provider", "where", "expected"),
    [
        ("gemini", "gemini", lambda body: body["requests"][0]["taskType"], "RETRIEVAL_QUERY"),
        ("cohere", "cohere", lambda body: body["input_type"], "search_query"),
    ],
)
def test_input_type_is_mapped_per_format(fmt, provider, where, expected) -> None:
    """input_type="search_query" goes to Gemini as taskType RETRIEVAL_QUERY, to Cohere as input_type."""
    with MockProvider(fmt) as mock, _client(mock, provider) as client:
        client.embed("where is the cat", input_type="search_query")
    assert where(mock.requests[0].json) == expected


def test_cohere_input_type_defaults_to_search_document() -> None:
    """Cohere requires an input_type: a request without one is sent as search_document."""
    with MockProvider("cohere") as mock, _client(mock, "cohere") as client:
        client.embed("a document")
    assert mock.requests[0].json["input_type"] == "search_document"


def test_inputs_above_the_limit_are_split_and_put_back_in_order() -> None:
    """250 texts to Gemini (100 a request) go in three requests of 100, 100 and 50; the vectors
    come back in input order, usage and attempts added up."""
    texts = [f"t{i}" for i in range(250)]
    with MockProvider("gemini") as mock, _client(mock, "gemini") as client:
        resp = client.embed(texts, dimensions=4)
    assert [len(r.json["requests"]) for r in mock.requests] == [100, 100, 50]
    assert resp.vectors == [mock_embedding(t, 4) for t in texts]
    assert len(resp.attempts) == 3


def test_a_failed_part_is_retried_alone() -> None:
    """When the second of three parts gets a 503, only that part is sent again: every text is
    sent once, but for the second part's, sent twice."""
    texts = [f"t{i}" for i in range(250)]
    with MockProvider("gemini", script=[Fault.ok(), Fault.http_status(503)]) as mock, _client(mock, "gemini") as client:
        resp = client.embed(texts, dimensions=4)
    sent = [len(r.json["requests"]) for r in mock.requests]
    assert sent == [100, 100, 100, 50]
    assert resp.vectors == [mock_embedding(t, 4) for t in texts]
    assert [a.outcome for a in resp.attempts] == ["ok", "error", "ok", "ok"]


def test_a_part_that_fails_for_good_fails_the_call_with_every_attempt() -> None:
    """A part that keeps failing raises its own error, carrying the attempts of the parts before
    it; the parts after it are never sent."""
    texts = [f"t{i}" for i in range(250)]
    faults = [Fault.ok(), Fault.http_status(503), Fault.http_status(503)]
    with MockProvider("gemini", script=faults) as mock, _client(mock, "gemini", max_retries=1) as client:
        with pytest.raises(ProviderError) as info:
            client.embed(texts)
    assert [a.outcome for a in info.value.attempts] == ["ok", "error", "error"]
    assert len(mock.requests) == 3


def test_retry_after_is_waited_for() -> None:
    """A 429 with Retry-After: 1 then success: the call returns after >= 1 s with both attempts."""
    with MockProvider("openai", script=[Fault.http_status(429, retry_after="1")]) as mock, _client(mock) as client:
        start = time.monotonic()
        resp = client.embed("hi")
        elapsed = time.monotonic() - start
    assert elapsed >= 1.0
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert isinstance(resp.attempts[0].error, RateLimitExceeded)


def test_the_deadline_bounds_an_embedding_call() -> None:
    """A stalled embeddings request ends at the call's deadline (about 0.5 s), not the attempt timeout."""
    with MockProvider("openai", script=[Fault.stall(5.0)]) as mock, _client(mock) as client:
        start = time.monotonic()
        with pytest.raises((DeadlineExceededError, TimeoutError)):
            client.embed("hi", deadline=0.5)
        assert time.monotonic() - start < 2.0


def test_a_provider_without_embeddings_refuses_before_sending() -> None:
    """Anthropic has no embeddings API: InvalidRequestError, and nothing reaches the server."""
    with MockProvider("anthropic") as mock, _client(mock, "anthropic") as client:
        with pytest.raises(InvalidRequestError, match="no embeddings API"):
            client.embed("hi")
    assert mock.requests == []


def _chain_client(openai_mock: MockProvider, gemini_mock: MockProvider, chain: FallbackChain) -> AiClient:
    return (
        AiClientBuilder(Provider.OPENAI)
        .with_provider_options(Provider.OPENAI, ConnectionOptions(api_key="k", base_url=openai_mock.url + "/v1"))
        .with_provider_options(Provider.GEMINI, ConnectionOptions(api_key="k", base_url=gemini_mock.url))
        .with_retry(RetryPolicy(max_attempts=1))
        .fallback(chain)
        .build()
    )


def test_fallback_goes_to_a_model_of_the_same_size() -> None:
    """With dimensions=768 both models give 768 floats: a 503 from OpenAI falls back to Gemini."""
    chain = FallbackChain().primary("openai/text-embedding-3-small").on_error("gemini/gemini-embedding-001")
    with MockProvider("openai", script=[Fault.http_status(503)]) as om, MockProvider("gemini") as gm:
        with _chain_client(om, gm, chain) as client:
            resp = client.embed(["a", "b"], dimensions=768)
    assert resp.provider == "gemini" and resp.dimensions == 768
    assert [(a.provider, a.outcome) for a in resp.attempts] == [("openai", "error"), ("gemini", "ok")]


def test_fallback_skips_a_model_of_another_size() -> None:
    """Without dimensions, text-embedding-3-small (1536) cannot fall back to gemini-embedding-001
    (3072): the step is left out and OpenAI's own error is raised; Gemini gets nothing."""
    chain = FallbackChain().primary("openai/text-embedding-3-small").on_error("gemini/gemini-embedding-001")
    with MockProvider("openai", script=[Fault.http_status(503)]) as om, MockProvider("gemini") as gm:
        with _chain_client(om, gm, chain) as client:
            with pytest.raises(ProviderError):
                client.embed(["a", "b"])
    assert gm.requests == []


def test_fallback_between_fixed_sizes_that_differ_fails_at_build() -> None:
    """A chain from text-embedding-ada-002 (1536, fixed) to gemini-embedding-001 (3072) is refused by build()."""
    chain = FallbackChain().primary("openai/text-embedding-ada-002").on_error("gemini/gemini-embedding-001")
    builder = AiClientBuilder(Provider.OPENAI).with_connection_options(ConnectionOptions(api_key="k")).fallback(chain)
    with pytest.raises(ConfigurationError, match="different sizes"):
        builder.build()


def test_metrics_count_embedding_requests_and_tokens() -> None:
    """An embedding call counts one request, one attempt and its input tokens, like a chat call."""
    metrics = InMemoryMetrics()
    with MockProvider("openai") as mock:
        client = (
            AiClientBuilder(Provider.OPENAI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url + "/v1"))
            .with_metrics(metrics)
            .build()
        )
        with client:
            client.embed(["abcd", "efgh"])
    assert metrics.counter("requests") == 1 and metrics.counter("attempts") == 1
    assert metrics.counter("tokens") == 2


def test_the_token_limiter_paces_embedding_requests() -> None:
    """With 12,000 tokens a minute (200 a second, one second's share in the bucket), a request of
    400 tokens goes at once (a full bucket admits a larger request and is left 2 s in debt) and
    the next of 100 waits about 1.5 s: the limiter counts an embedding's input tokens."""
    policy = RateLimitPolicy(tokens_per_minute=12_000)
    with MockProvider("openai") as mock:
        client = (
            AiClientBuilder(Provider.OPENAI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url + "/v1"))
            .with_rate_limit(policy)
            .build()
        )
        with client:
            client.embed("x" * 1_600)  # 400 tokens by the limiter's estimate and the mock's count
            start = time.monotonic()
            client.embed("y" * 400)  # 100 tokens
            elapsed = time.monotonic() - start
    assert 1.2 <= elapsed < 3.5


def test_embedding_request_holds_its_fields() -> None:
    """EmbeddingRequest keeps a single text as a one-item tuple and validates before sending."""
    assert EmbeddingRequest("m", "one").input == ("one",)
    with pytest.raises(InvalidRequestError):
        EmbeddingRequest("m", [])


def test_the_cache_holds_each_text_and_sends_only_the_new_ones() -> None:
    """With a memory cache, a second call with one new text sends only that text; the vectors
    come back in input order and the cached ones cost nothing."""
    metrics = InMemoryMetrics()
    with MockProvider("openai") as mock:
        client = (
            AiClientBuilder(Provider.OPENAI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url + "/v1"))
            .with_cache("memory")
            .with_metrics(metrics)
            .build()
        )
        with client:
            client.embed(["a", "b"], dimensions=4)
            resp = client.embed(["b", "new", "a"], dimensions=4)
            again = client.embed(["a"], dimensions=4)
            bypass = client.embedding(EmbeddingRequest("auto", ["a"], dimensions=4), cache=False)
    assert [r.json["input"] for r in mock.requests] == [["a", "b"], ["new"], ["a"]]
    assert resp.vectors == [mock_embedding(t, 4) for t in ("b", "new", "a")]
    assert resp.usage.prompt_tokens == mock_tokens("new")
    assert again.vectors == [mock_embedding("a", 4)] and again.attempts == () and again.provider == "openai"
    assert bypass.attempts[0].outcome == "ok"
    assert metrics.counter("cache.hit") == 3 and metrics.counter("cache.miss") == 3


def test_an_embedding_call_has_its_span_and_attempt_spans() -> None:
    """With tracing on, an embedding call makes an "embeddings <model>" span with its input
    tokens, and one child span per attempt (a 503 and its retry)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    with MockProvider("openai", script=[Fault.http_status(503)]) as mock:
        client = (
            AiClientBuilder(Provider.OPENAI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url + "/v1"))
            .with_retry(RetryPolicy(initial_delay=0.01))
            .with_tracing(True, tracer_provider=tracer)
            .build()
        )
        with client:
            client.embed(["abcd", "efgh"], dimensions=4)
    spans = exporter.get_finished_spans()
    tracer.shutdown()
    call = [s for s in spans if s.attributes.get("ailib.attempt.number") is None]
    attempts = [s for s in spans if s.attributes.get("ailib.attempt.number") is not None]
    assert [s.name for s in call] == ["embeddings text-embedding-3-small"]
    assert call[0].attributes["gen_ai.operation.name"] == "embeddings"
    assert call[0].attributes["gen_ai.usage.input_tokens"] == 2
    assert call[0].attributes["gen_ai.embeddings.dimension.count"] == 4
    assert len(attempts) == 2 and all(s.parent.span_id == call[0].context.span_id for s in attempts)


def test_a_slow_endpoint_is_hedged() -> None:
    """With hedging after 0.1 s, an embedding stuck on the first endpoint is answered by the
    second well before the first's 3 s; the loser is recorded as cancelled."""
    from ailib import HedgePolicy

    with MockProvider("openai", name="slow", script=[Fault.delay(3.0)]) as slow, MockProvider("openai", name="fast") as fast:
        client = AiClientBuilder(slow.provider()).with_failover_chain([fast.provider()]).with_hedging(HedgePolicy(delay=0.1)).build()
        with client:
            start = time.monotonic()
            resp = client.embed(["a", "b"], model="m", dimensions=4)
            elapsed = time.monotonic() - start
    assert elapsed < 2.0 and resp.provider == "fast"
    assert resp.vectors == [mock_embedding(t, 4) for t in ("a", "b")]
    assert sorted(a.outcome for a in resp.attempts) == ["cancelled", "ok"]


def test_the_breaker_opens_on_failing_embeddings() -> None:
    """Two 503s open a breaker with failure_threshold=2; the third call fails fast and sends nothing."""
    from ailib import CircuitBreakerPolicy, CircuitOpenError

    with MockProvider("openai", script=[Fault.http_status(503), Fault.http_status(503)]) as mock:
        client = (
            AiClientBuilder(mock.provider())
            .without_retry()
            .with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=2, recovery_timeout=30.0))
            .build()
        )
        with client:
            for _ in range(2):
                with pytest.raises(ProviderError):
                    client.embed("a", model="m")
            with pytest.raises(CircuitOpenError) as info:
                client.embed("a", model="m")
    assert len(mock.requests) == 2
    assert [a.outcome for a in info.value.attempts] == ["skipped"]


def test_round_robin_spreads_embedding_calls() -> None:
    """A round-robin chain of two endpoints answers alternate embedding calls from each."""
    with MockProvider("openai", name="a") as a, MockProvider("openai", name="b") as b:
        client = AiClientBuilder(a.provider()).with_round_robin_chain([b.provider()]).build()
        with client:
            served = [client.embed("x", model="m").provider for _ in range(4)]
    assert sorted(served) == ["a", "a", "b", "b"]


def test_cost_comes_from_the_price_table_and_adds_up_over_parts() -> None:
    """With text-embedding-3-small at $0.02 per million input tokens, a call split in two parts
    (2,100 texts, 2,048 a request) costs both parts' input tokens at that price, and the
    client's totals agree."""
    texts = ["abcd" * 10] * 2100  # 10 tokens each, 21,000 in all
    with MockProvider("openai") as mock:
        client = (
            AiClientBuilder(Provider.OPENAI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url + "/v1"))
            .with_prices({"text-embedding-3-small": (0.02, 0.0)})
            .build()
        )
        with client:
            resp = client.embed(texts, dimensions=4)
            totals = client.usage_totals()
    assert [len(r.json["input"]) for r in mock.requests] == [2048, 52]
    assert resp.cost == pytest.approx(21_000 * 0.02 / 1e6)
    (total,) = totals.values()
    assert total.prompt_tokens == 21_000 and total.cost == pytest.approx(resp.cost)


def test_the_token_limiter_keeps_its_estimate_when_the_provider_reports_no_tokens() -> None:
    """Gemini's batchEmbedContents reports no token counts: the limiter keeps the estimate it
    charged (no refund to zero), so the second request still waits about 1.5 s (as above)."""
    with MockProvider("gemini") as mock:
        client = (
            AiClientBuilder(Provider.GEMINI)
            .with_connection_options(ConnectionOptions(api_key="k", base_url=mock.url))
            .with_rate_limit(RateLimitPolicy(tokens_per_minute=12_000))
            .build()
        )
        with client:
            first = client.embed("x" * 1_600, dimensions=4)  # 400 tokens by the estimate
            start = time.monotonic()
            client.embed("y" * 400, dimensions=4)  # 100 tokens
            elapsed = time.monotonic() - start
    assert first.usage.prompt_tokens == 0
    assert 1.2 <= elapsed < 3.5


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http_status(500),
        Fault.http_status(503, retry_after="0"),
        Fault.rate_limited(0.05),
        Fault.reset(),
        Fault.reset_mid_body(),
        Fault.malformed(b'{"error": {"message": "Overloaded", "type": "overloaded_error"}}'),
    ],
    ids=["500", "503", "429", "reset", "reset-mid-body", "error-object-with-200"],
)
def test_each_transient_fault_is_retried(fault: Fault) -> None:
    """An embedding that meets a transient fault (5xx, 429, a reset before or during the body, an
    overload error object sent with status 200) is retried and answers: one failed attempt, then
    the vectors."""
    with MockProvider("openai", script=[fault]) as mock, _client(mock) as client:
        resp = client.embed(["a", "b"], dimensions=4)
    assert resp.vectors == [mock_embedding(t, 4) for t in ("a", "b")]
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.malformed(),
        Fault.malformed(b"<html>Bad gateway</html>", content_type="text/html"),
        Fault.mislabeled("text/plain"),
        Fault.malformed(b""),
        Fault.malformed(b'{"data": [{"index": 0, "embedding": "abc"}], "model": "m"}'),
    ],
    ids=["truncated-json", "html", "mislabeled", "empty", "bad-base64"],
)
def test_an_answer_that_is_not_an_embeddings_body_is_a_protocol_error(fault: Fault) -> None:
    """A truncated, HTML, mislabeled, empty or impossible answer with status 200 is a
    ProtocolError after one attempt, as for chat (not retried)."""
    with MockProvider("openai", script=[fault]) as mock, _client(mock) as client:
        with pytest.raises(ProtocolError) as info:
            client.embed(["a"], dimensions=4)
    assert [a.outcome for a in info.value.attempts] == ["error"] and len(mock.requests) == 1


def test_cached_vectors_stay_within_their_tenant() -> None:
    """Two clients with different keys sharing one cache backend do not read each other's
    vectors (the cache's scope is in every embedding key); the same client does."""
    from ailib.cache import MemoryCache

    backend = MemoryCache()
    with MockProvider("openai") as mock:

        def client(key: str) -> AiClient:
            options = ConnectionOptions(api_key=key, base_url=mock.url + "/v1")
            return AiClientBuilder(Provider.OPENAI).with_connection_options(options).with_cache(backend).build()

        with client("sk-tenant-a") as a, client("sk-tenant-b") as b:
            a.embed("shared text", dimensions=4)
            b.embed("shared text", dimensions=4)
            a.embed("shared text", dimensions=4)
    assert len(mock.requests) == 2


def test_cost_based_routing_sends_embeddings_to_the_cheapest_endpoint() -> None:
    """COST_BASED routing prices an embedding by its texts and the endpoints' models: the cheap
    endpoint answers, the pricey one gets nothing."""
    from ailib import LoadBalancingStrategy, ModelArray, ModelEndpoint

    with MockProvider(name="pricey") as pricey, MockProvider(name="cheap") as cheap:
        array = ModelArray("cost", LoadBalancingStrategy.COST_BASED)
        array.add_endpoint(ModelEndpoint("pricey", url=pricey.base_url, model="embed-big"))
        array.add_endpoint(ModelEndpoint("cheap", url=cheap.base_url, model="embed-small"))
        prices = {"embed-big": (0.13, 0.0), "embed-small": (0.02, 0.0)}
        with AiClientBuilder(pricey.provider()).with_model_array(array).with_prices(prices).build() as client:
            served = [client.embed(["a", "b"], dimensions=4).provider for _ in range(2)]
    assert served == ["cheap", "cheap"] and pricey.requests == []
