"""The values that cross the transport seam: request, response, deadlines (no I/O)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Optional, Protocol, Union

from .._frozen import Frozen
from .._secrets import redact_headers

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


class HttpRequest(Frozen):
    """An HTTP request description, as a wire format builds it (no I/O).

    ``stream=True`` asks ``send`` for a streaming response (read as SSE events). Immutable,
    by value; its repr redacts secret headers, sizes the body and leaves out the proxy.
    """

    __slots__ = ("method", "url", "headers", "body", "verify", "proxy", "stream")
    method: str
    url: str
    headers: Mapping[str, str]
    body: Optional[bytes]
    verify: Union[bool, str]  # True, False or a CA bundle path
    proxy: Optional[str]
    stream: bool

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Optional[bytes] = None,
        verify: Union[bool, str] = True,
        proxy: Optional[str] = None,
        stream: bool = False,
    ) -> None:
        _set = object.__setattr__
        _set(self, "method", method)
        _set(self, "url", url)
        _set(self, "headers", headers)
        _set(self, "body", body)
        _set(self, "verify", verify)
        _set(self, "proxy", proxy)
        _set(self, "stream", stream)

    def __repr__(self) -> str:
        body = f"<{len(self.body)} bytes>" if self.body else "None"
        return (
            f"HttpRequest(method={self.method!r}, url={self.url!r}, headers={redact_headers(self.headers)!r}, "
            f"body={body}, verify={self.verify!r}, stream={self.stream!r})"
        )


class HttpResponse(Frozen):
    """A response read to its end (``stream=False``). Immutable, by value."""

    __slots__ = ("status", "headers", "body")
    status: int
    headers: Mapping[str, str]
    body: bytes

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        _set = object.__setattr__
        _set(self, "status", status)
        _set(self, "headers", headers)
        _set(self, "body", body)

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status!r}, headers={self.headers!r}, body=<{len(self.body)} bytes>)"


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


class Deadlines(Frozen):
    """Absolute monotonic instants bounding one attempt, and its phase timeouts (seconds)."""

    __slots__ = ("connect", "first_byte", "idle", "attempt_end", "call_end")
    connect: float
    first_byte: float
    idle: float
    attempt_end: float  # start + total timeout per attempt
    call_end: float  # the call's overall deadline

    def __init__(self, connect: float, first_byte: float, idle: float, attempt_end: float = _INF, call_end: float = _INF) -> None:
        _set = object.__setattr__
        _set(self, "connect", connect)
        _set(self, "first_byte", first_byte)
        _set(self, "idle", idle)
        _set(self, "attempt_end", attempt_end)
        _set(self, "call_end", call_end)
