"""urllib3 pools whose connections hand their socket to the attempt that uses them.

Everything here is the public surface of requests, urllib3 and ``http.client``: a
connection subclass (urllib3's ``ConnectionCls``) that records each socket it assigns,
connects on a short-lived thread so a cancel ends the wait, bounds the send by its own
``timeout``, and makes its responses with ``response_class``; a response subclass that
skips interim responses; an adapter whose pools use that connection class.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any, Optional

from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._reader import PhaseReader, ResponseFile, bound_socket

__all__ = ["TrackedAdapter", "InterimSkippingResponse", "current", "drop_pools"]

_INF = float("inf")
_MAX_INTERIM = 32
_ONE_SEND = 16384  # a body up to this size goes out with its header block  # interim responses skipped before one is treated as the answer (and refused)
current = threading.local()  # .handle: the attempt this thread is sending, if any


def _seconds(timeout: Any) -> Optional[float]:
    """A connection's ``timeout`` as seconds (None: none set, or urllib3's default sentinel)."""
    return float(timeout) if isinstance(timeout, (int, float)) else None


class InterimSkippingResponse(http.client.HTTPResponse):
    """An ``http.client`` response that skips interim responses.

    ``http.client`` skips ``100 Continue`` only: after a ``102 Processing`` or ``103 Early
    Hints`` it would hand the interim response over as the answer, and the real answer
    would wait on the connection for the next request. RFC 9110 (15.2): a client must
    read past any 1xx other than ``101`` it did not ask for. ``begin`` reads the next
    response head while the status is such an interim one (``begin`` starts afresh once
    ``headers`` is cleared: ``tests/transport/test_interim.py`` fails loudly if that
    changes). A ``101``, or more than ``_MAX_INTERIM`` in a row, stays the status: the
    transport refuses it and discards the connection.
    """

    def begin(self, *args: Any, **kwargs: Any) -> None:
        super().begin(*args, **kwargs)
        for _ in range(_MAX_INTERIM):
            if not 100 <= self.status < 200 or self.status == 101:
                return
            self.headers = self.msg = None  # type: ignore[assignment]  # the next head, as begin reads the first
            super().begin(*args, **kwargs)


class _TrackedMixin:
    """Attaches itself and its sockets to the current thread's attempt, connects on a
    thread the attempt can stop waiting for, and gives every wait (connect, each send,
    each read of the response) a timeout cut to the end of its phase (``_reader``)."""

    ailib_handle: Any = None  # the attempt using this connection
    _ailib_sock: Any = None
    _ailib_hold = False  # the next send is a header block to send with the body after it
    _ailib_held: Optional[bytes] = None

    @property
    def sock(self) -> Any:
        return self._ailib_sock

    @sock.setter
    def sock(self, value: Any) -> None:
        """Every socket the connection assigns (TCP, then TLS) is the attempt's at once:
        a cancel reaches a proxy tunnel and a TLS handshake."""
        self._ailib_sock = value
        handle = self.ailib_handle
        if value is not None and handle is not None:
            handle.bind_socket(self, value)

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> InterimSkippingResponse:
        """``http.client`` makes each response with this; an attempt's reads through a
        ``PhaseReader``, into a ``ResponseFile`` that tells when the response has ended."""
        handle = self.ailib_handle
        if handle is None or handle.phase != "first_byte":  # not an attempt's answer (a proxy's CONNECT reply)
            return InterimSkippingResponse(sock, *args, **kwargs)
        file = ResponseFile(PhaseReader(sock, handle), self.ailib_response_ended)
        response = InterimSkippingResponse(file, *args, **kwargs)  # type: ignore[arg-type]  # makefile() is all it uses
        handle.response = response
        return response

    def ailib_response_ended(self, leftover: bool) -> None:
        """The response has ended, before urllib3 returns this connection to the pool: the
        attempt lets go of it (and a connection out of step with its server is closed)."""
        if leftover:
            self.close()  # type: ignore[attr-defined]
        self.ailib_detach()

    def ailib_attach(self) -> Any:
        """The current thread's attempt takes this connection; returns its handle."""
        handle = getattr(current, "handle", None)
        owner = self.ailib_handle
        if owner is not handle:
            if owner is not None:
                owner.detach(self)
            if handle is not None:
                handle.attach(self)
        return handle

    def ailib_detach(self) -> None:
        """The attempt is done with this connection (it may go back to the pool)."""
        handle = self.ailib_handle
        if handle is not None:
            handle.detach(self)

    def connect(self) -> None:
        handle = self.ailib_attach()
        if handle is None:
            super().connect()  # type: ignore[misc]
            return
        handle.phase = "connect"
        if handle.until == _INF:  # untimed (an injected clock): connect right here
            super().connect()  # type: ignore[misc]
        else:
            timeout = _seconds(self.timeout)  # type: ignore[attr-defined]
            left = handle.until - time.monotonic()
            handle.connect(super().connect, left if timeout is None or left < timeout else timeout, self.close)  # type: ignore[misc,attr-defined]
        handle.phase = "send"

    def request(self, method, url, body=None, headers=None, **kw):  # type: ignore[no-untyped-def]
        handle = self.ailib_attach()
        if handle is not None:
            handle.phase = "send"
        # A small body goes out in one send with its header block (one system call, not two).
        self._ailib_hold = type(body) is bytes and 0 < len(body) <= _ONE_SEND
        try:
            result = super().request(method, url, body, headers, **kw)  # type: ignore[misc]
        except BaseException:
            self._ailib_held = None
            raise
        finally:
            self._ailib_hold = False
        if self._ailib_held is not None:  # no body followed it: the header block alone
            self.send(b"")
        return result

    def send(self, data: Any) -> None:
        """Each send waits at most the connect timeout, and never past the send phase's end."""
        if self._ailib_hold:  # a request's header block: held for its body
            self._ailib_hold = False
            self._ailib_held = data
            return
        held = self._ailib_held
        if held is not None:
            self._ailib_held = None
            if isinstance(data, bytes):
                data = held + data
            else:  # a file or an iterable body: the header block first
                self.send(held)
        handle, sock = self.ailib_handle, self.sock
        if handle is not None and sock is not None:
            bound_socket(sock, _seconds(self.timeout), handle.until)  # type: ignore[attr-defined]
        if data:
            super().send(data)  # type: ignore[misc]

    def getresponse(self):  # type: ignore[no-untyped-def]
        handle = self.ailib_handle
        if handle is None:
            return super().getresponse()  # type: ignore[misc]
        handle.phase = "first_byte"
        handle.per_read = None  # the read timeout urllib3 sets
        dl = handle.deadlines
        end = _INF
        if handle.until != _INF and dl is not None:  # timed: the header phase as a whole
            end = dl.attempt_end if dl.attempt_end < dl.call_end else dl.call_end
            header_end = time.monotonic() + dl.first_byte
            handle.until = header_end if header_end < end else end
        response = super().getresponse()  # type: ignore[misc]
        handle.phase = "idle"
        handle.until = end
        return response


