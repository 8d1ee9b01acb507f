"""ailib.clock: injected time, in one place (no second import path before the first release)."""

from __future__ import annotations

import importlib

import pytest

from ailib import clock
from ailib.testing import FakeClock


def test_clock_has_one_import_path():
    """ailib.testing.FakeClock is ailib.clock's, and the pre-release alias ailib.reliability.clock is gone."""
    assert FakeClock is clock.FakeClock
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("ailib.reliability.clock")


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
