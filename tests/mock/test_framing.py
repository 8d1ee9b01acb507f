"""MockProvider(framing=...): each framing on the wire, and a client reading every one."""

from __future__ import annotations

import json
import socket

import pytest

from ailib import AiClientBuilder, ChatCompletionRequest, Message, NetworkError, StreamInterruptedError
from ailib.testing import Fault, MockProvider

FRAMINGS = ("chunked", "length", "close", "http10")
BODY = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}


def raw_exchange(mock: MockProvider, body: dict) -> tuple[str, dict[str, str], bytes]:
    """Send one request over a plain socket and read until the server closes or the body is complete."""
    data = json.dumps(body).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as s:
        s.sendall(head.encode() + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        header_blob, rest = buf.split(b"\r\n\r\n", 1)
        lines = header_blob.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if "content-length" in headers:
            while len(rest) < int(headers["content-length"]):
                rest += s.recv(65536)
        elif headers.get("transfer-encoding") == "chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                rest += s.recv(65536)
        else:
            while chunk := s.recv(65536):
                rest += chunk
    return lines[0], headers, rest


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("framing", FRAMINGS)
def test_each_framing_is_on_the_wire(framing: str, stream: bool) -> None:
    """Each framing delimits the body its own way: chunks, Content-Length, or the close (HTTP/1.0 status line for http10)."""
    with MockProvider(framing=framing) as mock:
        status, headers, body = raw_exchange(mock, {**BODY, "stream": stream})
    assert status.startswith("HTTP/1.0 200" if framing == "http10" else "HTTP/1.1 200")
    if framing == "chunked" and stream:
        assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    elif framing in ("chunked", "length"):
        assert int(headers["content-length"]) == len(body) and "transfer-encoding" not in headers
    else:
        assert headers["connection"] == "close" and "content-length" not in headers and "transfer-encoding" not in headers
    assert (b"[DONE]" in body) if stream else json.loads(body)["choices"][0]["message"]["content"] == "Hello from MockProvider"


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_client_reads_every_framing(framing: str) -> None:
    """ailib reads plain and streamed answers under every framing, twice in a row (keep-alive or not)."""
    req = ChatCompletionRequest("auto", [Message.user("hi")])
    with MockProvider(framing=framing) as mock, AiClientBuilder(mock.provider()).build() as client:
        for _ in range(2):
            assert client.chat_completion(req).text == "Hello from MockProvider"
            with client.chat_completion_stream(req) as stream:
                assert "".join(c.delta_text for c in stream) == "Hello from MockProvider"
            assert stream.usage is not None
    reused = len({r.client_port for r in mock.requests}) < len(mock.requests)
    assert reused == (framing in ("chunked", "length"))


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_stream_cut_short_is_never_a_normal_end_under_any_framing(framing: str) -> None:
    """A stream that stops after its first content event, under every framing, raises StreamInterruptedError."""
    req = ChatCompletionRequest("auto", [Message.user("hi")])
    with MockProvider(framing=framing) as mock, AiClientBuilder(mock.provider()).without_retry().build() as client:
        for fault in (Fault.cut_stream(after=1), Fault.reset_stream(after=1)):
            mock.enqueue(fault)
            with pytest.raises(StreamInterruptedError) as info:
                with client.chat_completion_stream(req) as stream:
                    for _ in stream:
                        pass
            assert isinstance(info.value.__cause__, NetworkError) and info.value.partial_text


def test_an_unknown_framing_is_refused() -> None:
    """MockProvider(framing=...) names the framings it knows when given another."""
    with pytest.raises(ValueError, match="chunked, length, close, http10"):
        MockProvider(framing="gzip")
