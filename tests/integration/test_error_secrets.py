"""No error of any class carries a key a server echoed: not in str, repr, traceback, pickle or logs.

A raw-socket loopback server (written here, so it can echo anything anywhere) answers each
request with the key it was sent: in the error body, in ``x-request-id`` and other headers,
in a stream's content, in a malformed body. Every ``AiLibError`` class is produced through a
real client call (or, for ``ConfigurationError``, a real misconfiguration) and checked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import socket
import struct
import threading
import traceback
from collections import deque
from typing import Callable, Optional

import pytest

from ailib import (
    AiClient,
    AiClientBuilder,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    ConnectionOptions,
    CustomProviderBuilder,
    Message,
    RateLimitPolicy,
    RetryPolicy,
    errors,
)
from ailib.errors import AiLibError

# Shaped like no known key format (no sk-/AIza/Bearer prefix): only remembering it can mask it.
KEY = "ek4Wq9Zr2Lm7Vx5Tn8Bs1Jd6Hf3Gp0Yc"
REQ = ChatCompletionRequest("echo-model", [Message.user("hi")])
NO_RETRY = RetryPolicy(max_attempts=1)

Behaviour = Callable[[socket.socket, str, bool], None]


def _echo_headers(key: str) -> str:
    return f'x-request-id: {key}\r\nrequest-id: req_{key}\r\nx-echo-key: {key}\r\nwww-authenticate: Bearer realm="{key}"\r\n'


def status(code: int, error_code: Optional[str] = None) -> Behaviour:
    """Answer ``code`` with an OpenAI-style error body and headers that echo the key."""

    def answer(conn: socket.socket, key: str, _stream: bool) -> None:
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error", "code": error_code, "param": key}}
        ).encode()
        head = (
            f"HTTP/1.1 {code} Echo {key}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"retry-after: 0\r\n{_echo_headers(key)}connection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    return answer


def not_json(conn: socket.socket, key: str, _stream: bool) -> None:
    """A 200 whose body is HTML echoing the key (a protocol error)."""
    body = f"<html><body>proxy says hello {key}</body></html>".encode()
    conn.sendall(
        f"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {len(body)}\r\n{_echo_headers(key)}connection: close\r\n\r\n".encode()
        + body
    )


def ok(conn: socket.socket, key: str, stream: bool) -> None:
    """A good answer whose text echoes the key."""
    chunk = {
        "id": key,
        "object": "chat.completion",
        "model": "echo-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"your key is {key}"}, "finish_reason": "stop"}],
    }
    body = json.dumps(chunk).encode()
    conn.sendall(
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{_echo_headers(key)}connection: close\r\n\r\n".encode()
        + body
    )


def stream_then_cut(conn: socket.socket, key: str, _stream: bool) -> None:
    """A stream that delivers the key as content, then ends without [DONE]."""
    event = {
        "id": key,
        "object": "chat.completion.chunk",
        "model": "echo-model",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": f"your key is {key}"}, "finish_reason": None}],
    }
    conn.sendall(
        f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{_echo_headers(key)}connection: close\r\n\r\n".encode()
        + f"data: {json.dumps(event)}\n\n".encode()
    )


def headers_then_stall(stop: threading.Event) -> Behaviour:
    """Send headers echoing the key and part of a body, then say nothing until the server stops."""

    def answer(conn: socket.socket, key: str, stream: bool) -> None:
        ctype = "text/event-stream" if stream else "application/json"
        conn.sendall(f'HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: 1000\r\n{_echo_headers(key)}\r\n{{"id": "{key}'.encode())
        stop.wait(10)

    return answer


def headers_then_reset(conn: socket.socket, key: str, _stream: bool) -> None:
    """Send headers echoing the key and part of a body, then reset the connection."""
    conn.sendall(
        f'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n{_echo_headers(key)}\r\n{{"k": "{key}'.encode()
    )
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class EchoServer:
    """A loopback HTTP/1.1 server on raw sockets: each connection takes the next behaviour."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.behaviours: deque[Behaviour] = deque()
        self.default: Behaviour = status(500)
        self.keys: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            need = int(headers.get("content-length", "0")) - len(rest)
            while need > 0:
                chunk = conn.recv(need)
                if not chunk:
                    return
                need -= len(chunk)
                rest += chunk
            key = headers.get("authorization", "").partition(" ")[2] or headers.get("x-api-key", "")
            self.keys.append(key)
            stream = b'"stream": true' in rest or b'"stream":true' in rest
            behaviour = self.behaviours.popleft() if self.behaviours else self.default
            behaviour(conn, key, stream)

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        for t in self._threads:
            t.join(5)


