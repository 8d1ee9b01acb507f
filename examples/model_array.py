"""A ModelArray with health-based routing, offline."""

from __future__ import annotations

from ailib import AiClient, ChatCompletionRequest, LoadBalancingStrategy, Message, ModelArray, ModelEndpoint
from ailib.metrics import InMemoryMetrics
from ailib.testing import MockProvider

with MockProvider(name="groq-1") as groq, MockProvider(name="openai-1") as openai:
    array = ModelArray("production", LoadBalancingStrategy.HEALTH_BASED)
    array.add_endpoint(ModelEndpoint("groq-1", url=groq.base_url, weight=1.0))
    array.add_endpoint(ModelEndpoint("openai-1", url=openai.base_url, weight=0.8))
    metrics = InMemoryMetrics()
    client = AiClient.with_model_array(array, metrics=metrics)
    req = ChatCompletionRequest("auto", [Message.user("hello")])
    print("healthy:", [client.chat_completion(req).provider for _ in range(4)])
    client.circuit_breaker("groq-1").isolate()  # as if groq-1's breaker had opened
    print("groq-1 open:", [client.chat_completion(req).provider for _ in range(4)])
    print("selected counts:", metrics.counter("routing_mvp.selected"))
    client.close()

    weighted = ModelArray("weighted", LoadBalancingStrategy.WEIGHTED)
    weighted.add_endpoint(ModelEndpoint("groq-1", url=groq.base_url, weight=3)).add_endpoint(
        ModelEndpoint("openai-1", url=openai.base_url, weight=1)
    )
    with AiClient.with_model_array(weighted) as client:
        served = [client.chat_completion(req).provider for _ in range(8)]
    print("weighted 3:1:", served)
