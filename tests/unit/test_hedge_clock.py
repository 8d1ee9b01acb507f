"""The hedge clock (ailib/call/timer.py): the thread that starts hedges when they fall due.

The tests run on ``FakeClock`` (the clock's thread re-reads it every 2 ms of real time), but
one on the system clock, where nothing polls; real waits only bound how long a thread may take
to notice, to catch hangs.
"""

from __future__ import annotations

import threading

import pytest

from ailib.call.timer import HedgeClock
from ailib.clock import SYSTEM_CLOCK, FakeClock
from tests._timing import SLACK

HANG = 5.0 * SLACK  # seconds of real time before a missing callback counts as never


class _Race:
    """What the clock needs of a race: ``due`` and ``on_due``."""

    def __init__(self, due: float) -> None:
        self.due = due
        self.fired = threading.Event()
        self.times = 0
        self.thread: str = ""

    def on_due(self) -> None:
        self.times += 1
        self.thread = threading.current_thread().name
        self.fired.set()


def _join(hc: HedgeClock, race: _Race, lead: float) -> None:
    """Join ``race`` the way the hedger does."""
    hc.inflight[race] = None
    hc.lead = lead
    if race.due < hc.wake_at:
        hc.wake()


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clock(fake: FakeClock):
    hc = HedgeClock(fake)
    yield hc
    hc.close()


def _settle(hc: HedgeClock, wake_at: float) -> None:
    """Wait (real time) until the clock's thread has published ``wake_at``."""
    done = threading.Event()
    for _ in range(int(HANG / 0.002)):
        if hc.wake_at == wake_at:
            done.set()
            break
        done.wait(0.002)
    assert done.is_set(), f"the clock never settled on {wake_at} (it says {hc.wake_at})"


def test_a_race_is_started_once_on_the_clocks_thread_when_its_delay_passes(clock: HedgeClock, fake: FakeClock) -> None:
    """A race joined with due = now + 0.5 gets ``on_due`` exactly once, from the clock's
    thread, only after the (fake) delay has passed."""
    race = _Race(fake.monotonic() + 0.5)
    _join(clock, race, 0.5)
    _settle(clock, race.due)
    assert not race.fired.is_set(), "fired before its delay passed"
    fake.advance(0.5)
    assert race.fired.wait(HANG)
    _settle(clock, fake.monotonic() + 0.5)  # back to watching one lead ahead
    assert race.times == 1 and race.thread == "ailib-hedge-timer"


def test_a_race_that_left_is_never_started(clock: HedgeClock, fake: FakeClock) -> None:
    """A race removed from ``inflight`` before its due (its call ended) is not started."""
    first = _Race(fake.monotonic() + 0.5)
    _join(clock, first, 0.5)
    _settle(clock, first.due)
    clock.inflight.pop(first)
    marker = _Race(fake.monotonic() + 1.0)  # proves the thread looked after first's due
    _join(clock, marker, 1.0)
    fake.advance(1.0)
    assert marker.fired.wait(HANG)
    assert not first.fired.is_set()


def test_a_race_due_sooner_than_the_thread_would_wake_wakes_it() -> None:
    """On the system clock (no polling), with the thread asleep until a race due in 60 s, a
    race due in 0.05 s is still started (joining it wakes the thread), and the first is not."""
    hc = HedgeClock(SYSTEM_CLOCK)
    try:
        late = _Race(SYSTEM_CLOCK.monotonic() + 60.0)
        _join(hc, late, 60.0)
        _settle(hc, late.due)
        soon = _Race(SYSTEM_CLOCK.monotonic() + 0.05)
        _join(hc, soon, 0.05)
        assert soon.fired.wait(HANG), "the sooner race waited for the later one's due"
        assert not late.fired.is_set()
    finally:
        hc.close()


def test_calls_that_never_hedge_need_no_wake_up(clock: HedgeClock, fake: FakeClock) -> None:
    """Once the thread has looked at an empty clock it watches one lead ahead, so the next
    race (due a lead after it starts) joins without waking the thread."""
    first = _Race(fake.monotonic() + 0.5)
    _join(clock, first, 0.5)
    _settle(clock, first.due)
    clock.inflight.pop(first)
    fake.advance(0.5)
    _settle(clock, fake.monotonic() + 0.5)
    nxt = _Race(fake.monotonic() + 0.5)
    assert not nxt.due < clock.wake_at, "joining this race would wake the thread"


def test_an_idle_clock_sleeps_until_a_race_wakes_it(fake: FakeClock) -> None:
    """After ``idle`` seconds with no race in flight the thread stops its periodic watch
    (sleeps until woken); a race joining then wakes it and is started at its due."""
    hc = HedgeClock(fake, idle=2.0)
    try:
        race = _Race(fake.monotonic() + 0.5)
        _join(hc, race, 0.5)
        fake.advance(0.5)
        assert race.fired.wait(HANG)
        hc.inflight.pop(race)
        fake.advance(0.5)
        _settle(hc, fake.monotonic() + 0.5)  # it has seen the clock empty: watching
        fake.advance(2.0)
        _settle(hc, float("inf"))
        again = _Race(fake.monotonic() + 0.5)
        _join(hc, again, 0.5)
        fake.advance(0.5)
        assert again.fired.wait(HANG)
    finally:
        hc.close()


def test_a_closed_clock_starts_nothing_and_its_thread_ends(clock: HedgeClock, fake: FakeClock) -> None:
    """close() forgets the races in flight and stops the thread."""
    race = _Race(fake.monotonic() + 0.5)
    _join(clock, race, 0.5)
    thread = clock._thread
    assert thread is not None
    clock.close()
    fake.advance(1.0)
    thread.join(HANG)
    assert not thread.is_alive() and not race.fired.is_set() and not clock.inflight
