"""CircuitBreakerPolicy(failure_status=..., scope=...) through a real client over loopback."""

from __future__ import annotations

import json

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    CircuitOpenError,
    CircuitState,
    ConfigurationError,
    InvalidRequestError,
    Message,
    NetworkError,
    ProviderError,
    RateLimitExceeded,
)
from ailib.testing import Fault

A = ChatCompletionRequest("model-a", [Message.user("hi")])
B = ChatCompletionRequest("model-b", [Message.user("hi")])


def _client(mock, policy):
    return AiClientBuilder(mock.provider()).without_retry().with_circuit_breaker(policy).build()


def _fail_a(client, mock, times):
    mock.enqueue(*[Fault.http_status(503)] * times)
    for _ in range(times):
        with pytest.raises(ProviderError):
            client.chat_completion(A)


def test_model_scope_keeps_other_models_answering(mock):
    """With scope="model", model A failing until its circuit opens leaves model B answering through the same endpoint."""
    with _client(mock, CircuitBreakerPolicy(failure_threshold=2, scope="model")) as client:
        _fail_a(client, mock, 2)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(A)
        assert client.chat_completion(B).text
        state_a = client.circuit_breaker(model="model-a").state
        state_b = client.circuit_breaker(model="model-b").state
    assert mock.request_count == 3
    assert json.loads(mock.chat_requests[-1].body)["model"] == "model-b"
    assert state_a is CircuitState.OPEN and state_b is CircuitState.CLOSED


def test_endpoint_scope_rejects_every_model(mock):
    """With the default scope, model A's failures open the endpoint's circuit and model B is rejected unsent."""
    assert CircuitBreakerPolicy().scope == "endpoint"
    with _client(mock, CircuitBreakerPolicy(failure_threshold=2)) as client:
        _fail_a(client, mock, 2)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(B)
    assert mock.request_count == 2


def test_model_scope_isolate_applies_to_every_model(mock):
    """isolate() on a model-scoped endpoint rejects every model, including ones not seen yet; reset() lets them through."""
    with _client(mock, CircuitBreakerPolicy(scope="model")) as client:
        client.chat_completion(A)
        client.circuit_breaker().isolate()
        for req in (A, B):
            with pytest.raises(CircuitOpenError):
                client.chat_completion(req)
        client.circuit_breaker().reset()
        client.chat_completion(B)
    assert mock.request_count == 2


def test_failure_status_makes_429s_count(mock):
    """With failure_status={429}, two 429s open a breaker of threshold 2 (by default a 429 never counts)."""
    with _client(mock, CircuitBreakerPolicy(failure_threshold=2, failure_status={429})) as client:
        mock.enqueue(Fault.http_status(429), Fault.http_status(429))
        for _ in range(2):
            with pytest.raises(RateLimitExceeded):
                client.chat_completion(A)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(A)
    assert mock.request_count == 2


def test_failure_status_leaves_unlisted_statuses_uncounted(mock):
    """With failure_status={429}, 503s do not count: the breaker of threshold 2 stays closed."""
    with _client(mock, CircuitBreakerPolicy(failure_threshold=2, failure_status={429})) as client:
        _fail_a(client, mock, 3)
        client.chat_completion(A)
        state = client.circuit_breaker().state
    assert mock.request_count == 4 and state is CircuitState.CLOSED


def test_failure_status_keeps_the_rule_for_errors_without_a_status(mock):
    """With failure_status={429}, connection resets (no status) still count toward opening."""
    with _client(mock, CircuitBreakerPolicy(failure_threshold=2, failure_status={429})) as client:
        mock.enqueue(Fault.reset(), Fault.reset())
        for _ in range(2):
            with pytest.raises(NetworkError):
                client.chat_completion(A)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(A)


def test_a_listed_400_counts(mock):
    """With failure_status={400}, one 400 opens a breaker of threshold 1."""
    with _client(mock, CircuitBreakerPolicy(failure_threshold=1, failure_status=[400])) as client:
        mock.enqueue(Fault.http_status(400))
        with pytest.raises(InvalidRequestError):
            client.chat_completion(A)
        with pytest.raises(CircuitOpenError):
            client.chat_completion(A)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"scope": "gateway"}, "scope"),
        ({"scope": None}, "scope"),
        ({"failure_status": set()}, "failure_status"),
        ({"failure_status": {600}}, "failure_status"),
        ({"failure_status": "429"}, "failure_status"),
    ],
)
def test_invalid_values_are_rejected(kwargs, field):
    """scope must be 'endpoint' or 'model'; failure_status None or HTTP status codes."""
    with pytest.raises(ConfigurationError, match=f"CircuitBreakerPolicy.{field}"):
        CircuitBreakerPolicy(**kwargs)
