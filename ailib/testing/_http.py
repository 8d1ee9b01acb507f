"""HTTP plumbing of MockProvider: the threaded loopback server and one exchange's I/O.

Nothing here knows a wire format or a fault. An ``Exchange`` reads one request, and writes
one response under the provider's framing:

- ``"chunked"`` (default, like the real APIs): HTTP/1.1 keep-alive; event streams use
  ``Transfer-Encoding: chunked``, JSON bodies ``Content-Length``.
- ``"length"``: every body carries ``Content-Length`` (an event stream is declared whole
  up front; a fault that cuts it short declares what it meant to send).
- ``"close"``: no length; ``Connection: close`` and the body ends when the server closes.
- ``"http10"``: the same, under an ``HTTP/1.0`` status line.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Protocol

from ._faults import Fault

__all__ = ["FRAMINGS", "Exchange", "MockServer", "RecordedRequest", "ServerOwner"]

FRAMINGS = ("chunked", "length", "close", "http10")


class RecordedRequest:
    """One request the server received."""

    __slots__ = ("method", "path", "headers", "body", "json", "received_at", "disconnected_at", "fault", "format", "is_chat", "client_port")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, client_port: int = 0) -> None:
        self.method = method
        self.client_port = client_port  # the client's source port: equal ports mean a reused connection
        self.path = path
        self.headers = headers  # lower-cased names
        self.body = body
        try:
            self.json: Any = json.loads(body) if body else None
        except ValueError:
            self.json = None
        self.received_at = time.monotonic()
        self.disconnected_at: Optional[float] = None
        self.fault: Optional[Fault] = None
        self.format: Optional[str] = None
        self.is_chat = False

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (what ``GET /_mock/requests`` answers)."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items() if k not in ("authorization", "x-api-key", "x-goog-api-key", "api-key")},
            "json": self.json,
            "chat": self.is_chat,
            "fault": self.fault.kind if self.fault is not None else None,
        }

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path}, fault={self.fault.kind if self.fault else None})"


class ServerOwner(Protocol):
    """What the server needs from the MockProvider that runs it."""

    framing: str
    ssl_context: Optional[ssl.SSLContext]
    _stopping: threading.Event

    def _dispatch(self, ex: Exchange) -> None: ...
    def _track(self, conn: socket.socket, *, add: bool) -> None: ...


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, owner: ServerOwner, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), Exchange)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: faults are expected
        pass

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.owner.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(5.0)  # the TLS handshake runs in the connection's own thread, not the accept loop
        tls = context.wrap_socket(request, server_side=True)  # takes over the socket: close the TLS one
        try:
            tls.settimeout(None)
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)


class Exchange(BaseHTTPRequestHandler):
    """One connection's requests; each response written under the owner's framing."""

    protocol_version = "HTTP/1.1"
    server: MockServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._mode = "length"
        self._buffer: Optional[list[bytes]] = None
        self._meta: tuple[Any, ...] = ()
        self.common_headers: dict[str, str] = {}  # sent with every response (the request id)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._dispatch(self)

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    @property
    def framing(self) -> str:
        return self.server.owner.framing

    def read_request(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[1])

    # -- waiting ------------------------------------------------------------------------------
    def wait(self, seconds: Optional[float], rec: RecordedRequest) -> bool:
        """Sleep up to ``seconds`` (None: until stopped); False if the client went away."""
        owner = self.server.owner
        end = float("inf") if seconds is None else time.monotonic() + seconds
        conn = self.connection
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if owner._stopping.is_set():
                return False
            if isinstance(conn, ssl.SSLSocket):  # no MSG_PEEK on TLS: wait without noticing a hang-up
                time.sleep(min(left, 0.005))
                continue
            try:
                readable, _, _ = select.select([conn], [], [], min(left, 0.005))
                if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                    rec.disconnected_at = time.monotonic()
                    self.close_connection = True
                    return False
            except (OSError, ValueError):
                rec.disconnected_at = time.monotonic()
                self.close_connection = True
                return False

    # -- writing one response -------------------------------------------------------------------
    def begin(
        self,
        status: int,
        content_type: str,
        headers: Optional[dict[str, str]] = None,
        *,
        length: Optional[int] = None,
        stream: bool = False,
    ) -> None:
        """Start a response. ``length`` is the body's size when known (for a stream under
        ``"length"`` framing: the size to declare); ``stream`` marks an event stream."""
        framing = self.framing
        if framing in ("close", "http10"):
            mode = "close"
        elif framing == "chunked":
            mode = "chunked" if stream or length is None else "length"
        else:
            mode = "length" if length is not None else "buffer"
        self._mode = mode
        if mode == "buffer":
            self._buffer = []
            self._meta = (status, content_type, dict(headers or {}))
            return
        self._head(status, content_type, headers, length if mode == "length" else None)

    def _head(self, status: int, content_type: str, headers: Optional[dict[str, str]], length: Optional[int]) -> None:
        if self._mode == "close" and self.framing == "http10":
            self.protocol_version = "HTTP/1.0"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in self.common_headers.items():
            self.send_header(k, v)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self._mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif self._mode == "length":
            self.send_header("Content-Length", str(length or 0))
        else:
            self.send_header("Connection", "close")  # sets close_connection: the close ends the body
        if content_type.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def write(self, data: bytes) -> bool:
        """Send part of the body; False if the client is gone."""
        if not data:
            return True
        if self._mode == "buffer":
            assert self._buffer is not None
            self._buffer.append(data)
            return True
        try:
            if self._mode == "chunked":
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            return True
        except OSError:
            self.close_connection = True
            return False

    def end(self) -> None:
        """Finish the body the framing's way (last chunk, buffered body, or close)."""
        try:
            if self._mode == "chunked":
                self.wfile.write(b"0\r\n\r\n")
            elif self._mode == "buffer":
                data = b"".join(self._buffer or [])
                self._buffer = None
                self._mode = "length"
                status, content_type, headers = self._meta
                self._head(status, content_type, headers, len(data))
                self.wfile.write(data)
            elif self._mode == "close":
                self.close_connection = True
        except OSError:
            self.close_connection = True

    def send_bytes(self, status: int, content_type: str, body: bytes, headers: Optional[dict[str, str]] = None) -> None:
        self.begin(status, content_type, headers, length=len(body))
        self.write(body)
        self.end()

    def send_json(self, status: int, obj: Any, headers: Optional[dict[str, str]] = None) -> None:
        self.send_bytes(status, "application/json", json.dumps(obj, ensure_ascii=False).encode(), headers)

    def flush(self) -> None:
        try:
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def reset(self) -> None:
        """Abort the connection with a TCP RST."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def hang_up(self) -> None:
        """Close the connection after this response, whatever the framing."""
        self.close_connection = True
