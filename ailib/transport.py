"""The only door to the network: one pooled session per client, phase timeouts, SSE, cancel.

Every attempt runs with an ``AttemptHandle``. The pool's connection class attaches the
connection it is about to use to the handle of the current thread's attempt, so
``handle.cancel()`` from any thread shuts that socket down: a blocked read returns at
once, a stream stops, and the broken connection is discarded, never reused.

Timeouts by phase: connect and first byte map onto the socket timeouts of
``(connect, read)``; while a body or stream is read, each read gets the smaller of the
idle timeout and what is left of the attempt's total and the call's deadline, and the
clock is checked between reads, so a server that drips one byte a second cannot hold a
call past its deadline.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Optional
from urllib.parse import urlsplit

import attrs
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._secrets import redact_headers
from ._sse import SseEvent, SseParser
from .errors import AiLibError, DeadlineExceededError, NetworkError, ProtocolError, TimeoutError
from .reliability.clock import SYSTEM_CLOCK, Clock

__all__ = ["HttpRequest", "HttpResponse", "StreamResponse", "AttemptHandle", "Transport", "Deadlines"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_EVENT_BYTES = 16 * 1024 * 1024
_READ_SIZE = 65536
_INF = float("inf")
@attrs.frozen(slots=True)
class HttpRequest:
    """An HTTP request description, as a wire format builds it (no I/O)."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=lambda h: repr(redact_headers(h)))
    body: Optional[bytes] = attrs.field(default=None, repr=lambda b: f"<{len(b)} bytes>" if b else "None")
    verify: object = True  # True, False or a CA bundle path
    proxy: Optional[str] = attrs.field(default=None, repr=False)


