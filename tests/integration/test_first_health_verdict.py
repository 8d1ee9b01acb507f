"""With health checks on, the first call waits for a first health verdict (bounded by the
probe timeout) instead of treating an endpoint never probed as healthy."""

from __future__ import annotations

import time

from ailib import AiClientBuilder, ChatCompletionRequest, HealthCheck, Message
from ailib.testing import MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def test_the_first_call_skips_an_endpoint_whose_first_probe_failed():
    """A failover chain whose primary refuses connections: the first call's only attempt goes to the healthy second endpoint."""
    dead = MockProvider(name="dead")
    dead_provider = dead.provider()
    dead.close()
    with MockProvider(name="alive") as alive:
        builder = AiClientBuilder(dead_provider).with_failover_chain([alive.provider()]).with_health_check(HealthCheck(timeout=2.0))
        with builder.build() as client:
            resp = client.chat_completion(REQ)
    assert resp.provider == "alive" and [a.provider for a in resp.attempts] == ["alive"]


def test_the_wait_for_a_first_verdict_is_bounded_by_the_probe_timeout():
    """A primary whose models listing stalls for 3 s delays the first call by no more than the 0.3 s probe timeout (plus slack)."""

    def stall(owner, ex, rec, match):
        time.sleep(3.0)
        ex.send_json(200, {"data": []})

    with MockProvider(name="slow") as slow, MockProvider(name="alive") as alive:
        slow.add_route("GET", r"/v1/models", stall)
        builder = AiClientBuilder(slow.provider()).with_failover_chain([alive.provider()]).with_health_check(HealthCheck(timeout=0.3))
        with builder.build() as client:
            start = time.monotonic()
            client.chat_completion(REQ)
            took = time.monotonic() - start
    assert took < 1.0
