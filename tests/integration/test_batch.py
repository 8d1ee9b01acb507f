"""chat_completion_batch over loopback: order, concurrency, errors, checkpoints, Ctrl-C, crashes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from ailib import (
    AiClientBuilder,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CircuitBreakerPolicy,
    CircuitOpenError,
    InvalidRequestError,
    ProviderError,
    RetryPolicy,
)
from ailib.batch import BatchProgress, read_checkpoint, request_key
from ailib.testing import Fault, MockProvider
from tests._timing import SLACK

from ..conftest import FAST_RETRY, SECRET

ECHO = "echo: "


def _prompt(rec: Any) -> str:
    return rec.json["messages"][-1]["content"]


def echo(i: int, rec: Any) -> Optional[Fault]:
    """Answer each request with a text derived from it, so results are deterministic."""
    return Fault.ok(ECHO + _prompt(rec))


def _bodies(n: int, prefix: str = "prompt") -> list[dict]:
    return [{"model": "auto", "messages": [{"role": "user", "content": f"{prefix} {i}"}]} for i in range(n)]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _batch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ailib-batch")]


@pytest.fixture
def echo_mock():
    with MockProvider(script=echo) as m:
        yield m


@pytest.fixture
def echo_client(echo_mock):
    c = AiClientBuilder(echo_mock.provider(api_key=SECRET)).with_retry(FAST_RETRY).build()
    yield c
    c.close()


# -- order, concurrency, errors -----------------------------------------------------------------
def test_results_come_back_in_input_order():
    """Results are in input order even when later requests finish first."""

    def slow_first(i: int, rec: Any) -> Fault:
        n = int(_prompt(rec).split()[1])
        return Fault.ok(ECHO + _prompt(rec), delay=0.02 * (n % 4 == 0))

    with MockProvider(script=slow_first) as mock, AiClientBuilder(mock.provider()).build() as client:
        results = client.chat_completion_batch(_bodies(24), concurrency=6)
    assert [r.text for r in results] == [f"{ECHO}prompt {i}" for i in range(24)]


def test_the_server_never_sees_more_than_concurrency_in_flight():
    """With concurrency=4 the server has at most 4 requests in progress, and reaches 4."""
    lock = threading.Lock()
    active = peak = 0

    def count(i: int, rec: Any) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)  # the server is busy with this request while the script runs
        with lock:
            active -= 1
        return None

    with MockProvider(script=count) as mock, AiClientBuilder(mock.provider()).build() as client:
        results = client.chat_completion_batch(_bodies(40), concurrency=4)
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    assert peak == 4


def test_no_batch_thread_outlives_the_call(echo_client):
    """The batch's own executor is shut down before chat_completion_batch returns."""
    echo_client.chat_completion_batch(_bodies(20), concurrency=5)
    assert _batch_threads() == []


def test_failures_are_returned_in_place_by_default():
    """A request that ends in an error gets that AiLibError, with its attempts, in its slot."""

    def fail_three(i: int, rec: Any) -> Fault:
        return Fault.http_status(500) if _prompt(rec) == "prompt 3" else Fault.ok("fine")

    with MockProvider(script=fail_three) as mock:
        client = AiClientBuilder(mock.provider()).with_retry(FAST_RETRY).build()
        results = client.chat_completion_batch(_bodies(6))
    assert isinstance(results[3], ProviderError) and len(results[3].attempts) == 3
    assert [r.text for i, r in enumerate(results) if i != 3] == ["fine"] * 5


def test_return_exceptions_false_raises_the_first_error_after_in_flight_calls():
    """return_exceptions=False stops submitting at the first error and raises it once in-flight calls end."""

    def reject_5(i: int, rec: Any) -> Fault:
        if _prompt(rec) == "prompt 5":
            return Fault.http_status(400, message="bad prompt")
        return Fault.ok("fine", delay=0.02)

    with MockProvider(script=reject_5) as mock, AiClientBuilder(mock.provider()).build() as client:
        with pytest.raises(InvalidRequestError, match="bad prompt"):
            client.chat_completion_batch(_bodies(200), concurrency=4, return_exceptions=False)
        assert mock.request_count < 40
        assert _batch_threads() == []


