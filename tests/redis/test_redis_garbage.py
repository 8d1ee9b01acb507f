"""Garbage or absurd values found in Redis are ignored (and removed) with one warning per key kind, never an error."""

from __future__ import annotations

import logging

import pytest

from ailib import AiClientBuilder, CircuitBreakerPolicy, CircuitState, RateLimitPolicy
from ailib.clock import SYSTEM_CLOCK
from ailib.testing import Fault

from .conftest import scope_of

BREAKER = CircuitBreakerPolicy(failure_threshold=3, recovery_timeout=30.0)
LIMIT = RateLimitPolicy(requests_per_second=100, max_wait=0)


def ignored_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "ignored unreadable or absurd values" in r.getMessage()
    ]


@pytest.fixture
def client_and_keys(mock, store_factory):
    """A client (breaker, limiter, retry budget on a Redis store) and the Redis keys of its three objects."""
    store = store_factory()
    client = AiClientBuilder(mock.provider()).with_circuit_breaker(BREAKER).with_rate_limit(LIMIT).with_state_store(store).build()
    scope = scope_of(mock.provider())
    keys = {kind: store.key(kind, "mock", scope) for kind in ("breaker", "limiter", "budget")}
    with client:
        yield client, keys


def test_an_open_until_of_1e308_does_not_block_calls(client_and_keys, rdb, req, ailib_logs):
    """An open breaker whose open_until is 1e308 is read as elapsed: the next call is a probe that answers and closes it."""
    client, keys = client_and_keys
    rdb.hset(keys["breaker"], mapping={"state": "open", "gen": "4", "open_until": "1e308"})
    assert client.chat_completion(req).text
    assert client.circuit_breaker().state is CircuitState.CLOSED
    assert rdb.hget(keys["breaker"], "state") == b"closed"
    assert len(ignored_warnings(ailib_logs)) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"state": "bogus"},
        {"state": "open", "open_until": "nan"},
        {"state": "open", "open_until": "inf"},
        {"state": "open", "open_until": "not a number"},
        {"gen": "x", "consec": "-3", "next_pid": "1.5"},
        {"state": "half_open", "p:1": "1e308", "p:2": "nan", "next_pid": "garbage"},
        {"consec": "nan", "w:0": "garbage", "w:1": "1 -5 2"},
    ],
)
def test_garbage_breaker_fields_are_ignored(client_and_keys, rdb, req, ailib_logs, fields):
    """Unreadable breaker fields never raise: calls answer, the state reads as a valid CircuitState, one warning."""
    client, keys = client_and_keys
    rdb.hset(keys["breaker"], mapping=fields)
    for _ in range(3):
        assert client.chat_completion(req).text
        assert isinstance(client.circuit_breaker().state, CircuitState)
    left = {k.decode(): v.decode() for k, v in rdb.hgetall(keys["breaker"]).items()}
    assert all(left.get(f) != v for f, v in fields.items()), left
    assert len(ignored_warnings(ailib_logs)) == 1 and keys["breaker"] in ignored_warnings(ailib_logs)[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"hold": "1e308"},
        {"tat_req": "1e308", "tat_tok": "nan"},
        {"tat_req": "abc", "hold": "-inf"},
        {"factor": "0"},
        {"factor": "-1"},
        {"factor": "nan"},
        {"factor": "abc", "last_dec": "1e308"},
    ],
)
def test_garbage_limiter_fields_are_ignored(client_and_keys, rdb, req, ailib_logs, fields):
    """Unreadable or absurd limiter fields never raise nor hold calls back: a limiter with max_wait=0 admits at once."""
    client, keys = client_and_keys
    rdb.hset(keys["limiter"], mapping=fields)
    for _ in range(3):
        assert client.chat_completion(req).text
    assert len(ignored_warnings(ailib_logs)) == 1 and "limiter" in ignored_warnings(ailib_logs)[0]


def test_a_garbage_factor_reads_as_a_whole_rate(mock, store_factory, rdb, ailib_logs):
    """RateLimiter.factor of a hash holding factor='abc' is 1.0 with one warning, not a ValueError."""
    store = store_factory()
    limiter = store.limiter("ep", LIMIT, SYSTEM_CLOCK)
    rdb.hset(limiter.key, "factor", "abc")
    assert limiter.factor == 1.0 and limiter.factor == 1.0
    rdb.hset(limiter.key, "factor", "0.5")
    assert limiter.factor == 0.5
    assert len(ignored_warnings(ailib_logs)) == 1


def test_garbage_budget_slices_are_ignored(client_and_keys, mock, rdb, req, ailib_logs):
    """Budget slices that do not parse, or hold negative counts, are dropped; the budget still allows a retry."""
    client, keys = client_and_keys
    rdb.hset(keys["budget"], mapping={str(k): v for k, v in enumerate(["garbage", "1 -5 2", "nan nan nan", "3 1e999 0"])})
    mock.enqueue(Fault.http_status(500))
    assert len(client.chat_completion(req).attempts) == 2
    assert not any(rdb.hget(keys["budget"], str(k)) in (b"garbage", b"1 -5 2", b"nan nan nan", b"3 1e999 0") for k in range(4))
    assert len(ignored_warnings(ailib_logs)) == 1


@pytest.mark.parametrize("kind", ["breaker", "limiter", "budget"])
def test_a_key_of_another_type_is_replaced(client_and_keys, rdb, req, ailib_logs, kind):
    """A string (not a hash) at an object's key is removed with one warning; calls answer and the store stays on Redis."""
    client, keys = client_and_keys
    rdb.set(keys[kind], "garbage")
    for _ in range(2):
        assert client.chat_completion(req).text
    assert rdb.type(keys[kind]) in (b"hash", b"none")
    assert len(ignored_warnings(ailib_logs)) == 1
    assert not any("unreachable" in r.getMessage() for r in ailib_logs.records)


def test_one_warning_per_key_kind_not_per_call(client_and_keys, rdb, req, ailib_logs):
    """Garbage written again and again into all three keys: exactly three warnings (breaker, limiter, budget) over many calls."""
    client, keys = client_and_keys
    for _ in range(5):
        rdb.hset(keys["breaker"], mapping={"state": "open", "open_until": "1e308"})
        rdb.hset(keys["limiter"], mapping={"hold": "1e308"})
        rdb.hset(keys["budget"], mapping={"0": "garbage"})
        assert client.chat_completion(req).text
    kinds = sorted(w.split(" key ")[0].rsplit(" ", 1)[1] for w in ignored_warnings(ailib_logs))
    assert kinds == ["breaker", "budget", "limiter"]
