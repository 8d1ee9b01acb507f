"""Deadlines and phase timeouts hold on every connection shape real servers make.

Each test runs one fault on every shape (keep-alive, chunked, chunked + close, HTTP/1.0,
TLS close-delimited, TLS chunked), streamed and not, all cells at once against their own
raw-socket server, and checks every cell. The figures in the docstrings are the bounds at
``AILIB_TEST_SLACK=1``; the margins above the configured timeout scale with the slack.
"""

from __future__ import annotations

import json
import time

import pytest

from ailib.errors import DeadlineExceededError, StreamInterruptedError, TimeoutError

from ._server import SHAPES, TIMING_FAULTS, RawServer
from ._support import SLACK, Listener, client_for, content_length, is_timeout, read_head, request, run_cells, timed_call

CELLS = [(shape, stream) for shape in SHAPES for stream in (False, True)]


def _matrix(fault: str, tls, make_client) -> dict:
    ctx, ca = tls

    def cell(shape: str, stream: bool):
        def run():
            with RawServer(shape, fault, ssl_context=ctx) as server, make_client(server.base_url, ca) as client:
                elapsed, err, _ = timed_call(client, stream)
                return elapsed, err, server, time.monotonic()

        return run

    return run_cells({f"{shape}/{'stream' if stream else 'plain'}": cell(shape, stream) for shape, stream in CELLS})


def _bad(results: dict, bound: float, kind: type) -> dict:
    bad = {}
    for name, result in results.items():
        if not isinstance(result, tuple):
            bad[name] = result
            continue
        elapsed, err = result[:2]
        cause = err.cause if isinstance(err, StreamInterruptedError) else err
        if not isinstance(cause, kind) or elapsed > bound:
            bad[name] = (round(elapsed, 3), repr(err))
    return bad


@pytest.mark.parametrize("fault", TIMING_FAULTS)
def test_a_one_second_deadline_ends_every_timing_fault_on_every_shape_within_1_2_s(fault, tls):
    """With ``with_deadline(1.0)``, each timing fault on each shape, streamed or not, ends in <= 1.2 s with a DeadlineExceededError."""
    results = _matrix(fault, tls, lambda url, ca: client_for(url, ca=ca, deadline=1.0))
    assert _bad(results, 1.0 + 0.2 * SLACK, DeadlineExceededError) == {}


@pytest.mark.parametrize("fault", TIMING_FAULTS)
def test_a_one_second_attempt_timeout_ends_every_timing_fault_on_every_shape_within_1_2_s(fault, tls):
    """With ``ConnectionOptions(timeout=1.0)`` and no retry, each timing fault on each shape ends in <= 1.2 s with a TimeoutError."""
    results = _matrix(fault, tls, lambda url, ca: client_for(url, ca=ca, timeout=1.0, retry=False))
    assert _bad(results, 1.0 + 0.2 * SLACK, TimeoutError) == {}


def test_an_idle_timeout_of_0_3_s_fires_within_0_5_s_on_every_shape(tls):
    """``stream_idle_timeout=0.3``: a body that goes silent fails within 0.5 s of its last byte, on every shape, streamed or not."""
    results = _matrix("stall_body", tls, lambda url, ca: client_for(url, ca=ca, stream_idle_timeout=0.3, retry=False))
    late = {}
    for name, result in results.items():
        assert isinstance(result, tuple), (name, result)
        _, err, server, ended_at = result
        assert is_timeout(err), (name, repr(err))
        assert server.stalled_at, (name, "the server never reached its stall")
        silent_for = ended_at - server.stalled_at[0]  # one machine, one monotonic clock
        if silent_for > 0.3 + 0.2 * SLACK:
            late[name] = round(silent_for, 3)
    assert late == {}


def test_a_first_byte_timeout_bounds_the_whole_header_block(tls):
    """``first_byte_timeout=0.5``: headers dripped one byte per 50 ms fail in <= 0.7 s, not per recv, on every shape."""
    results = _matrix("drip_headers", tls, lambda url, ca: client_for(url, ca=ca, first_byte_timeout=0.5, retry=False))
    bad = _bad(results, 0.5 + 0.2 * SLACK, TimeoutError)
    assert bad == {}
    phases = {r[1].phase for r in results.values()}
    assert phases == {"first_byte"}


class _DeafServer(Listener):
    """Answers the first request on each connection (keep-alive), then never reads again."""

    ANSWER = json.dumps(
        {"id": "x", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    ).encode()

    def __init__(self) -> None:
        self._held: list = []
        super().__init__()

    def serve(self, sock) -> None:  # type: ignore[no-untyped-def]
        self._held.append(sock)
        got = read_head(sock, b"")
        if got is None:
            return
        head, buf = got
        length = content_length(head)
        if length > 1_000_000:  # a first request that is already too large: never read it
            return
        while len(buf) < length:
            buf += sock.recv(65536)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(self.ANSWER), self.ANSWER))

    def close(self) -> None:
        super().close()
        for sock in self._held:
            sock.close()


@pytest.mark.parametrize("reused", [True, False], ids=["kept-alive connection", "new connection"])
def test_a_server_that_stops_reading_the_request_is_cut_off_by_the_connect_timeout(reused):
    """``connect_timeout=0.3`` (first byte 5 s, total 10 s): a request the server never reads ends in <= 0.5 s with a TimeoutError of phase "send", on a new or a kept-alive connection."""
    server = _DeafServer()
    big = "x" * 32_000_000  # more than the kernel buffers hold on both sides
    try:
        with client_for(server.base_url, connect_timeout=0.3, first_byte_timeout=5.0, timeout=10.0, retry=False) as client:
            if reused:
                assert client.chat_completion(request("small")).text == "ok"
            elapsed, err, _ = timed_call(client, False, big)
    finally:
        server.close()
    assert isinstance(err, TimeoutError) and err.phase == "send", repr(err)
    assert elapsed <= 0.3 + 0.2 * SLACK + 0.5  # + encoding 32 MB of JSON
