"""Scripted behaviours for MockProvider: one ``Fault`` per chat request, in order."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Optional

import attrs

from .._value import value

__all__ = ["Fault", "Reply", "ReplyCitation"]


@value
class ReplyCitation:
    """A span of a ``Reply``'s text (``text[start:end]``) that the model cites, and its source:
    ``url`` and ``title``, quoting ``cited_text``. Each format's mock sends it in its own shape."""

    start: int
    end: int
    url: str = "https://example.com/source"
    title: str = "Example source"
    cited_text: str = "A sentence of the source."


def _to_reply_citations(value: Any) -> tuple[ReplyCitation, ...]:
    out = []
    for c in value or ():
        if isinstance(c, ReplyCitation):
            out.append(c)
        elif isinstance(c, Mapping):
            out.append(ReplyCitation(**c))
        else:
            out.append(ReplyCitation(*c))
    spans = sorted({(c.start, c.end) for c in out})
    for (_start, end), (after, _) in zip(spans, spans[1:]):
        if after < end:
            raise ValueError("a Reply's cited spans must not overlap (the same span may be cited more than once)")
    if any(start < 0 or end <= start for start, end in spans):
        raise ValueError("a cited span needs 0 <= start < end")
    return tuple(out)


@value
class Reply:
    """What a successful answer contains."""

    text: str = "Hello from MockProvider"
    tool_calls: tuple[tuple[str, str, Any], ...] = attrs.field(default=(), hash=False)  # (id, name, arguments dict)
    prompt_tokens: int = 10  # every input token, cached and cache-written ones included
    completion_tokens: int = 5  # every output token, reasoning included
    finish_reason: Optional[str] = None  # default: "stop", or "tool_calls" when there are calls
    cached_tokens: int = 0  # of prompt_tokens, read from a prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to a prompt cache (reported by the Anthropic format)
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, written with a 1-hour lifetime (Anthropic)
    reasoning_tokens: int = 0  # of completion_tokens, spent reasoning
    refusal: Optional[str] = None  # the model refuses with this text (OpenAI ``refusal``, Anthropic ``stop_reason: "refusal"``)
    # The model thinks this first: Anthropic ``thinking`` block with a signature, Gemini
    # ``thought: true`` part (and ``thoughtSignature``s), OpenAI-compatible ``reasoning_content``.
    reasoning: Optional[str] = None
    # The model the answer names (a dated version, as ``gpt-4o-2024-08-06`` answers ``gpt-4o``);
    # default: the model the request asked for.
    model: Optional[str] = None
    # Spans of ``text`` the answer cites: Anthropic text blocks with ``citations`` (and
    # ``citations_delta``), OpenAI ``annotations`` (``url_citation``), Gemini ``groundingMetadata``,
    # Cohere ``citations`` (and ``citation-start`` events).
    citations: tuple[ReplyCitation, ...] = attrs.field(default=(), converter=_to_reply_citations, hash=False)
    # The model searched the web for this first: Anthropic ``server_tool_use`` and
    # ``web_search_tool_result`` blocks (the results are the citations' sources), Gemini ``webSearchQueries``.
    web_search: Optional[str] = None


def mock_signature(reasoning: str) -> str:
    """The signature MockProvider gives ``reasoning`` (stable base64, as real signatures look)."""
    return base64.b64encode(hashlib.sha256(reasoning.encode()).digest()).decode("ascii")


