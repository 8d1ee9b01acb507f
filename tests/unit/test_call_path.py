"""The call path through the transport seam (``with_transport``): no sockets, time on FakeClock."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    CircuitOpenError,
    ConfigurationError,
    CustomProviderBuilder,
    HealthCheck,
    HedgePolicy,
    InvalidRequestError,
    Message,
    ProviderError,
    RetryPolicy,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import FakeClock
from ailib.transport import HttpResponse

BASE = "http://gw.invalid/v1"
REQ = ChatCompletionRequest("auto", [Message.user("hi")])
OK = {
    "id": "c1",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
MODELS = {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}


def ok(body: Any = OK, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


class Seam:
    """A transport with the one method the call path uses; ``handler(request, handle, n)``
    answers the n-th request (counted from 0). Records what it was sent and when."""

    def __init__(self, handler: Callable[..., HttpResponse], clock: Any = None) -> None:
        self.handler = handler
        self.clock = clock
        self.sent: list = []  # (method, url, fake-clock instant, thread name)
        self.lock = threading.Lock()

    def send(self, request: Any, deadlines: Any, handle: Any) -> HttpResponse:
        with self.lock:
            n = len(self.sent)
            self.sent.append((request.method, request.url, self.clock.monotonic() if self.clock else None, threading.current_thread().name))
        return self.handler(request, handle, n)


def provider(name: str = "gw") -> Any:
    return CustomProviderBuilder(name).with_base_url(BASE).with_api_key("sk-seam-0123456789").with_default_chat_model("m").build_provider()


def block_until_cancelled(handle: Any) -> HttpResponse:
    """Stand in for a slow server: hold the attempt until it is cancelled (bounded, to catch hangs)."""
    end = time.monotonic() + 10
    while not handle.cancelled and time.monotonic() < end:
        time.sleep(0.001)
    assert handle.cancelled, "the losing attempt was never cancelled"
    raise handle.reason


def test_hedge_fires_when_the_delay_passes_on_fake_time():
    """On FakeClock, the hedge is sent once the delay has passed; the blocked primary is cancelled and recorded so."""
    clock = FakeClock()
    start = clock.monotonic()

    def handler(request: Any, handle: Any, n: int) -> HttpResponse:
        if n == 0:
            clock.advance(0.6)  # the primary takes longer than the 0.5 s delay...
            return block_until_cancelled(handle)  # ...and would take forever
        return ok()

    seam = Seam(handler, clock)
    metrics = InMemoryMetrics()
    builder = AiClientBuilder(provider()).with_transport(seam).with_clock(clock).with_metrics(metrics)
    with builder.with_hedging(HedgePolicy(delay=0.5)).build() as client:
        resp = client.chat_completion(REQ)
    assert resp.text == "hello"
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("cancelled", True), ("ok", True)]
    assert seam.sent[1][2] - start >= 0.5  # the hedge left only after the delay, in fake time
    assert metrics.counter("hedge.fired") == 1 and metrics.counter("hedge.won", attempt="hedge1") == 1


def test_no_hedge_while_the_primary_answers_within_the_delay_on_fake_time():
    """A primary answering within the delay (fake time) is the only request, even after time moves far past the delay."""
    clock = FakeClock()

    def handler(request: Any, handle: Any, n: int) -> HttpResponse:
        clock.advance(0.4)
        return ok()

    seam = Seam(handler, clock)
    metrics = InMemoryMetrics()
    builder = AiClientBuilder(provider()).with_transport(seam).with_clock(clock).with_metrics(metrics)
    with builder.with_hedging(HedgePolicy(delay=0.5)).build() as client:
        resp = client.chat_completion(REQ)
        clock.advance(60)
        time.sleep(0.05)  # the timer re-reads the fake clock every 2 ms: a stale hedge would fire now
        assert len(seam.sent) == 1
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("ok", False)]
    assert metrics.counter("hedge.fired") == 0 and metrics.counter("hedge.won", attempt="primary") == 1


def test_the_primary_of_a_hedged_call_runs_on_the_callers_thread():
    """With no hedge fired, the attempt runs on the calling thread and the client starts no executor thread."""
    seam = Seam(lambda request, handle, n: ok())
    with AiClientBuilder(provider()).with_transport(seam).with_hedging(HedgePolicy(delay=5.0)).build() as client:
        for _ in range(20):
            client.chat_completion(REQ)
        assert {t for (_, _, _, t) in seam.sent} == {threading.current_thread().name}
        assert [t for t in threading.enumerate() if t.name.startswith("ailib-hedge_")] == []


def test_list_models_goes_through_retry_and_the_breaker():
    """list_models retries a 503 (counted and recorded like chat) and is refused by an open circuit without a request."""
    clock = FakeClock()

    def handler(request: Any, handle: Any, n: int) -> HttpResponse:
        assert request.method == "GET" and request.url == BASE + "/models"
        return ok({"error": {"message": "busy"}}, 503) if n == 0 else ok(MODELS)

    seam = Seam(handler)
    metrics = InMemoryMetrics()
    builder = AiClientBuilder(provider()).with_transport(seam).with_clock(clock).with_metrics(metrics)
    with builder.with_retry(RetryPolicy(max_attempts=2, jitter=None)).build() as client:
        assert client.list_models() == ["m1", "m2"]
        assert len(seam.sent) == 2 and metrics.counter("retry.attempt") == 1
        client.circuit_breaker().isolate()
        with pytest.raises(CircuitOpenError) as info:
            client.list_models()
        assert len(seam.sent) == 2 and [a.outcome for a in info.value.attempts] == ["skipped"]


def test_list_models_raises_the_providers_own_error():
    """A models listing that keeps failing raises the classified error with its attempts."""
    seam = Seam(lambda request, handle, n: ok({"error": {"message": "down"}}, 500))
    with AiClientBuilder(provider()).with_transport(seam).with_clock(FakeClock()).with_retry(RetryPolicy(max_attempts=3)).build() as client:
        with pytest.raises(ProviderError) as info:
            client.list_models()
    assert len(info.value.attempts) == 3 and len(seam.sent) == 3


@pytest.mark.parametrize("deadline", ["5", -1, 0, float("nan"), True, [1]])
def test_a_wrong_deadline_is_refused_before_anything_is_sent(deadline):
    """A per-call deadline that is not a positive number raises InvalidRequestError and sends nothing."""
    seam = Seam(lambda request, handle, n: ok())
    with AiClientBuilder(provider()).with_transport(seam).build() as client:
        with pytest.raises(InvalidRequestError, match="deadline"):
            client.chat_completion(REQ, deadline=deadline)
        with pytest.raises(InvalidRequestError, match="deadline"):
            client.chat_completion_stream(REQ, deadline=deadline)
    assert seam.sent == []


def test_wrong_argument_types_of_chat_are_refused_before_anything_is_sent():
    """chat() with a non-str text or model raises InvalidRequestError and sends nothing."""
    seam = Seam(lambda request, handle, n: ok())
    with AiClientBuilder(provider()).with_transport(seam).build() as client:
        with pytest.raises(InvalidRequestError):
            client.chat(None)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            client.chat("hi", model=3)  # type: ignore[arg-type]
    assert seam.sent == []


def test_with_transport_needs_a_send_method():
    """with_transport rejects an object without send()."""
    with pytest.raises(ConfigurationError, match="send"):
        AiClientBuilder(provider()).with_transport(object())


def test_a_slow_health_probe_never_delays_a_call():
    """A health probe runs off the caller's thread: calls go on while the probe is held."""
    release = threading.Event()

    def handler(request: Any, handle: Any, n: int) -> HttpResponse:
        if request.method == "GET":
            release.wait(10)  # the probe hangs until the test lets it go
            return ok(MODELS)
        return ok()

    seam = Seam(handler)
    builder = AiClientBuilder(provider("a")).with_failover_chain([provider("b")]).with_transport(seam)
    with builder.with_health_check(HealthCheck(interval=30)).build() as client:
        for _ in range(3):
            assert client.chat_completion(REQ).text == "hello"
        probes = [s for s in seam.sent if s[0] == "GET"]
        assert probes and all(t.startswith("ailib-health") for (_, _, _, t) in probes)
        release.set()
