"""One hedged call's state flows one way (ailib/call/spec.py, branch.py, race.py, hedge.py).

The call is described once (``CallSpec``); each branch appends to its own ``AttemptLog``
and is cancelled through its own ``CancelToken``; the race decides under the call's one
lock. These tests drive the real ``Hedger`` and ``HedgedCall`` with stub targets (no
sockets), many threads finishing at once, and the interpreter switching threads as often
as it can, so an ordering that only the GIL made safe would show.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from ailib._trace_api import NOOP_CALL
from ailib.call.branch import NO_CANCEL, AttemptLog, Branch, CancelToken
from ailib.call.hedge import Hedger
from ailib.call.race import HedgedCall
from ailib.call.rules import HedgeCancelledError
from ailib.call.spec import CallSpec
from ailib.clock import SYSTEM_CLOCK
from ailib.errors import NetworkError
from ailib.metrics import InMemoryMetrics
from ailib.reliability.hedge import HedgePolicy
from ailib.routing.endpoint import Target
from ailib.types import Attempt
from tests._timing import SLACK

HANG = 5.0 * SLACK  # real seconds before a missing outcome counts as never


@pytest.fixture(autouse=True)
def _switch_often():
    """The interpreter switches threads as often as it can while a test runs."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _targets(n: int) -> list[Target]:
    return [Target(SimpleNamespace(provider=f"p{i}", name=f"e{i}"), "m") for i in range(n)]  # type: ignore[arg-type]


def _spec() -> CallSpec:
    return CallSpec(None, float("inf"), NOOP_CALL, {})


class _Result:
    """A branch's answer; the race closes every one that does not win."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class _Targets:
    """``run_target`` for the hedger: every branch records one attempt into its own log
    and answers (or fails) once all of them have reached the barrier, within 2 ms of each
    other (so some are still in flight when the race ends)."""

    def __init__(self, n: int, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.barrier = threading.Barrier(n)
        self.fail = fail
        self.lock = threading.Lock()
        self.results: dict[str, _Result] = {}
        self.branches: dict[str, Branch] = {}
        self.cancelled: set[str] = set()  # branches that saw their cancellation
        self.ended = threading.Semaphore(0)

    def __call__(self, branch: Branch, target: Target, stream: bool, admitted: bool = False) -> Any:
        name = target.endpoint.name
        with self.lock:
            self.branches[name] = branch
        try:
            started_at, start = time.time(), time.monotonic()
            branch.begin(start)
            try:
                self.barrier.wait(HANG)
            except threading.BrokenBarrierError:
                pass
            time.sleep(random.random() * 0.002)  # some finish before the race ends, some after
            ep = target.endpoint
            if branch.token.cancellable and branch.token.reason is not None:
                with self.lock:
                    self.cancelled.add(name)
                branch.log.record(Attempt(ep.provider, "m", started_at, time.monotonic() - start, "cancelled", None, True, ep.name))
                raise HedgeCancelledError("cancelled")
            if name in self.fail:
                err = NetworkError("refused", request_sent=False)
                branch.log.record(Attempt(ep.provider, "m", started_at, time.monotonic() - start, "error", err, branch.hedge, ep.name))
                raise err
            branch.log.record(Attempt(ep.provider, "m", started_at, time.monotonic() - start, "ok", None, branch.hedge, ep.name))
            result = _Result(name)
            with self.lock:
                self.results[name] = result
            return result
        finally:
            self.ended.release()

    def wait_all(self, n: int) -> None:
        for _ in range(n):
            assert self.ended.acquire(timeout=HANG), "a branch never ended"


def _hedger(n: int, run_target: Any, metrics: Any) -> Hedger:
    return Hedger(
        HedgePolicy(delay=0, max_hedges=n - 1),
        run_target,
        clock=SYSTEM_CLOCK,
        metrics=metrics,
        budget_for=lambda ep: None,
        count_selected=False,
        max_workers=n,
    )


@pytest.mark.parametrize("round_", range(25))
def test_concurrent_finishes_have_one_winner_every_loser_cancelled_and_every_attempt_once(round_):
    """Eight branches answering at once: one winner, every loser closed once or cancelled, one record per branch in start order."""
    n = 8
    metrics = InMemoryMetrics()
    run = _Targets(n)
    hedger = _hedger(n, run, metrics)
    try:
        log = AttemptLog()
        winner = hedger.run(_spec(), log, _targets(n), False)
        run.wait_all(n)
        hedger.close()
        assert isinstance(winner, _Result) and winner.closed == 0
        for name, result in run.results.items():
            if result is not winner:
                assert result.closed == 1, f"{name}'s answer lost but was closed {result.closed} times"
        assert set(run.branches) == set(run.results) | run.cancelled  # every loser answered (closed above) or was cancelled
        assert winner.name not in run.cancelled
        assert metrics.counter("hedge.won") == 1
        assert sorted(a.endpoint for a in log.attempts) == sorted(f"e{i}" for i in range(n))
        assert [a.started_at for a in log.attempts] == sorted(a.started_at for a in log.attempts)
        assert all(a.hedge for a in log.attempts if a.endpoint != "e0")
        assert [a.outcome for a in log.attempts if a.endpoint == winner.name] == ["ok"]
    finally:
        hedger.close()


@pytest.mark.parametrize("round_", range(10))
def test_when_every_branch_fails_at_once_the_call_fails_once_with_every_error(round_):
    """Six branches failing at once: the call raises once, after taking each branch's error once (six errors, six records)."""
    n = 6
    run = _Targets(n, fail={f"e{i}" for i in range(n)})
    hedger = _hedger(n, run, InMemoryMetrics())
    try:
        log = AttemptLog()
        with pytest.raises(NetworkError):
            hedger.run(_spec(), log, _targets(n), False)
        run.wait_all(n)
        assert len(log.errors) == n
        assert sorted(a.endpoint for a in log.attempts) == sorted(f"e{i}" for i in range(n))
        assert all(a.outcome == "error" for a in log.attempts)
    finally:
        hedger.close()


