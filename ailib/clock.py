"""Injected time. Every time-dependent primitive takes a ``Clock``."""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

__all__ = ["Clock", "SystemClock", "FakeClock", "SYSTEM_CLOCK"]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"

    def __reduce__(self) -> tuple[Callable[[], SystemClock], tuple[()]]:
        return _system_clock, ()  # unpickles as the one system clock, so a value holding it stays equal


SYSTEM_CLOCK = SystemClock()


def _system_clock() -> SystemClock:
    return SYSTEM_CLOCK


class FakeClock:
    """A clock for tests: ``sleep`` advances time at once instead of waiting.

    Thread-safe. ``sleeps`` records every requested sleep, in order.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake monotonic time, in seconds."""
        with self._lock:
            return self._now

    def time(self) -> float:
        """The fake wall-clock time (``wall_start`` plus the time advanced)."""
        with self._lock:
            return self._now + self._wall_offset

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock by ``seconds`` at once (never really sleeps)."""
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now:.3f})"
