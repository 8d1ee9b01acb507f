"""What every wire format shares: the translator interface and HTTP error classification."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, cast

import attrs

from .._headers import parse_retry_after, parse_should_retry, rate_limit_headers, request_id
from .._secrets import clip, longest, mask, remember, remember_headers
from ..errors import (
    AiLibError,
    AuthenticationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    ProviderError,
    QuotaExceededError,
    RateLimitExceeded,
    TimeoutError,
)
from ..types import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Citation,
    Content,
    Message,
    ReasoningPart,
    Role,
    ServerToolPart,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
)
from ._registry import ProviderSpec

if TYPE_CHECKING:
    from .._sse import SseEvent

__all__ = [
    "WireFormat",
    "StreamDecoder",
    "classify_http_error",
    "decode_body",
    "error_from_response",
    "remember_secret",
    "remember_headers",
    "mask_secrets",
    "clip",
    "merge_extra",
]

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length", "max_tokens_exceeded", "request_too_large"}
# Compiled (and cached by ``re``) on the first error that needs it, not at import.
_CONTEXT_TEXT = r"(?i)context[ _-]length|maximum context|context window|prompt is too long|too many tokens|exceeds the maximum number of tokens|input is too long"
_FILTER_CODES = {"content_filter", "content_policy_violation", "safety", "prohibited_content", "blocked"}
_QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"}
# Where a provider says "no wait will fix this" only in its message text (DESIGN principle 5),
# the text is matched narrowly, together with the status and code it comes with:
# - Anthropic, 400 invalid_request_error: "Your credit balance is too low to access the Anthropic API. ..."
_CREDIT_TEXT = r"(?i)\bcredit balance is too low\b"
# - OpenAI, 429 rate_limit_exceeded: "Request too large for gpt-4o in organization org-x on tokens per
#   min (TPM): Limit 30000, Requested 250011. ..." A request above the limit itself (Requested >
#   Limit) can never fit in a window; "Limit 30000, Used 29937, Requested 385" waits and fits.
_LIMIT_TEXT = r"\bLimit (\d[\d,]*), (?:Used \d[\d,]*, )?Requested (\d[\d,]*)"
_TOO_LARGE_TEXT = "Request too large"
_NOT_FOUND_CODES = {"model_not_found", "not_found", "not_found_error"}
# Provider codes meaning a bad/missing key even when the status is not 401/403 (Gemini: 400 API_KEY_INVALID).
_AUTH_CODES = {"api_key_invalid"}
_OVERLOADED_CODES = {"overloaded_error", "overloaded", "unavailable", "server_error", "api_error", "internal"}


# Secrets (remember, mask, clip) live in ailib._secrets; these names stay importable from here.
remember_secret = remember
mask_secrets = mask


def classify_http_error(
    status: int,
    headers: Mapping[str, str],
    *,
    message: str,
    codes: tuple[str, ...] = (),
    provider: Optional[str] = None,
    model: Optional[str] = None,
    now: float = 0.0,
    body: Any = None,
    retry_after: Optional[float] = None,
) -> AiLibError:
    """Map an HTTP status plus the provider's error codes/message onto the error tree.

    ``retry_after`` is a wait the error body asked for (Gemini's ``RetryInfo``), used when
    the headers (``retry-after-ms``, ``Retry-After``) give none.
    """
    codes_l = {c.lower() for c in codes if c}
    message = mask_secrets(message)
    header_wait = parse_retry_after(headers, now)
    kw: dict[str, Any] = dict(
        provider=provider,
        model=model,
        status_code=status,
        request_id=request_id(headers),
        retry_after=header_wait if header_wait is not None else retry_after,
        should_retry=parse_should_retry(headers),
        body=body,
    )
    if codes_l & _CONTEXT_CODES or (status in (400, 413, 422) and re.search(_CONTEXT_TEXT, message)):
        return ContextLengthExceededError(message or "context length exceeded", **kw)
    if codes_l & _FILTER_CODES:
        return ContentFilteredError(message or "content filtered", **kw)
    if _out_of_credit(status, codes_l, message):
        return QuotaExceededError(message or "quota exceeded", **kw)
    if status == 429:
        if _larger_than_limit(message):
            return QuotaExceededError(message, **kw)
        return RateLimitExceeded(message or "rate limited", **kw)
    if status in (401, 403) or codes_l & _AUTH_CODES:
        return AuthenticationError(message or "authentication failed", **kw)
    if status == 404 or codes_l & _NOT_FOUND_CODES:
        return ModelNotFoundError(message or "not found", **kw)
    if status == 408:
        return TimeoutError(message or "the provider timed out the request", phase="server", **kw)
    if status >= 500 or status == 409 or codes_l & _OVERLOADED_CODES:
        return ProviderError(message or f"provider error {status}", **kw)
    if 400 <= status < 500:
        return InvalidRequestError(message or f"invalid request ({status})", **kw)
    if 300 <= status < 400:
        location = headers.get("location", "")
        return ProtocolError(f"unexpected redirect ({status}) to {_host_of(location)!r}; redirects are not followed", **kw)
    return ProtocolError(message or f"unexpected HTTP status {status}", **kw)


def _out_of_credit(status: int, codes: set[str], message: str) -> bool:
    """The account cannot pay for the call: 402 Payment Required (DeepSeek "Insufficient Balance",
    Anthropic ``billing_error``), a quota code (OpenAI ``insufficient_quota``) with any 4xx, or
    Anthropic's 400 "credit balance is too low"."""
    if status == 402 or (status < 500 and codes & _QUOTA_CODES):
        return True
    return status == 400 and "invalid_request_error" in codes and re.search(_CREDIT_TEXT, message) is not None


def _larger_than_limit(message: str) -> bool:
    """A 429 whose request alone is above the per-minute limit: no wait lets it through."""
    found = re.search(_LIMIT_TEXT, message)
    if found is None:
        return message.startswith(_TOO_LARGE_TEXT)
    limit, requested = (int(n.replace(",", "")) for n in found.groups())
    return requested > limit


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0] if url else ""


