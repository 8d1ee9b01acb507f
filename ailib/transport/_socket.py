"""The socket transport: one pooled ``requests.Session`` per client, phase timeouts, cancel.

Every attempt runs with an ``AttemptHandle``. The pool's connection class attaches the
connection it is about to use, and each socket it assigns, to the handle of the current
thread's attempt, so ``handle.cancel()`` from any thread shuts that socket down: a blocked
read returns at once, a stream stops, and the broken connection is discarded, never reused.

Timeouts by phase, always on the socket: connecting and sending end by the connect
timeout, the response head by the first-byte timeout, each read of the body waits at
most the idle timeout, and every wait is cut to the time left before the attempt's total
and the call's deadline, just before it starts (``_reader``). So a server that drips one
byte a second cannot hold a call past its bounds, and no timer thread is needed. With an
injected (fake) clock the phase ends are off: the phase timeouts are plain socket
timeouts, and the clock is checked between reads.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import warnings
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import exceptions as u3

from .._fork import register_after_fork
from .._secrets import mask, redact_url
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AiLibError, ClientClosedError, NetworkError, ProtocolError, TimeoutError
from ._handle import AttemptHandle, timeout_error
from ._pool import TrackedAdapter, current, drop_pools
from ._stream import StreamResponse, discard, read_body, release
from ._types import Deadlines, HttpRequest, HttpResponse, is_loopback

__all__ = ["SocketTransport", "MAX_RESPONSE_BYTES"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def _unpatched(method: object, module: str) -> object:
    """``method`` if it is requests' own (defined in ``module``), else None: this module may be
    imported first while ``responses`` or ``requests-mock`` has patched it, and what is then
    patched must never be taken for the original."""
    return method if getattr(method, "__module__", None) == module else None


_SESSION_SEND = _unpatched(requests.Session.send, "requests.sessions")
_ADAPTER_SEND = _unpatched(HTTPAdapter.send, "requests.adapters")


def _intercepted() -> bool:
    """Whether a mocking library (requests-mock) has patched ``Session.send``: then every
    request goes through the session, as a plain requests user's would."""
    send = requests.Session.send
    return send is not _SESSION_SEND and getattr(send, "__module__", None) != "requests.sessions"


