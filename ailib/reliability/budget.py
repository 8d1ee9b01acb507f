"""Ratio budgets for extra attempts (retries, hedges), over a bucketed sliding window.

A ``RatioBudget`` allows at most ``floor + ratio * calls`` extra attempts over the last
``window`` seconds, where ``calls`` counts logical calls (``record_call``) and each extra
attempt takes one permit (``try_spend``). It starts full: a fresh budget allows ``floor``
extras at once. Both counts live in the same sliding window, so permits spent more than
``window`` seconds ago are given back.
"""

from __future__ import annotations

import math
import threading

from ailib.clock import SYSTEM_CLOCK, Clock
from ailib.errors import ConfigurationError
from ailib.reliability._window import WINDOW_BUCKETS, _SlidingCounts

__all__ = ["RatioBudget"]

# Slack for float products such as 0.29 * 100 == 28.999999999999996.
_EPS = 1e-9
EPS = _EPS  # public within ailib: the Redis budget's Lua script uses the same slack


class RatioBudget:
    """Allows extra attempts up to ``floor + ratio * (calls in the last window)``.

    Thread-safe; every operation is O(1). ``record_call()`` once per logical call,
    ``try_spend()`` before each extra attempt (a retry or a hedge).
    """

    __slots__ = ("_clock", "_counts", "_lock", "_pending", "_slice_end", "floor", "ratio", "window")

    def __init__(self, ratio: float, *, floor: int, window: float = 10.0, clock: Clock = SYSTEM_CLOCK) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 0:
            raise ConfigurationError(f"budget ratio must be a finite number >= 0, got {ratio!r}")
        if isinstance(floor, bool) or not isinstance(floor, int) or floor < 0:
            raise ConfigurationError(f"budget floor must be an integer >= 0, got {floor!r}")
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not math.isfinite(window) or window <= 0:
            raise ConfigurationError(f"budget window must be a finite number > 0, got {window!r}")
        self.ratio = float(ratio)
        self.floor = floor
        self.window = float(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = _SlidingCounts(self.window, channels=2)
        # Calls are counted without the lock (every call records one: under many threads a
        # lock there is a convoy that halves throughput). ``list.append`` is atomic; the
        # calls are folded into the window under the lock once per slice, and before any read.
        self._pending: list[None] = []
        self._slice_end = -math.inf  # when the slice the pending calls belong to ends

    def record_call(self) -> None:
        """Count one logical call; each adds ``ratio`` extra attempts to the allowance."""
        now = self._clock.monotonic()
        if now < self._slice_end:
            self._pending.append(None)
            return
        with self._lock:  # the first call of a slice: the last slice's calls go in first
            current = self._fold(now)
            current[0] += 1
            self._counts.totals[0] += 1

    def _fold(self, now: float) -> list[int]:
        """Move the calls counted since the last fold into the slice they were counted in
        (the lock held); the current slice's counters."""
        pending = self._pending
        n = len(pending)
        counts = self._counts
        if n:
            del pending[:n]  # only those counted: calls appended meanwhile stay for the next fold
            width = self.window / WINDOW_BUCKETS
            then = counts.advance(self._slice_end - width / 2)
            then[0] += n
            counts.totals[0] += n
        current = counts.advance(now)
        width = self.window / WINDOW_BUCKETS
        self._slice_end = (now // width + 1) * width
        return current

    def try_spend(self) -> bool:
        """Take one extra-attempt permit if the allowance has one left; True if taken."""
        with self._lock:
            current = self._fold(self._clock.monotonic())
            counts = self._counts
            calls, spent = counts.totals
            if spent + 1 > self.floor + self.ratio * calls + _EPS:
                return False
            current[1] += 1
            counts.totals[1] += 1
            return True

    def available(self) -> int:
        """How many extra attempts ``try_spend`` would grant right now."""
        with self._lock:
            self._fold(self._clock.monotonic())
            calls, spent = self._counts.totals
            return max(0, math.floor(self.floor + self.ratio * calls + _EPS) - spent)

    def __repr__(self) -> str:
        return f"RatioBudget(ratio={self.ratio:g}, floor={self.floor}, window={self.window:g})"
