"""Race and hedged requests over real loopback sockets, with real cancellation."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

from ailib import (
    AiClientBuilder,
    AuthenticationError,
    ChatCompletionRequest,
    DeadlineExceededError,
    HedgePolicy,
    Message,
    RateLimitPolicy,
    RetryPolicy,
)
from ailib.metrics import InMemoryMetrics
from ailib.testing import Fault, MockProvider
from tests._timing import SLACK

REQ = ChatCompletionRequest("auto", [Message.user("hi")])


def hedge_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith("ailib-hedge")]


def wait_for(predicate, timeout=3.0):
    end = time.monotonic() + timeout * SLACK
    while not predicate() and time.monotonic() < end:
        time.sleep(0.005)
    return predicate()


def test_slow_first_request_is_hedged_and_its_connection_closed():
    """First request 2 s, rest 10 ms: a hedged call (delay 50 ms) returns in < 200 ms; the first connection closes within 100 ms."""
    with MockProvider(latency=0.01) as mock:
        mock.enqueue(Fault.delay(2.0))
        with AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.05)).build() as client:
            start = time.monotonic()
            resp = client.chat_completion(REQ)
            won = time.monotonic()
            assert won - start < 0.2 * SLACK
            assert wait_for(lambda: mock.chat_requests[0].disconnected_at is not None)
            assert mock.chat_requests[0].disconnected_at - won < 0.1 * SLACK
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("cancelled", True), ("ok", True)]
    assert resp.attempts[0].error is None  # a loser did not fail: it was cancelled


def test_fast_primary_fires_no_hedge():
    """When the primary answers within the delay, no hedge is sent."""
    metrics = InMemoryMetrics()
    with (
        MockProvider() as mock,
        AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.5)).with_metrics(metrics).build() as client,
    ):
        resp = client.chat_completion(REQ)
        assert mock.request_count == 1
    assert [(a.outcome, a.hedge) for a in resp.attempts] == [("ok", False)]
    assert metrics.counter("hedge.fired") == 0 and metrics.counter("hedge.won", attempt="primary") == 1


def test_delay_zero_races_targets_at_once():
    """delay=0 sends to the first max_hedges+1 targets immediately; the fastest wins, the other is cancelled."""
    with (
        MockProvider(name="slow", latency=2.0) as slow,
        MockProvider(name="fast", latency=0.02) as fast,
        MockProvider(name="third") as third,
    ):
        builder = AiClientBuilder(slow.provider()).with_failover_chain([fast.provider(), third.provider()])
        with builder.with_hedging(HedgePolicy(delay=0, max_hedges=1)).build() as client:
            start = time.monotonic()
            resp = client.chat_completion(REQ)
            assert time.monotonic() - start < 0.3 * SLACK
            assert wait_for(lambda: slow.chat_requests and slow.chat_requests[0].disconnected_at is not None)
        assert resp.provider == "fast" and third.request_count == 0
        assert abs(slow.chat_requests[0].received_at - fast.chat_requests[0].received_at) < 0.1 * SLACK


def test_a_failed_attempt_sends_the_hedge_at_once():
    """A primary that fails fast triggers the hedge without waiting for the delay."""
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        a.enqueue(Fault.http_status(503))
        # a fixed 3 s backoff: the primary's own retry cannot beat the hedge (full jitter could draw ~0)
        retry = RetryPolicy(initial_delay=3.0, max_delay=3.0, jitter=None)
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_retry(retry)
        with builder.with_hedging(HedgePolicy(delay=5.0)).build() as client:
            start = time.monotonic()
            resp = client.chat_completion(REQ)
            assert time.monotonic() - start < 0.5 * SLACK
    assert resp.provider == "b"
    assert [a_.outcome for a_ in resp.attempts][:1] == ["error"]


def test_non_retryable_error_ends_the_race():
    """A 401 in the race is raised as itself; nothing else is sent after it."""
    with MockProvider(name="a") as a, MockProvider(name="b", latency=0.3) as b:
        a.enqueue(Fault.http_status(401))
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()])
        with builder.with_hedging(HedgePolicy(delay=0.5)).build() as client:
            with pytest.raises(AuthenticationError):
                client.chat_completion(REQ)
        assert b.request_count == 0


def test_extra_load_is_bounded_by_the_budget():
    """With max_extra_load=0, only the budget's floor of hedges is ever sent, however slow the provider."""
    metrics = InMemoryMetrics()
    # 100 ms answers against a 5 ms delay: every hedge the budget allows reaches the server
    # before the primary answers, even on a loaded machine.
    with MockProvider(latency=0.1) as mock:
        policy = HedgePolicy(delay=0.005, max_extra_load=0.0)
        with AiClientBuilder(mock.provider()).with_hedging(policy).with_metrics(metrics).build() as client:
            for _ in range(15):
                client.chat_completion(REQ)
    assert metrics.counter("hedge.fired") == 10  # HEDGE_BUDGET_MIN per 10 s window
    assert mock.request_count == 25


