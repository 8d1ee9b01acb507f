"""The values that cross the transport seam: request, response, deadlines (no I/O)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Optional, Protocol, Union

import attrs

from .._secrets import redact_headers, redacted_headers_repr, redacted_url_repr
from .._value import value

if TYPE_CHECKING:
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


def _size(body: Optional[bytes]) -> str:
    """A body in a repr: its size only."""
    return "None" if body is None else f"<{len(body)} bytes>"


@value
class HttpRequest:
    """An HTTP request description, as a wire format builds it (no I/O).

    ``stream=True`` asks ``send`` for a streaming response (read as SSE events). Its repr
    redacts secret headers and the proxy's credentials and sizes the body.
    """

    method: str
    url: str = attrs.field(repr=redacted_url_repr)
    headers: Mapping[str, str] = attrs.field(repr=redacted_headers_repr, hash=False)
    body: Optional[bytes] = attrs.field(default=None, repr=_size)
    verify: Union[bool, str] = True  # True, False or a CA bundle path
    proxy: Optional[str] = attrs.field(default=None, repr=redacted_url_repr)
    stream: bool = False


@value
class HttpResponse:
    """A response read to its end (``stream=False``)."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=redacted_headers_repr, hash=False)
    body: bytes = attrs.field(repr=_size)


class StreamingResponse(Protocol):
    """A response being streamed (``stream=True``): read it as events, or whole; close it.

    A transport may also offer ``finish(wait)``: after the stream's terminal event, take
    the body's end if it comes within ``wait`` seconds (to reuse the connection), then close.
    """

    status: int
    headers: Mapping[str, str]

    def read_all(self) -> bytes: ...

    def events(self) -> Iterator[SseEvent]: ...

    def close(self) -> None: ...


Response = Union[HttpResponse, StreamingResponse]


@value
class Deadlines:
    """Absolute monotonic instants bounding one attempt, and its phase timeouts (seconds)."""

    connect: float
    first_byte: float
    idle: float
    attempt_end: float = _INF  # start + total timeout per attempt
    call_end: float = _INF  # the call's overall deadline
