"""Property tests: decoders raise nothing but AiLibError; random fault scripts stay in the error tree and the deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ailib import AiClientBuilder, ConnectionOptions, RetryPolicy
from ailib._sse import SseEvent, SseParser
from ailib.errors import AiLibError
from ailib.providers._base import decode_body
from ailib.providers._formats import get_wire_format
from ailib.testing import Fault, MockProvider
from ailib.types import ChatCompletionResponse, StreamChunk
from tests._timing import SLACK

from ._support import KEY, REQ
from .matrix import FORMATS

# Few examples, so the suite stays fast in CI (a run with 2000 each found nothing more).
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Field names and values the four wire formats use, so generated JSON reaches deep into each decoder.
NAMES = (
    "id choices index message delta content text role tool_calls function name arguments finish_reason usage prompt_tokens "
    "completion_tokens total_tokens error type code status details reason model candidates parts functionCall args finishReason "
    "usageMetadata promptTokenCount candidatesTokenCount totalTokenCount thoughtsTokenCount promptFeedback blockReason modelVersion "
    "responseId thought stop_reason content_block input partial_json input_tokens output_tokens cache_read_input_tokens tokens "
    "billed_units tool_plan event_type"
).split()
WORDS = (
    "message_start content_block_start content_block_delta content_block_stop message_delta message_stop ping error text_delta "
    "input_json_delta tool_use text end_turn max_tokens message-start content-start content-delta content-end tool-call-start "
    "tool-call-delta tool-call-end tool-plan-delta message-end COMPLETE ERROR MAX_TOKENS TOOL_CALL STOP SAFETY RECITATION "
    "overloaded_error rate_limit_error api_error assistant user model function stop length tool_calls [DONE]"
).split()
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.sampled_from(WORDS), st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=5)),
    max_leaves=12,
)

OBJECTS = st.dictionaries(st.sampled_from(NAMES), JSON, max_size=6)
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/html", "", "text/event-stream"])


def decoded(fmt: str, status: int, ctype: str, body: bytes) -> None:
    """decode_body's only outcomes: a response, or an AiLibError."""
    try:
        result = decode_body(get_wire_format(fmt), status, {"content-type": ctype}, body, provider="p", model="m", now=0.0)
    except AiLibError:
        return
    assert isinstance(result, ChatCompletionResponse)


def streamed(fmt: str, pieces: list[bytes]) -> None:
    """A stream decoder fed through SseParser: chunks, or an AiLibError; finish() too."""
    decoder = get_wire_format(fmt).stream_decoder(provider="p", model="m")
    parser = SseParser()
    try:
        for piece in pieces:
            for event in parser.feed(piece):
                for chunk in decoder.feed(event):
                    assert isinstance(chunk, StreamChunk)
        parser.flush()
        decoder.finish()
    except AiLibError:
        return