@pytest.fixture
def server():
    s = EchoServer()
    yield s
    s.close()


def provider(server: EchoServer, name: str = "echo"):
    return CustomProviderBuilder(name).with_base_url(server.url).with_api_key(KEY).with_default_chat_model("echo-model").build_provider()


def builder(server: EchoServer, **options) -> AiClientBuilder:
    b = AiClientBuilder(provider(server)).with_retry(NO_RETRY).without_circuit_breaker()
    return b.with_options(ConnectionOptions(**options)) if options else b


def call(client: AiClient, stream: bool) -> AiLibError:
    """Run one call; the error it raised."""
    with pytest.raises(AiLibError) as info:
        if stream:
            with client.chat_completion_stream(REQ) as chunks:
                for _ in chunks:
                    pass
        else:
            client.chat_completion(REQ)
    return info.value


# -- one scenario per error class: (server, stream) -> the error ---------------------------------
def _status_scenario(code: int, error_code: Optional[str] = None):
    def run(server: EchoServer, stream: bool) -> AiLibError:
        server.default = status(code, error_code)
        with builder(server).build() as client:
            return call(client, stream)

    return run


def _configuration(server: EchoServer, stream: bool) -> AiLibError:
    with pytest.raises(errors.ConfigurationError) as info:
        ConnectionOptions(api_key=KEY, base_url=f"ftp://{KEY}@127.0.0.1/v1")
    return info.value


def _timeout(server: EchoServer, stream: bool) -> AiLibError:
    server.default = headers_then_stall(server.stop)
    with builder(server, timeout=0.4, stream_idle_timeout=0.4).build() as client:
        return call(client, stream)


def _deadline(server: EchoServer, stream: bool) -> AiLibError:
    server.default = headers_then_stall(server.stop)
    with builder(server).with_deadline(0.4).build() as client:
        return call(client, stream)


def _network(server: EchoServer, stream: bool) -> AiLibError:
    server.default = headers_then_reset
    with builder(server).build() as client:
        return call(client, stream)


def _protocol(server: EchoServer, stream: bool) -> AiLibError:
    server.default = not_json
    with builder(server).build() as client:
        return call(client, stream)


def _interrupted(server: EchoServer, stream: bool) -> AiLibError:
    server.default = stream_then_cut
    with builder(server).build() as client:
        return call(client, True)


def _circuit_open(server: EchoServer, stream: bool) -> AiLibError:
    server.default = status(500)
    b = builder(server).with_circuit_breaker(CircuitBreakerPolicy(failure_threshold=1, recovery_timeout=60))
    with b.build() as client:
        call(client, stream)
        return call(client, stream)


def _local_rate_limit(server: EchoServer, stream: bool) -> AiLibError:
    server.default = ok
    with builder(server).with_rate_limit(RateLimitPolicy(requests_per_minute=1, max_wait=0)).build() as client:
        client.chat_completion(REQ)
        return call(client, stream)


def _budget(server: EchoServer, stream: bool) -> AiLibError:
    server.default = ok
    with builder(server).build() as warm:
        warm.chat_completion(REQ)  # the server has seen the key; the budgeted call sends nothing
    with builder(server).with_prices({"echo-model": (1.0, 1.0)}).with_budget(0).build() as client:
        return call(client, stream)


