"""One attempt's cancellation handle: the socket it owns, and the instant it must end by.

The handle keeps its own reference to the attempt's socket, captured when the connection
is made or taken from the pool. ``http.client`` drops ``conn.sock`` after the headers of a
close-delimited response (HTTP/1.0, ``Connection: close``), but the socket object stays
the one the response reads from, so ``cancel()``, the idle timeout and the timer act on it
for every connection shape. A cancelled attempt's connection is never pooled again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Optional

from ..errors import AiLibError, DeadlineExceededError, TimeoutError
from ._types import Deadlines

__all__ = ["AttemptHandle", "timeout_error", "Cancelled"]

_INF = float("inf")
_PHASES = {"connect": "connecting", "send": "sending the request", "first_byte": "waiting for the response headers", "idle": "waiting for more data"}


class Cancelled(ConnectionAbortedError):
    """Raised inside urllib3 when an attempt is cancelled before its request is sent."""


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


class AttemptHandle:
    """Cancellation for one attempt: ``cancel(reason)`` shuts the attempt's socket down.

    The handle holds the attempt's connection and socket only while the attempt uses them:
    when urllib3 returns the connection to the pool, the pool detaches it first, so a later
    ``cancel()`` can never touch a connection another call has taken from the pool since.

    ``instant`` is when the attempt must be over (the header phase's end, then the
    attempt's total or the call's deadline, whichever is first); the process-wide timer
    cancels the attempt with a timeout error when it passes. ``inf`` means disarmed.
    """

    __slots__ = ("_lock", "_conn", "_sock", "reason", "cancelled", "instant", "deadlines", "phase")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._sock: Any = None
        self.reason: Optional[AiLibError] = None
        self.cancelled = False
        self.instant = _INF  # read and written by the timer and the attempt's own thread
        self.deadlines: Optional[Deadlines] = None
        self.phase = "idle"  # what the timer's instant bounds: "send", "first_byte" or "idle"

    # -- the connection in use (called by the pool's connection class) ----------------
    def attach(self, conn: Any) -> None:
        """``conn`` is about to send this attempt's request."""
        with self._lock:
            if self.cancelled:
                raise Cancelled("attempt cancelled")
            self._conn = conn
            self._sock = conn.sock  # None until connected: bind_socket() then
            conn._ailib_handle = self

    def bind_socket(self, sock: Any) -> None:
        """The attempt's connection has just connected ``sock``."""
        with self._lock:
            self._sock = sock
            if self.cancelled:
                shutdown_socket(sock)

    def detach(self, conn: Any) -> None:
        """The attempt is done with ``conn`` (it goes back to the pool)."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self._sock = None

    @property
    def socket(self) -> Any:
        return self._sock

    # -- control ------------------------------------------------------------------------
    def cancel(self, reason: Optional[AiLibError] = None) -> None:
        """Stop the attempt from any thread; its reader sees ``reason`` (or a cancellation)."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            self.instant = _INF
            sock = self._sock
            if sock is not None:  # under the lock: the pool cannot take it back meanwhile
                shutdown_socket(sock)

    def expire(self, now: float) -> None:
        """The timer: the attempt's instant has passed."""
        self.cancel(timeout_error(self.deadlines, now, self.phase))

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        """Per-read socket timeout (the attempt's own thread only)."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(seconds)