@value
class Fault:
    """One scripted behaviour. Build with the named constructors."""

    kind: str
    status: int = 200
    seconds: Optional[float] = None
    after: int = 0
    headers: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    body: Optional[bytes] = None
    content_type: str = "application/json"
    error_type: Optional[str] = None
    message: Optional[str] = None
    reply: Optional[Reply] = None
    size: int = 0

    @classmethod
    def ok(
        cls,
        text: Optional[str] = None,
        *,
        tool_calls: tuple[tuple[str, str, Any], ...] = (),
        delay: float = 0.0,
        reasoning: Optional[str] = None,
        citations: Any = (),
        web_search: Optional[str] = None,
    ) -> Fault:
        """A normal answer (optionally with given text/tool calls and the ``reasoning`` before them, after ``delay``;
        ``citations``: ``ReplyCitation`` spans of the text; ``web_search``: the query searched for first).
        Without ``text``, an answer with tool calls has none (as models answer), any other the default text."""
        reply = Reply(
            text if text is not None else "" if tool_calls else Reply().text,
            tuple(tool_calls),
            reasoning=reasoning,
            citations=citations,
            web_search=web_search,
        )
        return cls("ok", reply=reply, seconds=delay or None)

    @classmethod
    def refused(cls, text: str = "I'm sorry, but I can't help with that.") -> Fault:
        """The model refuses, as each format says it: OpenAI ``message.refusal`` / ``delta.refusal``,
        Anthropic ``stop_reason: "refusal"`` with ``stop_details`` (``text`` as its explanation)."""
        return cls("ok", reply=Reply("", refusal=text))

    @classmethod
    def http_status(
        cls,
        status: int,
        *,
        retry_after: Optional[str] = None,
        retry_after_ms: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        error_type: Optional[str] = None,
        message: Optional[str] = None,
        body: Optional[bytes] = None,
    ) -> Fault:
        """An error status with the format's error body (or ``body``) and optional Retry-After."""
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        if retry_after_ms is not None:
            h["retry-after-ms"] = str(retry_after_ms)
        return cls("status", status=status, headers=h, error_type=error_type, message=message, body=body)

    @classmethod
    def rate_limited(cls, retry_after: float = 20.0, *, limit: str = "requests", headers: Optional[Mapping[str, str]] = None) -> Fault:
        """A 429 as the real service sends it when a rate limit is reached, asking for a wait of
        ``retry_after`` seconds: OpenAI's ``rate_limit_exceeded`` body with ``x-ratelimit-*`` and
        ``retry-after``; Anthropic's ``rate_limit_error`` with ``anthropic-ratelimit-*``,
        ``retry-after`` and ``request-id``; Gemini's ``RESOURCE_EXHAUSTED`` with ``QuotaFailure``
        and ``RetryInfo``; Cohere's trial-key body. ``limit``: ``"requests"`` or ``"tokens"`` (which
        limit was reached). ``headers`` are added to (or replace) the service's."""
        if limit not in ("requests", "tokens"):
            raise ValueError(f"limit must be 'requests' or 'tokens', got {limit!r}")
        return cls("rate_limited", status=429, seconds=float(retry_after), error_type=limit, headers=dict(headers or {}))

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds`` (the server notices if the client goes away)."""
        return cls("ok", seconds=seconds)

    @classmethod
    def stall(cls, seconds: Optional[float] = None) -> Fault:
        """Send nothing for ``seconds`` (default: until the client disconnects), then close."""
        return cls("stall", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (TCP RST) before any response."""
        return cls("reset")

    @classmethod
    def reset_mid_body(cls) -> Fault:
        """Send headers and part of the body, then reset."""
        return cls("reset_mid_body")

    @classmethod
    def malformed(cls, body: bytes = b'{"choices": [', *, content_type: str = "application/json", status: int = 200) -> Fault:
        """Answer with exactly ``body`` (truncated JSON, HTML, empty ...)."""
        return cls("raw", status=status, body=body, content_type=content_type)

    @classmethod
    def cut_stream(cls, after: int) -> Fault:
        """Stream ``after`` content events, then end the response cleanly without the terminal event."""
        return cls("cut_stream", after=after)

    @classmethod
    def reset_stream(cls, after: int) -> Fault:
        """Stream ``after`` content events, then reset the connection."""
        return cls("reset_stream", after=after)

    @classmethod
    def stall_stream(cls, after: int, seconds: Optional[float] = None) -> Fault:
        """Stream ``after`` content events, then go silent."""
        return cls("stall_stream", after=after, seconds=seconds)

    @classmethod
    def error_event(cls, after: int = 0, *, error_type: str = "overloaded_error", message: str = "Overloaded") -> Fault:
        """Inside an HTTP 200 stream, send the format's error event after ``after`` content events."""
        return cls("error_event", after=after, error_type=error_type, message=message)

    @classmethod
    def garbage_stream(cls, body: bytes = b"data: {not json\n\n") -> Fault:
        """A 200 event stream whose bytes are ``body``."""
        return cls("raw", status=200, body=body, content_type="text/event-stream")

    @classmethod
    def drip(cls, interval: float = 1.0) -> Fault:
        """Send the normal answer (JSON, or the event stream when streaming) one byte every ``interval`` seconds."""
        return cls("drip", seconds=interval)

    @classmethod
    def mislabeled(cls, content_type: str) -> Fault:
        """The normal answer (JSON, or the event stream when streaming) under the wrong ``content_type``."""
        return cls("mislabeled", content_type=content_type)

    @classmethod
    def interleave(cls, raw: bytes, after: int = 0) -> Fault:
        """A normal stream with the bytes ``raw`` (e.g. unknown SSE events) inserted after ``after``
        content events; a non-streaming request gets the normal answer."""
        return cls("interleave", body=raw, after=after)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """Answer with ``status`` and ``Location: location`` (an empty body)."""
        return cls("raw", status=status, headers={"Location": location}, body=b"", content_type="text/plain")

    @classmethod
    def giant(cls, size: int) -> Fault:
        """A valid answer of about ``size`` bytes in the format's shape: one JSON body with a
        huge text (``Content-Length`` set), or when streaming, an event stream of 64 KiB text
        events. The server never holds more than one block in memory."""
        return cls("giant", size=size)
