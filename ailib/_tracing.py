"""OpenTelemetry spans for calls and wire attempts (extra ``otel``), behind a narrow interface.

The call path talks to three small objects and never to OpenTelemetry itself:

- ``Tracing.start_call(request, stream=..., system=...)`` → a ``CallTrace`` (one span per call);
- ``CallTrace``: ``activate()``/``deactivate(token)`` (the span is current while the call
  runs), ``attempt(provider, model, hedge=...)`` → an ``AttemptTrace`` (a child span, current
  while the attempt runs), ``event(name, **attrs)``, ``cached(hit)``, ``finish(response)``,
  ``finish_stream(stream)``, ``fail(error)``;
- ``AttemptTrace``: ``end(outcome, error)``.

With tracing off, without ``opentelemetry-api``, or when the application's sampler does
not record the call, these are shared no-op objects. ``opentelemetry`` is imported on the
first traced call, never by ``import ailib``. Spans follow the OpenTelemetry GenAI
semantic conventions; prompt and completion text are recorded only with
``capture_content=True`` (or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Optional

from ._trace_api import NOOP_ATTEMPT, NOOP_CALL, AttemptTrace, CallTrace

__all__ = ["Tracing", "CallTrace", "AttemptTrace", "NOOP_CALL", "NOOP_ATTEMPT", "gen_ai_system"]

# ailib provider names → the GenAI conventions' well-known gen_ai.system values
_SYSTEMS = {
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "azure_openai": "az.ai.openai",
    "qwen": "dashscope",
    "zhipu": "zhipu_ai",
    "xai": "xai",
}
_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def gen_ai_system(provider: str) -> str:
    return _SYSTEMS.get(provider, provider)


class Tracing:
    """A client's tracing switch: on by default, off with ``enabled=False``.

    ``tracer_provider`` defaults to OpenTelemetry's global one (so spans appear as soon as
    the application configures an SDK); ``capture_content`` records prompts and answers.
    """

    def __init__(self, enabled: bool = True, *, tracer_provider: Any = None, capture_content: Optional[bool] = None) -> None:
        self.enabled = bool(enabled)
        self.tracer_provider = tracer_provider
        if capture_content is None:
            capture_content = os.environ.get(_CONTENT_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        self.capture_content = bool(capture_content)
        self._api: Any = None  # the opentelemetry API bundle, once resolved
        self._resolved = False
        self._lock = threading.Lock()

    def start_call(self, request: Any, *, stream: bool, system: str, model: Optional[str] = None) -> CallTrace:
        """A span for one call of ``request`` (``system``/``model``: the first target's
        provider and resolved model; ``model`` defaults to the request's)."""
        if not self.enabled:
            return NOOP_CALL
        api = self._api if self._resolved else self._resolve()
        if api is None:
            return NOOP_CALL
        model = model or request.model
        span = api.tracer.start_span(f"{_operation(request)} {model}", kind=api.CLIENT)
        if not span.is_recording():
            span.end()
            return NOOP_CALL
        return _OtelCall(api, span, request, stream, system, model, self.capture_content)

    def _resolve(self) -> Any:
        with self._lock:
            if not self._resolved:
                self._api = _load_api(self.tracer_provider)
                self._resolved = True
            return self._api


class _Api:
    """The handful of OpenTelemetry names the spans use, imported once."""

    def __init__(self, tracer_provider: Any) -> None:
        from opentelemetry import context, trace

        from ._version import __version__

        self.tracer = trace.get_tracer("ailib", __version__, tracer_provider=tracer_provider)
        self.CLIENT = trace.SpanKind.CLIENT
        self.set_span_in_context = trace.set_span_in_context
        self.attach = context.attach
        self.detach = context.detach
        self.Status = trace.Status
        self.ERROR = trace.StatusCode.ERROR


def _load_api(tracer_provider: Any) -> Optional[_Api]:
    try:
        return _Api(tracer_provider)
    except ImportError:
        return None


def _operation(request: Any) -> str:
    """The GenAI operation name: ``embeddings`` for an embedding request, else ``chat``."""
    return "chat" if hasattr(request, "messages") else "embeddings"


def _request_attributes(request: Any, system: str, model: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": _operation(request),
        "gen_ai.system": gen_ai_system(system),
        "gen_ai.request.model": model,
    }
    if not hasattr(request, "messages"):  # an embedding: its size and the dimensions asked for
        attrs["ailib.embeddings.inputs"] = len(request.input)
        if request.dimensions is not None:
            attrs["gen_ai.embeddings.dimension.count"] = request.dimensions
        return attrs
    for name, key in (("temperature", "temperature"), ("max_tokens", "max_tokens"), ("top_p", "top_p")):
        value = getattr(request, name)
        if value is not None:
            attrs[f"gen_ai.request.{key}"] = value
    if request.stop:
        attrs["gen_ai.request.stop_sequences"] = list(request.stop)
    extra = request.extra or {}
    seed = extra.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        attrs["gen_ai.request.seed"] = seed
    attrs.update(_tag_attributes(request))
    return attrs


def _tag_attributes(request: Any) -> dict[str, str]:
    """The request's tags as span attributes ``ailib.tag.<name>``."""
    tags = getattr(request, "tags", None)
    return {f"ailib.tag.{k}": v for k, v in tags.items()} if tags else {}


class _OtelCall(CallTrace):
    __slots__ = ("api", "span", "request", "capture", "attempts", "_lock", "_ended")

    def __init__(self, api: _Api, span: Any, request: Any, stream: bool, system: str, model: str, capture: bool) -> None:
        self.api = api
        self.span = span
        self.request = request
        self.capture = capture
        self.attempts = 0
        self._lock = threading.Lock()
        self._ended = False
        span.set_attributes(_request_attributes(request, system, model))
        span.set_attribute("ailib.stream", stream)
        if capture and hasattr(request, "messages"):
            span.set_attribute("gen_ai.input.messages", json.dumps([m.to_dict() for m in request.messages], ensure_ascii=False))

    def activate(self) -> Any:
        return self.api.attach(self.api.set_span_in_context(self.span))

    def deactivate(self, token: Any) -> None:
        if token is not None:
            self.api.detach(token)

    def attempt(self, provider: str, model: str, *, hedge: bool = False, endpoint: str = "") -> AttemptTrace:
        api = self.api
        with self._lock:
            self.attempts += 1
            number = self.attempts
        operation = _operation(self.request)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": gen_ai_system(provider),
            "gen_ai.request.model": model,
            "ailib.attempt.number": number,
            "ailib.attempt.hedge": hedge,
        }
        if endpoint:
            attrs["ailib.endpoint"] = endpoint
        attrs.update(_tag_attributes(self.request))
        span = api.tracer.start_span(f"{operation} {model}", context=api.set_span_in_context(self.span), kind=api.CLIENT, attributes=attrs)
        return _OtelAttempt(api, span, api.attach(api.set_span_in_context(span)))

    def event(self, name: str, **attrs: Any) -> None:
        self.span.add_event(f"ailib.{name}", {k: v for k, v in attrs.items() if v is not None})

    def cached(self, hit: bool) -> None:
        self.span.set_attribute("ailib.cache.hit", hit)

    def _end(self) -> bool:
        with self._lock:
            if self._ended:
                return False
            self._ended = True
            return True

    def finish(self, response: Any) -> None:
        if not self._end():
            return
        span = self.span
        attrs: dict[str, Any] = {"gen_ai.system": gen_ai_system(response.provider), "gen_ai.response.model": response.model}
        if not hasattr(response, "choices"):  # an embedding response
            _usage_attributes(attrs, response.usage)
            span.set_attributes(attrs)
            span.end()
            return
        if response.id:
            attrs["gen_ai.response.id"] = response.id
        reasons = [c.finish_reason for c in response.choices if c.finish_reason]
        if reasons:
            attrs["gen_ai.response.finish_reasons"] = reasons
        _usage_attributes(attrs, response.usage)
        span.set_attributes(attrs)
        if self.capture:
            span.set_attribute("gen_ai.output.messages", json.dumps(_output(response.text, response.finish_reason), ensure_ascii=False))
        span.end()

    def finish_stream(self, stream: Any) -> None:
        if not self._end():
            return
        span = self.span
        attrs: dict[str, Any] = {
            "gen_ai.system": gen_ai_system(stream.provider),
            "gen_ai.response.model": stream.model,
            "ailib.stream.finished": bool(stream.finished),
        }
        if stream.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = [stream.finish_reason]
        _usage_attributes(attrs, stream.usage)
        span.set_attributes(attrs)
        if self.capture:
            span.set_attribute("gen_ai.output.messages", json.dumps(_output(stream.text, stream.finish_reason), ensure_ascii=False))
        span.end()

    def fail(self, error: BaseException, *, error_type: Optional[str] = None) -> None:
        if not self._end():
            return
        _set_error(self.api, self.span, error, error_type)
        self.span.end()


class _OtelAttempt(AttemptTrace):
    __slots__ = ("api", "span", "token")

    def __init__(self, api: _Api, span: Any, token: Any) -> None:
        self.api = api
        self.span = span
        self.token = token

    def end(self, outcome: str = "ok", error: Optional[BaseException] = None) -> None:
        token, self.token = self.token, None
        if token is None:
            return
        self.api.detach(token)
        self.span.set_attribute("ailib.attempt.outcome", outcome)
        if error is not None and outcome == "error":
            _set_error(self.api, self.span, error)
        self.span.end()


def _set_error(api: _Api, span: Any, error: BaseException, error_type: Optional[str] = None) -> None:
    """``error.type`` and an error status naming the class only (no message: it may quote input)."""
    name = error_type or type(error).__name__
    span.set_attribute("error.type", name)
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        span.set_attribute("http.response.status_code", status)
    span.set_status(api.Status(api.ERROR, name))


def _usage_attributes(attrs: dict[str, Any], usage: Any) -> None:
    if usage is not None:
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if usage.cached_tokens is not None:  # both are parts of input_tokens, as the conventions say
            attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
        if usage.cache_write_tokens is not None:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens


def _output(text: str, finish_reason: Optional[str]) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": text, "finish_reason": finish_reason}]