def _snippet(body: bytes) -> str:
    text = mask(body[: 300 + 4 * longest()].decode("utf-8", "replace"))
    text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text[:160]


def error_from_response(
    wire: WireFormat, status: int, headers: Mapping[str, str], body: bytes, *, provider: str, model: str, now: float
) -> AiLibError:
    """Classify a non-2xx response from its status and (if JSON) the format's error body."""
    message, codes, data = "", cast("tuple[str, ...]", ()), None
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        data = None
    if isinstance(data, (dict, list)):
        try:
            message, codes = wire.error_details(data)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError):
            message, codes = "", ()
    if not message:
        snippet = _snippet(body) if body else ""
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    wait = wire.retry_delay(data) if data is not None else None
    err = classify_http_error(
        status, headers, message=message, codes=codes, provider=provider, model=model, now=now, body=data, retry_after=wait
    )
    limits = rate_limit_headers(headers)
    if limits:  # what the endpoint's rate limiter learns from (call/guard.py)
        err._rate_limit_headers = limits
    return err


def unsupported_part(provider: str, model: str, part: Content, where: str = "", hint: str = "") -> InvalidRequestError:
    """The error for a content part a format cannot send (raised before anything is sent):
    ``"anthropic does not support audio (audio/wav) in user messages; nothing was sent"``."""
    place = f" in {where}" if where else ""
    more = f" ({hint})" if hint else ""
    return InvalidRequestError(f"{provider} does not support {part.label}{place}{more}; nothing was sent", provider=provider, model=model)


