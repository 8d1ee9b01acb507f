"""A raw-socket HTTP server for transport tests, written without ``http.server`` or the mock.

It speaks just enough HTTP/1.x (and the OpenAI chat wire format) to serve each connection
shape real servers use, and the timing faults that break clients on them:

shapes: ``length`` (keep-alive, Content-Length), ``chunked`` (keep-alive), ``chunked-close``
(chunked + ``Connection: close``), ``http10`` (HTTP/1.0, close-delimited), ``tls`` (TLS,
close-delimited), ``tls-chunked`` (TLS, chunked keep-alive).

faults: ``ok``, ``stall_headers`` (never answers), ``drip_headers`` (the header block one
byte per 50 ms), ``stall_body`` (headers and part of the body, or two events, then
silence), ``drip_body`` (the body one byte per 50 ms), ``many_headers`` (1,000 headers),
``slow_ok`` (answers after ``slow_seconds``).

Every answer echoes the last user message (``echo:<text>``), so a test can check that each
answer belongs to its own question. Each connection records, on the server's clock, when
it was opened and when the client closed it; ``answered_at`` records when each full answer
was sent.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections import deque
from typing import Optional

import attrs

__all__ = ["RawServer", "SHAPES", "TIMING_FAULTS", "Shape", "tls_context"]

DRIP_GAP = 0.05
STALL_SECONDS = 30.0


@attrs.frozen
class Shape:
    framing: str  # "length" | "chunked" | "close" (close-delimited)
    version: str = "HTTP/1.1"
    keep_alive: bool = True
    tls: bool = False


SHAPES: dict[str, Shape] = {
    "length": Shape("length"),
    "chunked": Shape("chunked"),
    "chunked-close": Shape("chunked", keep_alive=False),
    "http10": Shape("close", version="HTTP/1.0", keep_alive=False),
    "tls": Shape("close", version="HTTP/1.0", keep_alive=False, tls=True),
    "tls-chunked": Shape("chunked", tls=True),
}
TIMING_FAULTS = ("stall_headers", "drip_headers", "stall_body", "drip_body")


@attrs.define
class Conn:
    opened_at: float
    closed_at: Optional[float] = None  # when the client closed (or reset) it, server clock
    requests: int = 0


_CA = None


def tls_context(tmp_dir: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1 made now, and the CA bundle's path."""
    global _CA
    import trustme

    if _CA is None:
        _CA = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CA.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    path = f"{tmp_dir}/ca.pem"
    _CA.cert_pem.write_to_path(path)
    return ctx, path


