"""The chaos matrix's connection-shape dimension: every timing fault x every shape x streamed/not.

Each cell runs the full client stack (retry, breaker, transport, OpenAI wire format)
against a raw-socket server (``tests/transport/_server.py``, not the mock) serving one
connection shape, and checks the exact outcome: error class, timeout phase, attempts,
requests on the wire, and that every connection the client opened was closed by the
client (by the server's clock), so no socket of a timed-out attempt is left behind.
The cells of one fault run at once, each on its own server.
"""

from __future__ import annotations

import pytest

from ailib import RetryPolicy
from ailib.errors import StreamInterruptedError, TimeoutError
from tests.transport._server import SHAPES, TIMING_FAULTS, RawServer, tls_context
from tests.transport._support import SLACK, client_for, run_cells, timed_call

from ._support import eventually

RETRY = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
# Short phases so each cell costs little: drips are only caught by the 0.6 s total.
OPTIONS = dict(connect_timeout=0.5, first_byte_timeout=0.2, stream_idle_timeout=0.2, timeout=0.6)
# The timeout each fault tests; the others only guard against a hang and scale with SLACK (a
# loaded machine must not turn a stalled body's prompt headers into a first-byte timeout).
TESTED = {
    "stall_headers": "first_byte_timeout",
    "drip_headers": "first_byte_timeout",
    "stall_body": "stream_idle_timeout",
    "drip_body": "timeout",
}


def options_for(fault: str) -> dict[str, float]:
    return {name: value if name == TESTED[fault] else value * SLACK for name, value in OPTIONS.items()}


# fault -> (streamed?) -> (error class, timeout phase, attempts)
OUTCOMES = {
    "stall_headers": {False: (TimeoutError, "first_byte", 3), True: (TimeoutError, "first_byte", 3)},
    "drip_headers": {False: (TimeoutError, "first_byte", 3), True: (TimeoutError, "first_byte", 3)},
    "stall_body": {False: (TimeoutError, "idle", 3), True: (StreamInterruptedError, "idle", 1)},
    "drip_body": {False: (TimeoutError, "total", 3), True: (TimeoutError, "total", 3)},
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """(server SSLContext with a certificate made now, CA bundle path)."""
    return tls_context(str(tmp_path_factory.mktemp("tls")))


@pytest.mark.parametrize("fault", TIMING_FAULTS)
def test_timing_fault_on_every_connection_shape(fault, tls):
    """This timing fault ends in its exact outcome on every connection shape, streamed and not, and leaves no connection open."""
    ctx, ca = tls

    def cell(shape: str, stream: bool):
        def run():
            with RawServer(shape, fault, ssl_context=ctx) as server:
                with client_for(server.base_url, ca=ca, deadline=10.0, retry=RETRY, **options_for(fault)) as client:
                    elapsed, err, text = timed_call(client, stream)
                closed = eventually(lambda: all(c.closed_at is not None for c in server.connections), timeout=2.0)
                return elapsed, err, text, server.request_count, closed

        return run

    results = run_cells({f"{shape}/{'stream' if stream else 'plain'}": cell(shape, stream) for shape in SHAPES for stream in (False, True)})
    wrong = {}
    for name, result in results.items():
        stream = name.endswith("/stream")
        kind, phase, attempts = OUTCOMES[fault][stream]
        if not isinstance(result, tuple):
            wrong[name] = result
            continue
        elapsed, err, text, requests, closed = result
        cause = err.cause if isinstance(err, StreamInterruptedError) else err
        got = (type(err).__name__, getattr(cause, "phase", None), len(getattr(err, "attempts", ())), requests, closed)
        want = (kind.__name__, phase, attempts, attempts, True)
        if got != want or elapsed > 0.6 * attempts + 0.5 * SLACK:
            wrong[name] = (got, round(elapsed, 2))
    assert wrong == {}, f"expected {OUTCOMES[fault]}"