def _all_failed(server: EchoServer, stream: bool) -> AiLibError:
    server.default = status(503)
    with builder(server).with_failover_chain([provider(server, "echo2")]).build() as client:
        return call(client, stream)


@dataclasses.dataclass
class _Answer:
    """A class as response_format: the echoed text is not JSON, so it does not parse."""

    text: str


def _structured(server: EchoServer, stream: bool) -> AiLibError:
    server.default = ok  # the answer (its text echoing the key) is whole, streamed or not: the parse fails after it
    typed = ChatCompletionRequest("echo-model", [Message.user("hi")], response_format=_Answer)
    with builder(server).build() as client, pytest.raises(AiLibError) as info:
        client.chat_completion(typed)
    assert getattr(info.value, "raw_text", "").startswith("your key is ")  # the answer is kept, its key masked (checked below)
    assert KEY not in info.value.raw_text  # type: ignore[attr-defined]
    return info.value


def _closed(server: EchoServer, stream: bool) -> AiLibError:
    server.default = ok
    client = builder(server).build()
    client.chat_completion(REQ)
    client.close()
    return call(client, stream)


SCENARIOS: dict[type, Callable[[EchoServer, bool], AiLibError]] = {
    errors.ConfigurationError: _configuration,
    errors.InvalidRequestError: _status_scenario(400),
    errors.ContextLengthExceededError: _status_scenario(400, "context_length_exceeded"),
    errors.ContentFilteredError: _status_scenario(400, "content_filter"),
    errors.AuthenticationError: _status_scenario(401),
    errors.ModelNotFoundError: _status_scenario(404),
    errors.RateLimitExceeded: _status_scenario(429),
    errors.QuotaExceededError: _status_scenario(429, "insufficient_quota"),
    errors.TimeoutError: _timeout,
    errors.DeadlineExceededError: _deadline,
    errors.NetworkError: _network,
    errors.ProviderError: _status_scenario(500),
    errors.ProtocolError: _protocol,
    errors.StructuredOutputError: _structured,
    errors.StreamInterruptedError: _interrupted,
    errors.CircuitOpenError: _circuit_open,
    errors.LocalRateLimitError: _local_rate_limit,
    errors.BudgetExceededError: _budget,
    errors.ClientClosedError: _closed,
    errors.AllProvidersFailedError: _all_failed,
}


def _all_error_classes() -> set[type]:
    found, todo = set(), [AiLibError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__ == "ailib.errors":
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_class_has_a_scenario():
    """The scenarios below cover every AiLibError subclass in ailib.errors (a new class needs one)."""
    assert set(SCENARIOS) == _all_error_classes()


def _texts(err: BaseException, records: list[logging.LogRecord]) -> dict[str, str]:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    texts = {
        "str": str(err),
        "repr": repr(err),
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        "pickle": pickle.dumps(err).decode("latin-1"),
        "attempts": repr(getattr(err, "attempts", ())) + "".join(str(a.error) for a in getattr(err, "attempts", ()) if a.error),
    }
    for i, record in enumerate(records):
        texts[f"log {i}"] = formatter.format(record)
    return texts


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("cls", list(SCENARIOS), ids=lambda c: c.__name__)
def test_echoed_key_never_leaks(server, caplog, cls, stream):
    """An error of this class, from a server echoing the key in body and headers, shows the key nowhere."""
    caplog.set_level(logging.DEBUG)
    err = SCENARIOS[cls](server, stream)
    assert type(err) is cls, f"expected {cls.__name__}, got {type(err).__name__}: {err}"
    if cls is not errors.ConfigurationError:
        assert server.keys and set(server.keys) == {KEY}  # the server really had the key to echo
    leaks = [name for name, text in _texts(err, caplog.records).items() if KEY in text]
    holders = [k for k, v in vars(err).items() if KEY in pickle.dumps(v).decode("latin-1")] if "pickle" in leaks else []
    assert leaks == [], f"the key is in: {leaks}; pickled attributes holding it: {holders}"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls and again.message == err.message
