"""Issue 26: a batch on a Dask LocalCluster (2 worker processes) shares one Redis rate limit and merges to every index once."""

from __future__ import annotations

import json
import pickle
import threading
import time
from collections import deque
from pathlib import Path

import pytest

from ailib import AiClientBuilder, CustomProviderBuilder, RateLimitPolicy
from ailib.batch import merge_outputs
from ailib.state import RedisStateStore
from ailib.testing import Fault, MockProvider

KEY_VAR = "AILIB_DASK_TEST_KEY"
KEY = "sk-dask-0123456789abcdef"
RATE = 20.0  # requests per second, shared by both workers through Redis
SHARDS = 2
PER_SHARD = 40


def _rate(times: list[float]) -> float:
    """Arrivals per second: 1 / the least-squares slope of arrival time against arrival rank."""
    n = len(times)
    mean_k, mean_t = (n - 1) / 2, sum(times) / n
    cov = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(times))
    var = sum((k - mean_k) ** 2 for k in range(n))
    return var / cov


@pytest.mark.alone
def test_two_shards_on_a_dask_cluster_share_one_limit_and_merge_to_every_index_once(tmp_path: Path, own_redis, monkeypatch) -> None:
    """2 shards run on a 2-process Dask LocalCluster through a client pickled without its key: the mock (429 above 2x the limit in any second) sees no 429, arrivals stay within the shared 20 req/s (+5%), and the merged outputs hold each of the 80 indices exactly once."""
    distributed = pytest.importorskip("distributed")  # a dev dependency; never absent in CI
    monkeypatch.setenv(KEY_VAR, KEY)  # the workers inherit it and read the key there
    recent: deque[float] = deque()
    rejected = [0]
    lock = threading.Lock()

    def script(i: int, rec) -> Fault:
        now = time.monotonic()
        with lock:
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= 2 * RATE:  # more than a full bucket plus a second's refill: over the limit
                rejected[0] += 1
                return Fault.http_status(429, message="rate limited", retry_after=1)
            recent.append(now)
        assert rec.headers.get("authorization") == f"Bearer {KEY}"
        return Fault.ok("re: " + rec.json["messages"][-1]["content"])

    items = [
        {"model": "mock-model", "messages": [{"role": "user", "content": f"q{i}"}], "metadata": {"n": i}} for i in range(SHARDS * PER_SHARD)
    ]
    with MockProvider(script=script) as mock:
        provider = (
            CustomProviderBuilder("mock")
            .with_base_url(mock.base_url)
            .with_api_key_env(KEY_VAR)
            .with_default_chat_model("mock-model")
            .build_provider()
        )
        store = RedisStateStore(own_redis.url, namespace="dask-test")
        client = AiClientBuilder(provider).with_rate_limit(RateLimitPolicy(requests_per_second=RATE)).with_state_store(store).build()
        assert KEY.encode() not in pickle.dumps(client)
        outs = [tmp_path / f"shard{k}.jsonl" for k in range(SHARDS)]
        errors: list[BaseException] = []
        with distributed.LocalCluster(n_workers=2, threads_per_worker=4, processes=True, dashboard_address=None) as cluster:
            with distributed.Client(cluster) as dask:
                executor = dask.get_executor()

                def run(k: int) -> None:
                    try:
                        results = client.chat_completion_batch(
                            items, shard=(k, SHARDS), executor=executor, concurrency=4, checkpoint=outs[k]
                        )
                        assert all(not isinstance(r, Exception) for r in results), results
                    except BaseException as exc:  # reported below
                        errors.append(exc)

                threads = [threading.Thread(target=run, args=(k,)) for k in range(SHARDS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                workers = {w["id"] for w in dask.scheduler_info()["workers"].values()}
        arrivals = sorted(r.received_at for r in mock.chat_requests)
        client.close()
        store.close()
    assert not errors, errors
    assert len(workers) == 2
    assert rejected[0] == 0
    assert len(arrivals) == SHARDS * PER_SHARD
    steady = [t for t in arrivals if t >= arrivals[0] + 1.0]  # past the first burst (one second's share)
    assert len(steady) >= RATE and _rate(steady) <= RATE * 1.05, _rate(steady)

    merged = tmp_path / "merged.jsonl"
    assert merge_outputs(outs, merged) == SHARDS * PER_SHARD
    records = [json.loads(line) for line in merged.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(SHARDS * PER_SHARD))
    assert all(r["metadata"] == {"n": r["index"]} for r in records)
    assert all(r["response"]["choices"][0]["message"]["content"] == f"re: q{r['index']}" for r in records)


def test_a_redis_state_store_pickles_as_its_url_and_namespace(redis_server, namespace) -> None:
    """A pickled RedisStateStore comes back on the same Redis and namespace (same keys); one with a password in its URL refuses to pickle without showing it."""
    store = RedisStateStore(redis_server.url, namespace=namespace, key_ttl=60)
    again = pickle.loads(pickle.dumps(store))
    assert again.using_redis and again.key("breaker", "mock") == store.key("breaker", "mock") and again.key_ttl == 60
    with_password = RedisStateStore(f"redis://:hunter2secret@127.0.0.1:{redis_server.port}/0", namespace=namespace)
    with pytest.raises(pickle.PicklingError) as info:
        pickle.dumps(with_password)
    assert "hunter2secret" not in str(info.value)
    for s in (store, again, with_password):
        s.close()
