"""HEALTH_BASED routing, offline: one transient error does not take an endpoint out of
rotation; a run of errors does, until its decaying window ages."""

from __future__ import annotations

from ailib import AiClient, ChatCompletionRequest, LoadBalancingStrategy, Message, ModelArray, ModelEndpoint
from ailib.testing import Fault, MockProvider

req = ChatCompletionRequest("auto", [Message.user("hello")])
with MockProvider(name="a") as a, MockProvider(name="b") as b:
    array = ModelArray("arr", LoadBalancingStrategy.HEALTH_BASED)
    array.add_endpoint(ModelEndpoint("a", url=a.base_url)).add_endpoint(ModelEndpoint("b", url=b.base_url))
    with AiClient.with_model_array(array) as client:
        a.enqueue(Fault.http_status(500))  # one transient failure (retried on b)
        served = [client.chat_completion(req).provider for _ in range(20)]
        print("after one 500:", {name: served.count(name) for name in ("a", "b")})
        a.enqueue(*[Fault.http_status(500)] * 12)  # a run of failures
        served = [client.chat_completion(req).provider for _ in range(20)]
        print("after a run of 500s:", {name: served.count(name) for name in ("a", "b")})
