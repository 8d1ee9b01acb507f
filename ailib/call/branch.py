"""One branch of a call: the line of attempts one thread makes for it.

A plain call has one branch, run on the caller's thread. A hedged call has a primary
branch (the caller's thread) and, once its race starts hedges, one branch per hedge (each
on the hedger's executor). A branch is a ``Branch`` value, made once by whoever starts it
and never changed, bundling:

- the call's ``CallSpec`` (shared, immutable);
- its ``AttemptLog``: the attempt records its own thread appends (and, for the caller's
  branch, the targets' final errors), read by the race when it merges the branches;
- its ``CancelToken``: lets another thread (the race) cancel the attempt in flight and
  any backoff; ``NO_CANCEL`` for a branch nobody can cancel (a plain call: no lock);
- ``hedge`` (its attempts are recorded with ``hedge=True``) and ``watch``: the observer,
  passed in by whoever made the branch, told by the guard of every failed wire attempt
  (the hedger's: it starts the next hedge at once), or None.

Outcomes flow up as return values or exceptions; nothing below writes into an object a
layer above reads later, except through the log and token it was handed for that purpose.
The log and token of a cancellable branch share the race's one lock (``lock``): every
change to them is made under it, so the race's merge is exact without relying on the GIL.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, NamedTuple, Optional

from ..errors import AiLibError
from ..transport import AttemptHandle
from ..types import Attempt
from .spec import CallSpec

__all__ = ["AttemptLog", "CancelToken", "NO_CANCEL", "Branch"]


class AttemptLog:
    """One branch's attempt records in order, the start of the attempt in flight, and (the
    caller's branch only) the errors its targets ended with.

    Appended only by the branch's own thread. A log made with a ``lock`` (a hedged call's)
    takes it for every change, and records nothing once ``close_locked`` (the race's merge)
    has run; a log without one is only ever touched by one thread.
    """

    __slots__ = ("attempts", "errors", "in_flight", "lock", "closed")

    def __init__(self, lock: Optional[threading.Lock] = None) -> None:
        self.attempts: list[Attempt] = []
        self.errors: list[AiLibError] = []
        self.in_flight: Optional[float] = None  # the monotonic start of the attempt in flight (set by the token)
        self.lock = lock
        self.closed = False

    def record(self, attempt: Attempt) -> None:
        """The attempt in flight (or one the guard refused) ended as ``attempt``."""
        lock = self.lock
        if lock is None:
            self.attempts.append(attempt)
            self.in_flight = None
            return
        with lock:
            if not self.closed:
                self.attempts.append(attempt)
            self.in_flight = None

    def note_wait(self, wait: float) -> None:
        """The last attempt is followed by a backoff of ``wait`` seconds."""
        lock = self.lock
        if lock is None:
            self._note_wait(wait)
            return
        with lock:
            self._note_wait(wait)

    def _note_wait(self, wait: float) -> None:
        if self.attempts:
            a = self.attempts[-1]
            self.attempts[-1] = Attempt(a.provider, a.model, a.started_at, a.elapsed, a.outcome, a.error, a.hedge, a.endpoint, wait)

    def close_locked(self) -> tuple[list[Attempt], Optional[float]]:
        """With ``lock`` held (the race's merge): record nothing more; the records so far
        and the start of the attempt still in flight, if any."""
        self.closed = True
        return list(self.attempts), self.in_flight

    def clear(self) -> None:
        """Drop the records (a failed call's error carries its own copy): the frames still
        running hold the log, and must not lead back to the error."""
        self.attempts = []
        self.errors = []


class CancelToken:
    """Cancels one branch from another thread: the attempt in flight (its socket is shut
    down), every later one, and a backoff in progress. ``lock`` is the race's lock, shared
    with the branch's log; ``begin`` and ``cancel`` meet under it, so an attempt started
    after a cancel is cancelled at once, without relying on the GIL."""

    __slots__ = ("lock", "handle", "reason", "_event")

    cancellable = True

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.handle: Optional[AttemptHandle] = None
        self.reason: Optional[AiLibError] = None
        self._event: Optional[threading.Event] = None

    def begin(self, log: AttemptLog, start: float) -> AttemptHandle:
        """The handle of a new attempt of this branch, started at monotonic ``start`` (noted
        in the branch's ``log``, under the same lock); cancelled already if the branch is."""
        handle = AttemptHandle()
        with self.lock:
            self.handle = handle
            log.in_flight = start
            reason = self.reason
        if reason is not None:
            handle.cancel(reason)
        return handle

    def cancel(self, reason: AiLibError) -> None:
        """Cancel the attempt in flight, any later one, and a backoff in progress."""
        with self.lock:
            if self.reason is not None:
                return
            self.reason = reason
            handle, event = self.handle, self._event
        if handle is not None:
            handle.cancel(reason)
        if event is not None:
            event.set()

    def release(self) -> None:
        """The branch has ended: forget the reason (the error it was raised as holds, through
        its frames, this token: a cycle only the garbage collector would free)."""
        with self.lock:
            self.reason = self.handle = None

    def sleep(self, seconds: float) -> None:
        """A backoff that a cancellation ends at once (real time only)."""
        with self.lock:
            if self.reason is not None or seconds <= 0:
                return
            event = self._event
            if event is None:
                event = self._event = threading.Event()
        event.wait(seconds)


class _NoCancel:
    """The token of a branch nobody can cancel (a plain call): a fresh handle per attempt,
    no lock, no state."""

    __slots__ = ()

    cancellable = False

    def begin(self, log: AttemptLog, start: float) -> AttemptHandle:
        log.in_flight = start
        return AttemptHandle()


NO_CANCEL: Any = _NoCancel()


class Branch(NamedTuple):
    """One branch of a call (see the module docstring); made once, never changed."""

    spec: CallSpec
    log: AttemptLog
    token: Any  # a CancelToken, or NO_CANCEL
    hedge: bool = False
    watch: Optional[Callable[[AiLibError], None]] = None

    def begin(self, start: float) -> AttemptHandle:
        """An attempt of this branch starts at monotonic ``start``: its handle."""
        handle: AttemptHandle = self.token.begin(self.log, start)
        return handle
