"""CircuitBreakerPolicy(scope="model") over the Redis state store: one shared breaker per (endpoint, model)."""

from __future__ import annotations

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, CircuitBreakerPolicy, CircuitOpenError, Message, ProviderError
from ailib.testing import Fault

from .conftest import scope_of

A = ChatCompletionRequest("model-a", [Message.user("hi")])
B = ChatCompletionRequest("model-b", [Message.user("hi")])
POLICY = CircuitBreakerPolicy(failure_threshold=2, scope="model")


def test_model_scoped_breakers_are_keyed_per_model_and_shared(mock, store_factory, rdb, namespace):
    """Model A's open circuit is stored under breaker:<endpoint scope>:mock#model-a, a second client on the store rejects A, and B still answers."""
    first = AiClientBuilder(mock.provider()).without_retry().with_circuit_breaker(POLICY).with_state_store(store_factory()).build()
    second = AiClientBuilder(mock.provider()).without_retry().with_circuit_breaker(POLICY).with_state_store(store_factory()).build()
    with first, second:
        mock.enqueue(Fault.http_status(503), Fault.http_status(503))
        for _ in range(2):
            with pytest.raises(ProviderError):
                first.chat_completion(A)
        with pytest.raises(CircuitOpenError):
            second.chat_completion(A)
        assert second.chat_completion(B).text
    keys = {k.decode() for k in rdb.keys(f"{namespace}:breaker:*")}
    scope = scope_of(mock.provider())
    assert f"{namespace}:breaker:{scope}:mock#model-a" in keys and f"{namespace}:breaker:{scope}:mock" not in keys
    assert mock.request_count == 3
