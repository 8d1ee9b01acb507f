"""OpenTelemetry spans from real calls over loopback, seen by the SDK's in-memory exporter."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ailib import (
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    FallbackChain,
    HedgePolicy,
    Message,
    RetryPolicy,
)
from ailib.testing import Fault, MockProvider

from ..conftest import FAST_RETRY

REQ = ChatCompletionRequest("auto", [Message.user("hi")], temperature=0, max_tokens=50)


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


def traced(mock: MockProvider, provider: TracerProvider, retry: RetryPolicy = FAST_RETRY) -> AiClientBuilder:
    return AiClientBuilder(mock.provider()).with_retry(retry).with_tracing(True, tracer_provider=provider)


def wait_for_spans(exporter: InMemorySpanExporter, n: int) -> tuple:
    deadline = time.monotonic() + 20
    while len(exporter.get_finished_spans()) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return exporter.get_finished_spans()


def split(spans: tuple) -> tuple:
    (call,) = [s for s in spans if s.attributes.get("ailib.attempt.number") is None]
    attempts = sorted((s for s in spans if s.attributes.get("ailib.attempt.number") is not None), key=lambda s: s.start_time)
    return call, attempts


def test_a_call_retried_once_is_one_call_span_with_two_attempt_children(mock, provider, exporter):
    """503 then success: one call span, two attempt spans under it (the first with error.type), GenAI attributes set."""
    mock.enqueue(Fault.http_status(503))
    with traced(mock, provider).build() as client:
        client.chat_completion(REQ)
    call, attempts = split(wait_for_spans(exporter, 3))
    assert len(attempts) == 2
    assert all(a.parent.span_id == call.context.span_id and a.context.trace_id == call.context.trace_id for a in attempts)
    assert attempts[0].attributes["error.type"] == "ProviderError" and attempts[0].status.status_code == trace.StatusCode.ERROR
    assert attempts[1].attributes["ailib.attempt.outcome"] == "ok"
    a = call.attributes
    assert call.name == "chat mock-model" and call.parent is None
    assert (a["gen_ai.operation.name"], a["gen_ai.system"], a["gen_ai.request.model"], a["gen_ai.response.model"]) == (
        "chat",
        "mock",
        "mock-model",
        "mock-model",
    )
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (10, 5)
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",) and a["gen_ai.request.max_tokens"] == 50
    assert "error.type" not in a
    (retry,) = [e for e in call.events if e.name == "ailib.retry"]
    assert retry.attributes["error.type"] == "ProviderError" and retry.attributes["wait_seconds"] >= 0


def test_a_hedge_attempt_is_under_the_same_call_span(mock, provider, exporter):
    """A slow primary and a hedge that wins: both attempts are children of the one call span, with fired/won events."""
    mock.enqueue(Fault.delay(3))
    with traced(mock, provider).with_hedging(HedgePolicy(delay=0.05)).build() as client:
        resp = client.chat_completion(REQ)
    assert any(at.hedge and at.outcome == "ok" for at in resp.attempts)
    call, attempts = split(wait_for_spans(exporter, 3))
    assert len(attempts) == 2 and {a.parent.span_id for a in attempts} == {call.context.span_id}
    hedge = [a for a in attempts if a.attributes["ailib.attempt.hedge"]]
    assert [a.attributes["ailib.attempt.outcome"] for a in hedge] == ["ok"]
    names = [e.name for e in call.events]
    assert "ailib.hedge.fired" in names and "ailib.hedge.won" in names


class _SpanOfRecord(logging.Handler):
    """Notes, for each ailib log record, its thread and the trace id current when it was emitted."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.threadName, trace.get_current_span().get_span_context().trace_id))


def test_the_callers_context_reaches_hedge_threads(mock, provider, exporter):
    """A log line written on a hedge thread sees the call's trace as current (context propagated into the thread)."""
    mock.enqueue(Fault.delay(2), Fault.http_status(500))
    capture = _SpanOfRecord()
    logger = logging.getLogger("ailib")
    logger.addHandler(capture)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        with traced(mock, provider).with_hedging(HedgePolicy(delay=0.05)).build() as client:
            client.chat_completion(REQ)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old)
    call, _ = split(wait_for_spans(exporter, 4))
    on_hedge_threads = [tid for thread, tid in capture.seen if thread.startswith("ailib-hedge")]
    assert on_hedge_threads and set(on_hedge_threads) == {call.context.trace_id}