def test_an_open_circuit_pauses_the_batch_instead_of_failing_it(echo_mock):
    """While the circuit is open the batch waits; once it closes every request succeeds."""
    client = AiClientBuilder(echo_mock.provider()).build()
    breaker = client.circuit_breaker()
    breaker.isolate()
    threading.Timer(0.3, breaker.reset).start()
    start = time.monotonic()
    results = client.chat_completion_batch(_bodies(10), concurrency=3)
    assert time.monotonic() - start >= 0.25
    assert [r.text for r in results] == [f"{ECHO}prompt {i}" for i in range(10)]


def test_a_circuit_that_stays_open_fails_requests_after_max_pause(echo_mock):
    """max_pause bounds the wait: a circuit that never closes ends in CircuitOpenError results."""
    from ailib.batch import run_batch

    client = AiClientBuilder(echo_mock.provider()).build()
    client.circuit_breaker().isolate()
    start = time.monotonic()
    results = run_batch(client, _bodies(4), concurrency=2, max_pause=0.2)
    assert time.monotonic() - start < 2 * SLACK
    assert all(isinstance(r, CircuitOpenError) for r in results)
    assert echo_mock.request_count == 0


# -- checkpoints -----------------------------------------------------------------------------------
def test_each_result_is_in_the_checkpoint_before_its_progress_event(echo_client, tmp_path):
    """Every finished result is appended (and flushed) before the caller hears of it."""
    path = tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []

    def on_progress(p: BatchProgress) -> None:
        lines = path.read_text().count("\n") if path.exists() else 0
        seen.append((p.done, lines))

    echo_client.chat_completion_batch(_bodies(12), concurrency=3, checkpoint=path, progress=on_progress)
    assert len(seen) == 13
    assert all(lines >= done for done, lines in seen)


def test_a_complete_run_leaves_one_line_per_request_in_input_order(echo_client, tmp_path):
    """After a clean run the checkpoint holds one record per request, in input order, keyed by hash#n."""
    path = tmp_path / "out.jsonl"
    bodies = _bodies(8)
    echo_client.chat_completion_batch(bodies, concurrency=4, checkpoint=path)
    records = _lines(path)
    assert [r["index"] for r in records] == list(range(8))
    assert [r["key"] for r in records] == [request_key(ChatCompletionRequest.from_dict(b)) + "#0" for b in bodies]
    assert [r["response"]["choices"][0]["message"]["content"] for r in records] == [f"{ECHO}prompt {i}" for i in range(8)]


def test_a_rerun_skips_finished_requests_and_retries_failed_ones(tmp_path):
    """A re-run sends only the requests that failed before and returns stored answers for the rest."""
    path = tmp_path / "out.jsonl"
    healthy = threading.Event()

    def flaky(i: int, rec: Any) -> Fault:
        if not healthy.is_set() and int(_prompt(rec).split()[1]) % 3 == 0:
            return Fault.http_status(400, message="not now")
        return echo(i, rec)

    with MockProvider(script=flaky) as mock:
        first = AiClientBuilder(mock.provider()).build().chat_completion_batch(_bodies(9), checkpoint=path)
        assert [isinstance(r, InvalidRequestError) for r in first] == [True, False, False] * 3
        sent_before = mock.request_count
        healthy.set()
        second = AiClientBuilder(mock.provider()).build().chat_completion_batch(_bodies(9), checkpoint=path)
        assert mock.request_count - sent_before == 3
        assert sorted(_prompt(r) for r in mock.chat_requests[sent_before:]) == ["prompt 0", "prompt 3", "prompt 6"]
    assert [r.text for r in second] == [f"{ECHO}prompt {i}" for i in range(9)]
    assert [r.to_dict() for i, r in enumerate(second) if i % 3] == [r.to_dict() for i, r in enumerate(first) if i % 3]
    assert [bool(r.attempts) for r in second] == [True, False, False] * 3


def test_a_new_client_rebuilds_stored_responses_from_the_file(echo_mock, tmp_path):
    """Skipped requests come back as responses rebuilt from the checkpoint, equal to the originals."""
    path = tmp_path / "out.jsonl"
    bodies = _bodies(5)
    first = AiClientBuilder(echo_mock.provider()).build().chat_completion_batch(bodies, checkpoint=path)
    again = AiClientBuilder(echo_mock.provider()).build().chat_completion_batch(bodies, checkpoint=path)
    assert echo_mock.request_count == 5
    assert all(isinstance(r, ChatCompletionResponse) for r in again)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in first]