def test_streaming_races_until_the_first_chunk():
    """A hedged stream commits to the first stream with content and cancels the slower one."""
    with MockProvider(latency=0.01) as mock:
        mock.enqueue(Fault.delay(2.0))
        with AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.05)).build() as client:
            start = time.monotonic()
            with client.chat_completion_stream(REQ) as stream:
                text = "".join(c.delta_text for c in stream)
            assert time.monotonic() - start < 0.3 * SLACK
            assert wait_for(lambda: mock.chat_requests[0].disconnected_at is not None)
    assert text == "Hello from MockProvider"
    assert [a.outcome for a in stream.attempts] == ["cancelled", "ok"]


def test_a_hedge_needs_a_rate_limit_permit():
    """A hedge goes through the limiter: with no permit free (max_wait=0) it is skipped, not sent."""
    with MockProvider(latency=0.2) as mock:
        limit = RateLimitPolicy(requests_per_second=1, burst=1, max_wait=0, adaptive=False)
        builder = AiClientBuilder(mock.provider()).with_rate_limit(limit).with_retry(RetryPolicy(max_attempts=1))
        with builder.with_hedging(HedgePolicy(delay=0.02)).build() as client:
            resp = client.chat_completion(REQ)
        assert mock.request_count == 1
    outcomes = sorted(a.outcome for a in resp.attempts)
    assert outcomes == ["ok", "skipped"]


def test_an_open_endpoint_is_not_hedged_to():
    """Routing skips an endpoint whose circuit is open, so no hedge reaches it."""
    with MockProvider(name="a", latency=0.1) as a, MockProvider(name="b") as b:
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_hedging(HedgePolicy(delay=0.01))
        with builder.build() as client:
            client.circuit_breaker("b").isolate()
            resp = client.chat_completion(REQ)
        assert resp.provider == "a" and b.request_count == 0


def test_deadline_while_racing():
    """A race that outlives the call's deadline raises DeadlineExceededError on time, with every attempt."""
    with MockProvider() as mock:
        mock.enqueue(Fault.stall(), Fault.stall())
        builder = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.05)).with_deadline(0.5)
        with builder.build() as client:
            start = time.monotonic()
            with pytest.raises(DeadlineExceededError) as info:
                client.chat_completion(REQ)
            assert time.monotonic() - start < 0.5 + 0.2 * SLACK
    assert len(info.value.attempts) == 2 and {a.outcome for a in info.value.attempts} <= {"cancelled", "error"}


def test_no_thread_outlives_the_client():
    """After 1,000 hedged calls and close(), no thread of the client is left (a cancelled loser's short-lived
    ailib-connect thread may take a moment to see its socket shut; it must be gone within seconds)."""
    before = set(threading.enumerate())
    with MockProvider() as mock:
        client = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0)).build()
        for _ in range(1000):
            client.chat_completion(REQ)
        assert hedge_threads()
        client.close()
    assert hedge_threads() == []

    def left() -> set[threading.Thread]:
        # the transport's process-wide timer thread (ailib-timer) is not the client's
        return {t for t in threading.enumerate() if t.name.startswith("ailib") and t.name != "ailib-timer"} - before

    end = time.monotonic() + 2.0 * SLACK
    while left() and time.monotonic() < end:
        time.sleep(0.01)
    assert left() == set()


@pytest.mark.alone
def test_hedged_clients_dropped_without_close_leave_no_thread_or_fd():
    """50 hedged clients, each used for a call that fires a hedge and one that does not, then
    dropped without close() (a notebook cell re-run): threads and fds return to where they were."""

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def settled(threads: int, fds: int) -> bool:
        gc.collect()
        return abs(threading.active_count() - threads) <= 2 and abs(open_fds() - fds) <= 2

    def cell(mock: MockProvider) -> None:
        client = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.25, max_extra_load=1.0)).build()
        mock.enqueue(Fault.delay(5.0))  # the hedge fires after 0.25 s and wins; this primary is cancelled
        hedged = client.chat_completion(REQ)
        assert [(a.outcome, a.hedge) for a in hedged.attempts] == [("cancelled", True), ("ok", True)]
        alone = client.chat_completion(REQ)
        assert [(a.outcome, a.hedge) for a in alone.attempts] == [("ok", False)]

    failures: list = []

    def five_cells(mock: MockProvider) -> None:  # ten notebooks at once: 50 cells in the time of 5
        try:
            for _ in range(5):
                cell(mock)
        except BaseException as exc:
            failures.append(exc)

    mocks = [MockProvider(name=f"m{i}") for i in range(10)]
    try:
        cell(mocks[0])  # the process-wide parts (the transport's timer, lazy imports) start here
        assert wait_for(lambda: gc.collect() >= 0 and not hedge_threads())
        threads, fds = threading.active_count(), open_fds()
        runners = [threading.Thread(target=five_cells, args=(m,)) for m in mocks]
        for t in runners:
            t.start()
        for t in runners:
            t.join(60 * SLACK)
        assert failures == []
        assert wait_for(lambda: settled(threads, fds)), f"threads {threads} -> {threading.active_count()}, fds {fds} -> {open_fds()}"
        assert hedge_threads() == []
    finally:
        for m in mocks:
            m.close()


