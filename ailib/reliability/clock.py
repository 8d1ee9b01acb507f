"""Moved to ``ailib.clock``; this module re-exports it while imports move over."""

from ..clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock

__all__ = ["Clock", "SystemClock", "FakeClock", "SYSTEM_CLOCK"]
