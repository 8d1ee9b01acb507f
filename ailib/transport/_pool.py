"""urllib3 pools whose connections hand their socket to the attempt that uses them."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Any, Optional

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._head import HeadResponse
from ._timer import arm

__all__ = ["TrackedAdapter", "current"]

_INF = float("inf")
_LINES = 64  # header lines a connection remembers (values that change per call push the rest out)
_ONE_SEND = 16384  # a body up to this size goes out in one send with its header block
current = threading.local()  # .handle: the attempt this thread is sending, if any


def _one_send(body: Any, headers: Any, chunked: bool) -> Optional[bytes]:
    """``body`` when it can go out with the header block: small bytes, sent as they are
    (urllib3 frames a body chunked on ``chunked=True`` or a Transfer-Encoding header)."""
    if type(body) is not bytes or not body or len(body) > _ONE_SEND or chunked:
        return None
    if headers:
        for k in headers:  # a plain loop: no generator per call; only a 17-letter name is lowered
            if len(k) == 17 and k.lower() == "transfer-encoding":
                return None
    return body


class _QuietSocket(socket.socket):
    """A plain socket whose ``settimeout`` makes no system call when the timeout is unchanged
    (urllib3 sets it before each send and each response, mostly to the value it has)."""

    __slots__ = ()

    def settimeout(self, value: Optional[float]) -> None:
        if value != self.gettimeout():
            super().settimeout(value)


_PLAIN_SOCKET = socket.socket  # the class _QuietSocket's layout is compatible with


class _TrackedMixin:
    """Attaches itself and its socket to the current thread's attempt; bounds the header
    phase; sends a small request in one ``sendall`` (header block and body together);
    parses the response head without the email package (``_head``)."""

    response_class: type[http.client.HTTPResponse] = HeadResponse
    _ailib_handle: Any = None
    _ailib_tail: Optional[bytes] = None  # the body to send with the header block
    _ailib_sent: Optional[bytes] = None  # that body once sent: urllib3's own send of it is skipped
    _ailib_lines: Optional[dict[tuple[str, ...], bytes]] = None  # header lines this connection has sent

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        sock = self.sock  # type: ignore[attr-defined]
        if type(sock) is _PLAIN_SOCKET:  # not TLS, not a class patched in later (gevent)
            sock.__class__ = _QuietSocket
        handle = self._ailib_handle
        if handle is not None:
            handle.bind_socket(sock)

    def request(self, method, url, body=None, headers=None, **kw):  # type: ignore[no-untyped-def]
        handle = getattr(current, "handle", None)
        if handle is not None:
            handle.attach(self)
            if handle.deadlines is not None and self.sock is not None:  # type: ignore[attr-defined]
                self.timeout = None  # connected, and the timer bounds the send: a blocking send, as the reads
        self._ailib_tail = _one_send(body, headers, kw.get("chunked", False))
        try:
            return super().request(method, url, body, headers, **kw)  # type: ignore[misc]
        finally:
            self._ailib_tail = self._ailib_sent = None

    def putheader(self, header, *values):  # type: ignore[no-untyped-def]
        """A header line as ``http.client`` checks and encodes it, remembered per connection:
        a connection sends the same few lines on every request (at most ``_LINES`` kept)."""
        key = (header, *values)
        lines = self._ailib_lines
        if lines is not None:
            line = lines.get(key)
            if line is not None:
                self._buffer.append(line)  # type: ignore[attr-defined]  # what http.client's _output does
                return
        buffer = self._buffer  # type: ignore[attr-defined]
        sent = len(buffer)
        super().putheader(header, *values)  # type: ignore[misc]
        if len(buffer) == sent + 1 and type(header) is str and all(type(v) is str for v in values):  # not a skipped header
            if lines is None:
                lines = self._ailib_lines = {}
            elif len(lines) >= _LINES:
                lines.clear()
            lines[key] = buffer[-1]

    def _send_output(self, message_body=None, encode_chunked=False):  # type: ignore[no-untyped-def]
        tail = self._ailib_tail
        if tail is None or message_body is not None:
            return super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
        self._ailib_tail = None
        buffer = self._buffer  # type: ignore[attr-defined]  # http.client's header lines
        buffer.extend((b"", b""))
        head = b"\r\n".join(buffer)
        del buffer[:]
        self.send(head + tail)
        self._ailib_sent = tail
        return None

    def send(self, data: Any) -> None:
        if data is self._ailib_sent:  # urllib3 sending the body that went with the headers
            self._ailib_sent = None
            return None
        super().send(data)  # type: ignore[misc]

    def getresponse(self):  # type: ignore[no-untyped-def]
        handle = self._ailib_handle
        dl = handle.deadlines if handle is not None else None
        if dl is None:  # untimed (an injected clock): per-recv timeouts and clock checks only
            return super().getresponse()  # type: ignore[misc]
        end = dl.attempt_end if dl.attempt_end < dl.call_end else dl.call_end
        header_end = time.monotonic() + dl.first_byte
        handle.phase = "first_byte"
        arm(handle, header_end if header_end < end else end)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            handle.phase = "idle"
            if not handle.cancelled:
                arm(handle, end)  # later than the header instant: an attribute write


class _TrackedHTTPConnection(_TrackedMixin, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_TrackedMixin, HTTPSConnection):
    pass


def _released(conn: Any) -> Any:
    """Detach a connection going back to the pool from its attempt; a cancelled one is closed."""
    handle = getattr(conn, "_ailib_handle", None)
    if handle is not None:
        conn._ailib_handle = None
        handle.detach(conn)
        if handle.cancelled:
            conn.close()  # never reused: the pool reconnects this slot on its next use
    return conn


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection

    def _put_conn(self, conn):  # type: ignore[no-untyped-def]
        super()._put_conn(_released(conn))


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection

    def _put_conn(self, conn):  # type: ignore[no-untyped-def]
        super()._put_conn(_released(conn))

    def _validate_conn(self, conn):  # type: ignore[no-untyped-def]
        # urllib3 connects early here, then warns InsecureRequestWarning on *every*
        # unverified request; with verify=False the transport has already warned once for
        # the host, so only the early connect is kept.
        if conn.is_closed:
            conn.connect()


_POOL_CLASSES = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class TrackedAdapter(HTTPAdapter):
    """A requests adapter whose pools use tracked (cancellable) connections, retries off."""

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


def drop_pools(adapter: Any) -> None:
    """In a forked child: forget the adapter's pools without shutting their sockets down.

    The inherited connections are the parent's: shutting one down would break the
    parent's call on it, and reusing one would interleave two processes' requests on one
    socket. Fresh pool managers are made; the old ones are only dropped (their file
    descriptors close in this process alone when collected).
    """
    if isinstance(adapter, HTTPAdapter):
        # requests keeps the pool settings only in these private fields (no typed accessor)
        adapter.init_poolmanager(
            adapter._pool_connections,  # type: ignore[attr-defined]
            adapter._pool_maxsize,  # type: ignore[attr-defined]
            block=adapter._pool_block,  # type: ignore[attr-defined]
        )
        adapter.proxy_manager = {}