def test_the_call_span_is_a_child_of_the_applications_span(mock, provider, exporter):
    """Inside a web request's span, ailib's call span joins that trace as its child."""
    tracer = provider.get_tracer("app")
    with traced(mock, provider).build() as client, tracer.start_as_current_span("GET /chat") as request_span:
        client.chat_completion(REQ)
    call, _ = split([s for s in wait_for_spans(exporter, 3) if s.name != "GET /chat"])
    assert call.parent.span_id == request_span.get_span_context().span_id


def test_a_stream_span_ends_when_the_stream_ends(mock, provider, exporter):
    """The call span is open while the caller reads, and ends at the stream's end with finish reasons and usage."""
    with traced(mock, provider).build() as client:
        stream = client.chat_completion_stream(REQ)
        assert [s.name for s in exporter.get_finished_spans()] == ["chat mock-model"]  # only the attempt so far
        text = "".join(c.delta_text for c in stream)
    call, attempts = split(wait_for_spans(exporter, 2))
    assert text and len(attempts) == 1 and call.attributes["ailib.stream.finished"] is True
    assert tuple(call.attributes["gen_ai.response.finish_reasons"]) == ("stop",) and call.attributes["gen_ai.usage.output_tokens"] == 5


def test_a_stream_closed_early_ends_its_span(mock, provider, exporter):
    """Leaving a stream before its end ends the call span, marked unfinished."""
    mock.enqueue(Fault.stall_stream(after=2, seconds=30))
    with traced(mock, provider).build() as client:
        with client.chat_completion_stream(REQ) as stream:
            next(iter(stream))
    call, _ = split(wait_for_spans(exporter, 2))
    assert call.attributes["ailib.stream.finished"] is False


def test_fallback_steps_and_circuit_rejections_are_events(mock, provider, exporter):
    """A 500 opens the breaker (threshold 1); the fallback step to the same endpoint is rejected: both are events, and the failed call has error.type."""
    builder = traced(mock, provider).without_retry().fallback(FallbackChain().always("backup-model"))
    with builder.with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=1)).build() as client:
        mock.enqueue(Fault.http_status(500))
        with pytest.raises(AiLibError):
            client.chat_completion(REQ)
    call, attempts = split(wait_for_spans(exporter, 2))
    events = [e.name for e in call.events]
    assert events.index("ailib.fallback.step") < events.index("ailib.circuit.rejected")
    assert (
        call.attributes["error.type"] in ("CircuitOpenError", "AllProvidersFailedError")
        and call.status.status_code == trace.StatusCode.ERROR
    )
    assert len(attempts) == 1 and attempts[0].attributes["error.type"] == "ProviderError"


def test_with_tracing_false_makes_no_spans(mock, provider, exporter):
    """with_tracing(False) turns every span off, even with a provider configured."""
    with AiClientBuilder(mock.provider()).with_tracing(False, tracer_provider=provider).build() as client:
        client.chat_completion(REQ)
        list(client.chat_completion_stream(REQ))
    assert exporter.get_finished_spans() == ()


def test_a_cache_hit_is_a_call_span_without_attempts(mock, provider, exporter):
    """An answer from the cache is one call span marked ailib.cache.hit, with no attempt span."""
    with traced(mock, provider).with_cache("memory").build() as client:
        client.chat_completion(REQ)
        exporter.clear()
        client.chat_completion(REQ)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["ailib.cache.hit"] is True and span.attributes["gen_ai.response.model"] == "mock-model"


_DEFAULT_CLIENT = """
import sys
from ailib import AiClientBuilder, ChatCompletionRequest, Message
from ailib.testing import MockProvider
req = ChatCompletionRequest("auto", [Message.user("hi")])
with MockProvider() as mock, AiClientBuilder(mock.provider()).build() as client:
    client.chat_completion(req)
    before = sorted(m for m in sys.modules if m.startswith("opentelemetry") or m == "ailib._tracing")
    from opentelemetry import trace  # the application sets up OpenTelemetry after the client exists
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(sdk)
    client.chat_completion(req)
print(before, sorted(s.name for s in exporter.get_finished_spans()))
"""


def test_a_default_client_traces_once_the_application_sets_up_opentelemetry():
    """With nothing to call: no OpenTelemetry import before the app uses it, then spans through the global provider."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", _DEFAULT_CLIENT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] ['chat mock-model', 'chat mock-model']"