def test_a_torn_last_line_is_cut_off_and_that_request_sent_again(echo_client, echo_mock, tmp_path):
    """A half-written last line is ignored; its request is re-sent; the file ends up valid."""
    path = tmp_path / "out.jsonl"
    echo_client.chat_completion_batch(_bodies(6), checkpoint=path)
    text = path.read_text()
    cut = text.rstrip("\n").rfind("\n") + 1 + 40  # keep 40 bytes of the last record
    path.write_text(text[:cut])
    results = echo_client.chat_completion_batch(_bodies(6), checkpoint=path)
    assert echo_mock.request_count == 7
    assert _prompt(echo_mock.chat_requests[-1]) == "prompt 5"
    assert [r.text for r in results] == [f"{ECHO}prompt {i}" for i in range(6)]
    assert [r["index"] for r in _lines(path)] == list(range(6))


def test_identical_requests_are_each_answered_and_keyed_by_occurrence(echo_client, echo_mock, tmp_path):
    """Duplicates make one call each (keys hash#0, hash#1); a re-run with one more sends only that one."""
    path = tmp_path / "out.jsonl"
    a, b = _bodies(2)
    echo_client.chat_completion_batch([a, a, b], checkpoint=path)
    assert echo_mock.request_count == 3
    key_a = request_key(ChatCompletionRequest.from_dict(a))
    assert [r["key"] for r in _lines(path)] == [f"{key_a}#0", f"{key_a}#1", request_key(ChatCompletionRequest.from_dict(b)) + "#0"]
    results = echo_client.chat_completion_batch([a, a, a, b], checkpoint=path)
    assert echo_mock.request_count == 4
    assert [r.text for r in results] == [f"{ECHO}prompt 0"] * 3 + [f"{ECHO}prompt 1"]


def test_records_of_other_batches_are_kept(echo_client, tmp_path):
    """Reusing a checkpoint path for other requests keeps the earlier records after compaction."""
    path = tmp_path / "out.jsonl"
    echo_client.chat_completion_batch(_bodies(2, "old"), checkpoint=path)
    echo_client.chat_completion_batch(_bodies(3, "new"), checkpoint=path)
    assert len(read_checkpoint(path)) == 5
    assert len(_lines(path)) == 5


def test_the_checkpoint_never_contains_the_api_key(tmp_path):
    """Neither responses nor error messages that echo the key put it in the file."""
    path = tmp_path / "out.jsonl"

    def leak(i: int, rec: Any) -> Fault:
        if _prompt(rec) == "prompt 1":
            return Fault.http_status(400, message=f"key {SECRET} and bearer {SECRET} rejected")
        return echo(i, rec)

    with MockProvider(script=leak, api_key=SECRET) as mock:
        client = AiClientBuilder(mock.provider(api_key=SECRET)).build()
        results = client.chat_completion_batch(_bodies(3), checkpoint=path)
    assert isinstance(results[1], InvalidRequestError)
    text = path.read_text()
    assert '"error"' in text and SECRET not in text and "SECRET" not in text


def test_an_invalid_request_is_recorded_as_an_error_line(echo_client, tmp_path):
    """An invalid body gets an error record so the file has a line for every request."""
    path = tmp_path / "out.jsonl"
    echo_client.chat_completion_batch([_bodies(1)[0], {"messages": []}], checkpoint=path)
    records = _lines(path)
    assert records[1]["key"] == "invalid#1"
    assert records[1]["error"]["type"] == "InvalidRequestError"


# -- Ctrl-C -----------------------------------------------------------------------------------------
def _interrupt_main_thread_after(seconds: float) -> None:
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()


def test_ctrl_c_stops_submitting_waits_for_in_flight_and_leaves_a_valid_checkpoint(tmp_path):
    """Ctrl-C re-raises after in-flight calls finish; every sent request is in the file; a re-run completes the rest."""
    path = tmp_path / "out.jsonl"

    def slow(i: int, rec: Any) -> Fault:
        return Fault.ok(ECHO + _prompt(rec), delay=0.05)

    with MockProvider(script=slow) as mock, AiClientBuilder(mock.provider()).build() as client:
        _interrupt_main_thread_after(0.3)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.chat_completion_batch(_bodies(200), concurrency=4, checkpoint=path)
        assert time.monotonic() - start < 1.5 * SLACK  # a hang catcher: sent < 200 shows submitting stopped
        assert _batch_threads() == []
        sent = mock.request_count
        assert 0 < sent < 200
        assert len(_lines(path)) == sent  # each request sent finished and was recorded
        results = client.chat_completion_batch(_bodies(200), concurrency=8, checkpoint=path)
        assert mock.request_count == 200
    assert [r.text for r in results] == [f"{ECHO}prompt {i}" for i in range(200)]


