"""Two applications on one Redis: state is shared only by clients of the same backend, key and namespace."""

from __future__ import annotations

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    CircuitBreakerPolicy,
    CircuitOpenError,
    LocalRateLimitError,
    Message,
    ProviderError,
    RateLimitPolicy,
)
from ailib.testing import Fault, MockProvider

REQ = ChatCompletionRequest("auto", [Message.user("hi")])
BREAKER = CircuitBreakerPolicy(failure_threshold=3, recovery_timeout=60.0)
ONE_A_SECOND = RateLimitPolicy(requests_per_minute=60, max_wait=0)


def app(mock: MockProvider, store, *, key: str = "sk-app-key-0123456789", breaker=BREAKER, limit=None):
    """A client of ``mock`` as provider "backend" (every app names its endpoint alike)."""
    builder = AiClientBuilder(mock.provider("backend", api_key=key)).without_retry().with_circuit_breaker(breaker).with_state_store(store)
    if limit is not None:
        builder = builder.with_rate_limit(limit)
    return builder.build()


@pytest.fixture
def two_backends():
    with MockProvider(reply="from backend A") as a, MockProvider(reply="from backend B") as b:
        yield a, b


def test_app_a_failures_open_no_breaker_of_app_b(two_backends, store_factory):
    """App A's three 500s open A's breaker; app B (same endpoint name and namespace, another backend) still gets answers."""
    mock_a, mock_b = two_backends
    with app(mock_a, store_factory()) as a, app(mock_b, store_factory()) as b:
        mock_a.enqueue(*(Fault.http_status(500) for _ in range(3)))
        for _ in range(3):
            with pytest.raises(ProviderError):
                a.chat_completion(REQ)
        with pytest.raises(CircuitOpenError):
            a.chat_completion(REQ)
        assert [b.chat_completion(REQ).text for _ in range(3)] == ["from backend B"] * 3
    assert (mock_a.request_count, mock_b.request_count) == (3, 3)


def test_app_a_calls_use_none_of_app_b_quota(two_backends, store_factory):
    """With one request a second each, app A's call leaves app B's quota whole: B's call right after is admitted at once."""
    mock_a, mock_b = two_backends
    with app(mock_a, store_factory(), limit=ONE_A_SECOND) as a, app(mock_b, store_factory(), limit=ONE_A_SECOND) as b:
        assert a.chat_completion(REQ).text == "from backend A"
        assert b.chat_completion(REQ).text == "from backend B"
        with pytest.raises(LocalRateLimitError):  # each app's own quota is spent: the limiter works
            b.chat_completion(REQ)


def test_the_same_backend_with_another_key_shares_nothing(mock, store_factory):
    """Two apps of one backend with different keys (two accounts, two provider quotas): A's call leaves B's quota whole."""
    with (
        app(mock, store_factory(), limit=ONE_A_SECOND) as a,
        app(mock, store_factory(), key="sk-app-other-987654321", limit=ONE_A_SECOND) as b,
    ):
        a.chat_completion(REQ)
        b.chat_completion(REQ)


def test_the_same_backend_and_key_share_under_one_namespace_and_not_across_two(mock, store_factory, redis_server):
    """Same backend and key: one namespace shares the quota (B is refused after A's call); another namespace does not."""
    from ailib.state import RedisStateStore

    other = RedisStateStore(redis_server.url, namespace=store_factory().namespace + "-other")
    try:
        with (
            app(mock, store_factory(), limit=ONE_A_SECOND) as a,
            app(mock, store_factory(), limit=ONE_A_SECOND) as b,
            app(mock, other, limit=ONE_A_SECOND) as c,
        ):
            a.chat_completion(REQ)
            with pytest.raises(LocalRateLimitError):
                b.chat_completion(REQ)
            c.chat_completion(REQ)
    finally:
        other.close()


def test_scope_by_endpoint_false_shares_breakers_across_backends_on_purpose(two_backends, store_factory):
    """RedisStateStore(scope_by_endpoint=False) keys by endpoint name only: A's failures open the breaker B sees."""
    mock_a, mock_b = two_backends
    with app(mock_a, store_factory(scope_by_endpoint=False)) as a, app(mock_b, store_factory(scope_by_endpoint=False)) as b:
        mock_a.enqueue(*(Fault.http_status(500) for _ in range(3)))
        for _ in range(3):
            with pytest.raises(ProviderError):
                a.chat_completion(REQ)
        with pytest.raises(CircuitOpenError):
            b.chat_completion(REQ)
    assert mock_b.request_count == 0


def test_redis_keys_hold_no_api_key(two_backends, store_factory, rdb, namespace):
    """Every key the apps wrote names the namespace, kind, a 16-digit scope and the endpoint, never the API key."""
    mock_a, mock_b = two_backends
    with app(mock_a, store_factory(), limit=ONE_A_SECOND) as a, app(mock_b, store_factory(), limit=ONE_A_SECOND) as b:
        a.chat_completion(REQ)
        b.chat_completion(REQ)
    keys = sorted(k.decode() for k in rdb.keys(f"{namespace}:*"))
    limiter_keys = [k for k in keys if k.split(":")[1] == "limiter"]
    assert len(limiter_keys) == 2 and all(len(k.split(":")[2]) == 16 and k.endswith(":backend") for k in limiter_keys)
    assert not any("sk-app-key" in k or "0123456789" in k for k in keys)
    for k in keys:
        assert b"0123456789" not in b"".join(v for kv in rdb.hgetall(k).items() for v in kv)


def test_two_gateways_sharing_a_redis_cache_each_get_their_own_answer(two_backends, redis_server, rdb, namespace):
    """Clients of provider "backend" at two base URLs on one redis:// cache: each answer comes from its own backend, no key stored."""
    from ailib.cache import RedisCache

    mock_a, mock_b = two_backends
    det = ChatCompletionRequest("auto", [Message.user("what is 2+2?")], temperature=0)
    cache = RedisCache(redis_server.url, namespace=namespace + ":cache:")
    clients = [
        AiClientBuilder(m.provider("backend", api_key="sk-app-key-0123456789")).without_retry().with_cache(cache).build()
        for m in (mock_a, mock_b)
    ]
    with clients[0] as a, clients[1] as b:
        texts = [c.chat_completion(det).text for c in (a, b, a, b)]
    assert texts == ["from backend A", "from backend B"] * 2
    assert (mock_a.request_count, mock_b.request_count) == (1, 1)
    stored = rdb.keys(f"{namespace}:cache:*")
    assert len(stored) == 2 and not any(b"0123456789" in (k + rdb.get(k)) for k in stored)
    cache.close()
