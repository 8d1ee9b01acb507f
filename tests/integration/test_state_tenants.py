"""A MemoryStateStore shared by clients of different backends keeps their breakers apart."""

from __future__ import annotations

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    CircuitOpenError,
    Message,
    ModelArray,
    ModelEndpoint,
    ProviderError,
)
from ailib.state import MemoryStateStore
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def test_one_memory_store_keeps_breakers_of_two_backends_with_one_name_apart():
    """Two clients of provider "backend" at two base URLs on one store: A's failures open A's breaker only."""
    store = MemoryStateStore()
    policy = CircuitBreakerPolicy(failure_threshold=2, recovery_timeout=60.0)
    with MockProvider() as mock_a, MockProvider() as mock_b:
        clients = [
            AiClientBuilder(m.provider("backend")).without_retry().with_circuit_breaker(policy).with_state_store(store).build()
            for m in (mock_a, mock_b)
        ]
        a, b = clients
        mock_a.enqueue(Fault.http_status(500), Fault.http_status(500))
        for _ in range(2):
            with pytest.raises(ProviderError):
                a.chat_completion(REQ)
        with pytest.raises(CircuitOpenError):
            a.chat_completion(REQ)
        assert b.chat_completion(REQ).text
        for c in clients:
            c.close()


@pytest.mark.parametrize("shape", ["provider", "model_array"])
def test_fallback_chain_clients_share_the_parents_breakers(shape):
    """A fallback_chain() client (renamed after its endpoint) sees the breaker its parent opened."""
    with MockProvider() as mock:
        if shape == "provider":
            parent = (
                AiClientBuilder(mock.provider()).without_retry().with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=2)).build()
            )
        else:
            array = ModelArray("arr")
            array.add_endpoint(ModelEndpoint("ep-one", provider=mock.provider()))
            parent = AiClient.with_model_array(array)
        mock.enqueue(*(Fault.http_status(500) for _ in range(8)))
        with pytest.raises(CircuitOpenError):
            for _ in range(8):
                with pytest.raises(ProviderError):
                    parent.chat_completion(REQ)
        (single,) = parent.fallback_chain()
        sent = mock.request_count
        with pytest.raises(CircuitOpenError):
            single.chat_completion(REQ)
        assert mock.request_count == sent
        parent.close()
        single.close()
