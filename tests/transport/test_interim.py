"""Interim 1xx responses never shift a kept-alive connection (RFC 9110 15.2).

``http.client`` skips only ``100 Continue``: after a ``102`` or ``103`` it would hand the
interim response over as the answer and leave the real one on the connection for the next
request, so calls would get each other's answers. These tests use a raw-socket server; the
first also guards the ``http.client`` behaviour ``InterimSkippingResponse`` relies on
(``begin`` reads a fresh head once ``headers`` is cleared) on every interpreter CI runs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ailib.errors import AiLibError, ProtocolError

from ._support import Listener, client_for, content_length, read_head, request

INTERIM = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", b"HTTP/1.1 102 Processing\r\n\r\n")


class _InterimServer(Listener):
    """Keep-alive, one thread per connection; answers each chat request with ``echo:<text>``.
    Every ``every``-th answer (server-wide) is preceded by ``interims`` interim responses
    (103 and 102 in turn), sometimes in the same send, sometimes a moment before."""

    threaded = True

    def __init__(self, every: int = 5, interims: int = 1, final: bytes = b"") -> None:
        self.every, self.interims, self.final = every, interims, final
        self.count = 0
        self.connections = 0
        self._lock = threading.Lock()
        super().__init__()

    def serve(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with sock:
            while True:
                try:
                    got = read_head(sock, buf)
                except OSError:
                    return
                if got is None:
                    return
                head, buf = got
                length = content_length(head)
                while len(buf) < length:
                    buf += sock.recv(65536)
                body, buf = buf[:length], buf[length:]
                text = json.loads(body)["messages"][-1]["content"]
                with self._lock:
                    self.count += 1
                    n = self.count
                answer = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": "m",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo:{text}"}, "finish_reason": "stop"}],
                    }
                ).encode()
                final = self.final or b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(answer),
                    answer,
                )
                interims = b"".join(INTERIM[(n // self.every + i) % 2] for i in range(self.interims)) if n % self.every == 0 else b""
                try:
                    if interims and n % 2:
                        sock.sendall(interims)
                        time.sleep(0.001)
                        sock.sendall(final)
                    else:
                        sock.sendall(interims + final)
                except OSError:
                    return


@pytest.mark.alone
def test_16_threads_300_calls_each_never_get_another_calls_answer():
    """16 threads x 300 calls on one client, every 5th answer preceded by a 103 or a 102: every call gets its own answer, none fails, connections stay kept alive."""
    server = _InterimServer()
    wrong: list[str] = []
    errors: list[AiLibError] = []

    def worker(t: int) -> None:
        for i in range(300):
            text = f"t{t}-c{i}"
            try:
                got = client.chat_completion(request(text)).text
            except AiLibError as err:
                errors.append(err)
                continue
            if got != f"echo:{text}":
                wrong.append(got)

    try:
        with client_for(server.base_url, retry=False, pool_size=16) as client, ThreadPoolExecutor(16) as pool:
            list(pool.map(worker, range(16)))
    finally:
        server.close()
    assert (wrong, errors) == ([], [])
    assert server.count == 16 * 300
    assert server.connections <= 32  # skipping the interim responses kept the connections in use


def test_several_interim_responses_in_a_row_are_all_skipped():
    """Three interim responses before the answer: the call gets the answer, and the next call on the connection its own."""
    server = _InterimServer(every=1, interims=3)
    try:
        with client_for(server.base_url, retry=False) as client:
            assert [client.chat_completion(request(f"q{i}")).text for i in range(3)] == ["echo:q0", "echo:q1", "echo:q2"]
    finally:
        server.close()
    assert server.connections == 1


def test_a_switching_protocols_answer_is_refused_and_its_connection_discarded():
    """A 101 nobody asked for is a ProtocolError, and the next call does not reuse that connection."""
    server = _InterimServer(every=1, final=b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    try:
        with client_for(server.base_url, retry=False) as client:
            for _ in range(2):
                try:
                    client.chat_completion(request("q"))
                    raise AssertionError("a 101 was taken as an answer")
                except ProtocolError as err:
                    assert "101" in str(err)
    finally:
        server.close()
    assert server.connections == 2