@attrs.frozen(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(slots=True)
class Deadlines:
    """Absolute monotonic instants bounding one attempt, and its phase timeouts (seconds)."""

    connect: float
    first_byte: float
    idle: float
    attempt_end: float = _INF  # start + total timeout per attempt
    call_end: float = _INF  # the call's overall deadline


class _Cancelled(ConnectionAbortedError):
    """Raised inside urllib3 when an attempt is cancelled before its request is sent."""


class AttemptHandle:
    """Cancellation for one attempt: ``cancel(reason)`` shuts the attempt's socket down.

    The handle holds the attempt's connection only while the attempt uses it: when urllib3
    returns the connection to the pool (a body read to its end is released at once), the
    pool detaches it first, so a later ``cancel()`` or ``set_read_timeout()`` can never
    touch a connection another call has taken from the pool since.
    """

    __slots__ = ("_lock", "_conn", "reason", "cancelled")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Optional[HTTPConnection] = None
        self.reason: Optional[AiLibError] = None
        self.cancelled = False

    def attach(self, conn: HTTPConnection) -> None:
        with self._lock:
            if self.cancelled:
                raise _Cancelled("attempt cancelled")
            self._conn = conn
            conn._ailib_handle = self  # type: ignore[attr-defined]  # read by the pool on release

    def detach(self, conn: HTTPConnection) -> None:
        """The attempt is done with ``conn`` (it goes back to the pool)."""
        with self._lock:
            if self._conn is conn:
                self._conn = None

    def cancel(self, reason: Optional[AiLibError] = None) -> None:
        """Stop the attempt from any thread; its reader sees ``reason`` (or a cancellation)."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            conn = self._conn
            if conn is not None:  # under the lock: the pool cannot take it back meanwhile
                _shutdown(conn)

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        with self._lock:
            conn = self._conn
            sock = getattr(conn, "sock", None) if conn is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.settimeout(seconds)


def _shutdown(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()


class _TrackedMixin:
    """Attaches the connection to the current thread's attempt handle before each request."""

    def request(self, method, url, body=None, headers=None, **kw):  # type: ignore[no-untyped-def]
        handle = getattr(_current, "handle", None)
        if handle is not None:
            handle.attach(self)
        return super().request(method, url, body, headers, **kw)  # type: ignore[misc]


class _TrackedHTTPConnection(_TrackedMixin, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_TrackedMixin, HTTPSConnection):
    pass


def _detached(conn: Optional[HTTPConnection]) -> Optional[HTTPConnection]:
    """Detach a connection going back to the pool from the attempt that used it."""
    handle = getattr(conn, "_ailib_handle", None)
    if handle is not None:
        conn._ailib_handle = None  # type: ignore[union-attr]
        handle.detach(conn)
    return conn


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection

    def _put_conn(self, conn):  # type: ignore[no-untyped-def]
        super()._put_conn(_detached(conn))


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection

    def _put_conn(self, conn):  # type: ignore[no-untyped-def]
        super()._put_conn(_detached(conn))

    def _validate_conn(self, conn):  # type: ignore[no-untyped-def]
        # urllib3 connects early here, then warns InsecureRequestWarning on *every*
        # unverified request; with verify=False the transport has already warned once for
        # the host (Transport._check_url), so only the early connect is kept.
        if conn.is_closed:
            conn.connect()


_POOL_CLASSES = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _TrackedAdapter(HTTPAdapter):
    """A requests adapter whose pools use tracked (cancellable) connections, retries off."""

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Transport:
    """One pooled ``requests.Session`` per client; sends requests and opens SSE streams."""

    def __init__(self, *, pool_size: int = 32, clock: Clock = SYSTEM_CLOCK, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # the environment is read once per pool, not per call
        self._adapter = _TrackedAdapter(pool_connections=64, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.clock = clock
        self.max_response_bytes = max_response_bytes
        self._proxy_cache: dict[tuple[str, Optional[str]], dict[str, str]] = {}
        self._warned: set = set()
        self.closed = False

    def close(self) -> None:
        """Release every pooled connection.

        ``Session.close()`` alone is not enough with urllib3 2: ``PoolManager.clear()`` only
        forgets its pools, whose idle connections close when the pool object is garbage
        collected, and a response or error the caller keeps (a finished stream, an error's
        traceback) keeps its pool alive, so its sockets would stay open. Each pool is closed
        here; a connection still in use is closed when it is released.
        """
        self.closed = True
        managers = [self._adapter.poolmanager, *self._adapter.proxy_manager.values()]
        for manager in managers:
            pools = manager.pools
            for key in pools.keys():
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        self.session.close()

    # -- sending -------------------------------------------------------------------------
    def _open(self, req: HttpRequest, dl: Deadlines, handle: AttemptHandle) -> urllib3.BaseHTTPResponse:
        """Send through the session's mounted adapter (so adapters mounted by users, and
        the ``responses`` test library, see every request); return the raw response."""
        now = self.clock.monotonic()
        left = min(dl.attempt_end, dl.call_end) - now
        if left <= 0:
            raise self._timeout_error(dl, now, "connect")
        if handle.cancelled:
            raise handle.reason or NetworkError("attempt cancelled before it was sent", request_sent=False)
        if self.closed:
            raise NetworkError("the client is closed", request_sent=False)
        prepared = requests.PreparedRequest()
        prepared.method = req.method
        prepared.url = req.url
        prepared.headers = CaseInsensitiveDict(req.headers)
        if req.body is not None:
            prepared.headers["Content-Length"] = str(len(req.body))  # else the adapter sends it chunked
        prepared.body = req.body
        prepared.hooks = {"response": []}
        adapter = self.session.get_adapter(req.url)
        _current.handle = handle
        try:
            response = adapter.send(
                prepared,
                stream=True,
                timeout=(min(dl.connect, left), min(dl.first_byte, left)),
                verify=req.verify,
                proxies=self._proxies(req),
            )
        except Exception as exc:
            raise self._translate(exc, dl, handle, "first_byte") from exc
        finally:
            _current.handle = None
        return response.raw

    def _proxies(self, req: HttpRequest) -> dict[str, str]:
        key = (req.url[: req.url.find("/", req.url.find("//") + 2)], req.proxy)
        proxies = self._proxy_cache.get(key)
        if proxies is None:
            self._check_url(req)
            proxies = {"http": req.proxy, "https": req.proxy} if req.proxy else requests.utils.get_environ_proxies(req.url)
            self._proxy_cache[key] = proxies
        return proxies

    def _check_url(self, req: HttpRequest) -> None:
        """Warn once per host about plain http:// to a non-loopback host, or verify=False."""
        host = urlsplit(req.url).hostname or ""
        if req.url.startswith("http://") and not is_loopback(host) and ("http", host) not in self._warned:
            self._warned.add(("http", host))
            warnings.warn(f"ailib: sending API requests to {host} over plain http://", stacklevel=6)
        if req.verify is False and ("verify", host) not in self._warned:
            self._warned.add(("verify", host))
            warnings.warn(f"ailib: TLS certificate verification is OFF for {host} (verify=False)", stacklevel=6)

    def send(self, req: HttpRequest, dl: Deadlines, handle: AttemptHandle) -> HttpResponse:
        """Send a request and read the whole body, within the attempt's deadlines."""
        resp = self._open(req, dl, handle)
        try:
            body = self._read_body(resp, dl, handle)
        except BaseException:
            _discard(resp)
            raise
        resp.release_conn()
        return HttpResponse(resp.status, resp.headers, body)

    def _read_body(self, resp: urllib3.BaseHTTPResponse, dl: Deadlines, handle: AttemptHandle) -> bytes:
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_response_bytes:
            raise ProtocolError(f"response of {int(length)} bytes exceeds the {self.max_response_bytes}-byte limit")
        parts: list[bytes] = []
        size = 0
        limit = min(dl.attempt_end, dl.call_end)
        while True:
            now = self.clock.monotonic()
            left = limit - now
            if left <= 0:
                raise self._timeout_error(dl, now, "total")
            handle.set_read_timeout(min(dl.idle, dl.first_byte, left))
            try:
                data = resp.read1(_READ_SIZE, decode_content=True)
            except Exception as exc:
                raise self._translate(exc, dl, handle, "idle", mid_body=True) from exc
            if not data:
                return b"".join(parts)
            parts.append(data)
            size += len(data)
            if size > self.max_response_bytes:
                raise ProtocolError(f"response exceeds the {self.max_response_bytes}-byte limit")

    def open_stream(self, req: HttpRequest, dl: Deadlines, handle: AttemptHandle) -> StreamResponse:
        """Send a streaming request; the caller reads events from the returned response."""
        resp = self._open(req, dl, handle)
        return StreamResponse(self, resp, dl, handle)

    # -- errors --------------------------------------------------------------------------
    def _timeout_error(self, dl: Deadlines, now: float, phase: str) -> AiLibError:
        if now >= dl.call_end - 1e-3:
            return DeadlineExceededError("the call's deadline ran out", phase="deadline")
        if now >= dl.attempt_end - 1e-3:
            return TimeoutError("the attempt exceeded its total timeout", phase="total")
        names = {"connect": "connecting", "first_byte": "waiting for the first byte", "idle": "waiting for more data"}
        return TimeoutError(f"timed out {names.get(phase, phase)}", phase=phase)

    def _translate(self, exc: BaseException, dl: Deadlines, handle: AttemptHandle, phase: str, *, mid_body: bool = False) -> AiLibError:
        if isinstance(exc, AiLibError):
            return exc
        if handle.cancelled:
            return handle.reason or NetworkError("attempt cancelled", request_sent=None)
        exc = _unwrap(exc)
        now = self.clock.monotonic()
        if isinstance(exc, u3.NewConnectionError) and not isinstance(exc.__context__, socket.timeout):
            return NetworkError(f"could not connect: {_reason(exc)}", request_sent=False)
        if isinstance(exc, u3.ConnectTimeoutError):
            return self._timeout_error(dl, now, "connect")
        if isinstance(exc, (u3.ReadTimeoutError, socket.timeout)):
            return self._timeout_error(dl, now, phase)
        if isinstance(exc, u3.SSLError):
            return NetworkError(f"TLS failure: {_reason(exc)}", request_sent=False, should_retry=False)
        if isinstance(exc, u3.ProxyError):
            return NetworkError(f"proxy failure: {_reason(exc)}", request_sent=False)
        if isinstance(exc, (u3.ProtocolError, u3.IncompleteRead, u3.InvalidChunkLength, OSError)):
            where = "mid-body" if mid_body else "before the response"
            return NetworkError(f"connection broken {where}: {_reason(exc)}", request_sent=True if mid_body else None)
        if isinstance(exc, u3.DecodeError):
            return ProtocolError(f"could not decode the response body: {_reason(exc)}")
        if isinstance(exc, (u3.HTTPError, requests.RequestException)):
            return NetworkError(f"HTTP failure: {type(exc).__name__}: {_reason(exc)}")
        raise exc


def _unwrap(exc: BaseException) -> BaseException:
    """requests wraps urllib3's errors (sometimes twice, via MaxRetryError): find the cause."""
    while isinstance(exc, (requests.RequestException, u3.MaxRetryError)):
        if isinstance(exc, u3.MaxRetryError):
            inner = exc.reason
        else:
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        if inner is None:
            break
        exc = inner
    return exc


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
    text = str(inner or exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Close a response whose connection must not be reused."""
    try:
        resp.close()
    finally:
        with contextlib.suppress(Exception):
            resp.release_conn()


class StreamResponse:
    """An open streaming response: ``status``, ``headers``, ``read_all()``, ``events()``, ``close()``."""

    def __init__(self, transport: Transport, resp: urllib3.BaseHTTPResponse, dl: Deadlines, handle: AttemptHandle) -> None:
        self._transport = transport
        self._resp = resp
        self._dl = dl
        self._handle = handle
        self.status = resp.status
        self.headers = resp.headers
        self.closed = False
        self._eof = False

    def read_all(self) -> bytes:
        """The whole body (for error responses), then closed."""
        try:
            return self._transport._read_body(self._resp, self._dl, self._handle)
        finally:
            self.close()

    def events(self) -> Iterator[SseEvent]:
        """SSE events as they arrive; raises a classified error on timeouts and resets.

        Ends normally only at end of stream; whether that end was proper is the wire
        format's decision (its terminal event).
        """
        parser = SseParser()
        dl, handle, clock, resp = self._dl, self._handle, self._transport.clock, self._resp
        limit = min(dl.attempt_end, dl.call_end)
        while True:
            now = clock.monotonic()
            left = limit - now
            if left <= 0:
                raise self._transport._timeout_error(dl, now, "total")
            handle.set_read_timeout(min(dl.idle, left))
            try:
                data = resp.read1(_READ_SIZE, decode_content=True)
            except Exception as exc:
                raise self._transport._translate(exc, dl, handle, "idle", mid_body=True) from exc
            if not data:
                self._eof = True
                parser.flush()
                return
            events = parser.feed(data)
            if parser.pending_size > MAX_EVENT_BYTES:  # one event's data lines plus its incomplete line
                raise ProtocolError(f"a stream event exceeds {MAX_EVENT_BYTES} bytes")
            yield from events

    def close(self) -> None:
        """Close the stream; a connection not read to its end is discarded, not pooled."""
        if self.closed:
            return
        self.closed = True
        resp = self._resp
        if self._eof:
            resp.release_conn()
        else:
            self._handle.cancel()
            _discard(resp)
