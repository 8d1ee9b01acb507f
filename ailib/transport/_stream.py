"""Reading a response: a whole body, or a stream of SSE events, within the attempt's bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

import urllib3

from ..clock import Clock
from ..errors import AiLibError, NetworkError, ProtocolError
from ._handle import AttemptHandle, timeout_error
from ._types import Deadlines

if TYPE_CHECKING:
    from .._sse import SseEvent
    from ._chunked import ChunkedBody


class BodySource(Protocol):
    """What reading a body needs from the transport that sent the request (``SocketTransport``)."""

    clock: Clock
    timed: bool  # the clock is the real one: reads are bounded by socket timeouts
    max_response_bytes: int

    def translate(self, exc: BaseException, dl: Deadlines, handle: AttemptHandle, phase: str, *, mid_body: bool = False) -> AiLibError:
        """The AiLibError for a lower-level exception raised while reading."""


__all__ = ["StreamResponse", "read_body", "release", "discard", "MAX_EVENT_BYTES"]

MAX_EVENT_BYTES = 16 * 1024 * 1024
_READ_SIZE = 65536


def _cancelled(handle: AttemptHandle) -> AiLibError:
    """The error of an attempt whose socket was shut down under it (it may look like an EOF)."""
    return handle.reason or NetworkError("attempt cancelled", request_sent=True)


def _bound_read(handle: AttemptHandle, dl: Deadlines, clock: Any, end: float, per_read: float) -> None:
    """Before a read: it waits at most ``per_read``, cut to the time left before ``end`` (on
    the real clock by the connection's reader; an injected clock is read here)."""
    now = clock.monotonic()
    left = end - now
    if left <= 0:
        raise timeout_error(dl, now, "total")
    handle.per_read = per_read if per_read < left else left


def read_body(transport: BodySource, resp: urllib3.BaseHTTPResponse, dl: Deadlines, handle: AttemptHandle) -> bytes:
    """The whole body, bounded in size; each read bounded as described in ``_socket``."""
    limit_bytes = transport.max_response_bytes
    length = resp.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit_bytes:
        raise ProtocolError(f"response of {int(length)} bytes exceeds the {limit_bytes}-byte limit")
    parts: list[bytes] = []
    size = 0
    per_read = min(dl.idle, dl.first_byte)
    clock = transport.clock
    end = min(dl.attempt_end, dl.call_end)
    # whole once Content-Length bytes are in: no read for the end of the body
    sized = length is not None and not getattr(resp, "chunked", False) and "content-encoding" not in resp.headers
    while True:
        _bound_read(handle, dl, clock, end, per_read)
        try:
            data = resp.read1(_READ_SIZE, decode_content=True)
        except Exception as exc:
            raise transport.translate(exc, dl, handle, "idle", mid_body=True) from exc
        if data:
            parts.append(data)
            size += len(data)
            if size > limit_bytes:
                raise ProtocolError(f"response exceeds the {limit_bytes}-byte limit")
        if not data or (sized and resp.length_remaining == 0):
            if handle.cancelled:
                raise _cancelled(handle)
            return b"".join(parts)


def release(resp: Any, handle: AttemptHandle) -> None:
    """A response read to its end: its connection goes back to the pool. (The attempt let go
    of the connection when the response ended, so a cancel since then has not touched it.)"""
    handle.detach()
    resp.release_conn()


def discard(resp: Any, handle: AttemptHandle) -> None:
    """Close a response whose connection must not be reused."""
    handle.detach()
    try:
        resp.close()
    finally:
        try:
            resp.release_conn()
        except Exception:  # noqa: S110 - best effort: the connection is closed already
            pass


class StreamResponse:
    """An open streaming response: ``status``, ``headers``, ``read_all()``, ``events()``, ``close()``."""

    def __init__(self, transport: BodySource, resp: urllib3.BaseHTTPResponse, dl: Deadlines, handle: AttemptHandle) -> None:
        self._transport = transport
        self._resp = resp
        self._dl = dl
        self._handle = handle
        self.status = resp.status
        self.headers = resp.headers
        self.closed = False
        self._eof = False
        self._read: Optional[Callable[[], bytes]] = None
        self._bulk: Optional[ChunkedBody] = None

    def read_all(self) -> bytes:
        """The whole body (for error responses), then closed."""
        try:
            body = read_body(self._transport, self._resp, self._dl, self._handle)
            self._eof = True
            return body
        finally:
            self.close()

    def _body(self) -> Callable[[], bytes]:
        """What reads the next body bytes (``b""`` at the end): in bulk when the body is chunked."""
        if self._read is None:
            from ._chunked import bulk_chunked_reader

            bulk = bulk_chunked_reader(self._resp, self._handle)
            if bulk is not None:
                self._bulk = bulk
                self._read = bulk.read
            else:
                resp = self._resp
                self._read = lambda: resp.read1(_READ_SIZE, decode_content=True)
        return self._read

    def _ended(self) -> None:
        """The body's end: its connection may be pooled unless bytes followed it."""
        self._eof = not self._handle.cancelled and (self._bulk is None or self._bulk.clean)

    def events(self) -> Iterator[SseEvent]:
        """SSE events as they arrive; raises a classified error on timeouts and resets.

        Ends normally only at end of stream; whether that end was proper is the wire
        format's decision (its terminal event).
        """
        from .._sse import SseParser  # the stream parts load with the first stream, not at import

        parser = SseParser()
        transport = self._transport
        dl, handle, clock = self._dl, self._handle, transport.clock
        end = min(dl.attempt_end, dl.call_end)
        read = self._body()
        while True:
            _bound_read(handle, dl, clock, end, dl.idle)
            try:
                data = read()
            except Exception as exc:
                raise transport.translate(exc, dl, handle, "idle", mid_body=True) from exc
            if not data:
                if handle.cancelled:
                    raise _cancelled(handle)
                self._ended()
                parser.flush()
                return
            events = parser.feed(data)
            if parser.pending_size > MAX_EVENT_BYTES:  # one event's data lines plus its incomplete line
                raise ProtocolError(f"a stream event exceeds {MAX_EVENT_BYTES} bytes")
            yield from events

    def finish(self, wait: float) -> None:
        """The caller has all it needs (the stream's terminal event): take the body's end if
        it comes within ``wait`` seconds (the connection then goes back to the pool), then
        close. Bytes after the terminal event are not events anyone waits for: dropped."""
        if self.closed:
            return
        handle, dl = self._handle, self._dl
        end = min(dl.attempt_end, dl.call_end)
        handle.per_read = wait
        if self._transport.timed:
            handle.until = min(end, time.monotonic() + wait)
        read = self._body()
        try:
            for _ in range(16):  # a few reads: what a server sends with its last event
                if not read():
                    self._ended()
                    break
        except Exception:  # noqa: S110 - not there in time, or broken: the connection is discarded
            pass
        self.close()

    def close(self) -> None:
        """Close the stream; a connection not read to its end is discarded, not pooled."""
        if self.closed:
            return
        self.closed = True
        if self._eof:
            release(self._resp, self._handle)
        else:
            self._handle.cancel()
            discard(self._resp, self._handle)
