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
    """What the clock needs of a race: ``due`` and ``on_due``. Also stands for a call: the
    claim below turns a pending call into itself."""

    def __init__(self, due: float) -> None:
        self.due = due
        self.fired = threading.Event()
        self.times = 0
        self.thread: str = ""
        self.claimed_by = ""

    def on_due(self) -> None:
        self.times += 1
        self.thread = threading.current_thread().name
        self.fired.set()


def _clock(clock: object, **kw: float) -> HedgeClock:
    """A clock whose claim is the hedger's, reduced to its contract: a call still pending
    leaves ``pending`` and becomes a race (here, itself) in ``races``."""

    def claim(call: _Race) -> _Race | None:
        if call not in hc.pending:
            return None
        del hc.pending[call]
        call.claimed_by = threading.current_thread().name
        hc.races[call] = None
        return call

    hc = HedgeClock(claim, clock, **kw)  # type: ignore[arg-type]
    return hc


def _join(hc: HedgeClock, call: _Race, lead: float) -> None:
    """Join ``call`` the way the hedger does (its primary running alone)."""
    hc.pending[call] = None
    hc.lead = lead
    if call.due < hc.wake_at:
        hc.wake()


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clock(fake: FakeClock):
    hc = _clock(fake)
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


def test_a_pending_call_is_claimed_and_started_once_when_its_delay_passes(clock: HedgeClock, fake: FakeClock) -> None:
    """A call joined with due = now + 0.5 is claimed (made a race) and started exactly once,
    from the clock's thread, only after the (fake) delay has passed."""
    race = _Race(fake.monotonic() + 0.5)
    _join(clock, race, 0.5)
    _settle(clock, race.due)
    assert not race.fired.is_set(), "fired before its delay passed"
    fake.advance(0.5)
    assert race.fired.wait(HANG)
    _settle(clock, fake.monotonic() + 0.5)  # back to watching one lead ahead
    assert race.times == 1 and race.thread == race.claimed_by == "ailib-hedge-timer"


def test_a_race_is_started_again_at_its_next_due(clock: HedgeClock, fake: FakeClock) -> None:
    """A race (in ``races``) whose ``due`` is armed again gets ``on_due`` at that instant."""
    race = _Race(fake.monotonic() + 0.5)
    clock.races[race] = None
    clock.wake()
    fake.advance(0.5)
    assert race.fired.wait(HANG)
    race.fired.clear()
    race.due = fake.monotonic() + 0.5
    clock.wake()
    _settle(clock, race.due)
    assert not race.fired.is_set()
    fake.advance(0.5)
    assert race.fired.wait(HANG) and race.times == 2


def test_a_call_that_left_is_never_claimed(clock: HedgeClock, fake: FakeClock) -> None:
    """A call removed from ``pending`` before its due (it ended) is never claimed."""
    first = _Race(fake.monotonic() + 0.5)
    _join(clock, first, 0.5)
    _settle(clock, first.due)
    clock.pending.pop(first)
    marker = _Race(fake.monotonic() + 1.0)  # proves the thread looked after first's due
    _join(clock, marker, 1.0)
    fake.advance(1.0)
    assert marker.fired.wait(HANG)
    assert not first.fired.is_set() and not first.claimed_by


