"""MockProvider: a real HTTP server on 127.0.0.1 that speaks the providers' wire formats.

It answers chat requests in the OpenAI, Anthropic, Gemini or Cohere format (JSON and
SSE), refuses invalid requests as the real API does, runs scripted faults (``Fault``) one
per chat request in order, and records every request it received, including when the
server saw the client go away. The plumbing is in ``_http``, the routing in ``_routes``,
the behaviours beside their kind (``_answers``, ``_connection_faults``, ``_stream_faults``).
"""

from __future__ import annotations

import importlib
import itertools
import random
import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from typing import Callable, Optional, Union

from ..providers._registry import ProviderSpec
from ._faults import Fault, Reply
from ._http import FRAMINGS, Exchange, MockServer, RecordedRequest
from ._mock_base import MockFormat
from ._owner import Handler, Route
from ._routes import dispatch, module_routes

__all__ = ["MockProvider", "RecordedRequest"]

_MOCK_FORMATS = {
    "openai": "ailib.testing._mock_openai:OpenAIMock",
    "anthropic": "ailib.testing._mock_anthropic:AnthropicMock",
    "gemini": "ailib.testing._mock_gemini:GeminiMock",
    "cohere": "ailib.testing._mock_cohere:CohereMock",
    "openai_responses": "ailib.testing._mock_responses:ResponsesMock",
    # the embeddings endpoints, served on every MockProvider next to its chat format
    "openai_embed": "ailib.testing._mock_embed:OpenAIEmbedMock",
    "gemini_embed": "ailib.testing._mock_embed:GeminiEmbedMock",
    "cohere_embed": "ailib.testing._mock_embed:CohereEmbedMock",
    "ollama_embed": "ailib.testing._mock_embed:OllamaEmbedMock",
}

Script = Union[Sequence[Fault], Callable[[int, RecordedRequest], Optional[Fault]]]


def _load_formats() -> dict[str, MockFormat]:
    out: dict[str, MockFormat] = {}
    for name, ref in _MOCK_FORMATS.items():
        module_name, cls_name = ref.split(":")
        try:
            out[name] = getattr(importlib.import_module(module_name), cls_name)()
        except (ImportError, AttributeError):
            continue
    return out


class MockProvider:
    """A real loopback HTTP server speaking provider wire formats, with scripted faults.

    >>> with MockProvider() as mock:
    ...     client = AiClient(mock.provider())

    ``framing`` chooses how response bodies are delimited: ``"chunked"`` (default, keep-alive,
    like the real APIs), ``"length"`` (Content-Length), ``"close"`` (``Connection: close``)
    or ``"http10"`` (an HTTP/1.0 response ended by the close). ``validate=False`` accepts
    requests the real API would refuse.
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
        framing: str = "chunked",
        validate: bool = True,
    ) -> None:
        self._formats = _load_formats()
        if wire_format not in self._formats:
            raise ValueError(f"MockProvider does not speak {wire_format!r}; it speaks {sorted(self._formats)}")
        if framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}; expected one of {', '.join(FRAMINGS)}")
        self.wire_format = wire_format
        self.framing = framing
        self.validate = validate
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
        self.routes: list[Route] = module_routes()
        self._chat_count = 0
        self._ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: Optional[MockServer] = None
        self._thread: Optional[threading.Thread] = None
        self.start()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MockProvider:
        """Start serving (done by the constructor and ``with``); returns the provider."""
        if self._server is not None:
            return self
        self._server = MockServer(self, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"MockProvider-{self._port}", daemon=True
        )
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

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests use -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (on 127.0.0.1)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with TLS), without the format's path."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def format(self) -> MockFormat:
        """The server side of this provider's own wire format."""
        return self._formats[self.wire_format]

    @property
    def base_url(self) -> str:
        """The base URL a client of this format uses (``/v1`` included for OpenAI)."""
        return self.url + self.format.base_path

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

    def recorded(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in order."""
        with self._lock:
            return list(self.requests)

    def enqueue(self, *faults: Fault) -> MockProvider:
        """Script the next chat requests' behaviour, in order (then normal answers)."""
        with self._lock:
            self._faults.extend(faults)
        return self

    def pending_faults(self) -> list[Fault]:
        """The faults still queued, in order."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        """Drop every fault still queued."""
        with self._lock:
            self._faults.clear()

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()
            self._chat_count = 0

    def add_route(self, method: str, pattern: str, handler: Handler) -> MockProvider:
        """Serve ``method`` on paths fully matching the regex ``pattern`` with ``handler`` (see ``_routes``)."""
        self.routes.insert(0, Route(method.upper(), pattern, handler))
        return self

    def provider(self, name: Optional[str] = None, *, api_key: Optional[str] = None) -> ProviderSpec:
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
    def _dispatch(self, ex: Exchange) -> None:
        dispatch(self, ex)

    def _new_request_id(self) -> str:
        return f"req_mock{next(self._ids):06d}"

    def _format_for(self, method: str, path: str) -> Optional[MockFormat]:
        preferred = self.format
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
