"""Race and hedged requests: run a call's first targets concurrently, keep the first success.

The primary runs on the caller's own thread. A hedge starts on the executor only when
``delay`` passes without an answer (the timer thread fires it, spending the primary's
hedge budget), or at once when an attempt fails; ``delay=0`` starts the hedges at once.
So a hedged call where no hedge fires costs a timer entry, not a thread hand-off.

A branch runs one target through ``run_target`` (the pipeline's rate limiter, breaker and
retries). The first success wins; every other branch is cancelled: its socket is shut
down through its attempt handle (which also wakes the caller's thread when a hedge beats
the primary) and its in-flight attempt is recorded as ``Attempt(outcome="cancelled",
hedge=True)``. A result that arrives after the race was decided is closed, never orphaned.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from .._fork import register_after_fork
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AiLibError, DeadlineExceededError, NetworkError
from ..reliability.hedge import HedgePolicy, LatencyWindow
from ..routing.endpoint import Endpoint, Target
from ..types import Attempt
from .context import CallState
from .rules import CANCELLED, closed_error, moves_on
from .timer import Timer

__all__ = ["Hedger"]

log = logging.getLogger("ailib")
_INF = float("inf")
RunTarget = Callable[[CallState, Target, bool], Any]


class _Branch:
    """One target's run in a race; ``done`` and ``cancelled`` change under the race's lock."""

    __slots__ = ("call", "target", "index", "done", "cancelled")

    def __init__(self, call: CallState, target: Target, index: int) -> None:
        self.call = call
        self.target = target
        self.index = index
        self.done = False  # its outcome was published (or it is the primary, finished)
        self.cancelled = False  # it lost the race while still running


class Hedger:
    """Runs the unconditional targets of a plan as a race/hedge (see module docstring)."""

    def __init__(
        self,
        policy: HedgePolicy,
        run_target: RunTarget,
        *,
        clock: Clock,
        metrics: Any,
        budget_for: Callable[[Endpoint], Any],
        count_selected: bool,
        max_workers: int,
    ) -> None:
        self.policy = policy
        self.run_target = run_target
        self.clock = clock
        self.metrics = metrics
        self.budget_for = budget_for
        self.count_selected = count_selected
        self.max_workers = max_workers
        self.poll = None if clock is SYSTEM_CLOCK else 0.002  # re-read an injected clock this often
        self.timer = Timer(clock, poll=self.poll)
        self.latency: dict[str, LatencyWindow] = {}  # endpoint name -> successful attempt latencies
        self.fixed_delay: Optional[float] = float(policy.delay) if policy.percentile is None else None
        self.closed = False
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._active: set[_Race] = set()
        register_after_fork(self)

    def window(self, name: str) -> LatencyWindow:
        w = self.latency.get(name)
        if w is None:
            w = self.latency.setdefault(name, LatencyWindow())
        return w

    def observe(self, name: str, seconds: float) -> None:
        """A successful attempt's latency (what ``delay="p95"`` reads)."""
        self.window(name).add(seconds)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self.closed:
                raise closed_error()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ailib-hedge")
            self._executor.submit(fn, *args)

    # -- one call ---------------------------------------------------------------------------
    def run(self, call: CallState, targets: list[Target], stream: bool) -> Any:
        """Race ``targets`` for ``call``; return the winner's result or raise the error."""
        policy = self.policy
        if len(targets) == 1:  # a single target hedges to itself
            targets = targets * (policy.max_hedges + 1)
        primary = targets[0].endpoint
        budget = self.budget_for(primary)  # one budget both records the calls and pays for the hedges
        if budget is not None:
            budget.record_call()
        delay = self.fixed_delay if self.fixed_delay is not None else self.window(primary.name).hedge_delay(policy)
        race = _Race(self, call, targets, stream, budget, delay)
        active = self._active
        active.add(race)  # then check: close() sets closed, then aborts what it finds here
        if self.closed:
            active.discard(race)
            raise closed_error()
        try:
            return race.run()
        finally:
            race.finish()
            active.discard(race)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> None:
        """Cancel every live race and stop the timer and the executor's threads, waiting
        at most ``timeout`` seconds in all."""
        end = self.clock.monotonic() + timeout if self.clock is SYSTEM_CLOCK else None
        with self._lock:
            self.closed = True
            executor, self._executor = self._executor, None
            races = list(self._active)
        for race in races:
            race.abort(closed_error())
        self.timer.close(timeout)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            for thread in list(getattr(executor, "_threads", ())):
                left = 1.0 if end is None else max(0.0, end - self.clock.monotonic())
                thread.join(left)

    def _after_fork_in_child(self) -> None:
        """In a forked child the executor's threads and the races in flight do not exist:
        drop them (never touching the parent's) and start afresh on demand."""
        self._lock = threading.Lock()
        self._executor = None
        self._active = set()
        self.timer._after_fork_in_child()
        for window in list(self.latency.values()):  # the samples carry over; a lock held mid-fork must not
            window._after_fork_in_child()


