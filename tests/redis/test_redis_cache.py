"""RedisCache on a real redis-server: values, expiry, namespaces, and a server that is down."""

from __future__ import annotations

import time

from ailib.cache import RedisCache, ResponseCache
from ailib.metrics import InMemoryMetrics


def test_values_round_trip_under_the_namespace(redis_server, rdb, namespace):
    """set/get store bytes under the namespace prefix; delete and clear remove only ours."""
    c = RedisCache(redis_server.url, namespace=namespace + ":")
    c.set("k", b"\x00v")
    rdb.set("unrelated", b"x")
    assert c.get("k") == b"\x00v" and rdb.get(namespace + ":k") == b"\x00v"
    c.set("k2", b"2")
    c.delete("k")
    assert c.get("k") is None
    c.clear()
    assert c.get("k2") is None and rdb.get("unrelated") == b"x"
    c.close()


def test_entries_expire_through_redis(redis_server, rdb, namespace):
    """A ttl becomes a Redis expiry on the key."""
    c = RedisCache(redis_server.url, namespace=namespace + ":", ttl=30)
    c.set("k", b"v")
    assert 29_000 <= rdb.pttl(namespace + ":k") <= 30_000
    c.set("short", b"v", ttl=0.05)
    deadline = time.monotonic() + 10
    while c.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.get("short") is None
    c.close()


def test_a_redis_server_that_is_down_is_a_miss(own_redis, namespace):
    """With the server killed, lookups are misses counted as cache.error, not failures."""
    c = RedisCache(own_redis.url, namespace=namespace + ":", socket_timeout=0.5)
    metrics = InMemoryMetrics()
    rc = ResponseCache(c, metrics=metrics)
    own_redis.kill()
    assert rc.lookup("k", provider="p") is None
    assert metrics.counter("cache.error") == 1 and metrics.counter("cache.miss") == 1
    c.close()


def test_a_second_identical_deterministic_request_is_answered_from_redis(redis_server, namespace):
    """Through with_cache('redis://...'), a repeat from another client never reaches the provider."""
    from ailib import AiClientBuilder, ChatCompletionRequest, Message
    from ailib.testing import MockProvider

    req = ChatCompletionRequest("auto", [Message.user("cached in redis")], temperature=0)
    cache = RedisCache(redis_server.url, namespace=namespace + ":")
    with MockProvider() as mock:
        with AiClientBuilder(mock.provider()).with_cache(cache).build() as a:
            first = a.chat_completion(req)
        with AiClientBuilder(mock.provider()).with_cache(redis_server.url).build() as b:
            b.chat_completion(req)  # another namespace (the default): a miss, then stored
            b.chat_completion(req)
        with AiClientBuilder(mock.provider()).with_cache(RedisCache(redis_server.url, namespace=namespace + ":")).build() as c:
            again = c.chat_completion(req)
    assert mock.request_count == 2
    assert again.text == first.text and again.attempts == ()
    cache.close()