class _TrackedHTTPConnection(_TrackedMixin, HTTPConnection):  # type: ignore[misc]  # response_class: a factory method
    pass


class _TrackedHTTPSConnection(_TrackedMixin, HTTPSConnection):  # type: ignore[misc]
    pass


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_POOL_CLASSES = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class TrackedAdapter(HTTPAdapter):
    """A requests adapter whose pools use tracked (cancellable) connections, retries off."""

    pool_args: tuple[int, int, bool] = (DEFAULT_POOLSIZE, DEFAULT_POOLSIZE, False)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):  # type: ignore[no-untyped-def]
        self.pool_args = (connections, maxsize, block)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


def drop_pools(adapter: Any) -> None:
    """In a forked child: forget the adapter's pools without touching their sockets.

    The inherited connections are the parent's: shutting one down would break the
    parent's call on it, and reusing one would interleave two processes' requests on one
    socket; a lock a parent thread held at the fork would hang a child that closes them.
    Fresh pool managers are made; the old ones are only dropped (their file descriptors
    close in this process alone when collected).
    """
    if isinstance(adapter, TrackedAdapter):
        connections, maxsize, block = adapter.pool_args
    elif isinstance(adapter, HTTPAdapter):  # a user's adapter: its pool settings as the pool manager keeps them
        kw = adapter.poolmanager.connection_pool_kw
        connections, maxsize, block = DEFAULT_POOLSIZE, kw.get("maxsize", DEFAULT_POOLSIZE), kw.get("block", False)
    else:
        return
    adapter.init_poolmanager(connections, maxsize, block=block)
    adapter.proxy_manager = {}
