"""Failover when waiting is pointless (issue 26), over real loopback MockProviders: an
account out of credit and a model one provider lacks move the chain on; a 429 whose wait is
longer than the next endpoint's expected latency falls over at once, and the wait is still
honoured for that endpoint."""

from __future__ import annotations

import time

import pytest

from ailib import (
    AiClientBuilder,
    AllProvidersFailedError,
    ChatCompletionRequest,
    FallbackChain,
    Message,
    ModelNotFoundError,
    Provider,
    QuotaExceededError,
    RetryPolicy,
)
from ailib.testing import FakeClock, Fault, MockProvider

INSUFFICIENT_QUOTA = dict(
    error_type="insufficient_quota",
    message="You exceeded your current quota, please check your plan and billing details.",
)


def req(model: str = "auto") -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.user("hi")])


@pytest.fixture
def openai_anthropic(monkeypatch):
    """The built-in OpenAI and Anthropic providers, each served by a loopback MockProvider."""
    with MockProvider("openai", name="openai") as oa, MockProvider("anthropic", name="anthropic") as an:
        monkeypatch.setenv("OPENAI_BASE_URL", oa.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", an.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
        yield oa, an


def test_out_of_credit_primary_is_answered_by_the_next_provider_on_the_first_call(openai_anthropic):
    """Failover chain OpenAI -> Anthropic, OpenAI answering 429 insufficient_quota: Anthropic answers the first call, OpenAI is asked once."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, **INSUFFICIENT_QUOTA))
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "anthropic" and oa.request_count == 1 and an.request_count == 1
    assert [a.outcome for a in resp.attempts] == ["error", "ok"] and isinstance(resp.attempts[0].error, QuotaExceededError)


def test_out_of_credit_moves_a_fallback_chain_on_error_step(openai_anthropic):
    """FallbackChain().primary(gpt-4o).on_error(anthropic/...) moves on after insufficient_quota without a retry."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, **INSUFFICIENT_QUOTA))
    chain = FallbackChain().primary("gpt-4o").on_error("anthropic/claude-3-haiku")
    with AiClientBuilder(Provider.OPENAI).fallback(chain).build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "anthropic" and resp.model == "claude-3-haiku" and oa.request_count == 1


def test_every_provider_out_of_credit_raises_all_providers_failed(openai_anthropic):
    """When both ends of the chain are out of credit the call raises AllProvidersFailedError with both quota errors, one request each."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, **INSUFFICIENT_QUOTA))
    an.enqueue(Fault.http_status(400, message="Your credit balance is too low to access the Anthropic API."))
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).build() as client:
        with pytest.raises(AllProvidersFailedError) as info:
            client.chat_completion(req())
    assert [type(e) for e in info.value.errors] == [QuotaExceededError, QuotaExceededError]
    assert oa.request_count == 1 and an.request_count == 1


def test_a_model_404_on_one_provider_fails_over(openai_anthropic):
    """A 404 model_not_found from the first provider of a chain moves on to the next, which answers."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(404, error_type="model_not_found", message="The model `x` does not exist"))
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "anthropic" and isinstance(resp.attempts[0].error, ModelNotFoundError)


def test_a_429_retry_after_2_falls_over_at_once(openai_anthropic):
    """OpenAI answering 429 Retry-After: 2 in a default chain OpenAI -> Anthropic: Anthropic answers within 0.3 s, OpenAI asked once."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, retry_after="2"))
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).build() as client:
        start = time.monotonic()
        resp = client.chat_completion(req())
        took = time.monotonic() - start
    assert resp.provider == "anthropic" and took < 0.3
    assert oa.request_count == 1 and [a.outcome for a in resp.attempts] == ["error", "ok"]


def test_the_retry_after_is_honoured_for_the_endpoint_that_fell_over(openai_anthropic):
    """After falling over from a 429 Retry-After: 2, calls in the next 2 s (fake clock) go to Anthropic first; after 2 s OpenAI is first again."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, retry_after="2"))
    clock = FakeClock()
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).with_clock(clock).build() as client:
        client.chat_completion(req())
        clock.advance(1.5)
        assert client.chat_completion(req()).provider == "anthropic"
        assert oa.request_count == 1
        clock.advance(0.6)
        assert client.chat_completion(req()).provider == "openai"
    assert oa.request_count == 2 and an.request_count == 2


