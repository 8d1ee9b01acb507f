"""Request tags: labels on a call's metrics, spans and log lines; never sent, never in a cache key."""

from __future__ import annotations

import logging
import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ailib import AiClientBuilder, ChatCompletionRequest, ConfigurationError, InvalidRequestError, Message
from ailib.metrics import InMemoryMetrics, PrometheusMetrics
from ailib.testing import Fault

from ..conftest import FAST_RETRY


def _req(**kw: object) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user("hi")], temperature=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tags",
    [
        {"": "x"},
        {"1st": "x"},
        {"has-dash": "x"},
        {"team": 3},
        {"provider": "x"},
        {"outcome": "x"},
        {"k": "v" * 257},
        {f"t{i}": "v" for i in range(33)},
        ["team"],
    ],
)
def test_invalid_tags_are_refused_at_construction(tags):
    """Tags must map names of letters, digits and _ (not ailib's own labels) to short strings."""
    with pytest.raises(InvalidRequestError):
        _req(tags=tags)


def test_tags_are_kept_and_left_out_of_to_dict_but_read_by_from_dict():
    """A request keeps its tags; to_dict (checkpoint and cache keys) leaves them out; from_dict
    takes a 'tags' key as tags, not as an extra body field."""
    r = _req(tags={"team": "search", "job": "j1"})
    assert r.tags == {"team": "search", "job": "j1"}
    assert "tags" not in r.to_dict()
    back = ChatCompletionRequest.from_dict({"messages": [{"role": "user", "content": "hi"}], "tags": {"team": "a"}})
    assert back.tags == {"team": "a"} and back.extra is None


def test_tags_reach_the_work_counters_and_never_the_provider(mock):
    """Every work counter and observation of a call carries the request's tags, the view's tags
    are merged under them (the request wins), and neither reaches the provider's body."""
    metrics = InMemoryMetrics()
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).with_metrics(metrics).with_prices({"mock-model": (1, 2)}).build()
    view = client.with_options(tags={"team": "view", "job": "nightly"})
    mock.enqueue(Fault.http_status(500))
    view.chat_completion(_req(tags={"team": "search"}))
    for name in ("requests", "attempts", "tokens", "cost_usd", "retry.attempt"):
        assert metrics.counter(name, team="search", job="nightly") > 0, name
        assert metrics.counter(name, team="view") == 0, name
    assert metrics.counter("attempts", team="search", outcome="error") == 1
    body = mock.requests[-1].body.decode()
    assert "tags" not in mock.requests[-1].json and "nightly" not in body and "search" not in body


def test_with_options_refuses_bad_tags():
    """with_options(tags=...) validates like the request does, as a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        AiClientBuilder("openai").with_options(tags={"provider": "x"})


def test_the_builder_sets_default_tags(mock):
    """AiClientBuilder.with_options(tags=...) tags every call of the client it builds."""
    metrics = InMemoryMetrics()
    client = AiClientBuilder(mock.provider()).with_options(tags={"app": "a1"}).with_metrics(metrics).build()
    client.chat_completion(_req())
    assert metrics.counter("requests", app="a1") == 1


def test_tags_are_not_part_of_the_cache_key(mock):
    """Two requests differing only in tags share a cache entry: the second is answered from it."""
    client = AiClientBuilder(mock.provider()).with_cache("memory").build()
    client.chat_completion(_req(tags={"team": "a"}))
    client.chat_completion(_req(tags={"team": "b"}))
    assert len(mock.requests) == 1


def test_tags_become_span_attributes(mock):
    """The call span and each attempt span carry ailib.tag.<name> for each tag."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = AiClientBuilder(mock.provider()).with_tracing(tracer_provider=provider).build()
    client.with_options(tags={"job": "j"}).chat_completion(_req(tags={"team": "search"}))
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["ailib.tag.team"] == "search" and span.attributes["ailib.tag.job"] == "j"


def test_tags_are_on_the_log_lines_of_a_call(mock, ailib_logs):
    """A failed attempt's log line carries the call's tags in its record (extra ailib_tags)."""
    client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build()
    mock.enqueue(Fault.http_status(500))
    client.chat_completion(_req(tags={"team": "search"}))
    lines = [r for r in ailib_logs.records if r.levelno == logging.INFO and "failed" in r.getMessage()]
    assert lines and all(r.ailib_tags == {"team": "search"} for r in lines)


def test_prometheus_takes_only_the_tags_it_names(mock):
    """PrometheusMetrics(tags=["team"]) adds a team label to every metric ("" on untagged calls)
    and drops other request tags; without tags= no request tag becomes a label."""
    named = PrometheusMetrics(tags=["team"])
    plain = PrometheusMetrics()
    for metrics in (named, plain):
        client = AiClientBuilder(mock.provider()).with_metrics(metrics).build()
        client.chat_completion(_req(tags={"team": "search", "job": "j"}))
        client.chat_completion(_req())
    text = named.exposition()
    assert re.search(r'^ailib_requests_total\{model="mock-model",outcome="ok",provider="mock",team="search"\} 1\.0$', text, re.M)
    assert re.search(r'^ailib_requests_total\{model="mock-model",outcome="ok",provider="mock",team=""\} 1\.0$', text, re.M)
    assert "job=" not in text
    plain_text = plain.exposition()
    assert re.search(r'^ailib_requests_total\{model="mock-model",outcome="ok",provider="mock"\} 2\.0$', plain_text, re.M)
    assert "team=" not in plain_text
