"""Metrics implementations: Prometheus export, the seed-shaped adapter, timers everywhere."""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from prometheus_client import CollectorRegistry

from ailib import AiClientBuilder, ConfigurationError, ProviderError
from ailib.metrics import InMemoryMetrics, NoopMetrics, PrometheusMetrics, as_metrics
from ailib.testing import Fault

from ..conftest import FAST_RETRY


def _value(text: str, series: str) -> Optional[float]:
    """The value of one exposition line, e.g. ``ailib_retry_attempt_total{provider="mock"}``."""
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


# -- Prometheus --------------------------------------------------------------------------------------
def test_prometheus_counts_what_a_client_did(mock, req):
    """After a call retried twice, the exposition has ailib_retry_attempt_total{provider=...} 2."""
    metrics = PrometheusMetrics()
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_metrics(metrics).build()
    mock.enqueue(Fault.http_status(503), Fault.http_status(503))
    client.chat_completion(req)
    text = metrics.exposition()
    assert _value(text, 'ailib_retry_attempt_total{provider="mock"}') == 2.0
    assert "# TYPE ailib_retry_attempt_total counter" in text


def test_prometheus_counts_exhausted_retries_per_provider(mock, req):
    """A call that runs out of attempts adds 1 to ailib_retry_exhausted_total for its provider."""
    metrics = PrometheusMetrics()
    client = AiClientBuilder(mock.provider("p1")).with_retry(FAST_RETRY).with_metrics(metrics).build()
    mock.enqueue(*[Fault.http_status(500)] * 3)
    with pytest.raises(ProviderError):
        client.chat_completion(req)
    assert _value(metrics.exposition(), 'ailib_retry_exhausted_total{provider="p1"}') == 1.0


def test_each_prometheus_metrics_has_its_own_registry_by_default():
    """Two default PrometheusMetrics never collide and never touch the global registry."""
    from prometheus_client import REGISTRY

    a, b = PrometheusMetrics(), PrometheusMetrics()
    a.incr_counter("retry.attempt", tags={"provider": "x"})
    b.incr_counter("retry.attempt", tags={"provider": "x"})
    b.incr_counter("retry.attempt", tags={"provider": "x"})
    assert a.registry is not b.registry
    assert _value(a.exposition(), 'ailib_retry_attempt_total{provider="x"}') == 1.0
    assert _value(b.exposition(), 'ailib_retry_attempt_total{provider="x"}') == 2.0
    assert REGISTRY.get_sample_value("ailib_retry_attempt_total", {"provider": "x"}) is None


def test_prometheus_metrics_sharing_a_registry_share_series():
    """Two PrometheusMetrics given one registry add to the same series instead of failing."""
    registry = CollectorRegistry()
    PrometheusMetrics(registry).incr_counter("hedge.fired", tags={"provider": "x"})
    PrometheusMetrics(registry).incr_counter("hedge.fired", 2, tags={"provider": "x"})
    assert registry.get_sample_value("ailib_hedge_fired_total", {"provider": "x"}) == 3.0


def test_prometheus_label_set_is_fixed_by_first_use():
    """A metric's labels are its first tags: a missing one exports as "", an extra one is dropped."""
    m = PrometheusMetrics()
    m.incr_counter("circuit.opened", tags={"endpoint": "a"})
    m.incr_counter("circuit.opened", tags={"endpoint": "b", "provider": "p"})
    m.incr_counter("circuit.opened")
    r = m.registry
    assert r.get_sample_value("ailib_circuit_opened_total", {"endpoint": "a"}) == 1.0
    assert r.get_sample_value("ailib_circuit_opened_total", {"endpoint": "b"}) == 1.0
    assert r.get_sample_value("ailib_circuit_opened_total", {"endpoint": ""}) == 1.0


def test_prometheus_fixed_labels_apply_to_every_metric():
    """labels=("provider", "model") gives every metric exactly those labels."""
    m = PrometheusMetrics(labels=("provider", "model"))
    m.incr_counter("retry.attempt", tags={"provider": "p"})
    m.observe("request.latency", 0.2, tags={"model": "m", "endpoint": "e"})
    r = m.registry
    assert r.get_sample_value("ailib_retry_attempt_total", {"provider": "p", "model": ""}) == 1.0
    assert r.get_sample_value("ailib_request_latency_seconds_count", {"provider": "", "model": "m"}) == 1.0


def test_prometheus_observe_and_timer_feed_a_latency_histogram():
    """observe() and start_timer() record into ailib_<name>_seconds with buckets, count and sum."""
    m = PrometheusMetrics(buckets=(0.1, 1.0))
    m.observe("request.latency", 0.5, tags={"provider": "p", "model": "m"})
    with m.start_timer("request.latency", tags={"provider": "p", "model": "m"}):
        pass
    r, labels = m.registry, {"provider": "p", "model": "m"}
    assert r.get_sample_value("ailib_request_latency_seconds_count", labels) == 2.0
    assert r.get_sample_value("ailib_request_latency_seconds_bucket", {**labels, "le": "0.1"}) == 1.0
    assert r.get_sample_value("ailib_request_latency_seconds_bucket", {**labels, "le": "1.0"}) == 2.0
    assert 0.5 <= r.get_sample_value("ailib_request_latency_seconds_sum", labels) < 0.6


