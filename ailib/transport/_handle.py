"""One attempt's cancellation handle: the socket it owns, and the instant it must end by.

The handle keeps its own reference to the attempt's socket, recorded the moment the
connection assigns it (before a proxy tunnel or a TLS handshake) or when the connection is
taken from the pool. ``http.client`` drops ``conn.sock`` after the headers of a
close-delimited response (HTTP/1.0, ``Connection: close``), but the socket object stays
the one the response reads from, so ``cancel()`` and the timeouts act on it for
every connection shape. A cancelled attempt's connection is never pooled again.

A new connection is made on a short-lived thread (``connect``) while the attempt's own
thread waits, so a cancel (a hedge that won, the deadline) ends the wait in any phase,
name resolution and TCP connect included, where no socket exists yet to shut down.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Callable, Optional

from ..errors import AiLibError, DeadlineExceededError, TimeoutError
from ._types import Deadlines

__all__ = ["AttemptHandle", "timeout_error", "Cancelled"]

_INF = float("inf")
_PHASES = {
    "connect": "connecting",
    "send": "sending the request",
    "first_byte": "waiting for the response headers",
    "idle": "waiting for more data",
}


class Cancelled(ConnectionAbortedError):
    """Raised inside urllib3 when an attempt is cancelled before its response."""


def timeout_error(dl: Optional[Deadlines], now: float, phase: str) -> AiLibError:
    """The error for a timeout at ``now``: the call's deadline, the attempt's total, or ``phase``."""
    if dl is not None:
        if now >= dl.call_end - 1e-3:
            return DeadlineExceededError("the call's deadline ran out", phase="deadline")
        if now >= dl.attempt_end - 1e-3:
            return TimeoutError("the attempt exceeded its total timeout", phase="total")
    return TimeoutError(f"timed out {_PHASES.get(phase, phase)}", phase=phase)


def shutdown_socket(sock: Any) -> None:
    """Shut a socket down for both directions (any reader returns at once); never raises.

    ``socket.socket.shutdown`` is called directly: ``SSLSocket.shutdown`` would also drop
    its TLS object, and a reader inside ``recv`` could then read raw TLS records as data.
    """
    with contextlib.suppress(OSError, TypeError, ValueError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Connecting:
    """A connect running on its own thread, and the wait for it."""

    __slots__ = ("done", "error", "finished", "abandoned", "lock", "twin")

    def __init__(self) -> None:
        self.done = threading.Event()  # set when the connect ends or the attempt is cancelled
        self.error: Optional[BaseException] = None
        self.finished = False
        self.abandoned = False
        self.lock = threading.Lock()
        # A duplicate descriptor of the TCP socket: wrapping it in TLS detaches the socket
        # object the connection assigned, and the TLS socket is assigned only after its
        # handshake; shutting the duplicate down ends a handshake (or a tunnel) in progress.
        self.twin: Any = None

    def close_twin(self) -> None:
        twin, self.twin = self.twin, None
        if twin is not None:
            twin.close()


class AttemptHandle:
    """Cancellation for one attempt: ``cancel(reason)`` shuts the attempt's socket down.

    The handle holds the attempt's connection and socket only while the attempt uses them:
    the connection detaches itself when its response ends (before urllib3 returns it to
    the pool), so a later ``cancel()`` never touches a connection another call has taken.

    ``until`` is when the current phase must be over (connecting and sending, then the
    header phase, then the body: each cut to the attempt's total and the call's deadline;
    ``inf``: no end, as with an injected clock), and ``per_read`` the timeout of one read
    of the body (None: the socket's own). The transport gives every wait the smaller of
    its own timeout and the time left (``_reader``).
    """

    __slots__ = ("_lock", "_conn", "_sock", "_connecting", "reason", "cancelled", "until", "per_read", "deadlines", "phase", "response")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._sock: Any = None
        self._connecting: Optional[_Connecting] = None
        self.reason: Optional[AiLibError] = None
        self.cancelled = False
        self.until = _INF
        self.per_read: Optional[float] = None
        self.deadlines: Optional[Deadlines] = None
        self.phase = "idle"  # "connect", "send", "first_byte" or "idle": what a timeout is called
        self.response: Any = None  # the http.client response its connection made (reads through ours)

    # -- the connection in use (called by the pool's connection class) ----------------
    def attach(self, conn: Any) -> None:
        """``conn`` is about to connect or send for this attempt."""
        with self._lock:
            if self.cancelled:
                raise Cancelled("attempt cancelled")
            self._conn = conn
            self._sock = conn.sock  # None until connected: bind_socket() then
            conn.ailib_handle = self

    def bind_socket(self, conn: Any, sock: Any) -> None:
        """``conn``, this attempt's connection, has just assigned ``sock``."""
        with self._lock:
            if self._conn is not conn:
                return
            self._sock = sock
            job = self._connecting
            if job is not None and job.twin is None and type(sock) is socket.socket:
                with contextlib.suppress(OSError):
                    job.twin = sock.dup()
            if self.cancelled:
                shutdown_socket(sock)
                if job is not None and job.twin is not None:
                    shutdown_socket(job.twin)

    def detach(self, conn: Any = None) -> None:
        """The attempt is done with ``conn`` (default: whichever it holds); it may go back to the pool."""
        with self._lock:
            held = self._conn
            if held is not None and (conn is None or held is conn):
                self._conn = None
                self._sock = None
                held.ailib_handle = None

    @property
    def socket(self) -> Any:
        return self._sock

    def connect(self, connect: Callable[[], None], wait: float, on_abandon: Callable[[], None]) -> None:
        """Run ``connect`` on a thread of its own and wait for it at most ``wait`` seconds,
        or until the attempt is cancelled; then raise the attempt's error. A connect left
        behind finishes on its thread, which then calls ``on_abandon`` (closing what it made)."""
        job = _Connecting()

        def run() -> None:
            try:
                connect()
            except BaseException as exc:  # handed to the waiting thread
                job.error = exc
            with job.lock:
                job.finished = True
                abandoned = job.abandoned
            job.done.set()
            if abandoned:
                on_abandon()

        with self._lock:
            if self.cancelled:
                raise Cancelled("attempt cancelled")
            self._connecting = job
        try:
            try:
                threading.Thread(target=run, name="ailib-connect", daemon=True).start()
            except RuntimeError:  # no thread to be had (a thread limit): connect right here
                connect()
                return
            job.done.wait(wait)
            with job.lock:
                if not job.finished:
                    job.abandoned = True
        finally:
            with self._lock:
                self._connecting = None
                job.close_twin()
        if job.finished and not self.cancelled:
            if job.error is not None:
                raise job.error
            return
        if not self.cancelled:  # the wait ran out: what is left of the connect goes (its socket shut down)
            self.expire(time.monotonic())
        raise Cancelled("attempt cancelled while connecting")

    # -- control ------------------------------------------------------------------------
    def cancel(self, reason: Optional[AiLibError] = None) -> None:
        """Stop the attempt from any thread; its reader sees ``reason`` (or a cancellation)."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            sock = self._sock
            if sock is not None:  # under the lock: the pool cannot take it back meanwhile
                shutdown_socket(sock)
            job = self._connecting
            if job is not None:
                if job.twin is not None:
                    shutdown_socket(job.twin)
                job.done.set()

    def expire(self, now: float) -> None:
        """The current phase ran out at ``now``: cancel with the timeout error it means."""
        self.cancel(timeout_error(self.deadlines, now, self.phase))
