"""The fault matrix: every fault a provider can throw, and the exact outcome ailib promises.

One table drives both the tests (``test_matrix.py`` runs every row for every wire format,
non-streaming and streaming) and the documentation (``render()`` turns it into the
markdown table in docs/chaos.md and bench/README.md; ``bench/chaos_matrix.py --write``
refreshes them and a test keeps them identical). Change an outcome here and the tests
and the docs change together; change the behaviour and the tests fail.

Every row runs through the full client stack (``AiClientBuilder`` → pipeline → retry →
breaker → transport → wire format) against a loopback ``MockProvider``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import attrs

from ailib import ConnectionOptions, RetryPolicy
from ailib.errors import (
    AiLibError,
    AuthenticationError,
    DeadlineExceededError,
    InvalidRequestError,
    NetworkError,
    ProtocolError,
    ProviderError,
    RateLimitExceeded,
    StreamInterruptedError,
    TimeoutError,
)
from ailib.testing import Fault, MockProvider
from tests._timing import SLACK

__all__ = ["CASES", "FORMATS", "Case", "Ctx", "Outcome", "Result", "render", "FAST_RETRY", "OPTIONS", "DEADLINE", "REPLY"]

FORMATS = ("openai", "anthropic", "gemini", "cohere")
REPLY = "Hello from MockProvider"  # what MockProvider answers by default
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
# Phase timeouts of every row unless it says otherwise: short, so stalls cost little.
OPTIONS = dict(connect_timeout=0.5, first_byte_timeout=0.2, stream_idle_timeout=0.2, timeout=5.0)
# In a row, the timeouts of OPTIONS that it does not test (``Case.exact``) only guard against a
# hang: they scale with SLACK, so that a loaded machine cannot turn an answer whose first byte
# took 0.2 s into a TimeoutError. AILIB_TEST_SLACK=1 runs every row with OPTIONS as written.
DEADLINE = 5.0
MiB = 1024 * 1024
GIANT = 50 * MiB


@attrs.frozen
class Ctx:
    """What a row's script may depend on."""

    fmt: str
    stream: bool
    other: Optional[MockProvider] = None  # a second server (redirect targets)


@attrs.define
class Result:
    """What one run of a row produced."""

    value: Any  # the response, the finished ChatStream, or the AiLibError raised
    text: str  # the text the caller received (before the error, if any)
    elapsed: float
    mock: Optional[MockProvider]
    other: Optional[MockProvider]
    peak_bytes: Optional[int] = None  # tracemalloc peak growth during the call (memory rows)

    @property
    def attempts(self) -> tuple:
        return tuple(self.value.attempts)

    @property
    def first_error(self) -> Optional[AiLibError]:
        return self.attempts[0].error if self.attempts else None


Check = Callable[[Result], None]


@attrs.frozen
class Outcome:
    """The exact outcome of a row in one mode."""

    error: Optional[type[AiLibError]]  # None: a response; else the exact class raised
    attempts: int  # Attempt records on the response/error (= wire attempts unless ``wire``)
    max_seconds: float  # elapsed upper bound
    min_seconds: float = 0.0
    wire: Optional[int] = None  # chat requests the server saw, when not ``attempts``
    text: Optional[str] = REPLY  # a response's text (None: checked by ``check``)
    cause: Optional[type[AiLibError]] = None  # StreamInterruptedError.cause's exact class
    check: Optional[Check] = None
    note: str = ""  # shown in the rendered table

    @property
    def wire_attempts(self) -> int:
        return self.attempts if self.wire is None else self.wire

    def cell(self) -> str:
        n = self.attempts
        what = "response" if self.error is None else f"`{self.error.__name__}`"
        parts = [f"{what} after {n} attempt{'s' if n != 1 else ''}"]
        if self.wire is not None and self.wire != n:
            parts[0] += f" ({self.wire} reach the server)"
        if self.cause is not None:
            parts.append(f"cause `{self.cause.__name__}`")
        if self.note:
            parts.append(self.note)
        bound = f"{self.min_seconds:g}–{self.max_seconds:g} s" if self.min_seconds else f"≤ {self.max_seconds:g} s"
        parts.append(bound)
        return ", ".join(parts)


Script = Callable[[Ctx], Sequence[Fault]]


