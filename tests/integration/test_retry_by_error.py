"""RetryPolicy(max_attempts_by_error=...): a count of attempts per error kind, matched by
the error's MRO, bounded by max_attempts; over a real loopback MockProvider."""

from __future__ import annotations

import pytest

from ailib import (
    AiClientBuilder,
    AiLibError,
    ChatCompletionRequest,
    ConfigurationError,
    Message,
    ProviderError,
    RateLimitExceeded,
    RetryPolicy,
)
from ailib.testing import FakeClock, Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def policy(**kw) -> RetryPolicy:
    return RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=None, retry_budget=None, **kw)


def client_for(mock: MockProvider, retry: RetryPolicy):
    return AiClientBuilder(mock.provider()).with_retry(retry).with_clock(FakeClock()).build()


def test_each_error_kind_gets_its_own_count():
    """{RateLimitExceeded: 6, ProviderError: 2}: five 429s then an answer succeed on attempt 6; 500s stop after 2 attempts."""
    retry = policy(max_attempts=6, max_attempts_by_error={RateLimitExceeded: 6, ProviderError: 2})
    with MockProvider() as mock, client_for(mock, retry) as client:
        mock.enqueue(*[Fault.http_status(429)] * 5)
        assert len(client.chat_completion(REQ).attempts) == 6
        mock.enqueue(*[Fault.http_status(500)] * 5)
        with pytest.raises(ProviderError) as info:
            client.chat_completion(REQ)
    assert len(info.value.attempts) == 2


def test_the_nearest_class_in_the_mro_wins_and_others_keep_max_attempts():
    """{AiLibError: 1, RateLimitExceeded: 3}: a 429 is tried 3 times, a 500 once (matched through AiLibError)."""
    retry = policy(max_attempts=4, max_attempts_by_error={AiLibError: 1, RateLimitExceeded: 3})
    with MockProvider() as mock, client_for(mock, retry) as client:
        mock.enqueue(*[Fault.http_status(429)] * 3)
        with pytest.raises(RateLimitExceeded) as info:
            client.chat_completion(REQ)
        assert len(info.value.attempts) == 3 and not mock.pending_faults()
        mock.enqueue(Fault.http_status(500))
        with pytest.raises(ProviderError) as info2:
            client.chat_completion(REQ)
    assert len(info2.value.attempts) == 1


def test_a_count_above_max_attempts_or_a_non_class_key_is_refused():
    """A count above max_attempts, a count of 0, or a key that is not an exception class raises ConfigurationError."""
    for bad in ({RateLimitExceeded: 6}, {RateLimitExceeded: 0}, {"RateLimitExceeded": 2}, [RateLimitExceeded]):
        with pytest.raises(ConfigurationError):
            RetryPolicy(max_attempts=3, max_attempts_by_error=bad)


def test_max_retries_override_brings_the_counts_down():
    """with_options(max_retries=1) on a policy with {RateLimitExceeded: 5} makes 2 attempts on 429s."""
    retry = policy(max_attempts=5, max_attempts_by_error={RateLimitExceeded: 5})
    with MockProvider() as mock, client_for(mock, retry) as client:
        mock.enqueue(*[Fault.http_status(429)] * 5)
        with pytest.raises(RateLimitExceeded) as info:
            client.with_options(max_retries=1).chat_completion(REQ)
    assert len(info.value.attempts) == 2
