"""Retries, Retry-After, budgets and deadlines over real loopback HTTP."""

from __future__ import annotations

import time

import pytest

from ailib import (
    AiClientBuilder,
    AuthenticationError,
    CustomProviderBuilder,
    DeadlineExceededError,
    InvalidRequestError,
    ProviderError,
    RateLimitExceeded,
    RetryPolicy,
    StreamInterruptedError,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import FakeClock, Fault
from tests._timing import SLACK


def test_429_retry_after_1_waits_at_least_a_second(mock, req):
    """A 429 with Retry-After: 1 then success returns after >= 1 s, with both attempts recorded."""
    mock.enqueue(Fault.http_status(429, retry_after="1"))
    with AiClientBuilder(mock.provider()).build() as client:
        start = time.monotonic()
        resp = client.chat_completion(req)
        elapsed = time.monotonic() - start
    assert elapsed >= 1.0
    assert [a.outcome for a in resp.attempts] == ["error", "ok"]
    assert isinstance(resp.attempts[0].error, RateLimitExceeded) and resp.attempts[0].wait_after >= 1.0


def test_500_500_200_succeeds_on_the_third_attempt(mock, req):
    """500, 500, 200 succeeds with exactly three wire attempts."""
    mock.enqueue(Fault.http_status(500), Fault.http_status(500))
    with AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.01)).build() as client:
        resp = client.chat_completion(req)
    assert mock.request_count == 3 and [a.outcome for a in resp.attempts] == ["error", "error", "ok"]


@pytest.mark.parametrize("status, error", [(400, InvalidRequestError), (401, AuthenticationError)])
def test_client_errors_are_tried_exactly_once(mock, req, status, error):
    """400 and 401 reach the server exactly once."""
    mock.enqueue(Fault.http_status(status))
    with AiClientBuilder(mock.provider()).build() as client, pytest.raises(error) as info:
        client.chat_completion(req)
    assert mock.request_count == 1 and len(info.value.attempts) == 1


@pytest.mark.parametrize("streamed", [False, True])
def test_two_second_deadline_against_a_stall(mock, req, streamed):
    """With a 2 s deadline against a stalling server, DeadlineExceededError comes in under 2.2 s."""
    mock.enqueue(*[Fault.stall()] * 5)
    with AiClientBuilder(mock.provider()).with_deadline(2.0).build() as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            client.chat_completion_stream(req) if streamed else client.chat_completion(req)
        elapsed = time.monotonic() - start
    assert 1.95 <= elapsed < 2.0 + 0.2 * SLACK
    assert info.value.attempts and info.value.attempts[-1].outcome == "error"


def test_deadline_cuts_backoff_short(mock, req):
    """A backoff that would pass the deadline is not slept: the last error comes at once, not at the deadline."""
    mock.enqueue(Fault.http_status(503, retry_after="30"))
    with AiClientBuilder(mock.provider()).with_deadline(10.0).build() as client:
        start = time.monotonic()
        with pytest.raises(ProviderError):
            client.chat_completion(req)
    assert time.monotonic() - start < 0.5 * SLACK and mock.request_count == 1


def test_retry_after_above_max_fails_fast(mock, req):
    """A Retry-After above max_retry_after fails at once instead of sleeping."""
    mock.enqueue(Fault.http_status(429, retry_after="120"))
    with AiClientBuilder(mock.provider()).with_retry(RetryPolicy(max_retry_after=60)).build() as client:
        start = time.monotonic()
        with pytest.raises(RateLimitExceeded) as info:
            client.chat_completion(req)
    assert time.monotonic() - start < 0.5 * SLACK and info.value.retry_after == 120 and mock.request_count == 1


@pytest.mark.parametrize("headers", [{"retry-after-ms": "300"}, {"Retry-After": "0.3"}])
def test_retry_after_variants_are_honoured(mock, req, headers):
    """retry-after-ms and fractional Retry-After both set the wait."""
    mock.enqueue(Fault.http_status(429, headers=headers))
    clock = FakeClock()
    with AiClientBuilder(mock.provider()).with_clock(clock).build() as client:
        client.chat_completion(req)
    assert clock.sleeps == [pytest.approx(0.3)]


def test_http_date_retry_after(mock, req):
    """An HTTP-date Retry-After is converted against the clock's wall time."""
    clock = FakeClock(wall_start=1_700_000_000.0)
    mock.enqueue(Fault.http_status(503, headers={"Retry-After": "Tue, 14 Nov 2023 22:13:24 GMT"}))
    with AiClientBuilder(mock.provider()).with_clock(clock).build() as client:
        client.chat_completion(req)
    assert clock.sleeps == [pytest.approx(4.0)]


