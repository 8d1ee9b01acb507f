"""One process-wide timer thread that cancels attempts whose instant has passed.

Socket timeouts are per ``recv``: a server that drips its headers one byte at a time
never trips them. The timer bounds each attempt as a whole (the header phase by the
first-byte timeout, everything by the attempt's total and the call's deadline) by
shutting its socket down.

Deadlines are armed far more often than they fire, so arming costs no lock and no heap:
the armed attempts are a dict used as a set. Arming is one attribute write and one
dictionary store, moving an instant is one attribute write, disarming is one ``pop``. The
thread wakes at the earliest instant armed, and while that is far off it still looks once
per ``lead`` (the span of the last arm that had to wake it, so the next one, as far ahead,
needs no wake-up). A caller takes the lock to wake it only when its instant falls before
``wake_at``; the thread publishes ``wake_at`` before its last look at the armed set, so
either the thread sees the attempt or the caller sees the instant and wakes it. After
``_IDLE`` seconds with nothing armed the thread sleeps until woken. It starts on first
use, and again lazily in a forked child.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from .._fork import register_after_fork
from ._handle import AttemptHandle

__all__ = ["arm", "TIMER"]

_INF = float("inf")
_MIN_LEAD = 0.005  # the thread never looks more often than this while nothing is due
_IDLE = 30.0  # seconds with nothing armed before the thread sleeps until woken


class _Timer:
    def __init__(self) -> None:
        self._reset()
        register_after_fork(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._armed: dict[AttemptHandle, None] = {}
        self.wake_at = _INF  # when the thread looks next (inf: not started, or asleep)
        self._lead = _INF  # how far ahead the thread keeps watch while nothing is due
        self._thread: Optional[threading.Thread] = None

    def _after_fork_in_child(self) -> None:
        # The parent's attempts are not ours: never touch their sockets; no thread survived.
        self._reset()

    def arm(self, handle: AttemptHandle, instant: float) -> None:
        """Cancel ``handle`` at ``instant`` (monotonic); ``inf`` disarms it."""
        handle.instant = instant
        if instant == _INF:
            self._armed.pop(handle, None)
            return
        self._armed[handle] = None  # stored before wake_at is read (see the module doc)
        if instant < self.wake_at:
            self._wake(instant)

    def _wake(self, instant: float) -> None:
        with self._cond:
            lead = instant - time.monotonic()
            self._lead = lead if lead > _MIN_LEAD else _MIN_LEAD
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ailib-timer", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def pending(self) -> int:
        """Attempts armed (for tests)."""
        return len(self._armed)

    def _scan(self, now: float) -> tuple[list[AttemptHandle], float]:
        """The attempts due at ``now`` (taken out of the set), and the earliest other instant."""
        armed = self._armed
        due: list[AttemptHandle] = []
        earliest = _INF
        for handle in list(armed):  # a snapshot: callers arm and disarm meanwhile
            at = handle.instant
            if at <= now:
                armed.pop(handle, None)
                due.append(handle)
            elif at == _INF:  # cancelled from elsewhere: forget it, unless re-armed meanwhile
                armed.pop(handle, None)
                if handle.instant != _INF:
                    armed[handle] = None
            elif at < earliest:
                earliest = at
        return due, earliest

    def _run(self) -> None:
        cond = self._cond
        quiet_since: Optional[float] = None
        with cond:
            while True:
                now = time.monotonic()
                due, earliest = self._scan(now)
                if not due:
                    if self._armed:
                        quiet_since = None
                    elif quiet_since is None:
                        quiet_since = now
                    target = now + self._lead
                    if earliest < target:
                        target = earliest
                    elif quiet_since is not None and now - quiet_since >= _IDLE:
                        target = _INF
                    self.wake_at = target
                    due, earliest = self._scan(now)  # attempts armed before wake_at was published
                    if not due and earliest >= target:
                        cond.wait(None if target == _INF else target - now)
                        continue
                self.wake_at = now  # firing: an attempt armed meanwhile is seen by the next scan
                cond.release()
                try:
                    for handle in due:
                        handle.expire(now)
                finally:
                    cond.acquire()


TIMER = _Timer()


def arm(handle: AttemptHandle, instant: float) -> None:
    TIMER.arm(handle, instant)


def _debug_state() -> dict[str, Any]:
    return {"pending": TIMER.pending(), "thread": TIMER._thread is not None}
