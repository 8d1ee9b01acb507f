"""The values that cross the transport seam: request, response, deadlines (no I/O)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Optional, Protocol, Union

import attrs

from .._secrets import redact_headers
from .._sse import SseEvent

__all__ = ["HttpRequest", "HttpResponse", "Deadlines", "StreamingResponse", "redact_headers", "is_loopback"]

_INF = float("inf")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen(slots=True)
class HttpRequest:
    """An HTTP request description, as a wire format builds it (no I/O).

    ``stream=True`` asks ``send`` for a streaming response (read as SSE events).
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=lambda h: repr(redact_headers(h)))
    body: Optional[bytes] = attrs.field(default=None, repr=lambda b: f"<{len(b)} bytes>" if b else "None")
    verify: Union[bool, str] = True  # True, False or a CA bundle path
    proxy: Optional[str] = attrs.field(default=None, repr=False)
    stream: bool = False


@attrs.frozen(slots=True)
class HttpResponse:
    """A response read to its end (``stream=False``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


class StreamingResponse(Protocol):
    """A response being streamed (``stream=True``): read it as events, or whole; close it."""

    status: int
    headers: Mapping[str, str]

    def read_all(self) -> bytes: ...

    def events(self) -> Iterator[SseEvent]: ...

    def close(self) -> None: ...


Response = Union[HttpResponse, StreamingResponse]


@attrs.frozen(slots=True)
class Deadlines:
    """Absolute monotonic instants bounding one attempt, and its phase timeouts (seconds)."""

    connect: float
    first_byte: float
    idle: float
    attempt_end: float = _INF  # start + total timeout per attempt
    call_end: float = _INF  # the call's overall deadline