def sse(event: str, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTY
@given(status=st.integers(100, 599), ctype=CONTENT_TYPES, body=st.binary(max_size=300))
@example(status=200, ctype="application/json", body=b"\x80")  # not UTF-8: was an AttributeError
@example(status=200, ctype="application/json", body=b"[" * 100_000)  # too deep: was a RecursionError
@example(status=500, ctype="application/json", body=b"[" * 100_000)
def test_any_bytes_as_a_response_body_raise_only_ailib_errors(fmt: str, status: int, ctype: str, body: bytes) -> None:
    """Arbitrary bytes under any status and content type decode to a response or an AiLibError, per wire format."""
    decoded(fmt, status, ctype, body)


@pytest.mark.parametrize("fmt", FORMATS)
@JSON_PROPERTY
@given(status=st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 529]), data=JSON)
def test_any_json_as_a_response_body_raises_only_ailib_errors(fmt: str, status: int, data: Any) -> None:
    """Any JSON value built from the formats' own field names decodes to a response or an AiLibError."""
    decoded(fmt, status, "application/json", json.dumps(data).encode())


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTY
@given(body=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=6))
@example(body=b"data: " + b"[" * 100_000 + b"\n\n", cuts=[])  # too deep: was a RecursionError
def test_any_bytes_as_an_event_stream_raise_only_ailib_errors(fmt: str, body: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes, split anywhere, fed through SseParser into the format's stream decoder raise only AiLibError."""
    edges = sorted({0, len(body), *(c for c in cuts if c < len(body))})
    streamed(fmt, [body[a:b] for a, b in zip(edges, edges[1:])])


@pytest.mark.parametrize("fmt", FORMATS)
@JSON_PROPERTY
@given(events=st.lists(st.tuples(st.sampled_from(["", "message", "error", *WORDS[:10], *WORDS[14:24]]), OBJECTS), max_size=4))
@example(events=[("", {"choices": [1]})])  # openai: a choice that is not an object was an AttributeError
@example(events=[("error", {"error": None})])  # openai: a null error object was an AttributeError
def test_any_json_events_raise_only_ailib_errors(fmt: str, events: list[tuple[str, Any]]) -> None:
    """Streams of JSON events with the formats' event names and field names yield chunks or raise only AiLibError."""
    streamed(fmt, [sse(name, data) for name, data in events] + [b"data: [DONE]\n\n"])


LINE_TEXT = st.text(st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=20)
EVENTS = st.lists(
    st.builds(
        SseEvent, st.sampled_from(["message", "delta", "ping", "x\u2028y"]), st.lists(LINE_TEXT, min_size=1, max_size=3).map("\n".join)
    ),
    max_size=5,
)


@PROPERTY
@given(events=EVENTS, ends=st.sampled_from(["\n", "\r\n", "\r"]), cuts=st.lists(st.integers(0, 600), max_size=8))
@example(events=[SseEvent("message", '{"t": "a\u2028b\x85c\x0cd"}')], ends="\n", cuts=[])  # str.splitlines split these
def test_sse_round_trip_is_exact_however_the_bytes_are_split(events: list[SseEvent], ends: str, cuts: list[int]) -> None:
    """Any events (data with U+2028, U+0085, form feeds ...) encoded with any line ending and split anywhere parse back exactly."""
    text = "".join(
        ("" if e.event == "message" else f"event: {e.event}{ends}") + "".join(f"data: {line}{ends}" for line in e.data.split("\n")) + ends
        for e in events
    )
    raw = text.encode("utf-8")
    edges = sorted({0, len(raw), *(c for c in cuts if c < len(raw))})
    parser = SseParser()
    out: list[SseEvent] = []
    for a, b in zip(edges, edges[1:]):
        out += parser.feed(raw[a:b])
    assert out == events


# -- random fault scripts through the whole client -------------------------------------------------
FAULTS = st.sampled_from(
    [
        Fault.ok(),
        Fault.http_status(429),
        Fault.http_status(429, retry_after="0.05"),
        Fault.http_status(429, retry_after="30"),
        Fault.http_status(500),
        Fault.http_status(503),
        Fault.http_status(529),
        Fault.http_status(400),
        Fault.http_status(401),
        Fault.reset(),
        Fault.reset_mid_body(),
        Fault.malformed(b'{"choices": ['),
        Fault.malformed(b"<html>oops</html>", content_type="text/html"),
        Fault.garbage_stream(b"data: {nope\n\n"),
        Fault.cut_stream(after=0),
        Fault.cut_stream(after=1),
        Fault.reset_stream(after=0),
        Fault.reset_stream(after=1),
        Fault.error_event(after=0),
        Fault.error_event(after=1),
        Fault.stall(),
        Fault.stall_stream(after=0),
        Fault.stall_stream(after=1),
        Fault.drip(0.05),
        Fault.delay(0.05),
    ]
)
OPTIONS = ConnectionOptions(connect_timeout=0.5, first_byte_timeout=0.1, stream_idle_timeout=0.1, timeout=0.4)
LATE = 0.1  # how late after the deadline a call may return (scheduling, closing the socket), times SLACK


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, MockProvider]]:
    mocks = {fmt: MockProvider(fmt, api_key=KEY) for fmt in FORMATS}
    yield mocks
    for m in mocks.values():
        m.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(FORMATS),
    stream=st.booleans(),
    faults=st.lists(FAULTS, max_size=5),
    deadline=st.floats(0.1, 0.6),
    attempts=st.integers(1, 4),
)
def test_random_fault_scripts_end_in_the_error_tree_within_the_deadline(
    servers: dict[str, MockProvider], fmt: str, stream: bool, faults: list[Fault], deadline: float, attempts: int
) -> None:
    """Any sequence of faults, in any format and mode, ends in a response or an AiLibError, never after the deadline."""
    mock = servers[fmt]
    mock.reset()
    mock.enqueue(*faults)
    retry = RetryPolicy(max_attempts=attempts, initial_delay=0.01, max_delay=0.05)
    with AiClientBuilder(mock.provider(api_key=KEY)).with_retry(retry).with_options(OPTIONS).with_deadline(deadline).build() as client:
        start = time.monotonic()
        try:
            if stream:
                with client.chat_completion_stream(REQ) as s:
                    for _ in s:
                        pass
                result: Any = s
            else:
                result = client.chat_completion(REQ)
        except AiLibError as err:
            result = err
        elapsed = time.monotonic() - start
    assert elapsed <= deadline + LATE * SLACK, f"{elapsed:.3f} s against a {deadline:.3f} s deadline: {result!r}"
    assert len(result.attempts) >= 1 and len(result.attempts) <= attempts