def test_prometheus_names_and_labels_are_sanitised():
    """Dots and dashes become underscores in names and label names; 'le' is renamed for histograms."""
    m = PrometheusMetrics()
    m.incr_counter("my-app.calls", tags={"x.y": "1"})
    m.observe("wait", 0.1, tags={"le": "z"})
    assert m.registry.get_sample_value("ailib_my_app_calls_total", {"x_y": "1"}) == 1.0
    assert m.registry.get_sample_value("ailib_wait_seconds_count", {"tag_le": "z"}) == 1.0


def test_prometheus_bad_value_never_raises():
    """A negative counter increment is dropped (logged), not raised into the call path."""
    m = PrometheusMetrics()
    m.incr_counter("retry.attempt", -1)
    assert m.registry.get_sample_value("ailib_retry_attempt_total") == 0.0


# -- the adapter for a user's object -----------------------------------------------------------------
class SeedMetrics:
    """The seed's shape: incr_counter(name, value) and start_timer(name) -> a timer with stop()."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, int]] = []
        self.stopped: list[str] = []

    def incr_counter(self, name: str, value: int) -> None:
        self.counts.append((name, value))

    def start_timer(self, name: str) -> Any:
        outer = self

        class Timer:
            def stop(self) -> None:
                outer.stopped.append(name)

        return Timer()


def test_a_seed_shaped_object_receives_the_clients_counters(mock, req):
    """A user object with only incr_counter(name, value) gets retry.attempt from a real call."""
    seed = SeedMetrics()
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_metrics(seed).build()
    mock.enqueue(Fault.http_status(503))
    client.chat_completion(req)
    assert ("retry.attempt", 1) in seed.counts


def test_adapter_timer_calls_the_seed_timers_stop():
    """start_timer on an adapted seed object is a context manager that calls the timer's stop()."""
    seed = SeedMetrics()
    with as_metrics(seed).start_timer("call"):
        assert seed.stopped == []
    assert seed.stopped == ["call"]


def test_adapter_does_not_retry_a_type_error_raised_inside_the_users_method():
    """A TypeError from inside a 3-argument incr_counter propagates once; it is not re-called without tags."""
    calls: list[tuple] = []

    class Buggy:
        def incr_counter(self, name: str, value: int, tags: Any) -> None:
            calls.append((name, value, tags))
            raise TypeError("bug in user code")

    with pytest.raises(TypeError, match="bug in user code"):
        as_metrics(Buggy()).incr_counter("x", 1, {"provider": "p"})
    assert calls == [("x", 1, {"provider": "p"})]


def test_adapter_passes_tags_to_a_method_that_takes_them():
    """An incr_counter(name, value, tags) gets the tags."""
    got: list[tuple] = []

    class Tagged:
        def incr_counter(self, name: str, value: int = 1, tags: Any = None) -> None:
            got.append((name, value, tags))

    as_metrics(Tagged()).incr_counter("retry.attempt", 1, {"provider": "p"})
    assert got == [("retry.attempt", 1, {"provider": "p"})]


def test_adapter_timer_without_start_timer_uses_observe():
    """An object with incr_counter and observe but no start_timer gets the timer's seconds via observe."""
    seen: list[tuple[str, float]] = []

    class WithObserve:
        def incr_counter(self, name: str, value: int = 1) -> None:
            pass

        def observe(self, name: str, seconds: float) -> None:
            seen.append((name, seconds))

    with as_metrics(WithObserve()).start_timer("t", tags={"a": "b"}):
        pass
    assert len(seen) == 1 and seen[0][0] == "t" and seen[0][1] >= 0


def test_as_metrics_rejects_an_object_without_incr_counter():
    """An object that cannot count is a ConfigurationError at build time."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_metrics(object())


def test_as_metrics_keeps_a_complete_object_and_defaults_to_noop():
    """A complete Metrics is used as-is; None becomes NoopMetrics."""
    mem = InMemoryMetrics()
    assert as_metrics(mem) is mem
    assert isinstance(as_metrics(None), NoopMetrics)


@pytest.mark.parametrize(
    "make",
    [NoopMetrics, InMemoryMetrics, PrometheusMetrics, lambda: as_metrics(SeedMetrics())],
    ids=["noop", "memory", "prometheus", "adapted"],
)
def test_start_timer_is_a_context_manager_everywhere(make):
    """Every implementation's start_timer(name, tags) works in a with block and lets exceptions through."""
    metrics = make()
    with metrics.start_timer("t", tags={"provider": "p"}):
        pass
    with pytest.raises(ValueError), metrics.start_timer("t", tags={"provider": "p"}):
        raise ValueError("inside")


def test_in_memory_timer_records_an_observation():
    """InMemoryMetrics.start_timer records one observation of the elapsed seconds."""
    m = InMemoryMetrics()
    with m.start_timer("t"):
        pass
    assert len(m.observations("t")) == 1 and m.snapshot()["observations"] == {"t": 1}


def test_prometheus_has_a_latency_histogram_per_provider_model_and_outcome(mock, req):
    """Each wire attempt is observed in ailib_attempt_latency_seconds with provider, model and outcome labels."""
    metrics = PrometheusMetrics()
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_metrics(metrics).build()
    mock.enqueue(Fault.http_status(503))
    client.chat_completion(req)
    r = metrics.registry
    ok = {"provider": "mock", "model": "mock-model", "outcome": "ok"}
    assert r.get_sample_value("ailib_attempt_latency_seconds_count", ok) == 1.0
    assert r.get_sample_value("ailib_attempt_latency_seconds_count", {**ok, "outcome": "error"}) == 1.0
    assert r.get_sample_value("ailib_attempt_latency_seconds_sum", ok) > 0
