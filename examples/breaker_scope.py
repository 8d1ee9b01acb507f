"""Breakers for a gateway, offline: with scope="model" one failing model behind an endpoint
opens only its own circuit; failure_status chooses which HTTP statuses count."""

from __future__ import annotations

from ailib import AiClientBuilder, ChatCompletionRequest, CircuitBreakerPolicy, CircuitOpenError, Message, ProviderError
from ailib.testing import Fault, MockProvider

a = ChatCompletionRequest("model-a", [Message.user("hello")])
b = ChatCompletionRequest("model-b", [Message.user("hello")])
policy = CircuitBreakerPolicy(failure_threshold=2, scope="model", failure_status={429, 500, 502, 503, 504})
with MockProvider(name="gateway") as gateway:
    with AiClientBuilder(gateway.provider()).without_retry().with_circuit_breaker(policy).build() as client:
        gateway.enqueue(Fault.http_status(503), Fault.http_status(503))
        for _ in range(2):
            try:
                client.chat_completion(a)
            except ProviderError as err:
                print("model-a:", type(err).__name__, err.status_code)
        try:
            client.chat_completion(a)
        except CircuitOpenError:
            print("model-a: CircuitOpenError (its own circuit is open)")
        print("model-b still answers:", client.chat_completion(b).text)
        print("breakers:", {m: br.state.value for m, br in client.circuit_breaker().models.items()})
