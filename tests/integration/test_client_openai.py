"""The client over real loopback HTTP against MockProvider (OpenAI format)."""

from __future__ import annotations

import threading
import time

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    ClientClosedError,
    ConnectionOptions,
    DeadlineExceededError,
    Message,
    NetworkError,
    ProtocolError,
    StreamInterruptedError,
    TimeoutError,
    ToolCall,
)
from ailib.testing import Fault, MockProvider
from tests._timing import SLACK
from tests.conftest import FAST_RETRY, SECRET


def test_plain_call(client, mock, req):
    """A call returns the text, usage and one ok attempt; the server saw one request with the key."""
    resp = client.chat_completion(req)
    assert resp.text == "Hello from MockProvider"
    assert resp.usage.total_tokens == 15
    assert [a.outcome for a in resp.attempts] == ["ok"]
    assert mock.request_count == 1
    assert mock.chat_requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert mock.chat_requests[0].json["model"] == "mock-model"


def test_chat_shortcut(client):
    """chat(text) returns the answer's text."""
    assert client.chat("hello") == "Hello from MockProvider"


def test_stream(client, req):
    """A stream yields the text in pieces, then a last chunk with finish reason and usage."""
    with client.chat_completion_stream(req) as stream:
        chunks = list(stream)
    assert "".join(c.delta_text for c in chunks) == "Hello from MockProvider"
    assert len([c for c in chunks if c.delta_text]) >= 2
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage.total_tokens == 15
    assert stream.text == "Hello from MockProvider" and stream.finished


def test_stream_tool_call_is_decoded(client, mock, req):
    """A streamed tool call arrives as a ToolCall with decoded arguments."""
    mock.enqueue(Fault.ok("", tool_calls=(("call_1", "get_weather", {"city": "Paris"}),)))
    with client.chat_completion_stream(req) as stream:
        chunks = list(stream)
    assert chunks[-1].tool_calls == (ToolCall("call_1", "get_weather", {"city": "Paris"}),)
    assert stream.tool_calls == chunks[-1].tool_calls and stream.finish_reason == "tool_calls"


def test_leaving_a_stream_early_closes_the_connection(mock, req):
    """Closing a stream mid-way closes its connection: the server sees the client leave."""
    mock.event_interval = 0.05
    with AiClient(mock.provider()) as client:
        with client.chat_completion_stream(req) as stream:
            next(stream)
        deadline = time.monotonic() + 2 * SLACK
        while mock.chat_requests[0].disconnected_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert mock.chat_requests[0].disconnected_at is not None


def test_stream_connection_is_reused_after_a_full_read(client, mock, req):
    """A stream read to its end returns its connection to the pool (next call reuses it)."""
    for _ in range(3):
        with client.chat_completion_stream(req) as stream:
            list(stream)
    ports = {r.client_port for r in mock.chat_requests}
    assert mock.request_count == 3 and len(ports) == 1


def test_shared_by_32_threads(client, mock):
    """One client shared by 32 threads serves every call correctly."""
    errors, texts = [], []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            r = client.chat_completion(ChatCompletionRequest("auto", [Message.user(f"q{i}")]))
            with lock:
                texts.append(r.text)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lambda k=k: [work(k * 10 + j) for j in range(10)]) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(texts) == 320 and set(texts) == {"Hello from MockProvider"}
    assert mock.request_count == 320


def test_reset_before_headers_is_retried(client, mock, req):
    """A connection reset before the answer is a NetworkError and is retried."""
    mock.enqueue(Fault.reset())
    resp = client.chat_completion(req)
    assert [type(a.error).__name__ if a.error else "ok" for a in resp.attempts] == ["NetworkError", "ok"]


def test_reset_mid_body_is_retried(client, mock, req):
    """A reset in the middle of the body is a NetworkError and is retried."""
    mock.enqueue(Fault.reset_mid_body())
    resp = client.chat_completion(req)
    assert isinstance(resp.attempts[0].error, NetworkError) and resp.text


@pytest.mark.parametrize(
    "fault, error",
    [
        (Fault.malformed(b'{"choices": ['), ProtocolError),
        (Fault.malformed(b"<html><body>Gateway</body></html>", content_type="text/html"), ProtocolError),
        (Fault.malformed(b"plain words", content_type="text/plain"), ProtocolError),
        (Fault.malformed(b'{"choices": []}'), ProtocolError),
        (Fault.malformed(b""), ProtocolError),
    ],
)
def test_bad_bodies_are_classified(client, mock, req, fault, error):
    """Malformed JSON, HTML with 200, wrong type, empty choices, empty body: ProtocolError, once."""
    mock.enqueue(fault)
    with pytest.raises(error) as info:
        client.chat_completion(req)
    assert mock.request_count == 1 and len(info.value.attempts) == 1


def test_sse_garbage_is_a_protocol_error(client, mock, req):
    """An event stream of garbage raises ProtocolError before any content."""
    mock.enqueue(Fault.garbage_stream(b"data: {not json\n\n"))
    with pytest.raises(ProtocolError, match="malformed JSON"):
        client.chat_completion_stream(req)


def test_json_answer_to_a_stream_request_is_a_protocol_error(client, mock, req):
    """A JSON body where an event stream was asked for is a ProtocolError."""
    mock.enqueue(Fault.malformed(b'{"choices": []}'))
    with pytest.raises(ProtocolError, match="event stream"):
        client.chat_completion_stream(req)


