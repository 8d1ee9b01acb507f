"""The hedger's clock: one lazily started thread that starts the hedges falling due.

A race in flight sits in ``inflight`` (a dict used as a set) with ``due``, the monotonic
instant its next hedge starts (``inf`` while none is armed). Joining and leaving cost the
caller's thread one dictionary store and one removal, with no lock and no heap: the thread
wakes at the earliest ``due`` it knows, and a caller takes the lock to wake it only when its
race falls due sooner than that. While no race is armed, the thread still wakes once per
``lead`` (the last delay armed), so the next race, due at least that far ahead, needs no
wake-up: calls whose hedges never fire cost no thread hand-off and no system call. After
``idle`` seconds with nothing in flight it sleeps until a race wakes it. With an injected
clock other than the system clock, the thread re-reads the clock every ``poll`` seconds of
real time, so a ``FakeClock`` moved by a test fires what is due.

A caller joins with ``inflight[race] = None`` (its ``due`` set first), then calls ``wake()``
if ``race.due < wake_at``; it leaves with ``inflight.pop(race, None)``. The thread publishes
the instant it will sleep until (``wake_at``) before its last look at ``inflight``, and a
caller adds its race before reading ``wake_at``: so either the thread sees the race, or the
caller sees the instant and wakes it (no race is missed).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional, Protocol

from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["HedgeClock"]

log = logging.getLogger("ailib")
_INF = float("inf")


class Timed(Protocol):
    """What the clock needs of a race: when its next hedge is due, and what to do then."""

    due: float

    def on_due(self) -> None: ...


class HedgeClock:
    """The races in flight and the one thread that starts their hedges when due."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, name: str = "ailib-hedge-timer", poll: Optional[float] = None, idle: float = 30.0) -> None:
        self.clock = clock
        self.name = name
        self.poll = poll if poll is not None else (None if clock is SYSTEM_CLOCK else 0.002)
        self.idle = idle
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.inflight: dict[Any, None] = {}
        self.wake_at = _INF  # when the thread wakes next (inf: idle or not started)
        self.lead = _INF  # the last delay armed: how far ahead the next race is due at least
        self._thread: Optional[threading.Thread] = None

    def races(self) -> list[Any]:
        return list(self.inflight)

    def wake(self) -> None:
        """Start the thread, or wake it to look again (a race joined that falls due sooner)."""
        with self._lock:
            if self.closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def _scan(self, now: float) -> tuple[list[Any], float]:
        """The races due at ``now``, and the earliest instant of the others."""
        due: list[Any] = []
        earliest = _INF
        for race in list(self.inflight):  # a snapshot: callers add and remove meanwhile
            at = race.due
            if at <= now:
                due.append(race)
            elif at < earliest:
                earliest = at
        return due, earliest

    def _loop(self) -> None:
        cond, clock = self._cond, self.clock
        quiet_since: Optional[float] = None
        with cond:
            while not self.closed:
                now = clock.monotonic()
                due, earliest = self._scan(now)
                if not due:
                    target = earliest
                    if target == _INF:  # nothing armed: keep watch one lead ahead, until idle
                        if self.inflight:
                            quiet_since = None
                        elif quiet_since is None:
                            quiet_since = now
                        if quiet_since is None or now - quiet_since < self.idle:
                            target = now + self.lead
                    else:
                        quiet_since = None
                    self.wake_at = target
                    due, earliest = self._scan(now)  # races that joined before wake_at was published
                    if not due and earliest >= target:
                        timeout: Optional[float] = None if target == _INF else target - now
                        if self.poll is not None:
                            timeout = self.poll if timeout is None else min(timeout, self.poll)
                        cond.wait(timeout)
                        continue
                self.wake_at = now  # firing: a race joining now is due later
                cond.release()
                try:
                    for race in due:
                        race.due = _INF  # fired once; on_due arms the next delay
                        try:
                            race.on_due()
                        except Exception:  # a callback must not kill the clock
                            log.exception("ailib: starting a hedge failed")
                finally:
                    cond.acquire()
            self.wake_at = _INF

    def close(self, timeout: float = 1.0) -> None:
        """Forget the races and stop the thread (waiting at most ``timeout``)."""
        with self._lock:
            self.closed = True
            self.inflight.clear()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork_in_child(self) -> None:
        """A forked child has no clock thread and no races in flight: start afresh on demand."""
        self._reset()
