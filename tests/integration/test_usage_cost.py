"""Usage totals, costs from a price table, and cost-based routing."""

from __future__ import annotations

import json

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ConfigurationError,
    LoadBalancingStrategy,
    Message,
    ModelArray,
    ModelEndpoint,
)
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def test_usage_is_filled_and_totalled(client, mock):
    """Every response carries usage; usage_totals() sums calls and tokens per provider/model, streams included."""
    for _ in range(3):
        assert client.chat_completion(REQ).usage.total_tokens == 15
    with client.chat_completion_stream(REQ) as stream:
        list(stream)
    totals = client.usage_totals()
    t = totals[("mock", "mock-model")]
    assert (t.calls, t.prompt_tokens, t.completion_tokens, t.total_tokens, t.cost) == (4, 40, 20, 60, None)


def test_prices_give_costs(mock):
    """With prices per million tokens, response.cost and the totals' cost are computed."""
    with AiClientBuilder(mock.provider()).with_prices({"mock-model": (1.0, 3.0)}).build() as client:
        resp = client.chat_completion(REQ)
        with client.chat_completion_stream(REQ) as stream:
            list(stream)
        totals = client.usage_totals()[("mock", "mock-model")]
    assert resp.cost == pytest.approx((10 * 1.0 + 5 * 3.0) / 1e6)
    assert stream.cost == pytest.approx(resp.cost) and totals.cost == pytest.approx(2 * resp.cost)


def test_provider_specific_price_wins(mock):
    """A "provider/model" price wins over the model's general price."""
    with AiClientBuilder(mock.provider()).with_prices({"mock-model": (1, 1), "mock/mock-model": (2, 2)}).build() as client:
        assert client.chat_completion(REQ).cost == pytest.approx(15 * 2 / 1e6)


def test_prices_from_the_environment(mock, monkeypatch, tmp_path):
    """AILIB_PRICES may hold the JSON itself or the path of a JSON file."""
    monkeypatch.setenv("AILIB_PRICES", json.dumps({"mock-model": {"input": 1, "output": 1}}))
    with AiClient(mock.provider()) as client:
        assert client.chat_completion(REQ).cost == pytest.approx(15 / 1e6)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"mock-model": [2, 2]}))
    monkeypatch.setenv("AILIB_PRICES", str(path))
    with AiClient(mock.provider()) as client:
        assert client.chat_completion(REQ).cost == pytest.approx(30 / 1e6)


@pytest.mark.parametrize("prices", [{"m": (1,)}, {"m": {"input": 1}}, {"m": (-1, 1)}, ["m"]])
def test_bad_prices_are_configuration_errors(mock, prices):
    """Malformed price tables raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder(mock.provider()).with_prices(prices)


def test_cost_based_routing_picks_the_cheapest_then_the_next():
    """COST_BASED sends to the cheapest endpoint; when it fails, to the next cheapest."""
    with MockProvider(name="pricey") as pricey, MockProvider(name="cheap") as cheap, MockProvider(name="middle") as middle:
        array = ModelArray("cost", LoadBalancingStrategy.COST_BASED)
        for m, model in ((pricey, "big"), (cheap, "tiny"), (middle, "mid")):
            array.add_endpoint(ModelEndpoint(m.name, url=m.base_url, model=model))
        prices = {"big": (10, 30), "tiny": (0.1, 0.3), "mid": (1, 3)}
        with AiClientBuilder(pricey.provider()).with_model_array(array).with_prices(prices).without_retry().build() as client:
            assert [client.chat_completion(REQ).provider for _ in range(3)] == ["cheap"] * 3
            cheap.enqueue(Fault.http_status(503))
            resp = client.chat_completion(REQ)
        assert resp.provider == "middle" and [a.provider for a in resp.attempts] == ["cheap", "middle"]
        assert pricey.request_count == 0


def test_cost_based_without_prices_is_a_configuration_error(mock, monkeypatch):
    """COST_BASED routing with no price table fails at build time."""
    monkeypatch.delenv("AILIB_PRICES", raising=False)
    array = ModelArray("cost", LoadBalancingStrategy.COST_BASED).add_endpoint(ModelEndpoint("a", url=mock.base_url))
    with pytest.raises(ConfigurationError, match="prices"):
        AiClient.with_model_array(array)
