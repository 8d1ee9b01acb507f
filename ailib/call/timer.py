"""Callbacks at monotonic instants, on one lazily started thread (the hedger's timer).

``schedule(at, fn)`` costs a heap push under a lock and returns a token (the instant,
nudged to be unique); the thread is woken only when the new instant is earlier than the
one it is already waiting for. ``cancel(token)`` is one dictionary removal. The heap holds
only floats, which the garbage collector neither tracks nor counts; a cancelled instant
stays until the thread wakes at an instant, and then every cancelled one at the top goes, so
a stream of calls whose hedges never fire wakes the thread about once per delay, not once
per call. With an injected clock other than the system clock, the thread re-reads the
clock every ``poll`` seconds of real time, so a ``FakeClock`` moved by a test fires what
is due.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from typing import Any, Callable, Optional

from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["Timer"]

log = logging.getLogger("ailib")
_INF = float("inf")


class Timer:
    """One thread running callbacks at their instants; a closed timer schedules nothing."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, name: str = "ailib-hedge-timer", poll: Optional[float] = None) -> None:
        self.clock = clock
        self.name = name
        self.poll = poll if poll is not None else (None if clock is SYSTEM_CLOCK else 0.002)
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[float] = []
        self._callbacks: dict[float, Callable[[], Any]] = {}  # instant (the token) -> callback
        self._wake_at = _INF  # the instant the thread waits for (inf: idle or not started)
        self._thread: Optional[threading.Thread] = None

    def schedule(self, at: float, fn: Callable[[], Any]) -> float:
        """Run ``fn()`` on the timer's thread at monotonic instant ``at``, unless cancelled;
        returns the token for ``cancel``."""
        with self._lock:
            if self.closed:
                return at
            callbacks = self._callbacks
            while at in callbacks:  # another callback at the very same instant
                at = math.nextafter(at, _INF)
            callbacks[at] = fn
            heapq.heappush(self._heap, at)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            elif at < self._wake_at:
                self._cond.notify()
        return at

    def cancel(self, token: float) -> None:
        """Make sure the callback of ``token`` does not run (if it has not started)."""
        self._callbacks.pop(token, None)

    def _loop(self) -> None:
        cond, heap, callbacks, clock = self._cond, self._heap, self._callbacks, self.clock
        with cond:
            while not self.closed:
                now = clock.monotonic()
                due = []
                timed = bool(heap) and heap[0] <= now
                while heap and heap[0] <= now:
                    fn = callbacks.pop(heapq.heappop(heap), None)
                    if fn is not None:
                        due.append(fn)
                # Cancelled pairs go in bulk only on a timed wake: dropping them when woken
                # for a new entry would leave the heap empty, so the next schedule() would
                # wake the thread again, once per call.
                while timed and heap and heap[0] not in callbacks:
                    heapq.heappop(heap)
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
                    self._wake_at = heap[0]
                    timeout = self._wake_at - now
                else:
                    self._wake_at = _INF
                if self.poll is not None:
                    timeout = self.poll if timeout is None else min(timeout, self.poll)
                cond.wait(timeout)
            self._wake_at = _INF

    def close(self, timeout: float = 1.0) -> None:
        """Drop everything scheduled and stop the thread (waiting at most ``timeout``)."""
        with self._lock:
            self.closed = True
            self._heap.clear()
            self._callbacks.clear()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork_in_child(self) -> None:
        """A forked child has no timer thread: forget the parent's, start afresh on demand."""
        self._reset()
