"""One race: the branches of one hedged call, the hedges still to start, the winner.

A race is made only when a call needs one (its first hedge is due, an attempt failed, the
call failed, ``delay=0``, or the client closes): until then the primary runs alone on the
caller's thread and the call is only an entry in the hedge clock (``timer.py``). The
caller's thread then hands its primary's outcome to the race (``primary_ok`` /
``primary_failed``); hedges run on the hedger's executor (``_work``). Every branch's
``done``/``cancelled`` and the race's ``decided`` change under the race's one lock, so
exactly one result wins, and every other result is closed.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, Optional

from .._trace_api import NOOP_CALL
from ..errors import AiLibError, DeadlineExceededError, NetworkError
from ..routing.endpoint import Target
from ..types import Attempt
from .context import CallState
from .rules import HedgeCancelledError, moves_on

if TYPE_CHECKING:
    from .hedge import Hedger

__all__ = ["Race"]

_INF = float("inf")
# Why a losing branch was cancelled (never raised to callers). A new error per loser: the
# transport raises it in the loser's thread, and a shared instance would collect every
# loser's traceback (keeping their frames, their calls and clients alive).
_CANCELLED = "cancelled: another attempt answered first"


def _tags(target: Target, **more: str) -> dict[str, str]:
    """hedge.* tags: the provider, and the FallbackChain step when the target is one."""
    tags = {**more, "provider": target.endpoint.provider}
    if target.condition is not None:
        tags["step"] = target.label
    return tags


def count_start(hedger: Hedger, call: CallState, target: Target, hedge: bool) -> None:
    """The counters of a branch's start (routing and fallback steps, hedge.fired)."""
    metrics = hedger.metrics
    if target.condition is not None:  # a FallbackChain step raced as the hedge
        metrics.incr_counter("fallback.step", tags={"step": target.label, "provider": target.endpoint.provider})
    if hedge:
        metrics.incr_counter("hedge.fired", tags=_tags(target))
        call.trace.event("hedge.fired", provider=target.endpoint.provider)
    if hedger.count_selected:
        metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})


def count_won(hedger: Hedger, call: CallState, target: Target, index: int) -> None:
    """hedge.won for the branch ``index`` (0: the primary) and its trace event."""
    if hedger.counting or call.trace is not NOOP_CALL:
        tags = _tags(target, attempt="primary" if index == 0 else f"hedge{index}")
        hedger.metrics.incr_counter("hedge.won", tags=tags)
        call.trace.event("hedge.won", **tags)


class _Branch:
    """One target's run in a race; ``done`` and ``cancelled`` change under the race's lock."""

    __slots__ = ("call", "target", "index", "done", "cancelled")

    def __init__(self, call: CallState, target: Target, index: int) -> None:
        self.call = call
        self.target = target
        self.index = index
        self.done = False  # its outcome was published (or it is the primary, finished)
        self.cancelled = False  # it lost the race while still running


