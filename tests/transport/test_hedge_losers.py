"""Hedge losers on close-delimited (HTTP/1.0) responses are really cancelled.

The loser has already received its headers, so ``http.client`` has dropped ``conn.sock``:
only the attempt's own socket reference can stop it. The server's clock says when the
client closed each loser connection.
"""

from __future__ import annotations

import threading
import time

import pytest

from ailib import AiClientBuilder, ConnectionOptions, CustomProviderBuilder, HedgePolicy
from ailib.errors import ClientClosedError
from tests.chaos._support import eventually, socket_inodes

from ._server import RawServer
from ._support import SLACK, request

CALLS = 500


def _hedged_client(loser: RawServer, winner: RawServer, **options):
    def provider(server: RawServer, name: str):
        return CustomProviderBuilder(name).with_base_url(server.base_url).with_api_key("sk-raw-0").build_provider()

    return (
        AiClientBuilder(provider(loser, "loser"))
        .with_failover_chain([provider(winner, "winner")])
        .with_hedging(HedgePolicy(delay=0.0, max_extra_load=1.0))
        .with_options(ConnectionOptions(**options))
        .without_retry()
        .build()
    )


def _stuck_call(client, errors: list) -> threading.Thread:
    """A started thread making one call; the error it ends with goes to ``errors``."""

    def call() -> None:
        try:
            client.chat_completion(request("stuck"))
        except Exception as exc:  # the error the call ends with is what is checked
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread


@pytest.mark.alone
def test_500_hedged_calls_with_http10_losers_cancel_every_loser_within_100_ms_and_leak_nothing():
    """500 races whose losers stall mid-body on HTTP/1.0: every loser closed <= 100 ms after its winner answered; threads and sockets end where they started (+-2)."""
    with RawServer("http10", "stall_body") as loser, RawServer("length", "slow_ok", slow_seconds=0.005) as winner:
        threads_before = threading.active_count()
        sockets_before = len(socket_inodes())
        client = _hedged_client(loser, winner)
        for i in range(CALLS):
            assert client.chat_completion(request(f"q{i}")).text == f"echo:q{i}"
        start = time.monotonic()
        client.close()
        closed_in = time.monotonic() - start
        assert eventually(lambda: all(c.closed_at is not None for c in loser.connections), timeout=5.0)
        answered = sorted(winner.answered_at)
        late = []
        for conn in loser.connections:
            before = [t for t in answered if t <= conn.closed_at]
            gap = conn.closed_at - before[-1] if before else float("inf")
            if gap > 0.1 * SLACK:
                late.append(round(gap, 3))
        assert loser.request_count >= CALLS * 0.9, "the losers were not raced"
        assert late == []
        assert closed_in < 1.0 * SLACK
        assert eventually(lambda: abs(threading.active_count() - threads_before) <= 2, timeout=5.0), (
            threading.active_count(),
            threads_before,
        )
        assert eventually(lambda: abs(len(socket_inodes()) - sockets_before) <= 2, timeout=5.0), (len(socket_inodes()), sockets_before)


def test_close_returns_within_1_s_while_hedged_calls_are_stuck():
    """``close()`` returns in < 1 s while hedged calls are stuck on two stalled HTTP/1.0 servers, and those calls end too."""
    with RawServer("http10", "stall_body") as a, RawServer("http10", "stall_headers") as b:
        client = _hedged_client(a, b)
        errors: list = []
        callers = [_stuck_call(client, errors) for _ in range(4)]
        assert eventually(lambda: len(a.stalled_at) == 4 and b.request_count == 4, timeout=10.0)
        start = time.monotonic()
        client.close()
        assert time.monotonic() - start < 1.0 * SLACK
        for t in callers:
            t.join(5.0 * SLACK)
        assert not any(t.is_alive() for t in callers)
        assert len(errors) == 4


def test_close_ends_a_hedged_call_whose_hedge_has_not_fired():
    """A hedged call whose primary runs alone (its 60 s hedge delay far off) on a stalled
    server ends when the client closes: ``close()`` returns in < 1 s and the call raises the
    ``ClientClosedError`` (not retryable), not the stall's timeout."""
    with RawServer("http10", "stall_headers") as stalled:
        client = (
            AiClientBuilder(CustomProviderBuilder("stalled").with_base_url(stalled.base_url).with_api_key("sk-raw-0").build_provider())
            .with_hedging(HedgePolicy(delay=60.0))
            .without_retry()
            .build()
        )
        errors: list = []
        caller = _stuck_call(client, errors)
        assert eventually(lambda: stalled.request_count == 1, timeout=10.0)
        start = time.monotonic()
        client.close()
        assert time.monotonic() - start < 1.0 * SLACK
        caller.join(5.0 * SLACK)
        assert not caller.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], ClientClosedError) and not errors[0].is_retryable(), errors
        assert "closed" in str(errors[0])