def media_parts(m: Message) -> list[Content]:
    """The parts of ``m`` that are neither text nor JSON (images, audio, files)."""
    c = m.content
    if c is None or isinstance(c, str):
        return []
    return [p for p in m.parts() if not p.is_text]


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge a request's ``extra`` into the encoded ``body``, deeply: where both hold an object
    the two are merged key by key (so ``{"generationConfig": {"thinkingConfig": ...}}`` keeps the
    ``maxOutputTokens`` ailib put there); any other value (a list, a string, a number) replaces
    the body's. ``extra`` and the objects it holds are never changed; a body object it reaches
    into is copied first (it may be the caller's, e.g. a ``response_format``)."""
    for key, value in extra.items():
        old = body.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged = dict(old)
            merge_extra(merged, value)
            body[key] = merged
        else:
            body[key] = value


# -- building decoded values fast -------------------------------------------------------------------
# A decoded answer is already in the form the types' converters produce, so the hot path builds
# it without running them. Each shortcut checks the class's shape once, at import, and falls back
# to the plain constructor if the class ever changes (tests compare both ways of building).
_new = object.__new__
_set = object.__setattr__
_ASSISTANT = Role.ASSISTANT
_MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_parts", "citations", "server_tool_parts")
_FAST_MESSAGE = tuple(a.name for a in attrs.fields(Message)) == _MESSAGE_FIELDS and set(getattr(Message, "__slots__", ())) <= {
    *_MESSAGE_FIELDS,
    "__weakref__",
}
_message_post_init = getattr(Message, "__attrs_post_init__", None)  # its checks still run
_RESPONSE_FIELDS = ("id", "model", "provider", "choices", "usage", "attempts", "raw")
_POSITIONAL_RESPONSE = tuple(a.name for a in attrs.fields(ChatCompletionResponse))[:7] == _RESPONSE_FIELDS


def assistant_message(
    content: Optional[str],
    tool_calls: Optional[tuple[ToolCall, ...]] = None,
    reasoning_parts: tuple[ReasoningPart, ...] = (),
    citations: tuple[Citation, ...] = (),
    server_tool_parts: tuple[ServerToolPart, ...] = (),
) -> Message:
    """``Message(Role.ASSISTANT, content, tool_calls=tool_calls, reasoning_parts=..., citations=...,
    server_tool_parts=...)`` for a str-or-None ``content``, a tuple-of-``ToolCall``-or-None
    ``tool_calls`` and tuples of parts (what the converters would return unchanged)."""
    if not _FAST_MESSAGE:
        return Message(
            _ASSISTANT,
            content,
            tool_calls=tool_calls,
            reasoning_parts=reasoning_parts,
            citations=citations,
            server_tool_parts=server_tool_parts,
        )
    m = _new(Message)
    _set(m, "role", _ASSISTANT)
    _set(m, "content", content)
    _set(m, "name", None)
    _set(m, "tool_calls", tool_calls)
    _set(m, "tool_call_id", None)
    _set(m, "reasoning_parts", reasoning_parts)
    _set(m, "citations", citations)
    _set(m, "server_tool_parts", server_tool_parts)
    if _message_post_init is not None:
        _message_post_init(m)
    return m


def response(id: str, model: str, provider: str, choices: tuple[Choice, ...], usage: Any, raw: Any) -> ChatCompletionResponse:
    """``ChatCompletionResponse(id=.., model=.., provider=.., choices=.., usage=.., raw=..)``, positionally
    (keyword matching costs as much as the rest of the construction)."""
    if _POSITIONAL_RESPONSE:
        return ChatCompletionResponse(id, model, provider, choices, usage, (), raw)
    return ChatCompletionResponse(id=id, model=model, provider=provider, choices=choices, usage=usage, raw=raw)


def token_count(value: Any) -> Optional[int]:
    """A usage detail's token count, or None when the provider did not report one (absent, null
    or not a number): a detail left out is "not reported", never 0."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _shape_error(message: str, headers: Mapping[str, str], status: int, provider: str, model: str) -> ProtocolError:
    # The request id is read here, on the error path only: a good answer never pays for it.
    return ProtocolError(message, provider=provider, model=model, status_code=status, request_id=request_id(headers))


def decode_body(
    wire: WireFormat, status: int, headers: Mapping[str, str], body: bytes, *, provider: str, model: str, now: float
) -> ChatCompletionResponse:
    """A complete HTTP response → a response, or the classified error it means."""
    if not 200 <= status < 300:
        raise error_from_response(wire, status, headers, body, provider=provider, model=model, now=now)
    ctype = headers.get("content-type") or ""
    if ctype and "json" not in ctype and "json" not in ctype.lower():
        raise _shape_error(f"expected a JSON response, got content type {ctype!r}: {_snippet(body)!r}", headers, status, provider, model)
    if not body:
        raise _shape_error("empty response body", headers, status, provider, model)
    try:
        data = json.loads(body)  # no Content-Type at all (a hand-made mock's): JSON if it parses, as openai-python does
    except json.JSONDecodeError as exc:
        if not ctype:
            raise _shape_error(
                f"expected a JSON response, got no content type and: {_snippet(body)!r}", headers, status, provider, model
            ) from None
        raise _shape_error(f"malformed JSON in response ({exc.msg} at byte {exc.pos})", headers, status, provider, model) from None
    except (ValueError, RecursionError) as exc:  # bytes that are not UTF-8; nesting deeper than the parser goes
        raise _shape_error(f"malformed JSON in response ({type(exc).__name__}: {exc})", headers, status, provider, model) from None
    if data.__class__ is not dict and not isinstance(data, dict):
        raise _shape_error(f"expected a JSON object, got {type(data).__name__}", headers, status, provider, model)
    try:
        return wire.decode(data, provider=provider, model=model, headers=headers)
    except AiLibError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        message = f"unexpected {wire.name} response shape: {type(exc).__name__}: {mask_secrets(str(exc))}"
        raise _shape_error(message, headers, status, provider, model) from None


def error_object(data: Any) -> Mapping[str, Any]:
    """The JSON object an error body holds (some streams wrap it in a one-item list)."""
    if isinstance(data, list) and data:
        data = data[0]
    return data if isinstance(data, Mapping) else {}


class StreamDecoder:
    """Turns one stream's SSE events into ``StreamChunk``s; ``finish`` checks it ended properly."""

    terminal_name = "the terminal event"

    def __init__(self, *, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.done = False

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        raise NotImplementedError

    @property
    def complete(self) -> bool:
        """Nothing the caller needs can follow: the stream stops reading here, without waiting
        for the server to end the body. The terminal event, unless a format says otherwise."""
        return self.done

    def finish(self) -> None:
        """Called at end of stream: a stream without its terminal event is a failure.

        It is an incomplete transfer, like a reset, so it is a (retryable) ``NetworkError``:
        before the first content chunk the call retries; after it, the caller gets
        ``StreamInterruptedError``.
        """
        if not self.done:
            raise NetworkError(
                f"stream ended without {self.terminal_name} (cut short)", provider=self.provider, model=self.model, request_sent=True
            )

    format_name = "stream"  # named in shape errors
    response_id: Optional[str] = None  # the provider's id for the answer, once an event has named it
    raw: Any = None  # the event being decoded (its JSON object), which the chunks it gives carry as ``raw``
    # Event names (the ``event:`` field) that carry nothing a stream needs (keep-alive pings,
    # ends of content blocks): their data is never decoded.
    quiet_events: frozenset[str] = frozenset()

    def _event_object(self, event: SseEvent, *, unwrap_list: bool = False) -> Optional[dict[str, Any]]:
        """The event's JSON object; None for a blank or quiet event, or after the terminal one."""
        text = event.data
        if self.done or not text or text.isspace() or event.event in self.quiet_events:
            return None
        data = self._json(text)
        if unwrap_list and isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise ProtocolError(f"stream event is not a JSON object: {clip(event.data, 80)!r}", provider=self.provider, model=self.model)
        return data

    def _dispatch(self, handle: Any, *args: Any) -> list[StreamChunk]:
        """Run a format's event handler; a missing field or wrong type is a ProtocolError."""
        try:
            chunks: list[StreamChunk] = handle(*args)
            return chunks
        except AiLibError:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            raise ProtocolError(
                f"unexpected {self.format_name} stream event shape: {type(exc).__name__}: {mask_secrets(str(exc))}",
                provider=self.provider,
                model=self.model,
            ) from None

    def _chunk(self, text: str = "", deltas: tuple[ToolCallDelta, ...] = (), reasoning: str = "") -> list[StreamChunk]:
        return [StreamChunk(text, deltas, provider=self.provider, model=self.model, raw=self.raw, delta_reasoning=reasoning)]

    def _json(self, data: str) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise ProtocolError(f"malformed JSON in stream event: {clip(data, 80)!r}", provider=self.provider, model=self.model) from None


class WireFormat:
    """A pure translator between ailib types and one provider API format."""

    name = "base"
    stream_accept = "text/event-stream"

    def auth_headers(self, api_key: Optional[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def static_headers(self, spec: ProviderSpec, api_key: Optional[str], extra: Optional[Mapping[str, str]]) -> dict[str, str]:
        """Headers sent with every request to an endpoint, computed once per client."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.auth_headers(api_key))
        headers.update(spec.headers)
        if extra:
            headers.update(extra)
        remember_headers(api_key, headers)
        return headers

    def chat_url(self, base_url: str, model: str, stream: bool) -> str:
        raise NotImplementedError

    def models_url(self, base_url: str) -> str:
        raise NotImplementedError

    def encode(self, request: ChatCompletionRequest, model: str, *, stream: bool, spec: ProviderSpec) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, data: dict[str, Any], *, provider: str, model: str, headers: Mapping[str, str]) -> ChatCompletionResponse:
        raise NotImplementedError

    def stream_decoder(self, *, provider: str, model: str) -> StreamDecoder:
        raise NotImplementedError

    error_code_keys: tuple[str, ...] = ("code", "type", "status")  # fields of the error object, in order

    def error_details(self, data: Any) -> tuple[str, tuple[str, ...]]:
        """(message, codes) from a parsed error body: ``{"error": {...}}``, ``{"error": "text"}``,
        a bare error object, or one wrapped in a list; anything else gives no codes."""
        top = error_object(data)
        err = top.get("error", top)
        if isinstance(err, str):
            return err, ()
        if not isinstance(err, Mapping):  # "error": null, a number, a list
            return str(top.get("message") or ""), ()
        message = str(err.get("message") or top.get("message") or "")
        return message, tuple(str(err[k]) for k in self.error_code_keys if err.get(k))

    def retry_delay(self, data: Any) -> Optional[float]:
        """The wait (seconds) a parsed error body asks for, when the format puts one there."""
        return None

    def decode_models(self, data: Any) -> list[str]:
        raise NotImplementedError

    # Whether the format sends ``ChatCompletionRequest.cached_content`` (Gemini) and more than one
    # answer (``n``); the others refuse such a request before sending (``check_request_options``).
    takes_cached_content = False
    takes_n = False

    def check_request_options(self, request: ChatCompletionRequest, spec: ProviderSpec, model: str) -> None:
        """``InvalidRequestError`` for ``cached_content`` or ``n > 1`` where the format has no such thing
        (also called by ``encode``, which batch uploads run without ``check_supported``)."""
        if request.cached_content is not None and not self.takes_cached_content:
            raise InvalidRequestError(
                f"{spec.name} does not support cached_content (a Gemini cached content holding the start of the prompt; "
                "without it the prompt would go incomplete); nothing was sent",
                provider=spec.name,
                model=model,
            )
        if request.n is not None and request.n > 1 and not self.takes_n:
            raise InvalidRequestError(
                f"{spec.name} does not support n > 1 (it gives one answer per request; got n={request.n}); nothing was sent",
                provider=spec.name,
                model=model,
            )

    def check_supported(self, request: ChatCompletionRequest, spec: ProviderSpec, *, stream: bool) -> None:
        """Raise ``InvalidRequestError`` naming the provider and feature it cannot serve."""
        self.check_request_options(request, spec, request.model)
        missing = None
        if stream and not spec.streaming:
            missing = "streaming"
        elif request.tools and not spec.tools:
            missing = "tools"
        elif not spec.images and request.has_images:
            missing = "image input"
        if missing:
            raise InvalidRequestError(f"{spec.name} does not support {missing}; nothing was sent", provider=spec.name, model=request.model)
