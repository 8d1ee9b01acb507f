"""A FallbackChain step that names a ModelArray is served by the array's strategy (over loopback)."""

from __future__ import annotations

import json

import pytest

from ailib import (
    AiClientBuilder,
    ConfigurationError,
    FallbackChain,
    InvalidRequestError,
    LoadBalancingStrategy,
    ModelArray,
    ModelEndpoint,
)
from ailib.testing import Fault, MockProvider


def _array(a: MockProvider, b: MockProvider, strategy=LoadBalancingStrategy.ROUND_ROBIN) -> ModelArray:
    array = ModelArray("pool", strategy)
    array.add_endpoint(ModelEndpoint("pool-a", provider=a.provider("pool-a"), model="model-a"))
    return array.add_endpoint(ModelEndpoint("pool-b", provider=b.provider("pool-b"), model="model-b"))


def test_the_array_step_shares_calls_round_robin(mock, req):
    """When the primary fails, an on_error step naming a ROUND_ROBIN array of two serves 4 calls 2 and 2, each with its own model."""
    with MockProvider(name="pool-a") as a, MockProvider(name="pool-b") as b:
        chain = FallbackChain().primary("auto").on_error(_array(a, b))
        mock.enqueue(*[Fault.http_status(503)] * 4)
        with AiClientBuilder(mock.provider()).without_retry().without_circuit_breaker().fallback(chain).build() as client:
            served = [client.chat_completion(req).provider for _ in range(4)]
        models = {json.loads(r.body)["model"] for r in a.chat_requests} | {json.loads(r.body)["model"] for r in b.chat_requests}
    assert sorted(served) == ["pool-a", "pool-a", "pool-b", "pool-b"]
    assert a.request_count == 2 and b.request_count == 2 and models == {"model-a", "model-b"}


def test_a_failing_member_fails_over_within_the_step(mock, req):
    """When the array's first choice fails with a 500, the step's next endpoint answers the call."""
    with MockProvider(name="pool-a") as a, MockProvider(name="pool-b") as b:
        chain = FallbackChain().primary("auto").on_error(_array(a, b))
        mock.enqueue(Fault.http_status(503))
        a.enqueue(Fault.http_status(500))
        with AiClientBuilder(mock.provider()).without_retry().without_circuit_breaker().fallback(chain).build() as client:
            resp = client.chat_completion(req)
    assert resp.provider == "pool-b" and [a.outcome for a in resp.attempts] == ["error", "error", "ok"]


def test_the_step_condition_still_gates_the_array(mock, req):
    """An on_timeout array step is not used after a 400 from the primary: the 400 is raised, the array untouched."""
    with MockProvider(name="pool-a") as a, MockProvider(name="pool-b") as b:
        chain = FallbackChain().primary("auto").on_timeout(_array(a, b))
        mock.enqueue(Fault.http_status(400))
        with AiClientBuilder(mock.provider()).without_retry().fallback(chain).build() as client, pytest.raises(InvalidRequestError):
            client.chat_completion(req)
        assert a.request_count == 0 and b.request_count == 0


def test_arrays_are_not_primaries_and_need_endpoints():
    """primary(ModelArray) and an empty ModelArray step raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        FallbackChain().primary(ModelArray("x"))
    with pytest.raises(ConfigurationError):
        FallbackChain().primary("gpt-4o").on_error(ModelArray("empty"))