def test_a_resting_endpoint_reached_last_waits_out_its_rest(openai_anthropic):
    """Without retries too: when the fallback fails while the primary rests, the primary is called only after its Retry-After passed (fake clock)."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, retry_after="2"))
    clock = FakeClock()
    builder = AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).with_clock(clock).without_retry()
    with builder.build() as client:
        client.chat_completion(req())
        an.enqueue(Fault.http_status(500))
        before = clock.monotonic()
        resp = client.chat_completion(req())
        assert resp.provider == "openai" and clock.monotonic() - before >= 2.0 - 1e-6
    assert oa.request_count == 2 and an.request_count == 2


def test_a_short_retry_after_is_waited_on_the_same_endpoint(openai_anthropic):
    """A 429 with Retry-After: 0.5 (below the 1 s expected latency of an unobserved fallback) is retried on OpenAI, not failed over."""
    oa, an = openai_anthropic
    oa.enqueue(Fault.http_status(429, retry_after="0.5"))
    clock = FakeClock()
    with AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).with_clock(clock).build() as client:
        resp = client.chat_completion(req())
    assert resp.provider == "openai" and an.request_count == 0 and oa.request_count == 2


def test_failover_after_sets_the_threshold(openai_anthropic):
    """RetryPolicy(failover_after=5) waits out a Retry-After of 2 on OpenAI; failover_after=0.1 falls over from a Retry-After of 0.5."""
    oa, an = openai_anthropic
    clock = FakeClock()
    oa.enqueue(Fault.http_status(429, retry_after="2"))
    patient = AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).with_clock(clock)
    with patient.with_retry(RetryPolicy(failover_after=5)).build() as client:
        assert client.chat_completion(req()).provider == "openai"
    oa.enqueue(Fault.http_status(429, retry_after="0.5"))
    eager = AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC]).with_clock(clock)
    with eager.with_retry(RetryPolicy(failover_after=0.1)).build() as client:
        assert client.chat_completion(req()).provider == "anthropic"
    assert an.request_count == 1


@pytest.fixture
def three_hosts(monkeypatch):
    """The built-in OpenAI, Groq and Mistral providers, each served by a loopback MockProvider."""
    with MockProvider(name="openai") as oa, MockProvider(name="groq") as gq, MockProvider(name="mistral") as ms:
        for prefix, mock in (("OPENAI", oa), ("GROQ", gq), ("MISTRAL", ms)):
            monkeypatch.setenv(f"{prefix}_BASE_URL", mock.base_url)
            monkeypatch.setenv(f"{prefix}_API_KEY", f"key-{prefix.lower()}-0123456789")
        yield oa, gq, ms


def test_an_explicit_model_is_not_sent_to_providers_that_do_not_serve_it(three_hosts):
    """A round robin over OpenAI, Groq and Mistral called 3 times with "gpt-4" sends every call to OpenAI only."""
    oa, gq, ms = three_hosts
    with AiClientBuilder(Provider.OPENAI).with_round_robin_chain([Provider.GROQ, Provider.MISTRAL]).build() as client:
        served = [client.chat_completion(req("gpt-4")).provider for _ in range(3)]
    assert served == ["openai"] * 3 and gq.request_count == 0 and ms.request_count == 0
    assert {r.json["model"] for r in oa.chat_requests} == {"gpt-4"}


def test_chain_entries_map_the_requested_model_to_each_providers_model(three_hosts):
    """(provider, {requested: own}) entries: "gpt-4" rotates over OpenAI, Groq and Mistral, each sent its own model; "auto" still sends each default."""
    oa, gq, ms = three_hosts
    chain = [(Provider.GROQ, {"gpt-4": "llama-3.3-70b-versatile"}), (Provider.MISTRAL, {"gpt-4": "mistral-large-latest"})]
    with AiClientBuilder(Provider.OPENAI).with_round_robin_chain(chain).build() as client:
        served = [client.chat_completion(req("gpt-4")).provider for _ in range(3)]
        client.chat_completion(req("auto"))
    assert sorted(served) == ["groq", "mistral", "openai"]
    assert [r.json["model"] for r in gq.chat_requests] == ["llama-3.3-70b-versatile"]
    assert [r.json["model"] for r in ms.chat_requests] == ["mistral-large-latest"]
    assert [r.json["model"] for r in oa.chat_requests] == ["gpt-4", "gpt-4o-mini"]


def test_a_provider_model_pair_pins_that_providers_model(three_hosts):
    """A (Provider.GROQ, "llama-3.1-8b-instant") failover entry sends that model to Groq whatever the request names."""
    oa, gq, ms = three_hosts
    oa.enqueue(Fault.http_status(503), Fault.http_status(503), Fault.http_status(503))
    builder = AiClientBuilder(Provider.OPENAI).with_failover_chain([(Provider.GROQ, "llama-3.1-8b-instant")])
    with builder.with_retry(RetryPolicy(max_attempts=1)).build() as client:
        resp = client.chat_completion(req("gpt-4o"))
    assert resp.provider == "groq" and gq.chat_requests[0].json["model"] == "llama-3.1-8b-instant"


def test_model_array_entries_may_be_provider_model_pairs(three_hosts):
    """ModelArray.add_endpoint((Provider.GROQ, {...})) maps the requested model for that endpoint."""
    from ailib import ModelArray

    oa, gq, ms = three_hosts
    array = ModelArray("a").add_endpoint((Provider.GROQ, {"gpt-4o": "llama-3.3-70b-versatile"}))
    with AiClientBuilder(Provider.OPENAI).with_model_array(array).build() as client:
        resp = client.chat_completion(req("gpt-4o"))
    assert resp.provider == "groq" and gq.chat_requests[0].json["model"] == "llama-3.3-70b-versatile"


def test_bad_chain_entries_are_configuration_errors():
    """A 3-tuple, an empty model map or a non-string model in a chain entry raises ConfigurationError at the builder."""
    from ailib import ConfigurationError

    for bad in [(Provider.GROQ, "a", "b"), (Provider.GROQ, {}), (Provider.GROQ, 7), (Provider.GROQ, {"gpt-4": ""})]:
        with pytest.raises(ConfigurationError):
            AiClientBuilder(Provider.OPENAI).with_failover_chain([bad])


def test_a_url_only_endpoint_without_a_key_is_a_configuration_error():
    """ModelEndpoint("gw", "https://llm.example.com/v1") with no key fails the build naming the endpoint and how to give a key."""
    from ailib import AiClient, ConfigurationError, ConnectionOptions, ModelArray, ModelEndpoint

    array = ModelArray("a").add_endpoint(ModelEndpoint("gw", "https://llm.example.com/v1"))
    with pytest.raises(ConfigurationError, match="'gw'.*api_key"):
        AiClient.with_model_array(array)
    keyed = ModelArray("b").add_endpoint(
        ModelEndpoint("gw", "https://llm.example.com/v1", model="m", options=ConnectionOptions(api_key="sk-0123456789"))
    )
    AiClient.with_model_array(keyed).close()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://10.1.2.3/v1", "http://vllm:8000/v1", "http://gpu.local/v1"],
)
def test_a_local_url_endpoint_may_go_without_a_key(url):
    """Local servers (loopback, private addresses, single-label or .local hosts: Ollama, vLLM) build without a key."""
    from ailib import AiClient, ModelArray, ModelEndpoint

    AiClient.with_model_array(ModelArray("a").add_endpoint(ModelEndpoint("local", url))).close()


def test_fallback_chain_clients_keep_their_model_map(three_hosts):
    """client.fallback_chain()'s Groq client, from a (GROQ, {"gpt-4": ...}) entry, still sends Groq's model for "gpt-4"."""
    oa, gq, ms = three_hosts
    chain = [(Provider.GROQ, {"gpt-4": "llama-3.3-70b-versatile"})]
    with AiClientBuilder(Provider.OPENAI).with_failover_chain(chain).build() as client:
        groq = client.fallback_chain()[1]
        groq.chat_completion(req("gpt-4"))
    assert [r.json["model"] for r in gq.chat_requests] == ["llama-3.3-70b-versatile"]


def test_the_threshold_is_the_next_endpoints_observed_latency(monkeypatch):
    """Once Anthropic has answered in about 0.2 s, a 429 Retry-After: 0.6 on OpenAI falls over (0.6 would be waited against the 1 s default)."""
    with MockProvider("openai", name="openai") as oa, MockProvider("anthropic", name="anthropic", latency=0.2) as an:
        monkeypatch.setenv("OPENAI_BASE_URL", oa.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", an.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
        builder = AiClientBuilder(Provider.OPENAI).with_failover_chain([Provider.ANTHROPIC])
        with builder.with_retry(RetryPolicy(max_attempts=1)).build() as warm_up:
            oa.enqueue(Fault.http_status(500))
            assert warm_up.chat_completion(req()).provider == "anthropic"  # Anthropic's latency is now observed
            oa.enqueue(Fault.http_status(429, retry_after="0.6"))
            retrying = warm_up.with_options(retry=RetryPolicy(max_attempts=3))
            start = time.monotonic()
            resp = retrying.chat_completion(req())
            took = time.monotonic() - start
    assert resp.provider == "anthropic" and took < 0.55 and oa.request_count == 2
