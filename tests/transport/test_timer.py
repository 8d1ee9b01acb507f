"""The process-wide timer: one thread for every client, cancels at the instant, forgets disarmed attempts."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ailib.errors import DeadlineExceededError
from ailib.transport import AttemptHandle, Deadlines
from ailib.transport._timer import TIMER, arm

from ._server import RawServer
from ._support import SLACK, client_for, request

_INF = float("inf")


def _timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ailib-timer"]


def test_one_timer_thread_serves_every_client():
    """Ten clients making calls at once start no thread per call or per client: one ailib-timer in all."""
    with RawServer("length") as server:
        clients = [client_for(server.base_url, deadline=5.0) for _ in range(10)]
        threads = [threading.Thread(target=c.chat_completion, args=(request(),)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(_timer_threads()) == 1
        for c in clients:
            c.close()


def test_an_armed_handle_is_cancelled_at_its_instant_with_the_deadline_error():
    """A handle armed 0.1 s ahead is cancelled by the timer (not before), with the call's deadline as reason."""
    handle = AttemptHandle()
    now = time.monotonic()
    handle.deadlines = Deadlines(1.0, 1.0, 1.0, call_end=now + 0.1)
    arm(handle, now + 0.1)
    assert not handle.cancelled
    end = time.monotonic() + 5.0
    while not handle.cancelled and time.monotonic() < end:
        time.sleep(0.005)
    assert handle.cancelled and time.monotonic() - now >= 0.1
    assert isinstance(handle.reason, DeadlineExceededError)


def test_a_disarmed_handle_is_never_cancelled():
    """Disarming (instant = inf) before the instant passes leaves the attempt alone."""
    handle = AttemptHandle()
    now = time.monotonic()
    handle.deadlines = Deadlines(1.0, 1.0, 1.0, call_end=now + 0.05)
    arm(handle, now + 0.05)
    arm(handle, _INF)
    time.sleep(0.15)
    assert not handle.cancelled


def test_disarmed_entries_do_not_pile_up():
    """10,000 attempts armed far ahead and disarmed leave at most a few thousand entries queued (compaction)."""
    for _ in range(10_000):
        handle = AttemptHandle()
        arm(handle, time.monotonic() + 600.0)
        arm(handle, _INF)
    assert TIMER.pending() <= 4096 + 64


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_never_fires_the_parents_entries():
    """A forked child starts with an empty timer: the parent's armed attempts are not cancelled there."""
    handle = AttemptHandle()
    handle.deadlines = Deadlines(1.0, 1.0, 1.0, call_end=time.monotonic() + 0.05)
    arm(handle, time.monotonic() + 0.05)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = TIMER.pending() == 0
        time.sleep(0.15)
        os._exit(0 if ok and not handle.cancelled else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_attempts_armed_from_many_threads_each_end_at_their_instant():
    """64 threads arming and moving instants at once (no lock on that path): every attempt armed is
    cancelled at its instant, not before and not much after; every disarmed one is left alone."""
    fired_late: list[float] = []
    problems: list[str] = []

    def worker() -> None:
        for i in range(20):
            handle = AttemptHandle()
            now = time.monotonic()
            handle.deadlines = Deadlines(1.0, 1.0, 1.0, call_end=now + 10.0)
            arm(handle, now + 5.0)
            instant = now + 0.005 + (i % 5) * 0.005
            arm(handle, instant)  # moved earlier
            if i % 3 == 0:
                arm(handle, _INF)
                in_time = time.monotonic() < instant  # a stalled thread may disarm too late
                time.sleep(max(0.0, instant - time.monotonic()) + 0.02)
                if in_time and handle.cancelled:
                    problems.append("a disarmed attempt was cancelled")
                continue
            limit = instant + 2.0
            while not handle.cancelled and time.monotonic() < limit:
                time.sleep(0.001)
            at = time.monotonic()
            if not handle.cancelled:
                problems.append("an armed attempt was never cancelled")
            elif at < instant:
                problems.append("cancelled before its instant")
            else:
                fired_late.append(at - instant)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert problems == []
    assert len(fired_late) == 64 * 13
    assert sorted(fired_late)[len(fired_late) // 2] < 0.1 * SLACK  # the median fires on time (a shared machine may delay a few)
    assert TIMER.pending() == 0
