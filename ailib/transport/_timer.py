"""One process-wide timer thread that cancels attempts whose instant has passed.

Socket timeouts are per ``recv``: a server that drips its headers one byte at a time
never trips them. The timer bounds each phase as a whole (connecting and sending by the
connect timeout, the header phase by the first-byte timeout, everything by the attempt's
total and the call's deadline) by shutting the attempt's socket down. It only shortens
waits: every socket also carries a timeout cut to the deadline, so if the thread could not
start or has died, calls still end on time, only drips are caught later.

Deadlines are armed far more often than they fire, so arming costs no lock and no heap:
the armed attempts are a dict used as a set. Arming is one attribute write and one
dictionary store, moving an instant is one attribute write, disarming is one ``pop``.
The thread and its wake-up protocol are ``ailib._watch.Watcher``'s. It starts on first
use, and again lazily in a forked child.
"""

from __future__ import annotations

import logging
import time

from .._fork import register_after_fork
from .._watch import Watcher
from ._handle import AttemptHandle

__all__ = ["arm", "TIMER"]

_INF = float("inf")
_log = logging.getLogger("ailib")


class _Timer(Watcher):
    def __init__(self) -> None:
        super().__init__("ailib-timer", min_lead=0.005)
        register_after_fork(self)

    def _reset(self) -> None:
        super()._reset()
        self._armed: dict[AttemptHandle, None] = {}

    def arm(self, handle: AttemptHandle, instant: float) -> None:
        """Cancel ``handle`` at ``instant`` (monotonic); ``inf`` disarms it."""
        handle.instant = instant
        if instant == _INF:
            self._armed.pop(handle, None)
            return
        self._armed[handle] = None  # stored before wake_at is read (see ailib/_watch.py)
        if instant < self.wake_at:
            self.wake(instant - time.monotonic())

    def pending(self) -> int:
        """Attempts armed (for tests)."""
        return len(self._armed)

    def _busy(self) -> bool:
        return bool(self._armed)

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

    def _fire(self, due: list[AttemptHandle], now: float) -> None:
        for handle in due:
            try:
                handle.expire(now)
            except Exception:  # the others still fire; this attempt ends by its socket timeout
                _log.exception("ailib: cancelling an attempt at its deadline failed")


TIMER = _Timer()


def arm(handle: AttemptHandle, instant: float) -> None:
    TIMER.arm(handle, instant)