@attrs.frozen
class Case:
    """One row: a fault (the server's script) and the outcome without and with streaming."""

    id: str
    fault: str  # markdown description of what the server does
    script: Script
    plain: Optional[Outcome]  # None: not applicable without streaming
    stream: Optional[Outcome]  # None: not applicable to streams
    deadline: float = DEADLINE
    options: dict = attrs.field(factory=dict)  # ConnectionOptions fields over OPTIONS
    refused: bool = False  # point the client at a port where nothing listens
    memory: bool = False  # measure tracemalloc peak growth during the call
    needs_other: bool = False
    exact: tuple[str, ...] = ()  # the OPTIONS this row tests: used as written, never scaled

    def outcome(self, stream: bool) -> Optional[Outcome]:
        return self.stream if stream else self.plain

    def connection_options(self) -> ConnectionOptions:
        guards = {name: value if name in self.exact else value * SLACK for name, value in OPTIONS.items()}
        return ConnectionOptions(**{**guards, **self.options})


# -- checks ------------------------------------------------------------------------------------
def _first_retry_after(expected: Optional[float], *, wait: Union[float, str, None] = None, tolerance: float = 0.0) -> Check:
    """The first attempt's error carried ``retry_after`` (± tolerance) and the client slept ``wait``."""

    def check(r: Result) -> None:
        err = r.first_error
        assert isinstance(err, RateLimitExceeded), err
        if expected is None:
            assert err.retry_after is None, err.retry_after
        else:
            assert err.retry_after is not None and abs(err.retry_after - expected) <= tolerance, err.retry_after
        slept = r.attempts[0].wait_after
        if wait == "backoff":
            assert slept is not None and 0 <= slept <= FAST_RETRY.max_delay, slept
        elif wait is not None:
            assert slept == wait, slept

    return check


def _status(code: int) -> Check:
    def check(r: Result) -> None:
        assert r.value.status_code == code, r.value.status_code
        assert all(a.error.status_code == code for a in r.attempts), r.attempts

    return check


def _phase(phase: str) -> Check:
    def check(r: Result) -> None:
        err = r.value.cause if isinstance(r.value, StreamInterruptedError) else r.value
        assert err.phase == phase, err.phase

    return check


def _server_saw_hangup(r: Result) -> None:
    """The client closed every connection it gave up on (the server saw each one go away)."""
    assert r.mock is not None
    end = time.monotonic() + 2.0 * SLACK
    while time.monotonic() < end:
        if all(req.disconnected_at is not None for req in r.mock.chat_requests):
            return
        time.sleep(0.01)
    raise AssertionError(f"the server still holds connections: {r.mock.chat_requests}")


def _all(*checks: Check) -> Check:
    def check(r: Result) -> None:
        for c in checks:
            c(r)

    return check


def _not_sent(r: Result) -> None:
    assert all(isinstance(a.error, NetworkError) and a.error.request_sent is False for a in r.attempts), r.attempts


def _giant_text(limit_ratio: float) -> Check:
    """The whole giant text arrived, and memory grew by at most ``limit_ratio`` x its size."""

    def check(r: Result) -> None:
        assert GIANT * 0.99 <= len(r.text) <= GIANT, len(r.text)
        assert r.text.count("x") == len(r.text)
        assert r.peak_bytes is not None and r.peak_bytes <= limit_ratio * GIANT, f"peak {r.peak_bytes / MiB:.1f} MiB"

    return check


def _memory_below(limit: int) -> Check:
    def check(r: Result) -> None:
        assert r.peak_bytes is not None and r.peak_bytes <= limit, f"peak {r.peak_bytes / MiB:.1f} MiB"

    return check


def _other_untouched(r: Result) -> None:
    assert r.other is not None and r.other.requests == [], r.other.requests


# -- format-specific bodies ---------------------------------------------------------------------
NO_CHOICES = {
    "openai": b'{"id": "chatcmpl-1", "object": "chat.completion", "model": "mock-model", "choices": []}',
    "anthropic": b'{"id": "msg_1", "type": "message", "role": "assistant", "model": "mock-model", "stop_reason": "end_turn"}',
    "gemini": b'{"candidates": [], "modelVersion": "mock-model", "responseId": "r-1"}',
    "cohere": b'{"id": "c-1", "finish_reason": "COMPLETE"}',
}
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
TRUNCATED_JSON = b'{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hel'
TRUNCATED_EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "Hel\n\n'
NOISE = b"\x00\xff\xfe garbage without any field\r\n\x1b[31m\x85 more noise, no line end"
UNICODE_TEXT = "line\u2028separator\u2029para\x85nel\x0cfeed é 🚀 end"
UNKNOWN_EVENTS = (
    b'event: mystery_event\ndata: {"type": "mystery_event", "payload": [1, 2, {"deep": null}]}\n\n'
    b": a comment line\n\n"
    b"retry: 100\nid: 42\n\n"
    b'event: ping\ndata: {"type": "ping"}\n\n'
)


