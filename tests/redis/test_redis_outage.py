"""RedisStateStore when Redis is down: local state, one warning, short timeouts, resuming."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from ailib import AiClientBuilder, LocalRateLimitError, RateLimitPolicy
from ailib.state import RedisStateStore
from tests._timing import SLACK

from .conftest import _free_port, scope_of


def redis_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ailib" and r.levelno == logging.WARNING and "Redis" in r.getMessage()]


def test_unreachable_at_construction_uses_local_state(mock, req, ailib_logs):
    """A store whose Redis is down from the start warns once and the client limits calls on local state."""
    store = RedisStateStore(f"redis://127.0.0.1:{_free_port()}/0", retry_interval=60)
    policy = RateLimitPolicy(requests_per_second=1, burst=1, max_wait=0)
    with AiClientBuilder(mock.provider()).with_rate_limit(policy).with_state_store(store).build() as client:
        client.chat_completion(req)
        with pytest.raises(LocalRateLimitError):
            client.chat_completion(req)
    assert not store.using_redis and mock.request_count == 1
    assert len(redis_warnings(ailib_logs)) == 1


def test_redis_killed_mid_run_calls_keep_working_with_one_warning(mock, req, own_redis, ailib_logs):
    """Killing Redis while 8 threads make calls fails none of them and logs exactly one warning."""
    store = RedisStateStore(own_redis.url, retry_interval=60)
    policy = RateLimitPolicy(requests_per_second=1000)
    errors: list[BaseException] = []
    calls = [0]
    lock = threading.Lock()
    stop = time.monotonic() + 1.2
    with AiClientBuilder(mock.provider()).with_rate_limit(policy).with_state_store(store).build() as client:

        def worker() -> None:
            while time.monotonic() < stop:
                try:
                    client.chat_completion(req)
                except Exception as exc:
                    with lock:
                        errors.append(exc)
                with lock:
                    calls[0] += 1

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.4)
        assert store.using_redis
        own_redis.kill()
        for t in threads:
            t.join(timeout=30)
    assert not errors and calls[0] > 20
    assert not store.using_redis
    assert len(redis_warnings(ailib_logs)) == 1


def test_store_goes_back_to_redis_when_it_returns(mock, req, own_redis, ailib_logs):
    """After Redis restarts, the first call past retry_interval writes the shared state again (logged at info)."""
    store = RedisStateStore(own_redis.url, retry_interval=0.2)
    policy = RateLimitPolicy(requests_per_second=100)
    with AiClientBuilder(mock.provider()).with_rate_limit(policy).with_state_store(store).build() as client:
        own_redis.kill()
        client.chat_completion(req)
        assert not store.using_redis
        own_redis.start()
        time.sleep(0.3)
        client.chat_completion(req)
    rdb = own_redis.client()
    assert store.using_redis and rdb.exists(store.key("limiter", "mock", scope_of(mock.provider()))) == 1
    assert any("reachable again" in r.getMessage() for r in ailib_logs.records if r.levelno == logging.INFO)
    rdb.close()


def test_a_silent_redis_costs_one_socket_timeout_then_nothing(mock, req):
    """Against a Redis that accepts but never answers, the store gives up after one socket_timeout and calls never wait on it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the backlog, nothing is ever read or written
    try:
        start = time.monotonic()
        store = RedisStateStore(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", socket_timeout=0.1, retry_interval=60)
        built = time.monotonic() - start
        with (
            AiClientBuilder(mock.provider())
            .with_rate_limit(RateLimitPolicy(requests_per_second=1000))
            .with_state_store(store)
            .build() as client
        ):
            start = time.monotonic()
            for _ in range(30):  # a wait of one socket_timeout per call would take 3 s
                client.chat_completion(req)
            calls = time.monotonic() - start
    finally:
        silent.close()
    assert not store.using_redis
    assert 0.1 <= built < 0.1 + 0.4 * SLACK, built
    assert calls < 0.2 * SLACK, calls
