"""Socket timeouts cut to the phase's end: the bound on every wait of an attempt.

A per-``recv`` socket timeout alone never trips on a server that drips one byte at a
time. So each wait is given ``min(its own timeout, time left before the phase's end)``,
just before it starts: every ``recv`` of a response (through ``PhaseReader``, the raw
source under the buffered file ``http.client`` reads from) and every send. A phase that
ran out raises ``socket.timeout`` as the socket itself would. No thread is involved.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any, Callable, Optional

__all__ = ["bound_socket", "PhaseReader", "ResponseFile"]

_INF = float("inf")
_SLACK = 0.010  # a socket timeout this much longer than wanted is left as it is (no system call)


def bound_socket(sock: Any, timeout: Optional[float], until: float) -> None:
    """Before one wait on ``sock``: at most ``timeout`` seconds (None: the socket's own), and
    never past ``until`` (monotonic; ``inf``: no end). Raises ``socket.timeout`` once
    ``until`` has passed, as the socket would."""
    current = sock.gettimeout()
    if timeout is None:
        timeout = current
    if until != _INF:
        left = until - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        if timeout is None or left < timeout:
            timeout = left
    if timeout is None or current == timeout or (current is not None and timeout <= current <= timeout + _SLACK):
        return
    sock.settimeout(timeout)


class PhaseReader(io.RawIOBase):
    """The raw bytes of one response: the socket's own unbuffered reader, each read
    bounded by the attempt's ``per_read`` timeout and its phase's ``until``."""

    def __init__(self, sock: Any, handle: Any) -> None:
        super().__init__()
        self.raw = sock.makefile("rb", buffering=0)
        self.sock = sock
        self.handle = handle
        self.closing = False  # reads then answer "nothing yet" without touching the socket

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        if self.closing:
            return None
        handle = self.handle
        per_read, until = handle.per_read, handle.until
        if per_read is not None or until != _INF:
            bound_socket(self.sock, per_read, until)
        n: Optional[int] = self.raw.readinto(buffer)
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


class ResponseFile(io.BufferedReader):
    """The buffered file one response reads from, and the end of that response.

    ``http.client`` closes a response's file the moment the response ends (its body read,
    or the response closed); urllib3 returns the connection to the pool right after. So
    ``on_close(leftover)`` is told first: ``leftover`` says whether bytes beyond the
    response were already read from the socket (the server sent more than it framed: the
    connection is out of step and must not be reused; bytes still in the kernel are
    urllib3's own check when it reuses a connection).
    """

    raw: PhaseReader

    def __init__(self, raw: PhaseReader, on_close: Callable[[bool], None]) -> None:
        super().__init__(raw)
        self.on_close: Optional[Callable[[bool], None]] = on_close

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> ResponseFile:
        """What ``http.client.HTTPResponse`` asks of the socket it is given: this file."""
        return self

    def close(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None and not self.closed:
            self.raw.closing = True
            leftover = bool(self.peek(1))  # what is buffered; no read of the socket
            super().close()
            on_close(leftover)
            return
        super().close()
