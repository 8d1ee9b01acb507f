"""Routing strategies, FallbackChain and builder validation, without sockets."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    AuthenticationError,
    ChatCompletionRequest,
    ConfigurationError,
    CustomProviderBuilder,
    FallbackChain,
    LoadBalancingStrategy,
    Message,
    ModelArray,
    ModelEndpoint,
    ProviderError,
    RateLimitExceeded,
    TimeoutError,
)
from ailib.metrics import InMemoryMetrics
from ailib.routing.endpoint import build_endpoint
from ailib.routing.router import ChainRouter

REQ = ChatCompletionRequest("auto", [Message.user("x")])


def spec(name: str):
    return CustomProviderBuilder(name).with_base_url(f"http://127.0.0.1:9/{name}").with_default_chat_model(f"{name}-model").build_provider()


def endpoints(*names, weights=None):
    weights = weights or [1.0] * len(names)
    return [build_endpoint(spec(n), name=n, weight=w) for n, w in zip(names, weights)]


def router(eps, strategy, **kw):
    return ChainRouter(eps, strategy, metrics=kw.pop("metrics", InMemoryMetrics()), breakers=lambda ep: None, **kw)


def test_round_robin_rotates_in_order():
    """Round robin selects a, b, c, a, b, c and puts the rest after as failover."""
    r = router(endpoints("a", "b", "c"), LoadBalancingStrategy.ROUND_ROBIN)
    plans = [[t.endpoint.name for t in r.plan(REQ)] for _ in range(4)]
    assert plans == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_round_robin_is_exact_under_threads():
    """32 threads x 300 selections split exactly evenly over 3 endpoints."""
    r = router(endpoints("a", "b", "c"), LoadBalancingStrategy.ROUND_ROBIN)
    counts: Counter = Counter()
    lock = threading.Lock()

    def work():
        local = Counter(r.plan(REQ)[0].endpoint.name for _ in range(300))
        with lock:
            counts.update(local)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"a": 3200, "b": 3200, "c": 3200}


def test_weighted_split_matches_weights_within_one_percent():
    """Over 1,000 calls the weighted split matches 5:3:2 within 1% (smooth WRR is exact)."""
    r = router(endpoints("a", "b", "c", weights=[5, 3, 2]), LoadBalancingStrategy.WEIGHTED)
    counts = Counter(r.plan(REQ)[0].endpoint.name for _ in range(1000))
    assert abs(counts["a"] - 500) <= 10 and abs(counts["b"] - 300) <= 10 and abs(counts["c"] - 200) <= 10


def test_weighted_never_bursts_one_endpoint():
    """Smooth WRR interleaves: with 5:1:1 (a a b a c a a) the heavy endpoint gets at most 4 in a row and every 7 calls split exactly 5:1:1."""
    r = router(endpoints("a", "b", "c", weights=[5, 1, 1]), LoadBalancingStrategy.WEIGHTED)
    seq = [r.plan(REQ)[0].endpoint.name for _ in range(70)]
    runs, run = [], 1
    for x, y in zip(seq, seq[1:]):
        run = run + 1 if x == y else 1
        runs.append(run)
    assert max(runs) == 4  # plain weighted round robin would send 5 in a row
    for i in range(0, 70, 7):
        assert Counter(seq[i : i + 7]) == {"a": 5, "b": 1, "c": 1}


def test_least_connections_prefers_the_idle_endpoint():
    """With a busy and an idle endpoint, least connections picks the idle one."""
    eps = endpoints("a", "b")
    r = router(eps, LoadBalancingStrategy.LEAST_CONNECTIONS)
    r.on_start(eps[0])
    r.on_start(eps[0])
    assert [r.plan(REQ)[0].endpoint.name for _ in range(4)] == ["b"] * 4
    r.on_end(eps[0], 0.1, True)
    r.on_end(eps[0], 0.1, True)
    assert {r.plan(REQ)[0].endpoint.name for _ in range(4)} == {"a", "b"}


def test_latency_based_prefers_fast_and_explores():
    """Latency routing picks the lowest EWMA, but sometimes tries another so recovery is noticed."""
    eps = endpoints("slow", "fast")
    values = iter([0.5] * 100)
    r = router(eps, LoadBalancingStrategy.LATENCY_BASED, rng=lambda: next(values))
    r.on_start(eps[0])
    r.on_end(eps[0], 0.8, True)
    r.on_start(eps[1])
    r.on_end(eps[1], 0.01, True)
    assert r.plan(REQ)[0].endpoint.name == "fast"
    explore = router(eps, LoadBalancingStrategy.LATENCY_BASED, rng=lambda: 0.0)
    explore.stats = r.stats
    assert explore.plan(REQ)[0].endpoint.name == "slow"


def test_health_based_orders_by_recent_errors():
    """Health-based routing puts the endpoint with recent failures last."""
    eps = endpoints("a", "b")
    r = router(eps, LoadBalancingStrategy.HEALTH_BASED)
    for _ in range(5):
        r.on_start(eps[0])
        r.on_end(eps[0], 0.1, False)
    assert [r.plan(REQ)[0].endpoint.name for _ in range(4)] == ["b"] * 4


def test_custom_strategy_orders_and_its_failure_is_counted():
    """A custom strategy's order is used; when it raises, the declared order is used and strategy_fail counted."""

    class Last:
        def select(self, eps, request):
            return list(reversed(eps))

    class Broken:
        def select(self, eps, request):
            raise RuntimeError("boom")

    eps = endpoints("a", "b", "c")
    assert [t.endpoint.name for t in router(eps, None, custom=Last()).plan(REQ)] == ["c", "b", "a"]
    metrics = InMemoryMetrics()
    assert [t.endpoint.name for t in router(eps, None, custom=Broken(), metrics=metrics).plan(REQ)] == ["a", "b", "c"]
    assert metrics.counter("routing_mvp.strategy_fail") == 1


