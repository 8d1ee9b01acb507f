"""The hedger's clock: one lazily started thread that starts the hedges falling due.

Two registries, both dicts used as sets:

- ``pending``: calls whose primary runs alone (no hedge started yet), each with its entry,
  a tuple whose first item is ``due``, the monotonic instant its first hedge starts. A
  hedged call where no hedge fires joins with one dictionary store and leaves with one
  ``pop``, no lock and no heap: that ``pop`` also decides, atomically, between the caller
  finishing alone and anyone claiming the call for a race (``claim``, under the lock).
- ``races``: the races made so far (a hedge started, an attempt failed, or ``delay=0``),
  each with its own ``due`` (``inf`` while none is armed) and ``on_due()``.

The thread wakes at the earliest ``due`` it knows; a caller takes the lock to wake it only
when its call falls due sooner. While nothing is armed, the thread still wakes once per
``lead`` (the last delay armed), so the next call, due at least that far ahead, needs no
wake-up: calls whose hedges never fire cost no thread hand-off and no system call. After
``idle`` seconds with nothing in flight it sleeps until woken. With an injected clock other
than the system clock, the thread re-reads the clock every ``poll`` seconds of real time,
so a ``FakeClock`` moved by a test fires what is due.

A caller joins with ``pending[call] = entry`` and then calls ``wake()`` if its due is before
``wake_at``; the thread publishes ``wake_at`` before its last look at the registries. So
either the thread sees the call, or the caller sees the instant and wakes it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["HedgeClock"]

log = logging.getLogger("ailib")
_INF = float("inf")


class HedgeClock:
    """The hedged calls in flight and the one thread that starts their hedges when due.

    ``claim(call)`` (given by the hedger) turns a pending call into a race, or returns None
    when its primary already finished alone."""

    def __init__(
        self,
        claim: Callable[[Any], Any],
        clock: Clock = SYSTEM_CLOCK,
        *,
        name: str = "ailib-hedge-timer",
        poll: Optional[float] = None,
        idle: float = 30.0,
    ) -> None:
        self.claim = claim
        self.clock = clock
        self.name = name
        self.poll = poll if poll is not None else (None if clock is SYSTEM_CLOCK else 0.002)
        self.idle = idle
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()  # also serialises claims (hedger.claim)
        self._cond = threading.Condition(self.lock)
        self.pending: dict[Any, tuple[Any, ...]] = {}  # call -> (due, ...): primaries running alone
        self.races: dict[Any, None] = {}  # races made so far, each with .due and .on_due()
        self.wake_at = _INF  # when the thread wakes next (inf: idle or not started)
        self.lead = _INF  # the last delay armed: how far ahead the next call is due at least
        self._thread: Optional[threading.Thread] = None

    def wake(self) -> None:
        """Start the thread, or wake it to look again (a call joined that falls due sooner)."""
        with self.lock:
            if self.closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def _scan(self, now: float) -> tuple[list[Any], list[Any], float]:
        """The pending calls and the races due at ``now``, and the earliest instant of the others."""
        calls: list[Any] = []
        races: list[Any] = []
        earliest = _INF
        for call, entry in list(self.pending.items()):  # a snapshot: callers add and remove meanwhile
            at = entry[0]
            if at <= now:
                calls.append(call)
            elif at < earliest:
                earliest = at
        for race in list(self.races):
            at = race.due
            if at <= now:
                races.append(race)
            elif at < earliest:
                earliest = at
        return calls, races, earliest

    def _loop(self) -> None:
        cond, clock = self._cond, self.clock
        quiet_since: Optional[float] = None
        with cond:
            while not self.closed:
                now = clock.monotonic()
                calls, races, earliest = self._scan(now)
                if not calls and not races:
                    target = earliest
                    if target == _INF:  # nothing armed: keep watch one lead ahead, until idle
                        if self.pending or self.races:
                            quiet_since = None
                        elif quiet_since is None:
                            quiet_since = now
                        if quiet_since is None or now - quiet_since < self.idle:
                            target = now + self.lead
                    else:
                        quiet_since = None
                    self.wake_at = target
                    calls, races, earliest = self._scan(now)  # calls that joined before wake_at was published
                    if not calls and not races and earliest >= target:
                        timeout: Optional[float] = None if target == _INF else target - now
                        if self.poll is not None:
                            timeout = self.poll if timeout is None else min(timeout, self.poll)
                        cond.wait(timeout)
                        continue
                self.wake_at = now  # firing: a call joining now is due later
                cond.release()
                try:
                    self._fire(calls, races)
                finally:
                    cond.acquire()
            self.wake_at = _INF

    def _fire(self, calls: list[Any], races: list[Any]) -> None:
        for call in calls:
            try:
                race = self.claim(call)  # None: its primary finished alone meanwhile
                if race is not None:
                    races.append(race)
            except Exception:  # a callback must not kill the clock
                log.exception("ailib: starting a hedge failed")
        for race in races:
            race.due = _INF  # fired once; on_due arms the next delay
            try:
                race.on_due()
            except Exception:
                log.exception("ailib: starting a hedge failed")

    def close(self, timeout: float = 1.0) -> None:
        """Forget every call and race and stop the thread (waiting at most ``timeout``)."""
        with self.lock:
            self.closed = True
            self.pending.clear()
            self.races.clear()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork_in_child(self) -> None:
        """A forked child has no clock thread and nothing in flight: start afresh on demand."""
        self._reset()