def test_a_race_due_sooner_than_the_thread_would_wake_wakes_it() -> None:
    """On the system clock (no polling), with the thread asleep until a call due in 60 s, a
    call due in 0.05 s is still started (joining it wakes the thread), and the first is not."""
    hc = _clock(SYSTEM_CLOCK)
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
    call (due a lead after it starts) joins without waking the thread."""
    first = _Race(fake.monotonic() + 0.5)
    _join(clock, first, 0.5)
    _settle(clock, first.due)
    clock.pending.pop(first)
    fake.advance(0.5)
    _settle(clock, fake.monotonic() + 0.5)
    nxt = _Race(fake.monotonic() + 0.5)
    assert not nxt.due < clock.wake_at, "joining this call would wake the thread"


def test_an_idle_clock_sleeps_until_a_race_wakes_it(fake: FakeClock) -> None:
    """After ``idle`` seconds with nothing in flight the thread stops its periodic watch
    (sleeps until woken); a call joining then wakes it and is started at its due."""
    hc = _clock(fake, idle=2.0)
    try:
        race = _Race(fake.monotonic() + 0.5)
        _join(hc, race, 0.5)
        fake.advance(0.5)
        assert race.fired.wait(HANG)
        hc.races.pop(race, None)
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
    """close() forgets the calls in flight and stops the thread."""
    race = _Race(fake.monotonic() + 0.5)
    _join(clock, race, 0.5)
    thread = clock._thread
    assert thread is not None
    clock.close()
    fake.advance(1.0)
    thread.join(HANG)
    assert not thread.is_alive() and not race.fired.is_set() and not clock.pending


def test_a_clock_stopped_from_its_own_thread_mid_scan_ends_its_thread() -> None:
    """stop() run on the clock's thread while it holds its lock (a garbage-collector pass
    finalizing the clock's hedger during a scan) ends the thread instead of deadlocking."""

    class StoppedMidScan(HedgeClock):
        def _scan(self, now: float) -> tuple:
            if self.pending:
                self.stop()  # what the dropped hedger's finalizer does
            return super()._scan(now)

    hc = StoppedMidScan(lambda call: None, SYSTEM_CLOCK)
    hc.pending[_Race(float("inf"))] = None
    hc.lead = 60.0
    hc.wake()
    thread = hc._thread
    assert thread is not None
    thread.join(HANG)
    assert not thread.is_alive() and hc.closed


class _Failing(_Race):
    """A race whose first ``on_due`` raises ``error`` (a bug, or the thread asked to exit)."""

    def __init__(self, due: float, error: BaseException) -> None:
        super().__init__(due)
        self.error = error

    def on_due(self) -> None:
        super().on_due()
        if self.times == 1:
            raise self.error


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the killed thread, reported
@pytest.mark.parametrize("error", [RuntimeError("a bug in a callback"), SystemExit()], ids=["exception", "thread killed"])
def test_the_clock_goes_on_after_a_callback_fails(clock: HedgeClock, fake: FakeClock, error: BaseException) -> None:
    """A race whose callback raises (or ends the clock's thread) does not stop the clock: the
    next race still starts at its due, on a thread of the clock (restarted if it died)."""
    bad = _Failing(fake.monotonic() + 0.5, error)
    _join(clock, bad, 0.5)
    fake.advance(0.5)
    assert bad.fired.wait(HANG)
    good = _Race(fake.monotonic() + 0.5)
    _join(clock, good, 0.5)
    fake.advance(0.5)
    assert good.fired.wait(HANG)
    assert good.thread == "ailib-hedge-timer"
    for _ in range(int(HANG / 0.01)):  # the dead thread has finished dying (its report is this test's)
        if len([t for t in threading.enumerate() if t.name == "ailib-hedge-timer"]) <= 1:
            break
        threading.Event().wait(0.01)


def test_a_clock_whose_thread_cannot_start_raises_nothing_and_starts_later(fake: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """When no thread can be had, joining raises nothing (the primary just runs on); once threads
    can start again (after RETRY_START), the next join starts the clock and its race fires."""
    import time

    from ailib._watch import RETRY_START

    start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        if self.name.startswith("ailib"):
            raise RuntimeError("can't start new thread")
        start(self)

    hc = _clock(fake)
    try:
        monkeypatch.setattr(threading.Thread, "start", refuse)
        first = _Race(fake.monotonic() + 0.5)
        _join(hc, first, 0.5)  # no exception
        monkeypatch.setattr(threading.Thread, "start", start)
        time.sleep(RETRY_START)
        race = _Race(fake.monotonic() + 0.1)
        _join(hc, race, 0.1)
        fake.advance(0.5)
        assert race.fired.wait(HANG) and first.fired.wait(HANG)
    finally:
        hc.close()
