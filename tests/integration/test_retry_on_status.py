"""RetryPolicy(retry_on_status=...): which HTTP statuses are retried, over loopback HTTP."""

from __future__ import annotations

import pytest

from ailib import AiClientBuilder, ConfigurationError, InvalidRequestError, NetworkError, ProviderError, RetryPolicy
from ailib.testing import FakeClock, Fault


def _client(mock, policy):
    return AiClientBuilder(mock.provider()).with_retry(policy).with_clock(FakeClock()).without_circuit_breaker().build()


def test_a_listed_409_is_retried(mock, req):
    """With retry_on_status={409}, a 409 then 200 succeeds on the second attempt."""
    mock.enqueue(Fault.http_status(409))
    with _client(mock, RetryPolicy(retry_on_status={409}, initial_delay=0.01)) as client:
        resp = client.chat_completion(req)
    assert mock.request_count == 2 and [a.outcome for a in resp.attempts] == ["error", "ok"]


def test_an_unlisted_500_is_not_retried(mock, req):
    """With retry_on_status={409}, a 500 reaches the server exactly once."""
    mock.enqueue(Fault.http_status(500), Fault.http_status(500))
    with _client(mock, RetryPolicy(retry_on_status={409})) as client, pytest.raises(ProviderError) as info:
        client.chat_completion(req)
    assert mock.request_count == 1 and info.value.status_code == 500


def test_a_listed_400_is_retried_though_its_class_is_not(mock, req):
    """retry_on_status={400} retries an InvalidRequestError, which by default is tried once."""
    mock.enqueue(*[Fault.http_status(400)] * 3)
    with _client(mock, RetryPolicy(retry_on_status=[400], max_attempts=3)) as client, pytest.raises(InvalidRequestError):
        client.chat_completion(req)
    assert mock.request_count == 3


def test_errors_without_a_status_keep_the_class_rule(mock, req):
    """With retry_on_status={409}, a connection reset (no status) is still retried."""
    mock.enqueue(Fault.reset())
    with _client(mock, RetryPolicy(retry_on_status={409}, initial_delay=0.01)) as client:
        resp = client.chat_completion(req)
    assert mock.request_count == 2 and isinstance(resp.attempts[0].error, NetworkError)


def test_default_is_unchanged(mock, req):
    """By default retry_on_status is None: a 500 is retried and a 400 is not."""
    assert RetryPolicy().retry_on_status is None
    mock.enqueue(Fault.http_status(500))
    with _client(mock, RetryPolicy(initial_delay=0.01)) as client:
        assert client.chat_completion(req).attempts[0].error.status_code == 500
        mock.enqueue(Fault.http_status(400))
        with pytest.raises(InvalidRequestError):
            client.chat_completion(req)
    assert mock.request_count == 3


@pytest.mark.parametrize("bad", [set(), {99}, {600}, {"429"}, {True}, 429, "429"])
def test_invalid_status_sets_are_rejected(bad):
    """retry_on_status must be None or a non-empty collection of ints 100-599."""
    with pytest.raises(ConfigurationError, match="RetryPolicy.retry_on_status"):
        RetryPolicy(retry_on_status=bad)


def test_status_set_is_stored_frozen():
    """A list of codes is stored as a frozenset (the policy stays hashable)."""
    policy = RetryPolicy(retry_on_status=[429, 503, 429])
    assert policy.retry_on_status == frozenset({429, 503}) and hash(policy) == hash(RetryPolicy(retry_on_status={503, 429}))
