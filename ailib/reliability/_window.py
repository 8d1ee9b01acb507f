"""A bucketed sliding window of event counts, shared by the ratio budget and the breaker.

The Redis state store keeps the same layout in a hash (one field per slice holding its
absolute index and counts), so both stores forget old events the same way.
"""

from __future__ import annotations

import sys

__all__ = ["WINDOW_BUCKETS", "_SlidingCounts"]

WINDOW_BUCKETS = 10  # slices per window, in memory and in Redis


class _SlidingCounts:
    """Event counts per channel over a sliding window kept as ``buckets`` equal slices.

    ``totals[ch]`` is the sum over the window. Slices are recycled as time passes, so
    each update is O(buckets) at worst and O(1) in the common case. A slice is dropped
    once it is a whole ``window`` old, so the window covers between ``window - window /
    buckets`` and ``window`` seconds. Not thread-safe: callers hold their own lock.
    """

    __slots__ = ("_head", "_n", "_slices", "_width", "totals")

    def __init__(self, window: float, channels: int, buckets: int = WINDOW_BUCKETS) -> None:
        self._width = window / buckets
        self._n = buckets
        self._slices = [[0] * channels for _ in range(buckets)]
        self._head = -sys.maxsize  # absolute index of the newest slice
        self.totals = [0] * channels

    def advance(self, now: float) -> list[int]:
        """Forget slices older than the window; return the counters of the current slice."""
        idx = int(now // self._width)
        head = self._head
        if idx > head:
            n = self._n
            totals = self.totals
            for k in range(head + 1, head + 1 + min(idx - head, n)):
                counts = self._slices[k % n]
                for ch, c in enumerate(counts):
                    if c:
                        totals[ch] -= c
                        counts[ch] = 0
            self._head = head = idx
        return self._slices[head % self._n]

    def add(self, now: float, channel: int) -> None:
        """Count one event on ``channel`` at ``now`` (``advance`` and an increment, in one)."""
        idx = int(now // self._width)
        counts = self._slices[idx % self._n] if idx == self._head else self.advance(now)
        counts[channel] += 1
        self.totals[channel] += 1

    def clear(self) -> None:
        """Forget everything."""
        for counts in self._slices:
            counts[:] = [0] * len(counts)
        self.totals[:] = [0] * len(self.totals)