def test_fallback_chain_conditions():
    """Each step's condition matches the documented errors only."""
    chain = (
        FallbackChain()
        .primary("m0")
        .on_timeout("m1")
        .on_rate_limit("m2")
        .on_error("m3")
        .on_condition(lambda e: e.status_code == 418)
        .fallback("m4")
        .always("m5")
    )
    cond = {s.label: s.condition for s in chain.steps[1:]}
    assert cond["on_timeout"](TimeoutError("t")) and not cond["on_timeout"](ProviderError("500"))
    assert cond["on_rate_limit"](RateLimitExceeded("429")) and not cond["on_rate_limit"](TimeoutError("t"))
    assert cond["on_error"](ProviderError("500")) and not cond["on_error"](AuthenticationError("401"))
    assert cond["on_condition"](ProviderError("x", status_code=418)) and not cond["on_condition"](ProviderError("x"))
    assert cond["always"](AuthenticationError("401"))


def test_fallback_predicate_that_raises_is_no_match():
    """A user predicate that raises is treated as not matching."""
    chain = FallbackChain().on_condition(lambda e: 1 / 0).fallback("m")
    assert chain.steps[0].condition(ProviderError("x")) is False


@pytest.mark.parametrize(
    "build",
    [
        lambda: FallbackChain().on_timeout("a").primary("b"),
        lambda: FallbackChain().on_condition(lambda e: True).on_timeout("x"),
        lambda: FallbackChain().fallback("x"),
        lambda: FallbackChain().primary(""),
        lambda: FallbackChain().validate(),
    ],
)
def test_fallback_chain_misuse(build):
    """Misordered or empty chains raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda p: AiClientBuilder(p).with_round_robin_chain([p]).with_failover_chain([p]),
        lambda p: AiClientBuilder(p).with_failover_chain([]),
        lambda p: AiClientBuilder(p).with_round_robin_chain([p]).with_model_array(ModelArray("m").add_endpoint(ModelEndpoint(provider=p))),
        lambda p: AiClientBuilder(p).with_model_array(ModelArray("empty")),
        lambda p: ModelEndpoint(provider=p, weight=0),
        lambda p: ModelEndpoint(provider=p, weight=-1),
        lambda p: ModelEndpoint(),
        lambda p: ModelEndpoint(url="ftp://x"),
        lambda p: AiClientBuilder(p).with_failover_chain(["no-such-provider"]),
        lambda p: (
            ModelArray("m").add_endpoint(ModelEndpoint(provider="nope"))
            and AiClient.with_model_array(ModelArray("m").add_endpoint(ModelEndpoint(provider="nope")))
        ),
        lambda p: AiClientBuilder(p).with_round_robin_chain([p]).with_strategy(type("S", (), {"select": lambda self, e, r: e})()),
        lambda p: AiClientBuilder(p).fallback(FallbackChain()),
    ],
)
def test_builder_rejects_contradictions(build):
    """Contradictory or invalid routing settings raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        build(spec("p"))


def test_fallback_step_models_resolve_to_their_provider(monkeypatch):
    """A step's model picks its provider's endpoint (added when missing), with the prefix dropped."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    client = (
        AiClientBuilder(spec("gw"))
        .fallback(FallbackChain().primary("m0").on_timeout("anthropic/claude-3-haiku").always("my-model"))
        .build()
    )
    steps = client._topology.steps
    assert [(t.endpoint.provider, t.model, t.label) for t in steps] == [
        ("anthropic", "claude-3-haiku", "on_timeout"),
        ("gw", "my-model", "always"),
    ]
    assert client._topology.primary_model == "m0"


def test_health_based_one_transient_error_does_not_exile_an_endpoint():
    """After one error among healthy calls, HEALTH_BASED still shares traffic evenly."""
    from ailib.testing import FakeClock

    eps = endpoints("a", "b")
    r = router(eps, LoadBalancingStrategy.HEALTH_BASED, clock=FakeClock())
    for ok in (True, True, False, True, True, True):
        r.on_start(eps[0])
        r.on_end(eps[0], 0.1, ok)
    firsts = [r.plan(REQ)[0].endpoint.name for _ in range(200)]
    assert firsts.count("a") == 100


def test_health_based_brings_an_unhealthy_endpoint_back_as_its_window_ages():
    """An endpoint exiled by errors gets calls again once its decaying window falls below the minimum sample."""
    from ailib.testing import FakeClock

    clock = FakeClock()
    eps = endpoints("a", "b")
    r = router(eps, LoadBalancingStrategy.HEALTH_BASED, clock=clock)
    for _ in range(10):
        r.on_start(eps[0])
        r.on_end(eps[0], 0.1, False)
    assert {r.plan(REQ)[0].endpoint.name for _ in range(10)} == {"b"}
    clock.advance(60)  # 10 errors decay to ~1.4 outcomes: below the sample, no longer judged
    assert "a" in {r.plan(REQ)[0].endpoint.name for _ in range(10)}


def test_a_cancelled_attempt_says_nothing_about_health():
    """on_end(ok=None) (a race's cancelled loser) counts neither as success nor as error."""
    eps = endpoints("a", "b")
    r = router(eps, LoadBalancingStrategy.HEALTH_BASED)
    for _ in range(10):
        r.on_start(eps[0])
        r.on_end(eps[0], 0.1, None)
    assert r.stats["a"].err_w == 0 and r.stats["a"].ok_w == 0 and r.stats["a"].inflight == 0
