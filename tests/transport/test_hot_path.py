"""The hot path (straight onto the urllib3 pool) keeps what requests users rely on: proxies and TLS checks."""

from __future__ import annotations

import pytest

from ailib.errors import NetworkError

from ._server import RawServer
from ._support import Listener, client_for, content_length, read_head, request


def test_a_proxy_from_the_options_carries_every_call():
    """``ConnectionOptions(proxy=...)``: calls to an http:// base URL go to the proxy with the absolute URL; plain http still warns once."""
    with RawServer("length") as proxy:
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        with client_for("http://api.example.invalid/v1", proxy=proxy_url, retry=False) as client:
            with pytest.warns(UserWarning, match="plain http"):
                assert client.chat_completion(request("via proxy")).text == "echo:via proxy"
            assert client.chat_completion(request("via proxy")).text == "echo:via proxy"
        assert proxy.request_lines == ["POST http://api.example.invalid/v1/chat/completions HTTP/1.1"] * 2


def test_tls_verification_stays_on():
    """A server whose certificate is not signed by a trusted CA is refused (not retried), and verify=<CA bundle> accepts it."""
    import tempfile

    from ._server import tls_context

    ctx, ca = tls_context(tempfile.mkdtemp())
    with RawServer("tls", ssl_context=ctx) as server:
        with client_for(server.base_url) as client:  # the system CAs only
            try:
                client.chat_completion(request())
                raise AssertionError("an untrusted certificate was accepted")
            except NetworkError as err:
                assert "TLS" in str(err) and not err.is_retryable()
        with client_for(server.base_url, ca=ca) as client:
            assert client.chat_completion(request("ok")).text == "echo:ok"
        assert server.request_count == 1


class _RecordingServer(Listener):
    """One keep-alive connection at a time; records each request's head and its body as
    framed on the wire (Content-Length or chunked); answers ``200 ok``."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []
        super().__init__()
        self.url = self.base_url + "/x"

    def serve(self, sock) -> None:  # type: ignore[no-untyped-def]
        with sock:
            buf = b""
            while (got := read_head(sock, buf)) is not None:
                head, buf = got
                lower = head.lower()
                if b"transfer-encoding: chunked" in lower:
                    end = b"0\r\n\r\n"
                    while end not in buf:
                        buf += sock.recv(65536)
                    body, _, buf = buf.partition(end)
                    body += end
                else:
                    length = content_length(head)
                    while len(buf) < length:
                        buf += sock.recv(65536)
                    body, buf = buf[:length], buf[length:]
                self.requests.append((head, body))
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_every_request_body_reaches_the_server_as_framed():
    """A small body (sent with its header block), a large one, and a body under a
    ``Transfer-Encoding: chunked`` header all arrive whole, in order, framed as declared."""
    import time

    from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport

    server = _RecordingServer()
    transport = SocketTransport()
    small, large = b'{"a":1}', b"x" * 200_000
    try:
        for headers, body in (({}, small), ({}, large), ({"Transfer-Encoding": "chunked"}, small), ({}, small)):
            dl = Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0)
            resp = transport.send(HttpRequest("POST", server.url, headers, body), dl, AttemptHandle())
            assert (resp.status, resp.body) == (200, b"ok")
    finally:
        transport.close()
        server.close()
    bodies = [body for _, body in server.requests]
    assert bodies == [small, large, b"7\r\n" + small + b"\r\n0\r\n\r\n", small]
    assert [b"content-length: %d" % len(small) in head.lower() for head, _ in server.requests] == [True, False, False, True]


def test_remembered_header_lines_are_the_bytes_http_client_builds():
    """On a reused connection, each request's head (fixed headers, one that changes per call,
    a value with a tab) is byte for byte what a plain urllib3 pool sends for the same request."""
    import time

    import urllib3

    from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport

    server = _RecordingServer()  # one connection at a time: each client closes its own before the next
    calls = [{"Authorization": "Bearer k", "X-Key": f"call-{i}", "X-Tab": "a\tb"} for i in range(3)] * 2
    try:
        transport = SocketTransport()
        try:
            for headers in calls:
                dl = Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0)
                assert transport.send(HttpRequest("POST", server.url, headers, b'{"a":1}'), dl, AttemptHandle()).status == 200
        finally:
            transport.close()
        ours = [head for head, _ in server.requests]
        server.requests.clear()
        plain = urllib3.PoolManager()
        try:
            for headers in calls:
                plain.request("POST", server.url, body=b'{"a":1}', headers=headers, retries=False)
        finally:
            plain.clear()
    finally:
        server.close()
    assert ours == [head for head, _ in server.requests]


def test_an_illegal_header_value_is_refused_on_a_connection_that_remembers_lines():
    """A header value with a line break is refused by http.client's check on every request, even after the same name was sent legally."""
    import time

    from ailib.transport import AttemptHandle, Deadlines, HttpRequest, SocketTransport

    server = _RecordingServer()
    transport = SocketTransport()
    try:
        for value in ("fine", "bad\r\nInjected: yes", "fine", "bad\r\nInjected: yes"):
            dl = Deadlines(5.0, 5.0, 5.0, time.monotonic() + 5.0)
            req = HttpRequest("POST", server.url, {"X-Key": value}, b"{}")
            if value == "fine":
                assert transport.send(req, dl, AttemptHandle()).status == 200
            else:
                with pytest.raises(ValueError, match="Invalid header value"):
                    transport.send(req, dl, AttemptHandle())
    finally:
        transport.close()
        server.close()
    assert [b"injected" in head.lower() for head, _ in server.requests] == [False, False]
