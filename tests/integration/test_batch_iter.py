"""Issue 26: results as they finish (`chat_completion_batch_iter`), any Executor, metadata kept not sent."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest

from ailib import AiClientBuilder, CustomProviderBuilder
from ailib.testing import Fault, MockProvider

KEY_VAR = "AILIB_ITER_TEST_KEY"
KEY = "sk-iter-0123456789abcdef"


def _prompt(rec: Any) -> str:
    return rec.json["messages"][-1]["content"]


def _items(n: int) -> list[dict]:
    return [{"model": "mock-model", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(n)]


def _client(mock: MockProvider) -> Any:
    provider = CustomProviderBuilder("mock").with_base_url(mock.base_url).with_api_key_env(KEY_VAR).with_default_chat_model("mock-model")
    return AiClientBuilder(provider.build_provider()).build()


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_VAR, KEY)


def test_iter_yields_each_result_as_it_finishes():
    """A slow first request does not hold back the others: its (index, result) comes last, and every index comes once."""
    with MockProvider(script=lambda i, rec: Fault.delay(0.6) if _prompt(rec) == "q0" else Fault.ok("re: " + _prompt(rec))) as mock:
        with _client(mock) as client:
            got = list(client.chat_completion_batch_iter(_items(6), concurrency=6))
    assert [i for i, _ in got][-1] == 0
    assert sorted(i for i, _ in got) == list(range(6))
    assert all(r.first_text() == f"re: q{i}" for i, r in got if i != 0)


def test_leaving_the_iteration_early_stops_the_batch_and_a_rerun_finishes_it(tmp_path):
    """Breaking out after the first result sends no further request; the checkpoint is valid and a re-run sends only the rest."""
    out = tmp_path / "out.jsonl"
    with MockProvider(script=lambda i, rec: Fault.delay(0.05)) as mock:
        with _client(mock) as client:
            for _ in client.chat_completion_batch_iter(_items(20), concurrency=1, checkpoint=out):
                break
            sent = mock.request_count
            assert sent < 5
            done = [json.loads(line)["index"] for line in out.read_text().splitlines()]
            assert len(done) >= 1 and len(done) <= sent
            results = client.chat_completion_batch(_items(20), concurrency=4, checkpoint=out)
        assert mock.request_count == 20 - len(done) + sent
    assert len(results) == 20 and all(not isinstance(r, Exception) for r in results)


def test_results_reach_the_checkpoint_while_the_caller_is_busy(tmp_path):
    """While the loop body works on the first result, the calls finishing meanwhile are already written (a crash then loses none)."""
    out = tmp_path / "out.jsonl"
    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec))) as mock:
        with _client(mock) as client:
            for n, _ in enumerate(client.chat_completion_batch_iter(_items(4), concurrency=4, checkpoint=out)):
                if n == 0:
                    deadline = time.monotonic() + 10
                    while len(out.read_text().splitlines()) < 4 and time.monotonic() < deadline:
                        time.sleep(0.02)  # the caller is busy; nothing asks the batch for a result
                    assert len(out.read_text().splitlines()) == 4


class CountingExecutor(ThreadPoolExecutor):
    """A user's own executor: counts what it is given."""

    def __init__(self) -> None:
        super().__init__(3)
        self.submitted = 0
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        with self._count_lock:
            self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_calls_run_on_the_executor_given():
    """With executor=..., every request is one task of that executor, duplicates included, and results keep input order."""
    items = [*_items(5), *_items(3)]  # q0..q2 twice
    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec))) as mock, CountingExecutor() as pool:
        with _client(mock) as client:
            results = client.chat_completion_batch(items, executor=pool, concurrency=2)
        assert mock.request_count == 8
    assert pool.submitted == 8
    assert [r.first_text() for r in results] == [f"re: q{i}" for i in (0, 1, 2, 3, 4, 0, 1, 2)]


def test_a_process_pool_runs_the_calls_with_the_key_read_in_each_process():
    """A spawn ProcessPoolExecutor receives the client pickled without its key; the workers read it from the environment and send it."""
    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec))) as mock:
        with _client(mock) as client, ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = client.chat_completion_batch(_items(6), executor=pool, concurrency=3)
        auth = {r.headers.get("authorization") for r in mock.chat_requests}
    assert [r.first_text() for r in results] == [f"re: q{i}" for i in range(6)]
    assert auth == {f"Bearer {KEY}"}


def test_metadata_and_custom_id_are_kept_in_records_and_never_sent(tmp_path):
    """A dict's metadata and custom_id reach its checkpoint record, not the provider's request body."""
    out = tmp_path / "out.jsonl"
    items = [{**_items(1)[0], "metadata": {"row": 7}, "custom_id": "row-7"}]
    with MockProvider() as mock:
        with _client(mock) as client:
            results = client.chat_completion_batch(items, checkpoint=out)
        body = mock.chat_requests[0].json
    assert not isinstance(results[0], Exception)
    assert "metadata" not in body and "custom_id" not in body
    record = json.loads(out.read_text())
    assert (record["custom_id"], record["metadata"]) == ("row-7", {"row": 7})


def test_a_shard_keeps_only_its_own_items_from_a_stream():
    """shard=(1, 3) over a generator parses only its own items: another shard's item that is not even a request does not fail it."""

    def stream():
        for i in range(9):
            yield object() if i % 3 != 1 else _items(9)[i]  # junk in every other shard's place

    with MockProvider(script=lambda i, rec: Fault.ok("re: " + _prompt(rec))) as mock:
        with _client(mock) as client:
            results = client.chat_completion_batch(stream(), shard=(1, 3))
    assert [r.first_text() for r in results] == ["re: q1", "re: q4", "re: q7"]
