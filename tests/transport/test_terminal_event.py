"""A stream ends at its format's terminal event, even when the server keeps the body open.

The server is a raw socket speaking HTTP/1.1 chunked: it sends a recorded stream of each
wire format (``tests/fixtures/<format>/stream_text.txt``), one chunk per event, and then
neither the final 0-chunk nor anything else until the client closes the connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, ConnectionOptions, CustomProviderBuilder, Message

from ._server import RawServer
from ._support import SLACK, Listener, client_for, content_length, read_head, request, timed_call

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS = ("openai", "anthropic", "cohere", "gemini")
TEXT = "It is sunny and 21 degrees in Paris."
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
IDLE = 60.0  # the idle timeout a stream would otherwise wait out
PROMPT = 0.7 * SLACK  # "at once": far below IDLE even at a large SLACK


def recorded_events(fmt: str, name: str = "stream_text.txt") -> list[bytes]:
    """The events of a recorded stream, each with its blank line."""
    text = (FIXTURES / fmt / name).read_text()
    return [e.strip("\n").encode() + b"\n\n" for e in text.split("\n\n") if e.strip()]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class HeldOpen(Listener):
    """Answers each request with ``events`` as chunks, then ``end`` (default: nothing, the
    body stays open until the client closes the connection)."""

    def __init__(self, events: list[bytes], end: bytes = b"") -> None:
        self.events = events
        self.end = end
        self.sent_at: list[float] = []  # when the last event went out
        self.closed_at: list[float] = []  # when the client closed the connection
        self.connections = 0
        self.answers = 0
        super().__init__()

    threaded = True

    def serve(self, sock: socket.socket) -> None:
        self.connections += 1
        self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(IDLE * 2)
        buf = b""
        with sock:
            try:
                while True:
                    got = read_head(sock, buf)
                    if got is None:
                        break
                    head, buf = got
                    while len(buf) < content_length(head):
                        buf += sock.recv(65536)
                    buf = buf[content_length(head) :]
                    sock.sendall(HEAD + b"".join(chunk(e) for e in self.events))
                    self.sent_at.append(time.monotonic())
                    self.answers += 1
                    sock.sendall(self.end)
                    if not self.end:
                        while sock.recv(65536):  # the body stays open; the client's close ends this
                            pass
                        break
            except OSError:
                pass
            self.closed_at.append(time.monotonic())


def client_of(fmt: str, base_url: str) -> Any:
    if fmt != "openai":
        base_url = base_url[: -len("/v1")]
    provider = CustomProviderBuilder(f"held-{fmt}").with_base_url(base_url).with_api_key("sk-held-0123456789").with_wire_format(fmt)
    options = ConnectionOptions(stream_idle_timeout=IDLE, timeout=IDLE * 2)
    return AiClientBuilder(provider.build_provider()).with_options(options).without_retry().build()


def ask() -> ChatCompletionRequest:
    return ChatCompletionRequest("m", [Message.user("weather?")])


def wait_for(values: list[float], timeout: float) -> Optional[float]:
    end = time.monotonic() + timeout
    while not values and time.monotonic() < end:
        time.sleep(0.01)
    return values[0] if values else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_stream_ends_at_its_terminal_event_while_the_body_stays_open(fmt: str) -> None:
    """Iterating a stream whose server keeps the body open after the terminal event returns the
    whole text, finish reason and usage at once (not after the 60 s idle timeout), without raising."""
    server = HeldOpen(recorded_events(fmt))
    with client_of(fmt, server.base_url) as client:
        with client.chat_completion_stream(ask()) as stream:
            text = "".join(c.delta_text for c in stream)
        done_at = time.monotonic()
    server.close()
    assert text == TEXT
    assert stream.finished and stream.finish_reason == "stop"
    assert stream.usage is not None and stream.usage.completion_tokens == 11
    assert done_at - server.sent_at[0] < PROMPT
    closed_at = wait_for(server.closed_at, PROMPT)  # the connection was closed, not left open
    assert closed_at is not None and closed_at - server.sent_at[0] < PROMPT


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_collected_stream_ends_at_its_terminal_event(fmt: str) -> None:
    """``ChatStream.collect()`` (a stream read into one response) returns at the terminal event too."""
    server = HeldOpen(recorded_events(fmt))
    with client_of(fmt, server.base_url) as client:
        response = client.chat_completion_stream(ask()).collect()
        done_at = time.monotonic()
    server.close()
    assert response.text == TEXT and response.finish_reason == "stop"
    assert done_at - server.sent_at[0] < PROMPT


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_body_ending_right_after_the_terminal_event_keeps_its_connection(fmt: str) -> None:
    """When the body's end follows the terminal event (the usual case), the connection goes back
    to the pool: two streams in a row use one connection."""
    server = HeldOpen(recorded_events(fmt), end=b"0\r\n\r\n")
    with client_of(fmt, server.base_url) as client:
        for _ in range(2):
            with client.chat_completion_stream(ask()) as stream:
                assert "".join(c.delta_text for c in stream) == TEXT
    server.close()
    assert server.answers == 2 and server.connections == 1


def test_a_gemini_finish_without_usage_reads_on_for_the_counts() -> None:
    """A Gemini chunk with a finishReason but no usageMetadata ends the stream properly, and a
    usage chunk that follows it (before the body's end) still reaches the caller."""
    finish = b'data: {"candidates": [{"content": {"parts": [{"text": "Hi."}]}, "finishReason": "STOP", "index": 0}]}\n\n'
    counts = b'data: {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}}\n\n'
    server = HeldOpen([finish, counts], end=b"0\r\n\r\n")
    with client_of("gemini", server.base_url) as client:
        with client.chat_completion_stream(ask()) as stream:
            assert "".join(c.delta_text for c in stream) == "Hi."
    server.close()
    assert stream.finished and stream.finish_reason == "stop"
    assert stream.usage is not None and (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (4, 2)


@pytest.mark.parametrize("stream", [False, True])
def test_a_connection_pooled_after_a_terminal_event_waits_its_full_timeouts_again(stream: bool) -> None:
    """The short wait for a body's end after the terminal event does not stay on the pooled
    connection: the next call on it waits 0.3 s for its answer without a timeout."""
    with RawServer("chunked", slow_seconds=0.3) as server, client_for(server.base_url, retry=False) as client:
        with client.chat_completion_stream(request("first")) as first:
            assert "".join(c.delta_text for c in first) == "echo:first"
        server.script.append("slow_ok")
        seconds, err, text = timed_call(client, stream, "second")
        assert err is None and text == "echo:second" and seconds >= 0.3
        assert len(server.connections) == 1


def test_ailib_chat_stream_returns_at_the_terminal_event() -> None:
    """`ailib chat --stream` prints the whole answer and exits 0 at once although the server
    keeps the body open after `data: [DONE]`."""
    server = HeldOpen(recorded_events("openai"))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-held-0123456789")
    start = time.monotonic()
    try:
        args = [sys.executable, "-m", "ailib", "chat", "weather?", "--stream"]
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=IDLE * 2)
    finally:
        server.close()
    assert proc.returncode == 0 and proc.stdout.strip() == TEXT, proc.stderr
    assert time.monotonic() - start < 5.0 * SLACK  # an interpreter start and one call, not the 60 s idle timeout