def test_stream_cut_before_content_is_retried(client, mock, req):
    """A stream that ends before any content and without [DONE] is retried transparently."""
    mock.enqueue(Fault.cut_stream(after=0))
    with client.chat_completion_stream(req) as stream:
        text = "".join(c.delta_text for c in stream)
    assert text == "Hello from MockProvider"
    assert [a.outcome for a in stream.attempts] == ["error", "ok"]


def test_stream_cut_after_content_is_never_a_short_answer(client, mock, req):
    """A stream cut after content raises StreamInterruptedError with the partial text."""
    mock.enqueue(Fault.cut_stream(after=1))
    stream = client.chat_completion_stream(req)
    got = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            got.append(chunk.delta_text)
    assert info.value.partial_text == "".join(got) != ""
    assert isinstance(info.value.cause, NetworkError)
    assert mock.request_count == 1  # never retried after the commit point


def test_first_byte_timeout(mock, req):
    """A server that does not answer within first_byte_timeout gives TimeoutError per attempt."""
    mock.enqueue(Fault.stall(), Fault.stall())
    opts = ConnectionOptions(first_byte_timeout=0.2, max_retries=1, retry_delay=0.0)
    with AiClient(mock.provider(), options=opts) as client:
        start = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            client.chat_completion(req)
    assert time.monotonic() - start < 2 * SLACK
    assert info.value.phase == "first_byte" and len(info.value.attempts) == 2


def test_stream_idle_timeout(mock, req):
    """A stream that goes silent after content raises within stream_idle_timeout."""
    mock.enqueue(Fault.stall_stream(after=1))
    with AiClient(mock.provider(), options=ConnectionOptions(stream_idle_timeout=0.3)) as client:
        stream = client.chat_completion_stream(req)
        start = time.monotonic()
        with pytest.raises(StreamInterruptedError) as info:
            list(stream)
    assert 0.25 < time.monotonic() - start < 2 * SLACK
    assert isinstance(info.value.cause, TimeoutError) and info.value.cause.phase == "idle"


@pytest.mark.parametrize("streamed", [False, True])
def test_deadline_against_a_stalled_server(mock, req, streamed):
    """With a 1 s deadline against a stalling server, DeadlineExceededError comes within 1.2 s."""
    mock.enqueue(Fault.stall(), Fault.stall(), Fault.stall())
    with AiClientBuilder(mock.provider()).with_deadline(1.0).build() as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            client.chat_completion_stream(req) if streamed else client.chat_completion(req)
        elapsed = time.monotonic() - start
    assert 0.95 < elapsed < 1.0 + 0.2 * SLACK
    assert len(info.value.attempts) >= 1


def test_drip_cannot_outlive_the_deadline(mock, req):
    """A server dripping one byte every 0.1 s cannot hold a call past its deadline."""
    mock.enqueue(Fault.drip(0.1))
    with AiClientBuilder(mock.provider()).without_retry().with_deadline(0.6).build() as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            client.chat_completion(req)
    assert time.monotonic() - start < 0.6 + 0.3 * SLACK


def test_no_key_in_debug_logs_or_reprs(mock, req, ailib_logs):
    """At DEBUG the key never appears in logs, reprs, errors or attempts; headers are redacted."""
    mock.enqueue(Fault.http_status(500))
    with AiClientBuilder(mock.provider(api_key=SECRET)).with_retry(FAST_RETRY).build() as client:
        resp = client.chat_completion(req)
        mock.enqueue(Fault.http_status(401, message=f"bad key {SECRET}"))
        with pytest.raises(Exception) as info:
            client.chat_completion(req)
        texts = [
            ailib_logs.text,
            repr(client),
            repr(client._endpoints),
            repr(resp),
            repr(resp.attempts),
            str(info.value),
            repr(info.value),
            repr(info.value.attempts),
        ]
    assert "***" in ailib_logs.text
    for text in texts:
        assert SECRET not in text


def test_options_repr_hides_the_key():
    """ConnectionOptions and provider specs do not show keys in repr."""
    opts = ConnectionOptions(api_key=SECRET, proxy="http://user:pw@127.0.0.1:1")
    assert SECRET not in repr(opts) and "pw" not in repr(opts)
    with MockProvider() as m:
        assert SECRET not in repr(m.provider(api_key=SECRET))


def test_list_models(client):
    """list_models returns the provider's model ids."""
    assert client.list_models() == ["mock-model", "mock-model-large"]


def test_connection_refused_is_a_network_error(req):
    """A refused connection is a NetworkError marked as never sent, retried per policy."""
    m = MockProvider()
    provider = m.provider()
    m.close()
    with AiClientBuilder(provider).with_retry(FAST_RETRY).build() as client:
        with pytest.raises(NetworkError) as info:
            client.chat_completion(req)
    assert info.value.request_sent is False and len(info.value.attempts) == 3


def test_closed_client_refuses_calls(mock, req):
    """After close(), a call fails at once with a non-retryable ClientClosedError: no attempt, no retry, nothing sent."""
    client = AiClient(mock.provider())
    client.close()
    with pytest.raises(ClientClosedError, match="closed") as info:
        client.chat_completion(req)
    assert (
        not isinstance(info.value, NetworkError)
        and info.value.is_retryable() is False
        and info.value.attempts == ()
        and mock.request_count == 0
    )
    with pytest.raises(ClientClosedError, match="closed"):
        client.chat_completion_stream(req)
    with pytest.raises(ClientClosedError, match="closed"):
        client.list_models()
