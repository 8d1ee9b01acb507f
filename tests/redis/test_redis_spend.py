"""A spend cap shared through Redis (``with_budget(usd, store=RedisStateStore(...))``): one
atomic spend per namespace, across processes."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from ailib import AiClientBuilder, BudgetExceededError, ChatCompletionRequest, Message
from ailib.state import RedisStateStore

from . import _spend_workers
from ._workers import provider

CTX = multiprocessing.get_context("spawn")
TIMEOUT = 60.0
PRICES = _spend_workers.PRICES
ONE_CALL = (10 * 100.0 + 5 * 200.0) / 1e6  # the mock's default usage priced by PRICES


def _req(i: int = 0) -> ChatCompletionRequest:
    return ChatCompletionRequest("auto", [Message.user(f"q{i}")], max_tokens=5)


def test_two_processes_share_one_budget(mock, redis_server, namespace):
    """Two processes running batches under one $0.01 budget on a Redis namespace: together they
    spend no more than the cap, the spend in Redis is the sum of every answer's cost, and only
    answered calls reached the provider."""
    barrier, results = CTX.Barrier(2), CTX.Queue()
    args = (redis_server.url, namespace, mock.base_url, 0.01, 10, barrier)
    procs = [CTX.Process(target=_spend_workers.budgeted_batch, args=(*args, results), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(timeout=TIMEOUT)
        assert p.exitcode == 0
    costs = [c for r in reports for c in r["costs"]]
    assert all(r["using_redis"] and r["errors"] == ["BudgetExceededError"] for r in reports)
    store = RedisStateStore(redis_server.url, namespace=namespace)
    spent = store.spend_ledger().spent()
    assert spent == pytest.approx(sum(costs), abs=1e-12) and spent <= 0.01
    assert len(mock.requests) == len(costs) > 0
    store.close()


def test_the_spend_is_one_hash_per_namespace(mock, store_factory, rdb, namespace, redis_server):
    """Clients on one namespace share the spend (key {namespace}:spend:usd); another namespace
    on the same Redis spends alone."""
    a = AiClientBuilder(provider(mock.base_url)).with_prices(PRICES).with_budget(1.0, store=store_factory()).build()
    b = AiClientBuilder(provider(mock.base_url)).with_prices(PRICES).with_budget(1.0, store=store_factory()).build()
    other_store = RedisStateStore(redis_server.url, namespace=namespace + "-other")
    other = AiClientBuilder(provider(mock.base_url)).with_prices(PRICES).with_budget(1.0, store=other_store).build()
    a.chat_completion(_req())
    b.chat_completion(_req())
    assert a.spent_usd() == b.spent_usd() == pytest.approx(2 * ONE_CALL)
    assert other.spent_usd() == 0.0
    assert float(rdb.hget(f"{namespace}:spend:usd", "spent")) == pytest.approx(2 * ONE_CALL)
    assert rdb.ttl(f"{namespace}:spend:usd") == -1  # a spend total does not expire
    other_store.close()


def test_holds_are_atomic_across_stores(store_factory):
    """Sixteen threads on four stores (as four processes) racing to hold $1 each under a $5 cap:
    exactly five holds are granted."""
    ledgers = [store_factory().spend_ledger() for _ in range(4)]
    granted: list = []
    lock = threading.Lock()

    def grab(i: int) -> None:
        hold, _, _ = ledgers[i % 4].hold(1.0, 5.0, 60.0)
        if hold is not None:
            with lock:
                granted.append(hold)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5 and all(h.shared for h in granted)
    assert ledgers[0].held() == pytest.approx(5.0)
    for h in granted:
        ledgers[1].settle(h, 0.5)
    assert ledgers[2].spent() == pytest.approx(2.5) and ledgers[3].held() == 0.0


def test_a_hold_of_a_process_that_died_expires_after_its_lease(store_factory):
    """A hold never settled (its process died) blocks the cap only until its lease ends."""
    dead, alive = store_factory().spend_ledger(), store_factory().spend_ledger()
    hold, _, _ = dead.hold(1.0, 1.0, 1.0)
    assert hold is not None
    assert alive.hold(1.0, 1.0, 60.0)[0] is None
    time.sleep(1.1)
    assert alive.hold(1.0, 1.0, 60.0)[0] is not None


def test_garbage_in_the_spend_hash_is_ignored(store_factory, rdb, namespace, caplog):
    """A spend field or hold that does not parse, or an absurd hold (huge, or leased for ages),
    reads as 0 / absent (deleted, with one warning), never as an error or a cap blocked for good."""
    now = time.time()
    bad = {"spent": "garbage", "h:7": "junk", "h:8": "1e308 x", "h:9": f"1e300 {now + 60}", "h:10": f"0.5 {now + 1e9}"}
    rdb.hset(f"{namespace}:spend:usd", mapping=bad)
    ledger = store_factory().spend_ledger()
    assert ledger.spent() == 0.0 and ledger.held() == 0.0
    hold, spent, held = ledger.hold(0.5, 1.0, 60.0)
    assert hold is not None and (spent, held) == (0.0, 0.0)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "spend key" in r.getMessage()]
    assert len(warnings) == 1
    assert set(rdb.hkeys(f"{namespace}:spend:usd")) == {b"next_id", f"h:{hold.id}".encode()}


def test_an_unreachable_redis_falls_back_to_local_spend(mock, own_redis):
    """With Redis down, a budgeted client still checks and counts spend, in its own process."""
    store = RedisStateStore(own_redis.url, namespace="n", retry_interval=60.0)
    client = AiClientBuilder(provider(mock.base_url)).with_prices(PRICES).with_budget(ONE_CALL * 2.5, store=store).build()
    own_redis.kill()
    answered = 0
    with pytest.raises(BudgetExceededError):
        for i in range(5):
            client.chat_completion(_req(i))
            answered += 1
    assert not store.using_redis and answered >= 1
    assert client.spent_usd() == pytest.approx(answered * ONE_CALL)
    store.close()


def test_a_pickled_client_keeps_spending_from_the_shared_budget(mock, redis_server, namespace):
    """An AiClient with a Redis-shared budget pickles (for a worker) as its configuration: the
    copy (and a pickled SpendBudget) has the same cap and draws on the same spend in Redis."""
    import pickle

    store = RedisStateStore(redis_server.url, namespace=namespace)
    client = AiClientBuilder(provider(mock.base_url)).with_prices(PRICES).with_budget(0.5, store=store).build()
    client.chat_completion(_req())
    copy = pickle.loads(pickle.dumps(client))
    assert copy.budget().limit_usd == 0.5 and copy.spent_usd() == pytest.approx(ONE_CALL)
    copy.chat_completion(_req(1))
    assert client.spent_usd() == pytest.approx(2 * ONE_CALL)
    budget = pickle.loads(pickle.dumps(client.budget()))  # the live object (as with_failover clients hold it)
    assert budget.limit_usd == 0.5 and budget.spent_usd() == pytest.approx(2 * ONE_CALL)
    store.close()
