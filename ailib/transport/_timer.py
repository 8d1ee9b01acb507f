"""One process-wide timer thread that cancels attempts whose instant has passed.

Socket timeouts are per ``recv``: a server that drips its headers one byte at a time
never trips them. The timer bounds each attempt as a whole (the header phase by the
first-byte timeout, everything by the attempt's total and the call's deadline) by
shutting its socket down. Arming is one heap push; moving an instant later or disarming
is one attribute write (the entry is checked, and re-queued or dropped, when it comes
due). The thread starts on first use, and again lazily in a forked child.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Optional

from .._fork import register_after_fork
from ._handle import AttemptHandle

__all__ = ["arm", "TIMER"]

_INF = float("inf")
_COMPACT_EVERY = 4096


class _Timer:
    def __init__(self) -> None:
        self._reset()
        register_after_fork(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, AttemptHandle]] = []
        self._seq = itertools.count()
        self._pushes = 0
        self._thread: Optional[threading.Thread] = None

    def _after_fork_in_child(self) -> None:
        # The parent's attempts are not ours: never touch their sockets; no thread survived.
        self._reset()

    def arm(self, handle: AttemptHandle, instant: float) -> None:
        """Cancel ``handle`` at ``instant`` (monotonic), unless its instant moves first."""
        handle.instant = instant
        if instant >= handle.pushed or instant == _INF:
            return  # an entry at or before it is queued: it re-queues the later instant
        with self._cond:
            handle.pushed = instant
            heap = self._heap
            heapq.heappush(heap, (instant, next(self._seq), handle))
            self._pushes += 1
            if self._pushes % _COMPACT_EVERY == 0:
                self._compact()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ailib-timer", daemon=True)
                self._thread.start()
            elif heap[0][2] is handle:
                self._cond.notify()

    def _compact(self) -> None:
        """Drop entries of disarmed handles (a 600 s total would otherwise keep them 600 s)."""
        live = [e for e in self._heap if e[2].instant != _INF]
        if len(live) < len(self._heap):
            heapq.heapify(live)
            self._heap = live

    def pending(self) -> int:
        """Entries queued (for tests)."""
        return len(self._heap)

    def _run(self) -> None:
        cond = self._cond
        due: list[tuple[AttemptHandle, float]] = []
        with cond:
            while True:
                heap = self._heap
                if not heap:
                    cond.wait()
                    continue
                now = time.monotonic()
                if heap[0][0] > now:
                    cond.wait(heap[0][0] - now)
                    continue
                while heap and heap[0][0] <= now:
                    _, _, handle = heapq.heappop(heap)
                    current = handle.instant
                    if current <= now:
                        handle.pushed = _INF
                        due.append((handle, now))
                    elif current != _INF and current != handle.pushed:
                        handle.pushed = current
                        heapq.heappush(heap, (current, next(self._seq), handle))
                    elif current == _INF:
                        handle.pushed = _INF
                if due:
                    cond.release()
                    try:
                        for handle, at in due:
                            handle.expire(at)
                    finally:
                        due.clear()
                        cond.acquire()


TIMER = _Timer()


def arm(handle: AttemptHandle, instant: float) -> None:
    TIMER.arm(handle, instant)


def _debug_state() -> dict[str, Any]:
    return {"pending": TIMER.pending(), "thread": TIMER._thread is not None}
