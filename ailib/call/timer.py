"""Callbacks at monotonic instants, on one lazily started thread (the hedger's timer).

``schedule(at, fn)`` costs a heap push under a lock; the thread is woken only when the
new instant is earlier than the one it is already waiting for. A cancelled entry stays
in the heap until it reaches the top and is dropped unrun, so cancelling is one
attribute write. With an injected clock other than the system clock, the thread
re-reads the clock every ``poll`` seconds of real time, so a ``FakeClock`` moved by a
test fires what is due.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Any, Callable, Optional

from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["Timer", "TimerEntry"]

log = logging.getLogger("ailib")
_INF = float("inf")


class TimerEntry:
    """A scheduled callback; ``cancel()`` makes sure it never runs (if not yet started)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn: Optional[Callable[[], Any]] = fn

    def cancel(self) -> None:
        self.fn = None


class Timer:
    """One thread running callbacks at their instants; a closed timer schedules nothing."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, name: str = "ailib-hedge-timer", poll: Optional[float] = None) -> None:
        self.clock = clock
        self.name = name
        self.poll = poll if poll is not None else (None if clock is SYSTEM_CLOCK else 0.002)
        self._reset()
        self.closed = False

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, TimerEntry]] = []
        self._seq = itertools.count()
        self._wake_at = _INF  # the instant the thread waits for (inf: idle or not started)
        self._thread: Optional[threading.Thread] = None

    def schedule(self, at: float, fn: Callable[[], Any]) -> TimerEntry:
        """Run ``fn()`` on the timer's thread at monotonic instant ``at`` (unless cancelled)."""
        entry = TimerEntry(fn)
        with self._cond:
            if self.closed:
                entry.fn = None
                return entry
            heapq.heappush(self._heap, (at, next(self._seq), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            elif at < self._wake_at:
                self._cond.notify()
        return entry

    def _loop(self) -> None:
        cond, heap, clock = self._cond, self._heap, self.clock
        with cond:
            while not self.closed:
                now = clock.monotonic()
                due = []
                while heap and (heap[0][2].fn is None or heap[0][0] <= now):
                    fn = heapq.heappop(heap)[2].fn
                    if fn is not None:
                        due.append(fn)
                if due:
                    cond.release()
                    try:
                        for fn in due:
                            try:
                                fn()
                            except Exception:  # a callback must not kill the timer
                                log.exception("ailib: a timer callback failed")
                    finally:
                        cond.acquire()
                    continue
                timeout: Optional[float] = None
                if heap:
                    self._wake_at = heap[0][0]
                    timeout = self._wake_at - now
                else:
                    self._wake_at = _INF
                if self.poll is not None:
                    timeout = self.poll if timeout is None else min(timeout, self.poll)
                cond.wait(timeout)
            self._wake_at = _INF

    def close(self, timeout: float = 1.0) -> None:
        """Drop everything scheduled and stop the thread (waiting at most ``timeout``)."""
        with self._cond:
            self.closed = True
            self._heap.clear()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork_in_child(self) -> None:
        """A forked child has no timer thread: forget the parent's, start afresh on demand."""
        self._reset()