class Race:
    """One hedged call: its branches, the hedges still to start, and the events queue the
    caller reads once its own (primary) branch has finished."""

    __slots__ = (
        "hedger", "run_target", "call", "stream", "budget", "delay", "targets", "next", "context", "lock", "events",
        "branches", "running", "decided", "due",
    )  # fmt: skip

    def __init__(
        self, hedger: Hedger, call: CallState, targets: list[Target], stream: bool, budget: Any, delay: float, run_target: Any, context: Any
    ) -> None:
        self.hedger = hedger
        self.run_target = run_target
        self.call = call
        self.stream = stream
        self.budget = budget
        self.delay = delay
        self.targets = targets
        self.next = 1  # index of the next target to start (the primary runs already)
        self.context = context  # the caller's (its trace span): hedges run in it
        self.lock = threading.Lock()
        self.events: Optional[queue.SimpleQueue[tuple[str, Optional[_Branch], Any]]] = None  # made with the first executor branch
        self.branches = [_Branch(call, targets[0], 0)]  # the primary records straight into the call
        self.running = 1
        self.decided = False
        self.due = _INF  # when the next hedge starts (read by the hedge clock)

    def _new_hedge(self) -> _Branch:
        """Under ``self.lock``: the next pending target as a new branch."""
        target = self.targets[self.next]
        self.next += 1
        call = self.call.fork(True)
        br = _Branch(call, target, len(self.branches))
        call.on_failure = self._attempt_failed
        self.branches.append(br)
        self.running += 1
        count_start(self.hedger, self.call, target, True)
        return br

    def launch(self, *, spend: bool) -> bool:
        """Start the next hedge on the executor, if one is left, under the cap, the race is
        undecided and (``spend``) the hedge budget allows it."""
        with self.lock:
            if self.decided or self.next >= len(self.targets) or self.running >= self.hedger.cap:
                return False
            if spend and self.budget is not None and not self.budget.try_spend():
                return False
            br = self._new_hedge()
            if self.events is None:
                self.events = queue.SimpleQueue()
        try:
            self.hedger.submit(self.context.copy().run, self._work, br)
        except AiLibError as err:
            self._publish(br, "error", err)
        return True

    def _attempt_failed(self, call: CallState, err: AiLibError) -> None:
        """A hedge's failed attempt (even one about to be retried) sends the next hedge at
        once, unless its error ends the call (a 401 is not hedged around)."""
        if moves_on(err):
            self.launch(spend=False)

    def on_due(self) -> None:
        """The delay passed without an answer (on the hedge clock's thread): hedge, and arm
        the next delay if more may follow."""
        if not self.launch(spend=True):
            return  # decided, none left, at the cap, or over the extra-load budget
        with self.lock:
            if not self.decided and self.next < len(self.targets) and self.running < self.hedger.cap:
                self.due = self.hedger.clock.monotonic() + self.delay

    # -- the caller's side --------------------------------------------------------------------
    def primary_ok(self, result: Any) -> Any:
        """The primary answered: it wins unless a hedge did; the winner's result."""
        primary = self.branches[0]
        with self.lock:
            won = not primary.cancelled and not self.decided
            self.decided = True
            primary.done = True
        if won:
            count_won(self.hedger, self.call, primary.target, 0)
            return result
        result.close()  # a hedge answered first; its result is queued
        return self._wait()

    def primary_failed(self, err: AiLibError) -> Any:
        """The primary failed: start the next target, or wait for the hedges, or raise."""
        primary = self.branches[0]
        with self.lock:
            lost = primary.cancelled
            primary.done = True
        if not lost:
            self._failed(err)
        return self._wait()

    def primary_ended(self) -> None:
        """The primary ended with an exception that is not the call's (KeyboardInterrupt...)."""
        with self.lock:
            self.branches[0].done = True

    def _wait(self) -> Any:
        """After the primary: wait for the hedges' outcomes (bounded by the call's deadline)."""
        call, clock, poll = self.call, self.hedger.clock, self.hedger.poll
        with self.lock:
            if self.events is None:
                self.events = queue.SimpleQueue()
            events = self.events
        while True:
            timeout: Optional[float] = None
            if call.deadline != _INF:
                timeout = max(0.0, call.deadline - clock.monotonic())
            if poll is not None:
                timeout = poll if timeout is None else min(timeout, poll)
            try:
                kind, br, payload = events.get(timeout=timeout)
            except queue.Empty:
                if clock.monotonic() >= call.deadline:
                    provider = self.branches[0].target.endpoint.provider
                    raise DeadlineExceededError("the call's deadline ran out while racing", provider=provider) from None
                continue
            if kind == "ok":
                assert br is not None  # an answer always comes from a branch
                count_won(self.hedger, call, br.target, br.index)
                return payload
            if kind == "abort":
                raise payload
            self._failed(payload)

    def _failed(self, err: AiLibError) -> None:
        """A branch ended with ``err``: raise it, or start the next target; when no branch
        is left running and none can start, raise it."""
        with self.lock:
            self.running -= 1
        self.call.errors.append(err)
        if isinstance(err, DeadlineExceededError) or not moves_on(err):
            raise err
        if self.launch(spend=False):
            return
        with self.lock:
            if self.running <= 0 and not self.decided:
                raise err

    # -- the executor's side ------------------------------------------------------------------
    def _work(self, br: _Branch) -> None:
        try:
            result = self.run_target(br.call, br.target, self.stream)
        except AiLibError as err:
            self._publish(br, "error", err)
            return
        except BaseException as exc:
            self._publish(br, "error", NetworkError(f"hedged attempt failed unexpectedly: {type(exc).__name__}: {exc}"))
            return
        self._publish(br, "ok", result)

    def _publish(self, br: _Branch, kind: str, payload: Any) -> None:
        """Hand a branch's outcome to the caller, unless it lost. Under the race's lock, so
        a result is either queued before ``finish`` cancels the branch (and then drained and
        closed there) or sees the cancellation here and is closed: never left unread."""
        won = False
        with self.lock:
            if br.cancelled:
                keep = False
            elif kind == "ok":
                keep = won = not self.decided
                self.decided = True
            else:
                keep = True
            br.done = True
            if keep:
                assert self.events is not None  # made before any executor branch starts
                self.events.put((kind, br, payload))
        if kind == "ok" and not keep:
            payload.close()
        if won:  # wake the caller if it is still running the primary: cancel every other branch
            for other in list(self.branches):
                if other is not br:
                    self._cancel(other)

    # -- the end -------------------------------------------------------------------------------
    def _cancel(self, br: _Branch) -> bool:
        """Cancel ``br`` if it is still running; True if it was (and now lost)."""
        with self.lock:
            if br.done or br.cancelled:
                return False
            br.cancelled = True
        br.call.cancel(HedgeCancelledError(_CANCELLED))
        self.hedger.metrics.incr_counter("hedge.cancelled", tags={"provider": br.target.endpoint.provider})
        return True

    def abort(self, err: AiLibError) -> None:
        """The client is closing: cancel every branch and end the caller's wait with ``err``."""
        with self.lock:
            self.decided = True
            if self.events is None:
                self.events = queue.SimpleQueue()
            events = self.events
        for br in list(self.branches):
            self._cancel(br)
        events.put(("abort", None, err))

    def finish(self) -> None:
        """Cancel the losers, merge every branch's attempts into the call (in start order),
        and close any result nobody will read."""
        if not self.decided:  # once True (under the lock) it stays True
            with self.lock:
                self.decided = True  # from here on no hedge starts
        branches = self.branches
        if len(branches) == 1:  # no hedge started: the primary recorded into the call itself
            return
        for br in branches[1:]:  # break the cycles race -> branch -> call -> on_failure -> race
            br.call.on_failure = None
        clock = self.hedger.clock
        now, wall = clock.monotonic(), clock.time()
        attempts: list[Attempt] = list(self.call.attempts)
        for br in branches[1:]:
            self._cancel(br)
            recorded, in_flight = br.call.freeze()
            attempts.extend(recorded)
            if br.cancelled and in_flight:
                ep, started = br.target.endpoint, br.call.attempt_start
                attempts.append(
                    Attempt(ep.provider, br.target.model, wall - (now - started), now - started, "cancelled", None, True, ep.name)
                )
        attempts.sort(key=lambda a: a.started_at)
        self.call.attempts[:] = attempts
        events = self.events
        while events is not None:
            try:
                kind, _br, payload = events.get_nowait()
            except queue.Empty:
                return
            if kind == "ok":
                payload.close()