def _sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunk(delta: dict, finish: Optional[str] = None) -> dict:
    return {
        "id": "raw",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class RawServer:
    """``with RawServer("http10", fault="stall_body") as s: s.base_url``."""

    def __init__(
        self, shape: str = "length", fault: str = "ok", *, ssl_context: Optional[ssl.SSLContext] = None, slow_seconds: float = 0.0
    ) -> None:
        self.shape = SHAPES[shape]
        if self.shape.tls and ssl_context is None:
            raise ValueError("a TLS shape needs ssl_context (see tls_context)")
        self.fault = fault
        self.script: deque[str] = deque()  # faults for the next requests, then ``fault``
        self.slow_seconds = slow_seconds
        self._ssl = ssl_context if self.shape.tls else None
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}/v1"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connections: list[Conn] = []
        self.answered_at: list[float] = []
        self.stalled_at: list[float] = []  # when a stall_body answer went silent
        self.questions: list[str] = []
        self.request_lines: list[str] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> RawServer:
        t = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()  # wake accept()
        except OSError:
            pass
        self._listener.close()
        for t in list(self._threads):
            t.join(5)

    @property
    def request_count(self) -> int:
        return len(self.questions)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._stop.is_set():
                sock.close()
                return
            conn = Conn(time.monotonic())
            with self._lock:
                self.connections.append(conn)
            t = threading.Thread(target=self._serve, args=(sock, conn), daemon=True)
            t.start()
            self._threads.append(t)

    # -- one connection ------------------------------------------------------------------
    def _serve(self, raw: socket.socket, conn: Conn) -> None:
        sock: socket.socket = raw
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK stalls
        try:
            if self._ssl is not None:
                sock.settimeout(5)
                sock = self._ssl.wrap_socket(raw, server_side=True)
            sock.settimeout(None)
            buf = b""
            while not self._stop.is_set():
                request, buf = self._read_request(sock, buf, conn)
                if request is None:
                    return
                conn.requests += 1
                with self._lock:
                    fault = self.script.popleft() if self.script else self.fault
                keep = self._answer(sock, request, fault, conn)
                if not keep or not self.shape.keep_alive:
                    return
        except (OSError, ssl.SSLError):
            if conn.closed_at is None:
                conn.closed_at = time.monotonic()
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _read_request(self, sock: socket.socket, buf: bytes, conn: Conn) -> tuple[Optional[dict], bytes]:
        while b"\r\n\r\n" not in buf:
            data = self._recv(sock, conn)
            if not data:
                return None, b""
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        with self._lock:
            self.request_lines.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = self._recv(sock, conn)
            if not data:
                return None, b""
            rest += data
        body, rest = rest[:length], rest[length:]
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        return request, rest

    def _recv(self, sock: socket.socket, conn: Conn) -> bytes:
        """Wait for data, noting when the client closes; b"" once closed or stopping."""
        while not self._stop.is_set():
            pending = getattr(sock, "pending", lambda: 0)()
            if pending or select.select([sock], [], [], 0.05)[0]:
                try:
                    data = sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                except (OSError, ssl.SSLError):
                    data = b""
                if not data and conn.closed_at is None:
                    conn.closed_at = time.monotonic()
                return data
        return b""

    def _wait_for_close(self, sock: socket.socket, conn: Conn, seconds: float) -> None:
        """Stall: send nothing for ``seconds``, noting when the client gives up."""
        end = time.monotonic() + seconds
        while not self._stop.is_set() and conn.closed_at is None:
            left = end - time.monotonic()
            if left <= 0:
                return
            if select.select([sock], [], [], min(left, 0.01))[0]:
                try:
                    data = sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                except (OSError, ssl.SSLError):
                    data = b""
                if not data:
                    conn.closed_at = time.monotonic()
                    return

    def _drip(self, sock: socket.socket, conn: Conn, data: bytes) -> bool:
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            self._wait_for_close(sock, conn, DRIP_GAP)
            if conn.closed_at is not None or self._stop.is_set():
                return False
        return True

    def _answer(self, sock: socket.socket, request: dict, fault: str, conn: Conn) -> bool:
        messages = request.get("messages") or [{}]
        question = str(messages[-1].get("content"))
        with self._lock:
            self.questions.append(question)
        text = "echo:" + question
        stream = bool(request.get("stream"))
        if stream:
            events = [_sse(_chunk({"role": "assistant", "content": ""}))]
            events += [_sse(_chunk({"content": text[i : i + 8]})) for i in range(0, len(text), 8)]
            events += [_sse(_chunk({}, "stop")), b"data: [DONE]\n\n"]
        else:
            body = json.dumps(
                {
                    "id": "raw",
                    "object": "chat.completion",
                    "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode()
            events = [body[: len(body) // 2], body[len(body) // 2 :]]
        if fault == "stall_headers":
            self._wait_for_close(sock, conn, STALL_SECONDS)
            return False
        if fault == "slow_ok":
            self._wait_for_close(sock, conn, self.slow_seconds)
            if conn.closed_at is not None:
                return False
        shape = self.shape
        lines = [f"{shape.version} 200 OK", f"Content-Type: {'text/event-stream' if stream else 'application/json'}"]
        payload = b"".join(events)
        if shape.framing == "length":
            lines.append(f"Content-Length: {len(payload)}")
        elif shape.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        if not shape.keep_alive and shape.version == "HTTP/1.1":
            lines.append("Connection: close")
        if fault == "many_headers":
            lines += [f"X-Filler-{i}: {i}" for i in range(1000)]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if fault == "drip_headers":
            self._drip(sock, conn, head)
            return False

        def frame(part: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(part), part) if shape.framing == "chunked" and part else part

        if fault == "stall_body":
            sock.sendall(head + (b"".join(frame(p) for p in events[:2]) if stream else frame(events[0])))
            with self._lock:
                self.stalled_at.append(time.monotonic())
            self._wait_for_close(sock, conn, STALL_SECONDS)
            return False
        if fault == "drip_body":
            sock.sendall(head)
            self._drip(sock, conn, frame(payload))
            return False
        with self._lock:  # noted before sending: the client may act on the answer before this thread runs again
            self.answered_at.append(time.monotonic())
        sock.sendall(head + b"".join(frame(p) for p in events) + (b"0\r\n\r\n" if shape.framing == "chunked" else b""))
        if shape.framing == "close":
            return False
        return True