def test_concurrent_hedged_calls_from_many_threads():
    """32 threads racing (delay=0) all get answers; races stay within the extra-load budget."""
    metrics = InMemoryMetrics()
    errors = []
    with MockProvider(latency=lambda: 0.002) as mock:
        with AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0)).with_metrics(metrics).build() as client:

            def work():
                for _ in range(10):
                    try:
                        assert client.chat_completion(REQ).text
                    except Exception as exc:
                        errors.append(exc)

            threads = [threading.Thread(target=work) for _ in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    assert errors == []
    assert metrics.counter("hedge.won") == 320
    fired = metrics.counter("hedge.fired")
    assert 10 <= fired <= 10 + 32  # the floor, plus max_extra_load (0.1) x 320 calls
    # a hedge cancelled before its request left (the primary already won) never reaches the server
    assert metrics.counter("hedge.cancelled") <= fired and 320 <= mock.request_count <= 320 + fired


def test_full_extra_load_races_every_call():
    """HedgePolicy(delay=0, max_extra_load=1.0) races every call of a two-target chain: the one budget that pays also counts the calls."""
    metrics = InMemoryMetrics()
    with MockProvider(name="a") as a, MockProvider(name="b") as b:
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()]).with_metrics(metrics)
        with builder.with_hedging(HedgePolicy(delay=0, max_extra_load=1.0)).build() as client:
            for _ in range(40):
                client.chat_completion(REQ)
    assert metrics.counter("hedge.fired") == 40  # well past the budget's floor of 10


def test_a_hedge_that_wins_wakes_the_caller_from_a_slow_primary():
    """The primary runs on the caller's thread; when the hedge answers first the primary's socket is shut and the call returns at once."""
    with MockProvider(name="slow") as slow, MockProvider(name="fast") as fast:
        slow.enqueue(Fault.stall())
        builder = AiClientBuilder(slow.provider()).with_failover_chain([fast.provider()])
        with builder.with_hedging(HedgePolicy(delay=0.05)).build() as client:
            start = time.monotonic()
            resp = client.chat_completion(REQ)
            assert time.monotonic() - start < 2.0 * SLACK  # a stall holds the primary for ever: only cancellation ends it
            assert wait_for(lambda: slow.chat_requests[0].disconnected_at is not None)
    assert resp.provider == "fast"
    assert [(a.provider, a.outcome, a.hedge) for a in resp.attempts] == [("slow", "cancelled", True), ("fast", "ok", True)]


def test_close_returns_within_a_second_with_hedges_in_flight():
    """close() while hedged calls are stalled returns within 1 s; the callers get a non-retryable 'closed' error."""
    from ailib import ClientClosedError

    with MockProvider() as mock:
        mock.enqueue(*[Fault.stall()] * 8)
        client = AiClientBuilder(mock.provider()).with_hedging(HedgePolicy(delay=0.01)).build()
        outcomes: list = []

        def call():
            try:
                client.chat_completion(REQ)
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        assert wait_for(lambda: mock.request_count >= 8)
        start = time.monotonic()
        client.close()
        assert time.monotonic() - start < 1.0 * SLACK
        for t in threads:
            t.join(5)
    assert len(outcomes) == 4
    assert all(isinstance(e, ClientClosedError) and "closed" in str(e) and not e.is_retryable() for e in outcomes)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_hedged_client_works_in_a_forked_child():
    """A client that hedged (timer and executor threads running) before os.fork() hedges again in the child."""
    with MockProvider(name="a", latency=0.01) as a, MockProvider(name="b", latency=0.01) as b:
        builder = AiClientBuilder(a.provider()).with_failover_chain([b.provider()])
        with builder.with_hedging(HedgePolicy(delay=0.05, max_extra_load=1.0)).build() as client:
            a.enqueue(Fault.delay(1.0))
            assert client.chat_completion(REQ).provider == "b"
            assert hedge_threads()
            a.enqueue(Fault.stall(), Fault.stall(), Fault.stall())  # in the child only a hedge can answer
            pid = os.fork()
            if pid == 0:  # the child: exit 0 only if three hedged calls are answered by b
                code = 1
                try:
                    served = [client.chat_completion(REQ).provider for _ in range(3)]
                    code = 0 if served == ["b"] * 3 else 2
                finally:
                    os._exit(code)
            end = time.monotonic() + 20
            status = None
            while time.monotonic() < end:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.02)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on a hedged call")
            assert os.waitstatus_to_exitcode(status) == 0