def test_x_should_retry_false_is_obeyed(mock, req):
    """x-should-retry: false on a 503 stops retrying."""
    mock.enqueue(Fault.http_status(503, headers={"x-should-retry": "false"}))
    with AiClientBuilder(mock.provider()).build() as client, pytest.raises(ProviderError):
        client.chat_completion(req)
    assert mock.request_count == 1


def test_backoff_sleeps_go_to_the_injected_clock(mock, req):
    """On FakeClock no real backoff happens; the recorded waits equal the attempts' wait_after."""
    mock.enqueue(Fault.http_status(500), Fault.http_status(502))
    clock = FakeClock()
    with AiClientBuilder(mock.provider()).with_clock(clock).with_retry(RetryPolicy(initial_delay=2.0, max_delay=8)).build() as client:
        start = time.monotonic()
        resp = client.chat_completion(req)
    assert time.monotonic() - start < 1.0 * SLACK
    assert clock.sleeps == [a.wait_after for a in resp.attempts[:2]]
    assert 0 <= clock.sleeps[0] <= 2.0 and 0 <= clock.sleeps[1] <= 4.0


def test_retry_budget_fails_fast_and_counts(mock, req):
    """Once an endpoint's retry budget is spent, calls fail after one attempt and count it."""
    metrics = InMemoryMetrics()
    mock.enqueue(*[Fault.http_status(503)] * 200)
    policy = RetryPolicy(max_attempts=3, initial_delay=0, retry_budget=0.0)
    builder = AiClientBuilder(mock.provider()).with_retry(policy).with_metrics(metrics).with_clock(FakeClock())
    with builder.without_circuit_breaker().build() as client:
        for _ in range(20):
            with pytest.raises(ProviderError):
                client.chat_completion(req)
    # the floor (10 retries per window) is spent, then every call is a single attempt
    assert mock.request_count == 20 + 10
    assert metrics.counter("retry.budget_exhausted") == 15 and metrics.counter("retry.attempt") == 10


def test_stream_error_event_before_content_is_retried(mock, req):
    """An error event inside a 200 stream before any content is an ordinary failed attempt."""
    mock.enqueue(Fault.error_event(after=0))
    with AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.01)).build() as client:
        with client.chat_completion_stream(req) as stream:
            text = "".join(c.delta_text for c in stream)
    assert text == "Hello from MockProvider" and [a.outcome for a in stream.attempts] == ["error", "ok"]
    assert isinstance(stream.attempts[0].error, ProviderError)


def test_stream_error_event_after_content_is_an_interruption(mock, req):
    """An error event after content raises StreamInterruptedError and is not retried."""
    mock.enqueue(Fault.error_event(after=1))
    with AiClientBuilder(mock.provider()).build() as client:
        stream = client.chat_completion_stream(req)
        with pytest.raises(StreamInterruptedError) as info:
            list(stream)
    assert info.value.partial_text and isinstance(info.value.cause, ProviderError) and mock.request_count == 1


def test_reset_mid_stream_before_content_is_retried(mock, req):
    """A reset after the stream opened but before content is retried."""
    mock.enqueue(Fault.reset_stream(after=0))
    with AiClientBuilder(mock.provider()).with_retry(RetryPolicy(initial_delay=0.01)).build() as client:
        with client.chat_completion_stream(req) as stream:
            assert "".join(c.delta_text for c in stream) == "Hello from MockProvider"
    assert mock.request_count == 2


def test_idempotency_key_is_reused_across_retries(mock, req):
    """One key per call, the same on its retries; a new call gets a new key."""
    provider = (
        CustomProviderBuilder("gw")
        .with_base_url(mock.base_url)
        .with_default_chat_model("m")
        .with_idempotency_header("Idempotency-Key")
        .build_provider()
    )
    mock.enqueue(Fault.http_status(500), Fault.http_status(500))
    with AiClientBuilder(provider).with_retry(RetryPolicy(initial_delay=0.01)).build() as client:
        client.chat_completion(req)
        client.chat_completion(req)
    keys = [r.headers.get("idempotency-key") for r in mock.chat_requests]
    assert len(keys) == 4 and keys[0] == keys[1] == keys[2] != keys[3] and all(keys)


def test_providers_without_idempotency_support_get_no_key(client, mock, req):
    """No idempotency header is invented for providers that do not declare one."""
    client.chat_completion(req)
    assert "idempotency-key" not in mock.chat_requests[0].headers