class _Race:
    """One hedged call: its branches, the hedges still to start, and the events queue the
    caller reads once its own (primary) branch has finished."""

    def __init__(self, hedger: Hedger, call: CallState, targets: list[Target], stream: bool, budget: Any, delay: float) -> None:
        self.hedger = hedger
        self.call = call
        self.stream = stream
        self.budget = budget
        self.delay = delay
        self.targets = targets
        self.next = 0  # index of the next target to start
        self.cap = hedger.policy.max_hedges + 1
        self.context = contextvars.copy_context()  # the caller's (its trace span): hedges run in it
        self.lock = threading.Lock()
        self.events: Optional[queue.SimpleQueue] = None  # made with the first executor branch
        self.branches: list[_Branch] = []
        self.running = 0
        self.decided = False
        self.entry: Optional[float] = None  # the timer token of the next delayed hedge

    # -- starting branches --------------------------------------------------------------------
    def _new_branch(self, hedge: bool) -> _Branch:
        """Under ``self.lock``: the next pending target as a new branch."""
        target = self.targets[self.next]
        self.next += 1
        if self.branches:
            call = self.call.fork(hedge)
        else:  # the primary records straight into the call (it runs on the caller's thread)
            call = self.call
            call.branch = True
        br = _Branch(call, target, len(self.branches))
        call.on_failure = self._attempt_failed
        self.branches.append(br)
        self.running += 1
        metrics = self.hedger.metrics
        if hedge:
            metrics.incr_counter("hedge.fired", tags={"provider": target.endpoint.provider})
            self.call.trace.event("hedge.fired", provider=target.endpoint.provider)
        if self.hedger.count_selected:
            metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})
        return br

    def launch(self, *, spend: bool) -> bool:
        """Start the next hedge on the executor, if one is left, under the cap, the race is
        undecided and (``spend``) the hedge budget allows it."""
        with self.lock:
            if self.decided or self.next >= len(self.targets) or self.running >= self.cap:
                return False
            if spend and self.budget is not None and not self.budget.try_spend():
                return False
            br = self._new_branch(True)
            if self.events is None:
                self.events = queue.SimpleQueue()
        try:
            self.hedger.submit(self.context.copy().run, self._work, br)
        except AiLibError as err:
            self._publish(br, "error", err)
        return True

    def _attempt_failed(self, err: AiLibError) -> None:
        """A failed attempt (even one about to be retried) sends the next hedge at once,
        unless its error ends the call (a 401 is not hedged around)."""
        if moves_on(err):
            self.launch(spend=False)

    def _on_timer(self) -> None:
        """The delay passed without an answer: hedge, and arm the next delay if more may follow."""
        if not self.launch(spend=True):
            return  # decided, none left, at the cap, or over the extra-load budget
        with self.lock:
            again = not self.decided and self.next < len(self.targets) and self.running < self.cap
        if again:
            self.entry = self.hedger.timer.schedule(self.hedger.clock.monotonic() + self.delay, self._on_timer)

    # -- the caller's side --------------------------------------------------------------------
    def run(self) -> Any:
        hedger = self.hedger
        primary = self._new_branch(False)  # no other thread knows this race yet: no lock
        if self.delay <= 0:
            while self.launch(spend=True):
                pass
        else:
            self.entry = hedger.timer.schedule(hedger.clock.monotonic() + self.delay, self._on_timer)
        try:
            result = hedger.run_target(primary.call, primary.target, self.stream)
        except AiLibError as err:
            with self.lock:
                lost = primary.cancelled
                primary.done = True
            if not lost:
                self._failed(err)
        except BaseException:
            with self.lock:
                primary.done = True
            raise
        else:
            with self.lock:
                won = not primary.cancelled and not self.decided
                self.decided = True
                primary.done = True
            if won:
                self._won(primary)
                return result
            result.close()  # a hedge answered first; its result is queued
        return self._wait()

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
                self._won(br)
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

    def _won(self, br: _Branch) -> None:
        tags = {"attempt": "primary" if br.index == 0 else f"hedge{br.index}", "provider": br.target.endpoint.provider}
        self.hedger.metrics.incr_counter("hedge.won", tags=tags)
        self.call.trace.event("hedge.won", **tags)

    # -- the executor's side ------------------------------------------------------------------
    def _work(self, br: _Branch) -> None:
        try:
            result = self.hedger.run_target(br.call, br.target, self.stream)
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
        br.call.cancel(CANCELLED)
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
        with self.lock:
            self.decided = True
        entry = self.entry
        if entry is not None:
            self.hedger.timer.cancel(entry)
        branches = self.branches
        for br in branches:  # break the cycle race -> branch -> call -> on_failure -> race
            br.call.on_failure = None
        self.call.branch = False
        if len(branches) == 1:  # no hedge started: the primary recorded into the call itself
            return
        clock = self.hedger.clock
        now, wall = clock.monotonic(), clock.time()
        attempts: list[Attempt] = list(self.call.attempts)
        for br in branches[1:]:
            self._cancel(br)
            recorded, in_flight = br.call.freeze()
            attempts.extend(recorded)
            if br.cancelled and in_flight:
                ep, started = br.target.endpoint, br.call.attempt_start
                attempts.append(Attempt(ep.provider, br.target.model, wall - (now - started), now - started, "cancelled", None, True, ep.name))
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
