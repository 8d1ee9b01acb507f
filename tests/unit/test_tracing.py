"""ailib/_tracing.py on its own: spans, attributes, events and switches, seen by the OTel SDK's in-memory exporter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from ailib import ChatCompletionRequest, ChatCompletionResponse, Choice, Message, ProviderError, Usage
from ailib._tracing import NOOP_CALL, Tracing

ROOT = str(Path(__file__).resolve().parents[2])
REQ = ChatCompletionRequest("gpt-x", [Message.user("secret prompt")], temperature=0, max_tokens=20, extra={"seed": 3})
RESP = ChatCompletionResponse("r1", "gpt-x-2024", "openai", (Choice(0, Message.assistant("secret answer"), "stop"),), Usage(11, 7, 18))


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def test_a_call_span_with_genai_attributes(provider, exporter):
    """A finished call is one CLIENT span named 'chat <model>' with the GenAI request, response and usage attributes."""
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    call.finish(RESP)
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat gpt-x" and span.kind == trace.SpanKind.CLIENT
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
    assert (a["gen_ai.request.model"], a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"], a["gen_ai.request.seed"]) == (
        "gpt-x",
        0,
        20,
        3,
    )
    assert a["gen_ai.response.model"] == "gpt-x-2024" and a["gen_ai.response.id"] == "r1"
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)


def test_attempts_are_children_of_the_call_and_current_while_they_run(provider, exporter):
    """Each attempt is a child span of the call span, and is the current span during the attempt."""
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    token = call.activate()
    first = call.attempt("openai", "gpt-x")
    inner = trace.get_current_span()
    first.end("error", ProviderError("boom", status_code=503))
    second = call.attempt("openai", "gpt-x", hedge=True)
    second.end("ok")
    call.deactivate(token)
    call.finish(RESP)
    spans = exporter.get_finished_spans()
    call_span = spans[-1]
    attempts = spans[:-1]
    assert [s.parent.span_id for s in attempts] == [call_span.context.span_id] * 2
    assert inner.get_span_context().span_id == attempts[0].context.span_id
    assert attempts[0].attributes["error.type"] == "ProviderError" and attempts[0].status.status_code == trace.StatusCode.ERROR
    assert attempts[0].attributes["http.response.status_code"] == 503
    assert [s.attributes["ailib.attempt.number"] for s in attempts] == [1, 2]
    assert attempts[1].attributes["ailib.attempt.hedge"] is True and "error.type" not in attempts[1].attributes
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_cancelled_attempt_is_not_an_error(provider, exporter):
    """A hedge that lost ends with outcome cancelled and no error status."""
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    call.attempt("openai", "gpt-x", hedge=True).end("cancelled", ProviderError("x"))
    (span,) = exporter.get_finished_spans()
    assert span.attributes["ailib.attempt.outcome"] == "cancelled" and span.status.status_code == trace.StatusCode.UNSET


def test_events_land_on_the_call_span(provider, exporter):
    """event() adds an 'ailib.<name>' event with its attributes (None values left out)."""
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    call.event("retry", wait_seconds=0.5, **{"error.type": "ProviderError", "skip": None})
    call.event("hedge.fired", provider="openai")
    call.finish(RESP)
    (span,) = exporter.get_finished_spans()
    assert [e.name for e in span.events] == ["ailib.retry", "ailib.hedge.fired"]
    assert dict(span.events[0].attributes) == {"wait_seconds": 0.5, "error.type": "ProviderError"}


def test_a_failed_call_carries_its_error_type_and_ends_once(provider, exporter):
    """fail() sets error.type and an error status; a second end is ignored."""
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    call.fail(ProviderError("nope"))
    call.finish(RESP)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"] == "ProviderError" and span.status.status_code == trace.StatusCode.ERROR
    assert "gen_ai.response.model" not in span.attributes


def test_no_prompt_or_completion_text_by_default(provider, exporter, monkeypatch):
    """Without the switch no attribute or event holds the prompt or the answer."""
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    call = Tracing(tracer_provider=provider).start_call(REQ, stream=False, system="openai")
    call.finish(RESP)
    (span,) = exporter.get_finished_spans()
    dump = repr(dict(span.attributes)) + repr([e.attributes for e in span.events])
    assert "secret" not in dump


def test_capture_content_records_prompt_and_answer(provider, exporter):
    """capture_content=True records the input and output messages."""
    call = Tracing(tracer_provider=provider, capture_content=True).start_call(REQ, stream=False, system="openai")
    call.finish(RESP)
    (span,) = exporter.get_finished_spans()
    assert "secret prompt" in span.attributes["gen_ai.input.messages"] and "secret answer" in span.attributes["gen_ai.output.messages"]


def test_the_standard_env_switch_turns_content_capture_on(monkeypatch):
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true is the same switch."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    assert Tracing().capture_content is True


def test_disabled_or_unsampled_tracing_is_the_noop(provider, exporter):
    """enabled=False, and a sampler that records nothing, both give the shared no-op and no span."""
    assert Tracing(False, tracer_provider=provider).start_call(REQ, stream=False, system="openai") is NOOP_CALL
    off = TracerProvider(sampler=ALWAYS_OFF)
    off.add_span_processor(SimpleSpanProcessor(exporter))
    assert Tracing(tracer_provider=off).start_call(REQ, stream=False, system="openai") is NOOP_CALL
    assert exporter.get_finished_spans() == ()


def _run(code: str, *extra_env: tuple[str, str]) -> str:
    env = {**os.environ, "PYTHONPATH": ROOT, **dict(extra_env)}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_global_tracer_provider_is_used_with_nothing_to_call():
    """With an SDK configured globally by the app (even after the tracer was first used), spans appear."""
    out = _run(
        """
        from ailib import ChatCompletionRequest, Message
        from ailib._tracing import Tracing
        req = ChatCompletionRequest("m", [Message.user("hi")])
        t = Tracing()
        t.start_call(req, stream=False, system="openai").fail(ValueError())  # before the app configures an SDK
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exp = InMemorySpanExporter()
        p = TracerProvider(); p.add_span_processor(SimpleSpanProcessor(exp)); trace.set_tracer_provider(p)
        t.start_call(req, stream=False, system="openai").fail(ValueError())
        print([s.name for s in exp.get_finished_spans()])
        """
    )
    assert out == "['chat m']"


def test_importing_ailib_never_imports_opentelemetry():
    """import ailib (and building a Tracing) leaves opentelemetry unimported; the first call imports it."""
    out = _run(
        """
        import sys
        import ailib
        from ailib._tracing import Tracing
        t = Tracing()
        before = any(m.startswith("opentelemetry") for m in sys.modules)
        t.start_call(ailib.ChatCompletionRequest("m", [ailib.Message.user("hi")]), stream=False, system="x")
        print(before, "opentelemetry.trace" in sys.modules)
        """
    )
    assert out == "False True"


def test_without_opentelemetry_installed_tracing_is_a_silent_noop():
    """When opentelemetry cannot be imported, calls get the no-op trace and nothing fails."""
    out = _run(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(name)
        sys.meta_path.insert(0, Block())
        import ailib
        from ailib._tracing import NOOP_CALL, Tracing
        call = Tracing().start_call(ailib.ChatCompletionRequest("m", [ailib.Message.user("hi")]), stream=False, system="x")
        print(call is NOOP_CALL, any(m.startswith("opentelemetry") for m in sys.modules))
        """
    )
    assert out == "True False"


