"""Cancellation reaches every phase: a proxy CONNECT, a TLS handshake, a TCP connect.

The attempt's socket is its handle's from the moment the connection assigns it (before a
tunnel or a handshake), and a new connection is made on a short-lived thread the attempt
can stop waiting for. So the deadline ends a call stuck in a dripping proxy tunnel, and a
hedged call returns as soon as its hedge answers, whatever its primary is doing.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ailib import AiClientBuilder, ConnectionOptions, CustomProviderBuilder, HedgePolicy
from ailib.errors import TimeoutError
from tests.chaos._support import eventually

from ._server import RawServer
from ._support import SLACK, Listener, client_for, request


def _connect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ailib-connect"]


class _Dripper(Listener):
    """Accepts connections; reads what the client sends first, then sends ``first`` and drips
    ``b"a"`` one byte every 50 ms until the client goes away (``closed`` counts those)."""

    threaded = True

    def __init__(self, first: bytes) -> None:
        self.first = first
        self.closed = 0
        super().__init__()

    def serve(self, sock: socket.socket) -> None:
        self._drip(sock)

    def _drip(self, sock: socket.socket) -> None:
        with sock:
            try:
                sock.recv(65536)
                sock.sendall(self.first)
                for _ in range(2000):
                    sock.sendall(b"a")
                    time.sleep(0.05)
            except OSError:
                self.closed += 1


def test_https_through_a_dripping_proxy_connect_ends_at_the_deadline():
    """HTTPS through a proxy whose CONNECT reply drips: deadline=1.5 ends within 2.0 s with a TimeoutError, and the tunnel's socket is closed at once (no thread left dripping)."""
    proxy = _Dripper(b"HTTP/1.1 200 Connection established\r\nX-Drip: ")
    try:
        with client_for("https://api.example.invalid/v1", proxy=f"http://127.0.0.1:{proxy.port}", deadline=1.5) as client:
            start = time.monotonic()
            try:
                client.chat_completion(request())
                raise AssertionError("a dripping proxy answered")
            except TimeoutError:
                elapsed = time.monotonic() - start
        assert elapsed <= 1.5 + 0.5 * SLACK
        assert eventually(lambda: not _connect_threads() and proxy.closed >= 1)
    finally:
        proxy.close()


@contextmanager
def _full_accept_queue() -> Iterator[int]:
    """A port whose accept queue is full: a new TCP connect hangs (its SYN dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.settimeout(0.2)
        try:
            c.connect(("127.0.0.1", port))
        except OSError:
            pass
        fillers.append(c)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        listener.close()


def _hedged(primary_url: str, winner: RawServer, **options):
    def provider(url: str, name: str):
        return CustomProviderBuilder(name).with_base_url(url).with_api_key("sk-raw-0").build_provider()

    return (
        AiClientBuilder(provider(primary_url, "stuck"))
        .with_failover_chain([provider(winner.base_url, "winner")])
        .with_hedging(HedgePolicy(delay=0.3, max_extra_load=1.0))
        .with_options(ConnectionOptions(**options))
        .with_deadline(5.0)
        .without_retry()
        .build()
    )


def _returns_soon_after_the_hedge(primary_url: str, **options) -> None:
    with RawServer("length") as winner, _hedged(primary_url, winner, **options) as client:
        assert client.chat_completion(request("q")).text == "echo:q"
        returned = time.monotonic()
        assert len(winner.answered_at) == 1
        assert returned - winner.answered_at[0] <= 0.3 * SLACK, returned - winner.answered_at[0]


def test_a_hedge_rescues_a_primary_stuck_in_a_dripping_tls_handshake():
    """Primary in a TLS handshake whose server drips its first record: the hedged call returns <= 0.3 s after the hedge answers (not at the 5 s deadline)."""
    from ._server import tls_context

    _, ca = tls_context(tempfile.mkdtemp())
    dripper = _Dripper(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB that never completes
    try:
        _returns_soon_after_the_hedge(f"https://127.0.0.1:{dripper.port}/v1", verify=ca)
        assert eventually(lambda: not _connect_threads() and dripper.closed >= 1)
    finally:
        dripper.close()


def test_a_hedge_rescues_a_primary_stuck_in_tcp_connect():
    """Primary connecting to a full accept queue (no socket exists yet to shut down): the hedged call returns <= 0.3 s after the hedge answers."""
    with _full_accept_queue() as port:
        _returns_soon_after_the_hedge(f"http://127.0.0.1:{port}/v1", connect_timeout=10.0)