def test_ctrl_c_waits_only_up_to_the_bound(tmp_path):
    """Calls still running after interrupt_timeout are abandoned; their late results are not written."""
    from ailib.batch import run_batch

    path = tmp_path / "out.jsonl"
    with MockProvider(script=lambda i, rec: Fault.delay(2.5)) as mock, AiClientBuilder(mock.provider()).build() as client:
        _interrupt_main_thread_after(0.2)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            run_batch(client, _bodies(4), concurrency=2, checkpoint=path, interrupt_timeout=0.3)
        assert time.monotonic() - start < 0.5 + 0.2 * SLACK  # waiting for the calls would take 2.5 s
        time.sleep(2.6)  # let the abandoned calls finish
        assert path.read_text() == ""


# -- Done when: a 2,000-request batch against a provider failing 10% of calls, killed and resumed ----
N_BIG = 2000
BATCH_RETRY = RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.01, retry_budget=None)
# The breaker stays on with its default threshold; if random 5xx ever open it, the batch
# pauses for the (short) recovery time instead of failing requests.
BATCH_BREAKER = CircuitBreakerPolicy(recovery_timeout=0.2)

DRIVER = """
import sys
from ailib import AiClientBuilder, CircuitBreakerPolicy, CustomProviderBuilder, RetryPolicy
base_url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
provider = CustomProviderBuilder("mock").with_base_url(base_url).with_default_chat_model("mock-model").build_provider()
client = (AiClientBuilder(provider)
          .with_retry(RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.01, retry_budget=None))
          .with_circuit_breaker(CircuitBreakerPolicy(recovery_timeout=0.2)).build())
bodies = [{"model": "auto", "messages": [{"role": "user", "content": f"prompt {i}"}]} for i in range(n)]
client.chat_completion_batch(bodies, concurrency=16, checkpoint=path)
"""


def flaky_echo(i: int, rec: Any) -> Fault:
    """10% of calls fail (half 429, half 500), decided per server request; the rest echo."""
    roll = random.Random(i).random()
    if roll < 0.05:
        return Fault.http_status(429)
    if roll < 0.10:
        return Fault.http_status(500)
    return echo(i, rec)


def _big_client(mock: MockProvider):
    return AiClientBuilder(mock.provider("mock")).with_retry(BATCH_RETRY).with_circuit_breaker(BATCH_BREAKER).build()


@pytest.mark.alone
def test_2000_requests_killed_halfway_resume_without_resending_and_match_an_uninterrupted_run(tmp_path):
    """SIGKILL mid-batch, then a re-run: finished requests are not re-sent and results equal an uninterrupted run."""
    whole, killed = tmp_path / "whole.jsonl", tmp_path / "killed.jsonl"
    bodies = _bodies(N_BIG)
    with MockProvider(script=flaky_echo, name="mock") as mock:
        with _big_client(mock) as client:
            reference = client.chat_completion_batch(bodies, concurrency=16, checkpoint=whole)
        assert all(isinstance(r, ChatCompletionResponse) for r in reference)  # every request answered
        assert mock.request_count > N_BIG  # faults happened and were retried

        proc = subprocess.Popen([sys.executable, "-c", DRIVER, mock.base_url, str(killed), str(N_BIG)], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if killed.exists() and killed.read_bytes().count(b"\n") >= N_BIG // 2:
                    break
                time.sleep(0.005)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stderr:
                proc.stderr.close()
        finished = {k for k, rec in read_checkpoint(killed).items() if "response" in rec}
        assert N_BIG // 2 <= len(finished) < N_BIG - 100

        sent_before = len(mock.chat_requests)
        with _big_client(mock) as client:
            resumed = client.chat_completion_batch(bodies, concurrency=16, checkpoint=killed)
        resent = {_prompt(r) for r in mock.chat_requests[sent_before:]}

    key_of = {f"prompt {i}": request_key(ChatCompletionRequest.from_dict(b)) + "#0" for i, b in enumerate(bodies)}
    assert not {p for p in resent if key_of[p] in finished}  # no finished request was sent again
    assert len(resent) == N_BIG - len(finished)  # and every unfinished one was
    assert [r.to_dict() for r in resumed] == [r.to_dict() for r in reference]
    assert killed.read_bytes() == whole.read_bytes()
