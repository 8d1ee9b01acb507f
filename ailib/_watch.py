"""One lazily started thread that fires what falls due: the base of the transport's deadline
timer and of the hedger's clock.

Deadlines and hedge delays are registered far more often than they fire, so registering
is the subclass's dict store (no lock, no heap) and the thread does the work. It wakes at
the earliest instant registered, and while that is far off (or nothing is registered) it
still looks once per ``lead`` (the span of the last registration that woke it), so the
next one, as far ahead, needs no wake-up. A caller takes the lock to wake it (``wake``)
only when its instant falls before ``wake_at``; the thread publishes ``wake_at`` before
its last look at the registries, so either the thread sees the new entry or the caller
sees the instant and wakes it. After ``idle`` seconds with nothing registered the thread
sleeps until woken. With an injected clock it re-reads the clock every ``poll`` seconds of
real time (a ``FakeClock`` moved by a test fires what is due).

The thread is a convenience, never a dependency: it survives a failing ``_fire`` (logged),
and when it could not start (a thread limit) or has died, the next registration that
needs it starts it again (at most one try per ``RETRY_START`` seconds). Whoever registers
must bound its own waits too (the transport's sockets always carry a timeout).

Subclasses say what is due (``_scan``), what firing it means (``_fire``, called without
the lock), whether anything is registered (``_busy``) and what closing forgets
(``_forget``); their registries are made in ``_reset``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

__all__ = ["Watcher", "RETRY_START"]

_INF = float("inf")
RETRY_START = 0.5  # seconds between tries to start a thread that could not start
_log = logging.getLogger("ailib")


class Watcher:
    """The watching thread and its wake-up protocol; what it watches is the subclass's."""

    def __init__(
        self,
        name: str,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        poll: Optional[float] = None,
        idle: float = 30.0,
        min_lead: float = 0.0,
    ) -> None:
        self.name = name
        self.monotonic = monotonic
        self.poll = poll
        self.idle = idle
        self.min_lead = min_lead  # the thread never looks more often than this while nothing is due
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        # Reentrant: ``stop`` may run in a garbage-collector pass on this watcher's own thread.
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self.wake_at = _INF  # when the thread looks next (inf: not started, or asleep)
        self.lead = _INF  # how far ahead the thread keeps watch while nothing is due
        self._thread: Optional[threading.Thread] = None
        self._start_failed_at = -_INF
        self._died_at = -_INF

    def _after_fork_in_child(self) -> None:
        """A forked child has no thread and nothing of the parent's to watch: start afresh on demand."""
        self._reset()

    # -- the subclass's part ----------------------------------------------------------------
    def _scan(self, now: float) -> tuple[Any, float]:
        """What is due at ``now`` (falsy: nothing), and the earliest other instant."""
        raise NotImplementedError

    def _fire(self, due: Any, now: float) -> None:
        raise NotImplementedError

    def _busy(self) -> bool:
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop everything registered (``close``)."""

    # -- the thread ---------------------------------------------------------------------------
    def wake(self, lead: Optional[float] = None) -> None:
        """Start the thread, or wake it to look again; ``lead``: the span of the registration
        that needed this (the thread keeps watch that far ahead from now on)."""
        with self.lock:
            if self.closed:
                return
            if lead is not None:
                self.lead = lead if lead > self.min_lead else self.min_lead
            thread = self._thread
            if thread is not None and thread.is_alive():
                self._cond.notify()
                return
            now = time.monotonic()
            if now - self._start_failed_at < RETRY_START:
                return
            thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:  # "can't start new thread": waits stay bounded by their own timeouts
                self._thread = None
                self._start_failed_at = now
                _log.warning("ailib: could not start the %s thread (%s); will try again", self.name, exc)
                return
            self._thread = thread

    def _loop(self) -> None:
        try:
            self._watch()
        finally:  # stopped, or died: every registration wakes (and so restarts) it from now on
            self.wake_at = _INF
            if not self.closed:
                self._died()

    def _died(self) -> None:
        """The thread is ending unasked: what is registered gets a new one (at once, unless
        the last one died less than ``RETRY_START`` ago: then the next registration's)."""
        with self.lock:
            if self._thread is threading.current_thread():
                self._thread = None
            now = time.monotonic()
            again = now - self._died_at >= RETRY_START and self._busy()
            self._died_at = now
        _log.warning("ailib: the %s thread stopped unexpectedly%s", self.name, "; starting it again" if again else "")
        if again:
            self.wake()

    def _watch(self) -> None:
        cond, monotonic = self._cond, self.monotonic
        quiet_since: Optional[float] = None
        with cond:
            while not self.closed:
                now = monotonic()
                due, earliest = self._scan(now)
                if not due:
                    if self._busy():
                        quiet_since = None
                    elif quiet_since is None:
                        quiet_since = now
                    target = earliest
                    if quiet_since is None or now - quiet_since < self.idle:  # keep watch one lead ahead
                        watch = now + self.lead
                        if watch < target:
                            target = watch
                    self.wake_at = target
                    due, earliest = self._scan(now)  # registered before wake_at was published
                    if self.closed:  # stopped by a finalizer run on this thread meanwhile
                        break
                    if not due and earliest >= target:
                        timeout: Optional[float] = None if target == _INF else target - now
                        if self.poll is not None:
                            timeout = self.poll if timeout is None else min(timeout, self.poll)
                        cond.wait(timeout)
                        continue
                self.wake_at = now  # firing: whatever is registered meanwhile is seen by the next scan
                cond.release()
                try:
                    self._fire(due, now)
                except Exception:  # one failing entry must not stop the watch for every other
                    _log.exception("ailib: the %s thread's callback failed", self.name)
                finally:
                    cond.acquire()

    def close(self, timeout: float = 1.0) -> None:
        """Forget everything registered and stop the thread (waiting at most ``timeout``)."""
        thread = self.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def stop(self) -> Optional[threading.Thread]:
        """Forget everything registered and tell the thread to end, without waiting for it
        (safe in a finalizer, on any thread); the thread, if one was running."""
        with self.lock:
            self.closed = True
            self._forget()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        return thread
