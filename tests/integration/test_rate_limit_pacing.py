"""Throughput at a provider's limit, scaled down: the benchmark's workload shape against a loopback
server enforcing requests and tokens per minute one second's share at a time (bench/_limit_server.py),
ten times faster than 600 RPM / 60,000 TPM. The full-size run is bench/bench_rate_limits.py."""

from __future__ import annotations

import threading
import time

import pytest

from ailib import (
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    CustomProviderBuilder,
    Message,
    RateLimitPolicy,
    RetryPolicy,
)
from ailib.testing import Fault, MockProvider
from bench._limit_server import LimitServer, cost_of, workload
from bench.bench_rate_limits import run_batch

RPM, TPM = 6000, 600_000  # 100 requests and 10,000 tokens a second
REQUESTS, TOKENS = 400, 50_178  # the 125.4 tokens a request: a 5.0 s minimum


def test_the_workload_adds_up_to_the_tokens_asked_for():
    """workload(1000, 125445) is 1,000 request bodies whose costs at the server sum to exactly 125,445 tokens."""
    bodies = workload(1000, 125_445)
    assert len(bodies) == 1000 and sum(cost_of(b) for b in bodies) == 125_445


def test_the_server_enforces_one_seconds_share():
    """Sent as fast as possible (a non-adaptive client limit far above the server's, so nothing
    is learned), the server admits one second's share of tokens at once and answers the rest
    429 with OpenAI's rate_limit_exceeded body."""
    with LimitServer(6000, 6000) as server:  # 100 tokens a second
        provider = CustomProviderBuilder("limited").with_base_url(server.url).with_api_key("sk-test-0000000000").build_provider()
        unpaced = RateLimitPolicy(requests_per_second=1000, adaptive=False)
        client = AiClientBuilder(provider).without_retry().with_rate_limit(unpaced).build()
        errors = []
        for _ in range(5):
            try:
                client.chat_completion(ChatCompletionRequest("gpt-4o-mini", [Message.user("x" * 80)], max_tokens=20))
            except AiLibError as err:
                errors.append(err)
        client.close()
    assert server.ok == 2 and server.refused == 3  # 40 tokens each: two fit in 100
    assert all(type(e).__name__ == "RateLimitExceeded" and "tokens per min (TPM)" in str(e) for e in errors)


@pytest.mark.alone
def test_with_no_limits_configured_a_batch_paces_itself_and_none_fails():
    """A client nobody configured learns the server's limits from its headers: all 400 calls
    from 16 threads succeed, close to the minimum wall time, with few 429s (without learning,
    hundreds of 429s and failed calls)."""
    r = run_batch(requests=REQUESTS, tokens=TOKENS, rpm=RPM, tpm=TPM, concurrency=16, latency=0.02, policy=None)
    assert r["failed"] == 0 and r["answered"] == REQUESTS
    assert r["ratio"] <= 1.5, r
    assert r["http_429"] <= 25, r


@pytest.mark.alone
def test_with_limits_configured_a_batch_runs_at_the_limit_with_almost_no_429s():
    """With RateLimitPolicy(rpm, tpm) at the server's limits, the batch finishes near the minimum
    and the client's buckets (one second's share) draw at most a handful of 429s."""
    policy = RateLimitPolicy(requests_per_minute=RPM, tokens_per_minute=TPM)
    r = run_batch(requests=REQUESTS, tokens=TOKENS, rpm=RPM, tpm=TPM, concurrency=16, latency=0.02, policy=policy)
    assert r["failed"] == 0 and r["answered"] == REQUESTS
    assert r["ratio"] <= 1.3, r
    assert r["http_429"] <= 5, r


def test_a_first_429_paces_every_thread_of_a_default_client():
    """A 429 reporting 120 requests a minute (x-ratelimit-limit-requests, remaining 0, reset
    500ms) gives an unconfigured client a limiter shared by all its threads: the next 6 calls
    from 6 threads reach the server at 2 a second, not at once."""
    headers = {"x-ratelimit-limit-requests": "120", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "500ms"}
    first = threading.Event()

    def script(i, rec):
        if not first.is_set():
            first.set()
            return Fault.rate_limited(0.5, headers=headers)
        return Fault.ok("fine")

    with MockProvider(script=script) as mock:
        client = AiClientBuilder(mock.provider()).with_retry(RetryPolicy(max_attempts=1)).build()
        with pytest.raises(AiLibError):
            client.chat_completion(ChatCompletionRequest("gpt-4o-mini", [Message.user("hi")]))
        start = time.monotonic()
        threads = [
            threading.Thread(target=client.chat_completion, args=(ChatCompletionRequest("gpt-4o-mini", [Message.user(f"q{i}")]),))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client.close()
        times = sorted(r.received_at for r in mock.chat_requests[1:])
    assert len(times) == 6
    # a 0.5 s hold, a burst of 2 (one second's share), then one every 0.5 s: the last at about 2.5 s
    assert times[-1] - start >= 2.0
