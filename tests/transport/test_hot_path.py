"""The hot path (straight onto the urllib3 pool) keeps what requests users rely on: proxies and TLS checks."""

from __future__ import annotations

import pytest

from ailib.errors import NetworkError

from ._server import RawServer
from ._support import client_for, request


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


class _RecordingServer:
    """One keep-alive connection at a time; records each request's head and its body as
    framed on the wire (Content-Length or chunked); answers ``200 ok``."""

    def __init__(self) -> None:
        import socket
        import threading

        self.requests: list[tuple[bytes, bytes]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/x"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with sock:
                buf = b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = sock.recv(65536)
                        if not data:
                            break
                        buf += data
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    lower = head.lower()
                    if b"transfer-encoding: chunked" in lower:
                        end = b"0\r\n\r\n"
                        while end not in buf:
                            buf += sock.recv(65536)
                        body, _, buf = buf.partition(end)
                        body += end
                    else:
                        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                        while len(buf) < length:
                            buf += sock.recv(65536)
                        body, buf = buf[:length], buf[length:]
                    self.requests.append((head, body))
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self._listener.close()


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
