"""MockProvider: a real HTTP server on 127.0.0.1 that speaks the providers' wire formats.

It answers chat requests in the OpenAI, Anthropic, Gemini or Cohere format (JSON and
SSE), runs scripted faults (``Fault``) one per chat request in order, and records every
request it received, including when the server saw the client go away.
"""

from __future__ import annotations

import importlib
import json
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union

from ._faults import Fault, Reply
from ._mock_base import MockFormat

__all__ = ["MockProvider", "RecordedRequest"]

_MOCK_FORMATS = {
    "openai": "ailib.testing._mock_openai:OpenAIMock",
    "anthropic": "ailib.testing._mock_anthropic:AnthropicMock",
    "gemini": "ailib.testing._mock_gemini:GeminiMock",
    "cohere": "ailib.testing._mock_cohere:CohereMock",
}

_FILL = "@@GIANT-FILL@@"  # where Fault.giant's filler goes in the format's success body
_BLOCK = 65536

Script = Union[Sequence[Fault], Callable[[int, "RecordedRequest"], Optional[Fault]]]


def _load_formats() -> dict[str, MockFormat]:
    out: dict[str, MockFormat] = {}
    for name, ref in _MOCK_FORMATS.items():
        module_name, cls_name = ref.split(":")
        try:
            out[name] = getattr(importlib.import_module(module_name), cls_name)()
        except (ImportError, AttributeError):
            continue
    return out


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

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path}, fault={self.fault.kind if self.fault else None})"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, owner: MockProvider) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", owner._port), _Handler)

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # -- helpers ---------------------------------------------------------------------------
    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[1])
        fmt = owner._format_for(self.command, self.path)
        if fmt is None:
            owner._record(rec, count=False)
            self._json(404, {"error": {"message": f"no route for {self.command} {self.path}", "type": "not_found_error"}})
            return
        rec.format = fmt.name
        if fmt.is_models(self.command, self.path):
            owner._record(rec, count=False)
            self._json(200, fmt.models())
            return
        index = owner._record(rec, count=True)
        if owner.api_key is not None and owner.api_key not in " ".join(rec.headers.values()):
            self._json(401, fmt.error_body(401, None, "invalid api key"))
            return
        fault = owner._next_fault(index, rec) or Fault("ok")
        rec.fault = fault
        latency = owner._latency()
        if fault.kind == "ok" and fault.seconds:
            latency += fault.seconds
        if latency > 0 and not self._wait(latency, rec):
            return
        stream = fmt.is_stream(self.path, rec.json)
        model = fmt.model_of(self.path, rec.json)
        getattr(self, "_fault_" + fault.kind)(fault, fmt, stream, model, rec)

    def _wait(self, seconds: Optional[float], rec: RecordedRequest) -> bool:
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

    def _send_head(self, status: int, content_type: str, length: Optional[int], headers: Optional[dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", "req-mock")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status: int, obj: Any, headers: Optional[dict[str, str]] = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        self._send_head(status, "application/json", len(data), headers)
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> bool:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            return True
        except OSError:
            self.close_connection = True
            return False

    def _end_chunks(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the connection with a TCP RST."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _events(self, fmt: MockFormat, reply: Reply, model: str) -> tuple:
        return fmt.stream_events(reply, model)

    # -- faults -----------------------------------------------------------------------------
    def _fault_ok(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        reply = fault.reply or self.server.owner.reply
        if not stream:
            self._json(200, fmt.success(reply, model))
            return
        opening, content, closing = self._events(fmt, reply, model)
        self._send_head(200, "text/event-stream", None)
        for frame in [*opening, *content, *closing]:
            if not self._chunk(frame):
                return
            if self.server.owner.event_interval:
                if not self._wait(self.server.owner.event_interval, rec):
                    return
        self._end_chunks()

    def _fault_status(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if fault.body is not None:
            self._send_head(fault.status, fault.content_type, len(fault.body), dict(fault.headers))
            self.wfile.write(fault.body)
            return
        message = fault.message or f"mock error {fault.status}"
        self._json(fault.status, fmt.error_body(fault.status, fault.error_type, message), dict(fault.headers))

    def _fault_raw(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        body = fault.body or b""
        self._send_head(fault.status, fault.content_type, len(body), dict(fault.headers))
        self.wfile.write(body)

    def _fault_stall(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        self._wait(fault.seconds, rec)
        self.close_connection = True

    def _fault_reset(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        self._reset()

    def _fault_reset_mid_body(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        data = json.dumps(fmt.success(self.server.owner.reply, model), ensure_ascii=False).encode()
        self._send_head(200, "application/json", len(data))
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        time.sleep(0.01)
        self._reset()

    def _stream_prefix(self, fault: Fault, fmt: MockFormat, model: str, rec: RecordedRequest) -> bool:
        opening, content, _ = self._events(fmt, self.server.owner.reply, model)
        self._send_head(200, "text/event-stream", None)
        for frame in [*opening, *content[: fault.after]]:
            if not self._chunk(frame):
                return False
        return True

    def _fault_cut_stream(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if self._stream_prefix(fault, fmt, model, rec):
            self._end_chunks()

    def _fault_reset_stream(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if self._stream_prefix(fault, fmt, model, rec):
            time.sleep(0.01)
            self._reset()

    def _fault_stall_stream(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if self._stream_prefix(fault, fmt, model, rec):
            self._wait(fault.seconds, rec)
            self.close_connection = True

    def _fault_error_event(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if self._stream_prefix(fault, fmt, model, rec):
            self._chunk(fmt.error_event(fault.error_type or "overloaded_error", fault.message or "Overloaded"))
            self._end_chunks()

    def _fault_drip(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        reply = self.server.owner.reply
        if stream:
            opening, content, closing = self._events(fmt, reply, model)
            data = b"".join([*opening, *content, *closing])
            self._send_head(200, "text/event-stream", None)
        else:
            data = json.dumps(fmt.success(reply, model), ensure_ascii=False).encode()
            self._send_head(200, "application/json", len(data))
        for i in range(len(data)):
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (1, data[i : i + 1]) if stream else data[i : i + 1])
            except OSError:
                rec.disconnected_at = time.monotonic()
                self.close_connection = True
                return
            if not self._wait(fault.seconds or 1.0, rec):
                return
        if stream:
            self._end_chunks()

    def _fault_mislabeled(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        reply = self.server.owner.reply
        if stream:
            opening, content, closing = self._events(fmt, reply, model)
            data = b"".join([*opening, *content, *closing])
        else:
            data = json.dumps(fmt.success(reply, model), ensure_ascii=False).encode()
        self._send_head(200, fault.content_type, len(data))
        self.wfile.write(data)

    def _fault_interleave(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if not stream:
            self._fault_ok(Fault("ok"), fmt, stream, model, rec)
            return
        opening, content, closing = self._events(fmt, self.server.owner.reply, model)
        self._send_head(200, "text/event-stream", None)
        for frame in [*opening, *content[: fault.after], fault.body or b"", *content[fault.after :], *closing]:
            if not self._chunk(frame):
                return
        self._end_chunks()

    def _fault_giant(self, fault: Fault, fmt: MockFormat, stream: bool, model: str, rec: RecordedRequest) -> None:
        if stream:
            self._giant_stream(fault, fmt, model, rec)
            return
        head, tail = json.dumps(fmt.success(Reply(_FILL), model)).encode().split(_FILL.encode(), 1)
        filler = max(0, fault.size - len(head) - len(tail))
        self._send_head(200, "application/json", len(head) + filler + len(tail))
        try:
            self.wfile.write(head)
            block = b"x" * _BLOCK
            while filler > 0:
                n = min(filler, len(block))
                self.wfile.write(block[:n])
                filler -= n
            self.wfile.write(tail)
        except OSError:
            rec.disconnected_at = time.monotonic()
            self.close_connection = True

    def _giant_stream(self, fault: Fault, fmt: MockFormat, model: str, rec: RecordedRequest) -> None:
        """An event stream of ``_BLOCK``-character text events adding up to about ``fault.size`` bytes."""
        opening, content, closing = self._events(fmt, Reply("x" * (3 * _BLOCK)), model)
        first, middle, last = content  # three pieces: the first opens the text block, the last closes it
        fixed = sum(len(f) for f in (*opening, first, last, *closing))
        repeats = max(0, (fault.size - fixed) // len(middle))
        self._send_head(200, "text/event-stream", None)
        frames = [*opening, first]
        for frame in frames:
            if not self._chunk(frame):
                rec.disconnected_at = time.monotonic()
                return
        for _ in range(repeats):
            if not self._chunk(middle):
                rec.disconnected_at = time.monotonic()
                return
        for frame in (last, *closing):
            if not self._chunk(frame):
                rec.disconnected_at = time.monotonic()
                return
        self._end_chunks()


class MockProvider:
    """A real loopback HTTP server speaking provider wire formats, with scripted faults.

    >>> with MockProvider() as mock:
    ...     client = AiClient(mock.provider())
    """

    def __init__(
        self,
        wire_format: str = "openai",
        *,
        latency: Union[None, float, Callable[[], float]] = None,
        script: Optional[Script] = None,
        reply: Union[str, Reply] = "Hello from MockProvider",
        api_key: Optional[str] = None,
        port: int = 0,
        event_interval: float = 0.0,
        name: str = "mock",
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self._formats = _load_formats()
        if wire_format not in self._formats:
            raise ValueError(f"MockProvider does not speak {wire_format!r}; it speaks {sorted(self._formats)}")
        self.wire_format = wire_format
        self.name = name
        self.reply = reply if isinstance(reply, Reply) else Reply(reply)
        self.api_key = api_key
        self.event_interval = event_interval
        self.ssl_context = ssl_context  # serve HTTPS with this server-side context
        self._latency_spec = latency
        self._rng = random.Random(0)
        self._faults: deque[Fault] = deque()
        self._script_fn: Optional[Callable[[int, RecordedRequest], Optional[Fault]]] = None
        if callable(script):
            self._script_fn = script
        elif script:
            self._faults.extend(script)
        self._port = port
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._chat_count = 0
        self._conns: set = set()
        self._stopping = threading.Event()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.start()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MockProvider:
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"MockProvider-{self._port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end stalls, drop every connection and join the server's threads."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> MockProvider:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- what tests use -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """The base URL a client of this format uses (``/v1`` included for OpenAI)."""
        return self.url + self._formats[self.wire_format].base_path

    @property
    def request_count(self) -> int:
        """Chat requests received (models/health requests are not counted)."""
        with self._lock:
            return self._chat_count

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.is_chat]

    def enqueue(self, *faults: Fault) -> MockProvider:
        """Script the next chat requests' behaviour, in order (then normal answers)."""
        with self._lock:
            self._faults.extend(faults)
        return self

    def provider(self, name: Optional[str] = None, *, api_key: Optional[str] = None):
        """A custom provider pointing at this server, in this server's wire format."""
        from ..providers.custom import CustomProviderBuilder

        builder = (
            CustomProviderBuilder(name or self.name)
            .with_base_url(self.base_url)
            .with_wire_format(self.wire_format)
            .with_default_chat_model("mock-model")
        )
        key = api_key or self.api_key
        if key:
            builder = builder.with_api_key(key)
        return builder.build_provider()

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._chat_count = 0

    # -- internals ------------------------------------------------------------------------------
    def _format_for(self, method: str, path: str) -> Optional[MockFormat]:
        preferred = self._formats[self.wire_format]
        for fmt in (preferred, *self._formats.values()):
            if fmt.matches(method, path) or fmt.is_models(method, path):
                return fmt
        return None

    def _record(self, rec: RecordedRequest, *, count: bool) -> int:
        with self._lock:
            self.requests.append(rec)
            if count:
                rec.is_chat = True
                self._chat_count += 1
            return self._chat_count - 1

    def _next_fault(self, index: int, rec: RecordedRequest) -> Optional[Fault]:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        if self._script_fn is not None:
            return self._script_fn(index, rec)
        return None

    def _latency(self) -> float:
        spec = self._latency_spec
        if spec is None:
            return 0.0
        if callable(spec):
            return float(spec())
        return float(spec)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)