def _chat_path(fmt: str) -> str:
    return {
        "openai": "/chat/completions",
        "anthropic": "/v1/messages",
        "gemini": "/v1beta/models/mock-model:generateContent",
        "cohere": "/v2/chat",
    }[fmt]


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def _per_mode(plain: Callable[[Ctx], Sequence[Fault]], stream: Callable[[Ctx], Sequence[Fault]]) -> Script:
    return lambda c: stream(c) if c.stream else plain(c)


def _times(n: int, fault: Fault) -> Script:
    return lambda c: [fault] * n


def _once(fault: Fault) -> Script:
    return lambda c: [fault]


# -- the rows ----------------------------------------------------------------------------------
def _status_row(code: int) -> Case:
    out = Outcome(ProviderError, 3, 0.5, check=_status(code))
    return Case(f"http_{code}", f"HTTP {code} ×3 (the format's error body)", _times(3, Fault.http_status(code)), out, out)


_RETRIED_OK = Outcome(None, 2, 0.5)

CASES: tuple[Case, ...] = (
    # -- 429 and Retry-After --------------------------------------------------------------------
    Case(
        "429_then_ok",
        "429 without Retry-After, then 200",
        _once(Fault.http_status(429)),
        o := Outcome(None, 2, 0.5, check=_first_retry_after(None, wait="backoff"), note="backoff ≤ 20 ms"),
        o,
    ),
    Case("429_x3", "429 without Retry-After ×3", _times(3, Fault.http_status(429)), o := Outcome(RateLimitExceeded, 3, 0.5), o),
    Case(
        "429_retry_after_seconds",
        "429 `Retry-After: 1` (seconds), then 200",
        _once(Fault.http_status(429, retry_after="1")),
        o := Outcome(None, 2, 1.6, min_seconds=1.0, check=_first_retry_after(1.0, wait=1.0), note="waits the 1 s asked"),
        o,
    ),
    Case(
        "429_retry_after_too_long",
        "429 `Retry-After: 120` (over `max_retry_after` 60 s)",
        _once(Fault.http_status(429, retry_after="120")),
        o := Outcome(RateLimitExceeded, 1, 0.5, check=_first_retry_after(120.0), note="`.retry_after` = 120, no sleep"),
        o,
    ),
    Case(
        "429_retry_after_http_date_past",
        "429 `Retry-After:` an HTTP-date in the past, then 200",
        lambda c: [Fault.http_status(429, retry_after=_http_date(-60))],
        o := Outcome(None, 2, 0.5, check=_first_retry_after(0.0, wait=0.0), note="retries at once"),
        o,
    ),
    Case(
        "429_retry_after_http_date_future",
        "429 `Retry-After:` an HTTP-date 30 s ahead (past the 5 s deadline)",
        lambda c: [Fault.http_status(429, retry_after=_http_date(30))],
        o := Outcome(RateLimitExceeded, 1, 0.5, check=_first_retry_after(29.5, tolerance=1.6), note="`.retry_after` ≈ 30, no sleep"),
        o,
    ),
    Case(
        "429_retry_after_ms",
        "429 `retry-after-ms: 50`, then 200",
        _once(Fault.http_status(429, retry_after_ms="50")),
        o := Outcome(None, 2, 0.5, min_seconds=0.05, check=_first_retry_after(0.05, wait=0.05), note="waits 50 ms"),
        o,
    ),
    Case(
        "429_retry_after_garbage",
        "429 `Retry-After: soon` (garbage), then 200",
        _once(Fault.http_status(429, retry_after="soon")),
        o := Outcome(None, 2, 0.5, check=_first_retry_after(None, wait="backoff"), note="ignored: backoff ≤ 20 ms"),
        o,
    ),
    # -- 5xx ----------------------------------------------------------------------------------------
    _status_row(500),
    _status_row(502),
    _status_row(503),
    _status_row(504),
    _status_row(529),
    Case("503_then_ok", "HTTP 503, then 200", _once(Fault.http_status(503)), _RETRIED_OK, _RETRIED_OK),
    Case("http_400", "HTTP 400", _once(Fault.http_status(400)), o := Outcome(InvalidRequestError, 1, 0.5, check=_status(400)), o),
    Case("http_401", "HTTP 401", _once(Fault.http_status(401)), o := Outcome(AuthenticationError, 1, 0.5, check=_status(401)), o),
    # -- connections ------------------------------------------------------------------------------
    Case(
        "refused",
        "connection refused (nothing listens on the port)",
        lambda c: [],
        o := Outcome(NetworkError, 3, 0.5, wire=0, check=_not_sent, note="`request_sent=False`"),
        o,
        refused=True,
    ),
    Case("reset_x3", "reset (TCP RST) before the response headers ×3", _times(3, Fault.reset()), o := Outcome(NetworkError, 3, 0.5), o),
    Case("reset_then_ok", "reset before the response headers, then 200", _once(Fault.reset()), _RETRIED_OK, _RETRIED_OK),
    Case(
        "reset_mid_body_x3",
        "reset mid-body (half the JSON sent) ×3",
        _times(3, Fault.reset_mid_body()),
        Outcome(NetworkError, 3, 0.5),
        None,
    ),
    Case("reset_mid_body_then_ok", "reset mid-body, then 200", _once(Fault.reset_mid_body()), _RETRIED_OK, None),
    Case(
        "reset_stream_before_first_chunk",
        "reset mid-stream before the first content chunk, then 200",
        _once(Fault.reset_stream(after=0)),
        None,
        _RETRIED_OK,
    ),
    Case(
        "reset_stream_after_first_chunk",
        "reset mid-stream after the first content chunk",
        _once(Fault.reset_stream(after=1)),
        None,
        Outcome(StreamInterruptedError, 1, 0.5, cause=NetworkError, note="`.partial_text` kept, not retried"),
    ),
    Case(
        "cut_stream_before_first_chunk",
        "stream ends cleanly without its terminal event, before any content ×3",
        _times(3, Fault.cut_stream(after=0)),
        None,
        Outcome(NetworkError, 3, 0.5),
    ),
    Case(
        "cut_stream_after_first_chunk",
        "stream ends cleanly without its terminal event, after the first content chunk",
        _once(Fault.cut_stream(after=1)),
        None,
        Outcome(StreamInterruptedError, 1, 0.5, cause=NetworkError, note="`.partial_text` kept"),
    ),
    # -- stalls and drips ---------------------------------------------------------------------------
    Case(
        "stall_before_headers_x3",
        "stall before the response headers ×3 (first-byte timeout 0.2 s)",
        _times(3, Fault.stall()),
        o := Outcome(TimeoutError, 3, 1.0, min_seconds=0.6, check=_all(_phase("first_byte"), _server_saw_hangup)),
        o,
        exact=("first_byte_timeout",),
    ),
    Case(
        "stall_before_headers_deadline",
        "stall before the response headers, 0.3 s deadline (first-byte timeout 5 s)",
        _once(Fault.stall()),
        o := Outcome(DeadlineExceededError, 1, 0.45, min_seconds=0.3, check=_server_saw_hangup),
        o,
        deadline=0.3,
        options=dict(first_byte_timeout=5.0, stream_idle_timeout=5.0),
    ),
    Case(
        "stall_stream_before_first_chunk_x3",
        "stall mid-stream before the first content chunk ×3 (idle timeout 0.2 s)",
        _times(3, Fault.stall_stream(after=0)),
        None,
        Outcome(TimeoutError, 3, 1.0, min_seconds=0.6, check=_all(_phase("idle"), _server_saw_hangup)),
        exact=("stream_idle_timeout",),
    ),
    Case(
        "stall_stream_after_first_chunk",
        "stall mid-stream after the first content chunk (idle timeout 0.2 s)",
        _once(Fault.stall_stream(after=1)),
        None,
        Outcome(StreamInterruptedError, 1, 0.5, min_seconds=0.2, cause=TimeoutError, check=_all(_phase("idle"), _server_saw_hangup)),
        exact=("stream_idle_timeout",),
    ),
    Case(
        "drip_deadline",
        "slow drip, one byte a second, 0.5 s deadline (every phase timeout 5 s)",
        _once(Fault.drip(1.0)),
        o := Outcome(DeadlineExceededError, 1, 0.7, min_seconds=0.5, check=_server_saw_hangup),
        o,
        deadline=0.5,
        options=dict(first_byte_timeout=5.0, stream_idle_timeout=5.0, timeout=10.0),
    ),
    Case(
        "drip_total_timeout_x3",
        "drip, one byte per 20 ms (no read ever idles), 0.2 s total timeout per attempt ×3",
        _times(3, Fault.drip(0.02)),
        o := Outcome(TimeoutError, 3, 1.0, min_seconds=0.6, check=_all(_phase("total"), _server_saw_hangup)),
        o,
        options=dict(first_byte_timeout=5.0, stream_idle_timeout=5.0, timeout=0.2),
    ),
    # -- bodies that are not what the format promises -------------------------------------------
    Case(
        "truncated_json",
        "truncated JSON (a cut body / a cut SSE event's data)",
        _per_mode(lambda c: [Fault.malformed(TRUNCATED_JSON)], lambda c: [Fault.garbage_stream(TRUNCATED_EVENT)]),
        o := Outcome(ProtocolError, 1, 0.5, note="not retried"),
        o,
    ),
    Case(
        "html_200",
        "HTML error page with status 200 (`text/html`)",
        _once(Fault.malformed(HTML, content_type="text/html")),
        o := Outcome(ProtocolError, 1, 0.5),
        o,
    ),
    Case(
        "wrong_content_type",
        "a valid answer labelled `text/plain` (non-streaming) / `application/json` (streaming)",
        _per_mode(lambda c: [Fault.mislabeled("text/plain")], lambda c: [Fault.mislabeled("application/json")]),
        o := Outcome(ProtocolError, 1, 0.5),
        o,
    ),
    Case(
        "empty_body",
        "empty 200 body (`application/json` / `text/event-stream`)",
        _per_mode(lambda c: [Fault.malformed(b"")], lambda c: [Fault.garbage_stream(b"")] * 3),
        Outcome(ProtocolError, 1, 0.5),
        Outcome(NetworkError, 3, 0.5, note="no terminal event: cut short"),
    ),
    Case(
        "not_utf8",
        "a JSON body that is not UTF-8 (raw bytes `ff fe` inside a string)",
        _once(Fault.malformed(b'{"id": "\xff\xfe"}')),
        Outcome(ProtocolError, 1, 0.5),
        None,
    ),
    Case(
        "deep_json",
        "JSON nested 100 000 levels deep (body / SSE event data)",
        _per_mode(lambda c: [Fault.malformed(b"[" * 100_000)], lambda c: [Fault.garbage_stream(b"data: " + b"[" * 100_000 + b"\n\n")]),
        o := Outcome(ProtocolError, 1, 0.5),
        o,
    ),
    Case(
        "no_choices",
        "JSON without choices (openai `choices: []`, anthropic no `content`, gemini `candidates: []`, cohere no `message`)",
        lambda c: [Fault.malformed(NO_CHOICES[c.fmt])],
        Outcome(ProtocolError, 1, 0.5),
        None,
    ),
    Case(
        "error_body_200",
        "the format's error JSON (overloaded) with status 200 ×3",
        _times(3, Fault.http_status(200, error_type="overloaded_error", message="Overloaded")),
        Outcome(ProviderError, 3, 0.5),
        None,
    ),
    Case(
        "sse_garbage",
        "SSE garbage: undecodable bytes and no event at all ×3",
        _times(3, Fault.garbage_stream(NOISE)),
        None,
        Outcome(NetworkError, 3, 0.5, note="no terminal event: cut short"),
    ),
    Case(
        "sse_not_json",
        "SSE event whose data is not JSON",
        _once(Fault.garbage_stream(b"data: {not json\n\n")),
        None,
        Outcome(ProtocolError, 1, 0.5, note="not retried"),
    ),
    Case(
        "unicode_line_separators",
        "answer text with raw U+2028, U+0085, form feed, é and 🚀 (unescaped UTF-8 JSON)",
        _once(Fault.ok(UNICODE_TEXT)),
        o := Outcome(None, 1, 0.5, text=UNICODE_TEXT, note="text intact"),
        o,
    ),
    Case(
        "sse_unknown_events",
        "unknown SSE event types, comments, `retry:`/`id:` fields amid a normal stream",
        _once(Fault.interleave(UNKNOWN_EVENTS, after=1)),
        None,
        Outcome(None, 1, 0.5, note="ignored; the text is intact"),
    ),
    Case(
        "error_event_before_first_chunk",
        "an `error` event inside a 200 stream, before any content ×3",
        _times(3, Fault.error_event(after=0)),
        None,
        Outcome(ProviderError, 3, 0.5),
    ),
    Case(
        "error_event_after_first_chunk",
        "an `error` event inside a 200 stream, after the first content chunk",
        _once(Fault.error_event(after=1)),
        None,
        Outcome(StreamInterruptedError, 1, 0.5, cause=ProviderError, note="`.partial_text` kept"),
    ),
    # -- size -------------------------------------------------------------------------------------
    Case(
        "giant",
        "a giant 50 MiB answer (one JSON body / 800 stream events of 64 KiB)",
        _once(Fault.giant(GIANT)),
        Outcome(None, 1, 5.0, text=None, check=_giant_text(3.2), note="whole text; peak memory ≤ 3.2 × size"),
        Outcome(None, 1, 5.0, text=None, check=_giant_text(1.3), note="whole text; peak memory ≤ 1.3 × size"),
        # 50 MiB under tracemalloc is CPU-bound: on a loaded machine the hang guards scale with SLACK
        deadline=DEADLINE * SLACK,
        options=dict(first_byte_timeout=5.0 * SLACK, stream_idle_timeout=5.0 * SLACK, timeout=10.0 * SLACK),
        memory=True,
    ),
    Case(
        "over_size_limit",
        "over the size limits: an 80 MiB body (limit 64 MiB) / one 17 MiB SSE event (limit 16 MiB)",
        _per_mode(lambda c: [Fault.giant(80 * MiB)], lambda c: [Fault.garbage_stream(b"data: " + b"x" * (17 * MiB))]),
        Outcome(ProtocolError, 1, 2.0, check=_all(_memory_below(1 * MiB), _server_saw_hangup), note="refused unread: memory + < 1 MiB"),
        Outcome(ProtocolError, 1, 5.0, check=_memory_below(20 * MiB), note="memory + < 20 MiB"),
        options=dict(first_byte_timeout=5.0, stream_idle_timeout=5.0, timeout=10.0),
        memory=True,
    ),
    # -- redirects ----------------------------------------------------------------------------------
    Case(
        "redirect",
        "307 redirect to another server",
        lambda c: [Fault.redirect(c.other.base_url + _chat_path(c.fmt), 307)] if c.other else [],
        o := Outcome(ProtocolError, 1, 0.5, check=_other_untouched, note="not followed; the other server sees nothing"),
        o,
        needs_other=True,
    ),
)