class SocketTransport:
    """One pooled ``requests.Session`` per client; sends requests and streams responses."""

    def __init__(self, *, pool_size: int = 32, clock: Clock = SYSTEM_CLOCK, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # the environment is read once per pool, not per call
        self._adapter = TrackedAdapter(pool_connections=64, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.clock = clock
        # Phase ends are instants on the real clock; an injected clock is checked between reads.
        self.timed = clock is SYSTEM_CLOCK or getattr(clock, "monotonic", None) is time.monotonic
        self.max_response_bytes = max_response_bytes
        self._proxy_cache: dict[tuple[str, Optional[str]], dict[str, str]] = {}
        self._routes: dict[tuple[str, object, Optional[str]], tuple[Any, str]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._timeouts: dict[tuple[float, float], urllib3.Timeout] = {}
        self.closed = False
        register_after_fork(self)

    def _after_fork_in_child(self) -> None:
        """Drop every pool inherited from the parent, without shutting its sockets down."""
        self._routes = {}
        for adapter in list(self.session.adapters.values()):
            drop_pools(adapter)

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
    def send(self, req: HttpRequest, dl: Deadlines, handle: AttemptHandle) -> Union[HttpResponse, StreamResponse]:
        """Send ``req`` within the attempt's deadlines.

        ``req.stream=False``: the whole body is read (``HttpResponse``). ``req.stream=True``:
        a ``StreamResponse`` the caller reads events from and closes.
        """
        resp = self._open(req, dl, handle)
        if req.stream:
            return StreamResponse(self, resp, dl, handle)
        try:
            body = read_body(self, resp, dl, handle)
        except BaseException:
            discard(resp, handle)
            raise
        release(resp, handle)
        return HttpResponse(resp.status, resp.headers, body)

    def _open(self, req: HttpRequest, dl: Deadlines, handle: AttemptHandle) -> urllib3.BaseHTTPResponse:
        """Send through the session's mounted adapter (so adapters mounted by users, and
        the ``responses`` test library, see every request); return the raw response."""
        now = self.clock.monotonic()
        end = dl.attempt_end if dl.attempt_end < dl.call_end else dl.call_end
        left = end - now
        if left <= 0:
            raise timeout_error(dl, now, "connect")
        if handle.cancelled:
            raise handle.reason or NetworkError("attempt cancelled before it was sent", request_sent=False)
        if self.closed:
            raise ClientClosedError("the client is closed; build a new client to make calls")
        timeout = (min(dl.connect, left), min(dl.first_byte, left))
        handle.deadlines = dl
        handle.phase = "send"
        if self.timed:  # connecting and sending end by the connect timeout as a whole
            send_end = now + dl.connect
            handle.until = send_end if send_end < end else end
        current.handle = handle
        try:
            raw = self._send_on_session(req, timeout)
        except Exception as exc:
            handle.detach()
            raise self.translate(exc, dl, handle, handle.phase, url=req.url, proxy=self._proxy_for(req)) from exc
        finally:
            current.handle = None
        if raw.status < 200:  # an interim response still unanswered, or a 101 nobody asked for
            discard(raw, handle)
            raise ProtocolError(f"the server answered with an interim response (HTTP {raw.status}) and no final one")
        return raw

    def _send_on_session(self, req: HttpRequest, timeout: tuple[float, float]) -> urllib3.BaseHTTPResponse:
        adapter = self.session.get_adapter(req.url)
        if adapter is self._adapter and HTTPAdapter.send is _ADAPTER_SEND and not _intercepted():
            return self._urlopen(req, timeout)  # the hot path: straight onto the pool
        prepared = _prepare(req)
        if _intercepted():
            response = self.session.send(
                prepared, stream=True, timeout=timeout, verify=_verify(req), proxies=self._proxies(req), allow_redirects=False
            )
            # a mocking library may set status and headers on the Response only
            response.raw.status = response.status_code
            response.raw.headers = urllib3.HTTPHeaderDict(response.headers)
        else:  # a user's adapter, or one patched by ``responses``
            response = adapter.send(prepared, stream=True, timeout=timeout, verify=_verify(req), proxies=self._proxies(req))
        raw: urllib3.BaseHTTPResponse = response.raw
        return raw

    def _urlopen(self, req: HttpRequest, timeout: tuple[float, float]) -> urllib3.BaseHTTPResponse:
        """Send on the urllib3 pool our adapter would pick, with the same settings (TLS
        verification, proxy, no retries, no redirects), minus its per-call work (request
        and response objects, URL parsing, cookie extraction, header dict copies)."""
        url = req.url
        key = (url, req.verify, req.proxy)
        route = self._routes.get(key)
        if route is None or route[0].pool is None:  # new, or the pool manager evicted it
            route = self._route(req)
        pool, path = route
        u3_timeout = self._timeouts.get(timeout)
        if u3_timeout is None:  # most calls share a few (connect, read) pairs
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            u3_timeout = self._timeouts[timeout] = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        response: urllib3.BaseHTTPResponse = pool.urlopen(
            req.method,
            path,
            body=req.body,
            headers=req.headers if type(req.headers) is dict else dict(req.headers),
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=self._adapter.max_retries,
            timeout=u3_timeout,
            chunked=False,
        )
        return response

    def _route(self, req: HttpRequest) -> tuple[Any, str]:
        """The pool and request target for ``req``, as ``HTTPAdapter.send`` computes them."""
        prepared = _prepare(req)
        proxies = self._proxies(req)
        pool = self._adapter.get_connection_with_tls_context(prepared, _verify(req), proxies, None)
        path = self._adapter.request_url(prepared, proxies)
        if len(self._routes) > 1024:
            self._routes.clear()
        self._routes[(req.url, req.verify, req.proxy)] = (pool, path)
        return pool, path

    def _proxies(self, req: HttpRequest) -> dict[str, str]:
        key = (req.url[: req.url.find("/", req.url.find("//") + 2)], req.proxy)
        proxies = self._proxy_cache.get(key)
        if proxies is None:
            self._check_url(req)
            proxies = {"http": req.proxy, "https": req.proxy} if req.proxy else requests.utils.get_environ_proxies(req.url)
            self._proxy_cache[key] = proxies
        return proxies

    def _proxy_for(self, req: HttpRequest) -> Optional[str]:
        """The proxy ``req`` goes through (its own, or the environment's), if any."""
        proxies = self._proxies(req)
        return proxies.get(urlsplit(req.url).scheme) or proxies.get("all")

    def _check_url(self, req: HttpRequest) -> None:
        """Warn once per host about plain http:// to a non-loopback host, or verify=False."""
        host = urlsplit(req.url).hostname or ""
        if req.url.startswith("http://") and not is_loopback(host) and ("http", host) not in self._warned:
            self._warned.add(("http", host))
            warnings.warn(f"ailib: sending API requests to {host} over plain http://", stacklevel=7)
        if req.verify is False and ("verify", host) not in self._warned:
            self._warned.add(("verify", host))
            warnings.warn(f"ailib: TLS certificate verification is OFF for {host} (verify=False)", stacklevel=7)
            # urllib3 warns again on every request to the host: once is said, for this host only
            warnings.filterwarnings(
                "ignore", f"Unverified HTTPS request is being made to host '{re.escape(host)}'", u3.InsecureRequestWarning
            )

    # -- errors --------------------------------------------------------------------------
    def translate(
        self,
        exc: BaseException,
        dl: Deadlines,
        handle: AttemptHandle,
        phase: str,
        *,
        mid_body: bool = False,
        url: Optional[str] = None,
        proxy: Optional[str] = None,
    ) -> AiLibError:
        """The classified error for a failure of the socket layer (most specific first).

        With ``url`` (and the ``proxy`` used, if any), connection failures name where they
        tried to go as ``scheme://host:port/path``: no credentials, no query."""
        if isinstance(exc, AiLibError):
            return exc
        if handle.cancelled:
            return handle.reason or NetworkError("attempt cancelled", request_sent=None)
        if _caused_by(exc, _header_overflow):
            return ProtocolError(f"the response header block is too large: {_reason(exc)}")
        exc = _unwrap(exc)
        now = self.clock.monotonic()
        to = f" to {shown_url(url)}" if url else ""
        if isinstance(exc, u3.ProxyError):
            via = f" through the proxy {shown_url(proxy)}" if proxy else " through its proxy"
            return NetworkError(f"could not connect{to}{via}: {_os_reason(exc)}", request_sent=False)
        if isinstance(exc, u3.NewConnectionError) and not isinstance(exc.__context__, socket.timeout):
            return NetworkError(f"could not connect{to}: {_os_reason(exc)}", request_sent=False)
        if isinstance(exc, u3.ConnectTimeoutError):
            err = timeout_error(dl, now, "connect")
            if url and type(err) is TimeoutError:
                err = TimeoutError(f"timed out connecting{to}", phase="connect")
            return err
        if _caused_by(exc, _timed_out):
            return timeout_error(dl, now, phase)
        if isinstance(exc, u3.SSLError):
            return NetworkError(f"TLS failure{to.replace(' to ', ' with ')}: {_reason(exc)}", request_sent=False, should_retry=False)
        if isinstance(exc, (u3.ProtocolError, u3.IncompleteRead, u3.InvalidChunkLength, OSError)):
            where = "mid-body" if mid_body else "before the response"
            return NetworkError(f"connection{to} broken {where}: {_reason(exc)}", request_sent=True if mid_body else None)
        if isinstance(exc, u3.DecodeError):
            return ProtocolError(f"could not decode the response body: {_reason(exc)}")
        if isinstance(exc, (u3.HTTPError, requests.RequestException)):
            return NetworkError(f"HTTP failure: {type(exc).__name__}: {_reason(exc)}")
        raise exc


def _verify(req: HttpRequest) -> Union[bool, str]:
    """``verify`` as requests types it (True, False or a CA bundle path)."""
    return req.verify


def _prepare(req: HttpRequest) -> requests.PreparedRequest:
    prepared = requests.PreparedRequest()
    prepared.method = req.method
    prepared.url = req.url
    prepared.headers = CaseInsensitiveDict(req.headers)
    if req.body is not None:
        prepared.headers["Content-Length"] = str(len(req.body))  # else the adapter sends it chunked
    prepared.body = req.body
    prepared.hooks = {"response": []}
    return prepared


def _header_overflow(e: BaseException) -> bool:
    """Whether ``http.client`` refused the header block (too many headers, a line too long)."""
    return isinstance(e, http.client.LineTooLong) or type(e) is http.client.HTTPException


def _timed_out(e: BaseException) -> bool:
    """A socket timeout (or urllib3's word for one) other than while connecting."""
    return isinstance(e, (socket.timeout, u3.ReadTimeoutError)) and not isinstance(e, u3.ConnectTimeoutError)


def _caused_by(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    """Whether ``exc`` or an exception it wraps (as requests and urllib3 wrap them) passes ``test``."""
    seen: list[Any] = [exc]
    for _ in range(8):
        if not seen:
            return False
        e = seen.pop()
        if test(e):
            return True
        seen.extend(a for a in (*e.args, getattr(e, "reason", None), e.__cause__, e.__context__) if isinstance(a, BaseException))
    return False


def _unwrap(exc: BaseException) -> BaseException:
    """requests wraps urllib3's errors (sometimes twice, via MaxRetryError): find the cause."""
    while isinstance(exc, (requests.RequestException, u3.MaxRetryError)):
        inner: Optional[BaseException]
        if isinstance(exc, u3.MaxRetryError):
            inner = exc.reason
        else:
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        if inner is None:
            break
        exc = inner
    return exc


def shown_url(url: Any) -> str:
    """``url`` as an error message shows it: ``scheme://host:port/path``, never a user,
    password, query or fragment (the port is the scheme's default when none is given)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except (TypeError, ValueError, AttributeError):
        return redact_url(url)
    if not host or not parts.scheme:
        return redact_url(url)
    if ":" in host:
        host = f"[{host}]"
    port = port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    return mask(f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}")


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for a failed connect ("[Errno 111] Connection refused",
    "[Errno -2] Name or service not known"), without urllib3's connection object repr."""
    seen: list[Any] = [exc]
    for _ in range(8):
        if not seen:
            break
        e = seen.pop()
        if isinstance(e, OSError) and not isinstance(e, (u3.HTTPError, requests.RequestException)) and str(e):
            return str(e)
        seen.extend(a for a in (*e.args, getattr(e, "reason", None), e.__cause__, e.__context__) if isinstance(a, BaseException))
    return _CONNECTION_REPR.sub("", _reason(exc))


_CONNECTION_REPR = re.compile(r"<?\w*Connection(?:Pool)?\b(?:\(host=[^)]*\)| object at 0x[0-9a-f]+>)[:,]?\s*")


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
    text = str(inner or exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."
