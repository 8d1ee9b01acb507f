"""``MockTransport(handler)``: the whole pipeline in-process, no sockets (like httpx's).

The handler gets each ``HttpRequest`` (``request.stream`` says whether a stream is
wanted) and returns the answer, or raises an ``AiLibError`` to simulate a fault:

- a ``dict`` or ``list``: a 200 JSON body;
- ``bytes`` or ``str``: a 200 body as is;
- ``MockResponse(status, json=..., body=..., headers=..., events=..., delay=...)`` for
  anything else: an error status, headers (``Retry-After``), SSE ``events`` for a stream
  (each a ``dict`` sent as JSON data, a ``str`` data line, an ``SseEvent``, or an exception
  raised at that point of the stream), and a ``delay`` before the answer that honours the
  attempt's timeouts, the call's deadline and cancellation (hedging) like a socket would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional, Union

import attrs

from .._sse import SseEvent
from .._value import value
from ..errors import AiLibError, NetworkError
from ..transport import AttemptHandle, Deadlines, HttpRequest, HttpResponse
from ..transport._handle import timeout_error

__all__ = ["MockTransport", "MockResponse"]

_INF = float("inf")
_POLL = 0.002


@value
class MockResponse:
    """What a handler may return for full control over the answer."""

    status: int = 200
    json: Any = attrs.field(default=None, hash=False)
    body: Optional[bytes] = None
    headers: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    events: Optional[Iterable[Any]] = attrs.field(default=None, hash=False)
    delay: float = 0.0


Handler = Callable[[HttpRequest], Union[MockResponse, Mapping[str, Any], list[Any], bytes, str]]


class _StreamResponse:
    """A streaming answer: ``status``, ``headers``, ``read_all()``, ``events()``, ``close()``."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, events: list[Any], handle: AttemptHandle) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._events = events
        self._handle = handle
        self.closed = False

    def read_all(self) -> bytes:
        self.close()
        return self._body

    def events(self) -> Iterator[SseEvent]:
        for item in self._events:
            if self._handle.cancelled or self.closed:
                raise self._handle.reason or NetworkError("attempt cancelled", request_sent=True)
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, SseEvent):
                yield item
            elif isinstance(item, str):
                yield SseEvent(data=item)
            else:
                yield SseEvent(data=json.dumps(item))

    def close(self) -> None:
        self.closed = True


class MockTransport:
    """A transport that answers every request with ``handler(request)``; no socket is opened.

    ``requests`` lists every request sent, in order (thread-safe).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []
        self._lock = threading.Lock()

    def send(self, request: HttpRequest, deadlines: Deadlines, handle: AttemptHandle) -> Any:
        """Record ``request`` and answer it with the handler's ``MockResponse`` (a ``StreamResponse`` for a streaming request)."""
        if handle.cancelled:
            raise handle.reason or NetworkError("attempt cancelled before it was sent", request_sent=False)
        with self._lock:
            self.requests.append(request)
        answer = self.handler(request)
        if not isinstance(answer, MockResponse):
            answer = _as_response(answer)
        if answer.delay > 0:
            self._wait(answer.delay, deadlines, handle)
        headers = {k.lower(): v for k, v in answer.headers.items()}
        if answer.json is not None:
            body = json.dumps(answer.json).encode()
            headers.setdefault("content-type", "application/json")
        elif answer.body is not None:
            body = answer.body
        else:
            body = b""
        if request.stream:
            events = list(answer.events or ())
            if answer.events is not None:
                headers.setdefault("content-type", "text/event-stream")
            return _StreamResponse(answer.status, headers, body, events, handle)
        return HttpResponse(answer.status, headers, body)

    def _wait(self, seconds: float, dl: Deadlines, handle: AttemptHandle) -> None:
        """Sleep ``seconds`` as a slow server would: bounded by the first-byte timeout, the
        attempt's total and the call's deadline, and cut short by ``handle.cancel()``."""
        start = time.monotonic()
        wake = start + seconds
        limit = min(start + dl.first_byte, dl.attempt_end, dl.call_end)
        while True:
            if handle.cancelled:
                raise handle.reason or NetworkError("attempt cancelled", request_sent=True)
            now = time.monotonic()
            if now >= wake:
                return
            if now >= limit:
                raise timeout_error(dl, now, "first_byte")
            time.sleep(min(_POLL, wake - now, max(limit - now, 0.0)))

    def close(self) -> None:
        """Nothing to release."""


def _as_response(answer: Any) -> MockResponse:
    if isinstance(answer, (dict, list)):
        return MockResponse(json=answer)
    if isinstance(answer, str):
        answer = answer.encode()
    if isinstance(answer, bytes):
        return MockResponse(body=answer)
    if isinstance(answer, AiLibError):
        raise answer
    raise TypeError(f"a MockTransport handler returned {type(answer).__name__}; expected MockResponse, dict, list, bytes or str")
