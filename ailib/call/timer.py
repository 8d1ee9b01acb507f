"""The hedger's clock: one lazily started thread that starts the hedges falling due.

Two registries, both dicts used as sets:

- ``pending``: calls whose primary runs alone (no race made yet), each with ``due``, the
  monotonic instant its first hedge starts. A hedged call where no hedge fires joins with
  one dictionary store and leaves with one ``pop`` (no heap). Whether it ended alone or
  was claimed for a race is decided under the call's own lock (``race.HedgedCall``), not
  by who pops first: the registries are only where the thread looks.
- ``races``: the races made so far (a hedge started, an attempt failed, or ``delay=0``),
  each with its own ``due`` (``inf`` while none is armed) and ``on_due()``.

A caller joins with ``pending[call] = None``, sets ``lead`` to its delay, and calls
``wake()`` if its due is before ``wake_at``. The thread and that wake-up protocol are
``ailib._watch.Watcher``'s: calls whose hedges never fire cost no thread hand-off and no
system call.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from .._watch import Watcher
from ..clock import SYSTEM_CLOCK, Clock

__all__ = ["HedgeClock"]

log = logging.getLogger("ailib")
_INF = float("inf")


class HedgeClock(Watcher):
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
        super().__init__(name, clock.monotonic, poll=poll if poll is not None else (None if clock is SYSTEM_CLOCK else 0.002), idle=idle)

    def _reset(self) -> None:
        super()._reset()
        self.pending: dict[Any, None] = {}  # calls (each with .due) whose primaries run alone
        self.races: dict[Any, None] = {}  # races made so far, each with .due and .on_due()

    def _busy(self) -> bool:
        return bool(self.pending or self.races)

    def _forget(self) -> None:
        self.pending.clear()
        self.races.clear()

    def _scan(self, now: float) -> tuple[Any, float]:
        """The pending calls and the races due at ``now`` (an empty tuple: none), and the
        earliest instant of the others."""
        calls: list[Any] = []
        races: list[Any] = []
        earliest = _INF
        for call in list(self.pending):  # a snapshot: callers add and remove meanwhile
            at = call.due
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
        return ((calls, races) if calls or races else ()), earliest

    def _fire(self, due: tuple[list[Any], list[Any]], now: float) -> None:
        calls, races = due
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
