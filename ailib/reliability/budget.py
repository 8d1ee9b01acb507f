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
from ailib.reliability._window import _SlidingCounts

__all__ = ["RatioBudget"]

# Slack for float products such as 0.29 * 100 == 28.999999999999996.
_EPS = 1e-9
EPS = _EPS  # public within ailib: the Redis budget's Lua script uses the same slack


class RatioBudget:
    """Allows extra attempts up to ``floor + ratio * (calls in the last window)``.

    Thread-safe; every operation is O(1). ``record_call()`` once per logical call,
    ``try_spend()`` before each extra attempt (a retry or a hedge).
    """

    __slots__ = ("_clock", "_counts", "_lock", "floor", "ratio", "window")

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

    def record_call(self) -> None:
        """Count one logical call; each adds ``ratio`` extra attempts to the allowance."""
        now = self._clock.monotonic()
        with self._lock:
            self._counts.add(now, 0)

    def try_spend(self) -> bool:
        """Take one extra-attempt permit if the allowance has one left; True if taken."""
        with self._lock:
            counts = self._counts
            current = counts.advance(self._clock.monotonic())
            calls, spent = counts.totals
            if spent + 1 > self.floor + self.ratio * calls + _EPS:
                return False
            current[1] += 1
            counts.totals[1] += 1
            return True

    def available(self) -> int:
        """How many extra attempts ``try_spend`` would grant right now."""
        with self._lock:
            counts = self._counts
            counts.advance(self._clock.monotonic())
            calls, spent = counts.totals
            return max(0, math.floor(self.floor + self.ratio * calls + _EPS) - spent)

    def __repr__(self) -> str:
        return f"RatioBudget(ratio={self.ratio:g}, floor={self.floor}, window={self.window:g})"
