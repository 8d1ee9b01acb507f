"""Connection hygiene on raw servers: reuse, discard after cancel, oversized header blocks."""

from __future__ import annotations

import pytest

from ailib.errors import ProtocolError
from tests.chaos._support import eventually

from ._server import RawServer
from ._support import Listener, client_for, request, timed_call


def test_a_finished_keep_alive_call_reuses_its_connection():
    """Two sequential calls on a keep-alive server share one connection (the pool works)."""
    with RawServer("length") as server, client_for(server.base_url) as client:
        for _ in range(2):
            client.chat_completion(request())
        assert len(server.connections) == 1


@pytest.mark.parametrize("shape", ["length", "chunked"])
def test_a_stream_left_early_is_discarded_not_pooled(shape):
    """Leaving a keep-alive stream long before its end closes that connection; the next call opens a new one."""
    with RawServer(shape) as server, client_for(server.base_url) as client:
        with client.chat_completion_stream(request("x" * 20_000)) as stream:
            next(iter(stream))
        assert client.chat_completion(request("next")).text == "echo:next"
        assert len(server.connections) == 2
        assert eventually(lambda: server.connections[0].closed_at is not None)  # the server notices asynchronously


@pytest.mark.parametrize("stream", [False, True])
def test_a_thousand_response_headers_are_a_protocol_error_not_retried(stream):
    """A response with 1,000 headers is a ProtocolError (not a retryable NetworkError): one request, no retry."""
    with RawServer("length", "many_headers") as server, client_for(server.base_url) as client:
        _, err, _ = timed_call(client, stream)
        assert isinstance(err, ProtocolError), repr(err)
        assert not err.is_retryable()
        assert server.request_count == 1


@pytest.mark.parametrize("shape", ["length", "chunked"])
def test_an_attempt_lets_go_of_its_connection_before_the_pool_has_it_again(shape):
    """When a body is read to its end, urllib3 returns the connection to the pool at once; the
    attempt has let go of it by then (when http.client closes the response's file, which it
    does before urllib3 sees the response closed), so a late cancel of that attempt cannot
    shut down a connection another call took."""
    import time

    from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport

    with RawServer(shape) as server:
        transport = SocketTransport()
        try:
            body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
            req = HttpRequest("POST", server.base_url + "/chat/completions", {"Content-Type": "application/json"}, body, stream=True)
            handle = AttemptHandle()
            stream = transport.send(req, Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0), handle)
            assert handle.socket is not None
            events = list(stream.events())  # to the end of the body: urllib3 has pooled the connection
            assert events and handle.socket is None
            handle.cancel()  # late: must not reach the pooled connection
            stream.close()
            again = transport.send(
                HttpRequest("POST", server.base_url + "/chat/completions", {}, body),
                Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0),
                AttemptHandle(),
            )
            assert again.status == 200
        finally:
            transport.close()
        assert len(server.connections) == 1


class _Overrunning(Listener):
    """Keep-alive; the first answer is followed, in the same send, by bytes it did not frame
    (a whole second response); later answers are proper."""

    threaded = True

    def __init__(self) -> None:
        self.connections = 0
        super().__init__()

    def serve(self, sock) -> None:  # type: ignore[no-untyped-def]
        self.connections += 1
        self._serve(sock)

    def _serve(self, sock) -> None:  # type: ignore[no-untyped-def]
        import json

        from ._support import content_length, read_head

        answers = 0
        buf = b""
        with sock:
            while (got := read_head(sock, buf)) is not None:
                head, buf = got
                while len(buf) < content_length(head):
                    buf += sock.recv(65536)
                text = json.loads(buf[: content_length(head)])["messages"][-1]["content"]
                buf = buf[content_length(head) :]

                def answer(content: str) -> bytes:
                    body = json.dumps(
                        {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
                    )
                    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()

                answers += 1
                sock.sendall(answer(f"echo:{text}") + (answer("not yours") if answers == 1 else b""))


def test_a_connection_whose_server_sent_more_than_it_framed_is_not_reused():
    """Bytes after a response's end (here a whole stray response) put the connection out of step: it is closed, and the next call gets its own answer on a new connection."""
    server = _Overrunning()
    try:
        with client_for(server.base_url, retry=False) as client:
            assert client.chat_completion(request("one")).text == "echo:one"
            assert client.chat_completion(request("two")).text == "echo:two"
    finally:
        server.close()
    assert server.connections == 2