def test_the_span_is_named_after_the_resolved_model_and_may_name_another_error_type(provider, exporter):
    """start_call(model=...) names the span and gen_ai.request.model; fail(error_type=...) overrides the class name."""
    call = Tracing(tracer_provider=provider).start_call(
        ChatCompletionRequest("auto", [Message.user("x")]), stream=True, system="gemini", model="g-1"
    )
    call.fail(ProviderError("cut"), error_type="StreamInterruptedError")
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.attributes["gen_ai.request.model"], span.attributes["gen_ai.system"]) == ("chat g-1", "g-1", "gcp.gemini")
    assert span.attributes["error.type"] == "StreamInterruptedError"


def test_cache_usage_attributes(provider, exporter):
    """Reported cache reads and writes are gen_ai.usage.cache_read/cache_creation.input_tokens; unreported ones are left out."""
    tracing = Tracing(tracer_provider=provider)
    call = tracing.start_call(REQ, stream=False, system="anthropic")
    call.finish(attrs.evolve(RESP, usage=Usage(100, 7, 107, cached_tokens=60, cache_write_tokens=20)))
    call = tracing.start_call(REQ, stream=False, system="openai")
    call.finish(RESP)
    detailed, plain = (s.attributes for s in exporter.get_finished_spans())
    assert (detailed["gen_ai.usage.cache_read.input_tokens"], detailed["gen_ai.usage.cache_creation.input_tokens"]) == (60, 20)
    assert "gen_ai.usage.cache_read.input_tokens" not in plain and "gen_ai.usage.cache_creation.input_tokens" not in plain