class _Registry:
    def __init__(self) -> None:
        self.pending: dict[Any, None] = {}
        self.races: dict[Any, None] = {}


class _Host:
    metrics = InMemoryMetrics()
    counting = False
    count_selected = False
    cap = 2
    clock = SYSTEM_CLOCK
    poll = None

    def submit(self, fn: Any, *args: Any) -> None:  # a hedge never runs in these tests
        pass


def test_a_claim_and_the_primary_ending_alone_never_both_win():
    """Claims racing the primary's end: either no race and every claim None, or one race every claim shares; registries left empty."""
    for _ in range(300):
        registry = _Registry()
        call = HedgedCall(_Host(), registry, _spec(), AttemptLog(), _targets(2), False, None, 1.0, lambda *a: None, None, 0.0)  # type: ignore[arg-type]
        registry.pending[call] = None
        go = threading.Barrier(9)
        got: list[Any] = []

        def claim(call: HedgedCall, go: threading.Barrier, got: list[Any]) -> None:
            go.wait()
            got.append(call.claim())

        threads = [threading.Thread(target=claim, args=(call, go, got)) for _ in range(8)]
        for t in threads:
            t.start()
        go.wait()
        race = call.primary_done()
        for t in threads:
            t.join(HANG)
        ended = call.end()
        assert ended is race
        if race is None:
            assert got == [None] * 8
        else:
            assert {id(r) for r in got if r is not None} == {id(race)}
        assert registry.pending == {} and registry.races == {}


def test_an_attempt_begun_after_its_branch_was_cancelled_is_cancelled_at_once():
    """A token cancelled between two attempts hands the next attempt a handle already cancelled, with the reason."""
    token = CancelToken(threading.Lock())
    log = AttemptLog(token.lock)
    first = token.begin(log, 1.0)
    reason = HedgeCancelledError("lost")
    token.cancel(reason)
    assert first.cancelled and first.reason is reason
    second = token.begin(log, 2.0)
    assert second.cancelled and second.reason is reason


def test_a_cancel_wakes_a_backoff_at_once():
    """A branch sleeping through a 10 s backoff wakes as soon as another thread cancels it."""
    token = CancelToken(threading.Lock())
    woke = threading.Event()

    def backoff() -> None:
        token.sleep(10.0)
        woke.set()

    t = threading.Thread(target=backoff)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    token.cancel(HedgeCancelledError("lost"))
    assert woke.wait(HANG)
    assert time.monotonic() - start < 1.0 * SLACK
    t.join(HANG)


def test_a_plain_branch_cannot_be_cancelled_and_takes_no_lock():
    """A plain call's token (NO_CANCEL) hands each attempt a fresh handle and has no state; its log has no lock."""
    log = AttemptLog()
    assert NO_CANCEL.cancellable is False and NO_CANCEL.begin(log, 1.0) is not NO_CANCEL.begin(log, 2.0)
    assert not hasattr(NO_CANCEL, "__dict__")
    assert AttemptLog().lock is None


def test_a_log_closed_by_the_merge_records_nothing_more_and_reports_the_attempt_in_flight():
    """A hedge's log closed by the race's merge reports the attempt in flight and drops the branch's late record."""
    lock = threading.Lock()
    log = AttemptLog(lock)
    log.record(Attempt("p", "m", 1.0, 0.1, "error", None, True, "e"))
    CancelToken(lock).begin(log, 5.0)
    with lock:
        recorded, in_flight = log.close_locked()
    assert [a.started_at for a in recorded] == [1.0] and in_flight == 5.0
    log.record(Attempt("p", "m", 5.0, 0.1, "cancelled", None, True, "e"))
    assert len(log.attempts) == 1


def test_the_call_spec_is_immutable_and_shares_derived_values_across_branches():
    """A CallSpec refuses assignment; sixteen threads get one idempotency key; a traced copy shares the memo."""
    spec = _spec()
    with pytest.raises(AttributeError):
        spec.deadline = 1.0  # type: ignore[misc]
    go = threading.Barrier(16)
    keys: list[str] = []

    def ask() -> None:
        go.wait()
        keys.append(spec.idempotency_key())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert len(keys) == 16 and len(set(keys)) == 1
    traced = spec.traced(NOOP_CALL)
    assert traced.memo is spec.memo and traced.idempotency_key() == keys[0]
