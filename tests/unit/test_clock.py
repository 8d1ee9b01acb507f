"""ailib.clock: injected time (the old path ailib.reliability.clock re-exports it)."""

from __future__ import annotations

import ailib.reliability.clock as old
from ailib import clock
from ailib.testing import FakeClock


def test_old_import_path_names_the_same_objects():
    """ailib.reliability.clock re-exports the very objects of ailib.clock, so both paths interoperate."""
    assert old.FakeClock is clock.FakeClock is FakeClock
    assert old.SYSTEM_CLOCK is clock.SYSTEM_CLOCK and old.SystemClock is clock.SystemClock


def test_fake_clock_sleep_advances_at_once_and_is_recorded():
    """FakeClock.sleep moves monotonic and wall time forward by the amount and records it; advance does not record."""
    c = FakeClock(start=10.0, wall_start=100.0)
    c.sleep(2.5)
    c.advance(1.0)
    c.sleep(0)
    assert (c.monotonic(), c.time(), c.sleeps) == (13.5, 103.5, [2.5, 0])


def test_system_clock_ignores_non_positive_sleeps():
    """SystemClock.sleep returns at once for zero or negative seconds."""
    clock.SYSTEM_CLOCK.sleep(-1)
    clock.SYSTEM_CLOCK.sleep(0)
