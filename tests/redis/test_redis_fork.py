"""RedisStateStore after os.fork(): the child reconnects on its own socket, the parent keeps its own."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from ailib import RateLimitPolicy
from ailib.clock import SYSTEM_CLOCK

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _local_ports(store) -> set:
    pool = store._redis.connection_pool
    return {c._sock.getsockname()[1] for c in pool._available_connections if c._sock is not None}


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child; its exit status (0: fn returned True)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        signal.alarm(20)  # a child that deadlocks dies instead of hanging the suite
        code = 1
        try:
            code = 0 if fn() else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_forked_child_uses_shared_state_on_its_own_connection(store_factory, rdb) -> None:
    """A child forked after the parent used the store reaches Redis on a new socket, and both share one bucket."""
    store = store_factory()
    limiter = store.limiter("ep", RateLimitPolicy(requests_per_second=1000, burst=1000, max_wait=0), SYSTEM_CLOCK)
    limiter.acquire()
    parent_ports = _local_ports(store)
    assert parent_ports

    def child() -> bool:
        for _ in range(50):
            limiter.acquire()
        ports = _local_ports(store)
        return store.using_redis and bool(ports) and not (ports & parent_ports)

    errors: list = []

    def parent_load() -> None:
        try:
            for _ in range(50):
                limiter.acquire()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=parent_load)
    t.start()
    assert _in_child(child) == 0
    t.join(timeout=30)
    assert errors == [] and store.using_redis
    assert _local_ports(store) & parent_ports  # the parent's socket survived the child
    tat = float(rdb.hget(store.key("limiter", "ep"), "tat_req"))
    assert tat > 0  # both processes reserved in the one shared bucket


def test_forked_child_is_not_blocked_by_a_lock_held_in_the_parent(store_factory) -> None:
    """A fork taken while another parent thread holds the store's lock leaves the child a usable store."""
    store = store_factory()
    store.limiter("ep", RateLimitPolicy(requests_per_second=1000, burst=1000, max_wait=0), SYSTEM_CLOCK).acquire()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._lock:
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    try:
        status = _in_child(lambda: store.breaker("other", _policy(), SYSTEM_CLOCK).acquire() is not None)
    finally:
        release.set()
        t.join(10)
    assert status == 0


def _policy():
    from ailib import CircuitBreakerPolicy

    return CircuitBreakerPolicy(failure_threshold=3)