def render() -> str:
    """The matrix as a markdown table (what docs/chaos.md and bench/README.md show)."""
    opts = ", ".join(f"{k}={v:g}" for k, v in OPTIONS.items())
    lines = [
        "Generated from `tests/chaos/matrix.py` by `python bench/chaos_matrix.py --write`; every cell is a test",
        f"(`tests/chaos/test_matrix.py`), run for each wire format ({', '.join(FORMATS)}): {len(CASES)} faults,",
        f"{sum(len(FORMATS) for c in CASES for m in (c.plain, c.stream) if m is not None)} tests. "
        "Attempts are wire attempts the server saw unless noted. Client: "
        f"`RetryPolicy(max_attempts={FAST_RETRY.max_attempts}, initial_delay={FAST_RETRY.initial_delay:g}, max_delay={FAST_RETRY.max_delay:g})`,",
        f"`ConnectionOptions({opts})` and a {DEADLINE:g} s deadline unless the row says otherwise.",
        "",
        "| fault | non-streaming | streaming |",
        "|---|---|---|",
    ]
    for case in CASES:
        plain = case.plain.cell() if case.plain else "n/a"
        stream = case.stream.cell() if case.stream else "n/a"
        lines.append(f"| {case.fault} | {plain} | {stream} |")
    return "\n".join(lines) + "\n"


def block(text: str, start: str = "<!-- chaos-matrix:start -->", end: str = "<!-- chaos-matrix:end -->") -> str:
    """The text between the matrix markers of a document."""
    head, sep, rest = text.partition(start + "\n")
    if not sep:
        raise ValueError(f"no {start} marker")
    inner, sep, _ = rest.partition(end)
    if not sep:
        raise ValueError(f"no {end} marker")
    return inner


def replace_block(text: str, table: str, start: str = "<!-- chaos-matrix:start -->", end: str = "<!-- chaos-matrix:end -->") -> str:
    """``text`` with the block between the markers replaced by ``table``."""
    head, sep, rest = text.partition(start + "\n")
    if not sep:
        raise ValueError(f"no {start} marker")
    _, sep, tail = rest.partition(end)
    if not sep:
        raise ValueError(f"no {end} marker")
    return head + start + "\n" + table + end + tail
