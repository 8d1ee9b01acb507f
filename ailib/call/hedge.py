"""Race and hedged requests: run a call's first targets concurrently, keep the first success.

The primary runs on the caller's own thread. A hedge starts on the executor only when
``delay`` passes without an answer (the timer thread fires it, spending the primary's
hedge budget), or at once when an attempt fails; ``delay=0`` starts the hedges at once.
A hedged call where no hedge fires is only a ``HedgedCall`` (``race.py``: its settings
and its one lock) in the hedge clock's ``pending`` (``timer.py``), joined with one
dictionary store and left under its lock: no race object, no thread hand-off. The race is
made when the call needs one: its hedge is due, an attempt failed, the call failed,
``delay=0``, or the client closes (``HedgedCall.claim``, decided under the call's lock
against the caller's ending alone).

A branch (``branch.py``: the call's spec, its own attempt log and cancellation token)
runs one target through ``run_target`` (the pipeline's rate limiter, breaker and
retries). Every branch is given the call's ``attempt_failed`` as its observer: a failed
attempt, even one about to be retried, starts the next hedge at once. The first success
wins; every other branch is cancelled: its socket is shut down through its token (which
also wakes the caller's thread when a hedge beats the primary) and its in-flight attempt
is recorded as ``Attempt(outcome="cancelled", hedge=True)``. A result that arrives after
the race was decided is closed, never orphaned. A hedged call leaves no reference cycle:
a token forgets its reason once its branch has ended, merged logs are emptied.

Threads: a hedger's clock thread and executor start on first use and end with ``close()``,
or when the hedger is garbage collected (a client dropped without ``close()``, as a
notebook cell re-run does): neither thread refers to the hedger while no call is in
flight, so it can be collected, and its finalizer stops them.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from .._fork import register_after_fork
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AiLibError
from ..metrics import NoopMetrics
from ..reliability.hedge import HedgePolicy, LatencyWindow
from ..routing.endpoint import Endpoint, Target
from .branch import AttemptLog
from .race import HedgedCall, Race, RunTarget, count_start, count_won
from .rules import closed_error
from .spec import CallSpec
from .timer import HedgeClock

__all__ = ["Hedger"]

log = logging.getLogger("ailib")
_INF = float("inf")


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
        self.counting = not isinstance(metrics, NoopMetrics)  # else hedge.won costs nothing to skip
        self.budget_for = budget_for
        self._budgets: dict[str, Any] = {}  # endpoint name -> its hedge budget (or None)
        self.cap = policy.max_hedges + 1  # branches running at once
        self.count_selected = count_selected
        self.max_workers = max_workers
        self.timer = HedgeClock(_claim, clock)  # the claim holds no reference to the hedger
        self.poll = self.timer.poll  # None, or how often (real seconds) an injected clock is re-read
        self.latency: dict[str, LatencyWindow] = {}  # endpoint name -> successful attempt latencies
        self.fixed_delay: Optional[float] = float(policy.delay) if policy.percentile is None else None
        self.closed = False
        self._pool = _Pool(max_workers)
        weakref.finalize(self, _stop, self.timer, self._pool)  # a hedger dropped without close()
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
        if self.closed or not self._pool.submit(fn, *args):
            raise closed_error()

    # -- one call ---------------------------------------------------------------------------
    def run(
        self,
        spec: CallSpec,
        log: AttemptLog,
        targets: list[Target],
        stream: bool,
        run_target: Optional[RunTarget] = None,
        admitted: bool = False,
    ) -> Any:
        """Race ``targets`` for the call ``spec`` (its attempts into ``log``); return the
        winner's result or raise the error. ``run_target`` overrides the hedger's own (a
        per-call view's retries and timeouts); ``admitted``: the primary's first attempt
        already holds its rate-limit permit."""
        if len(targets) == 1:  # a single target hedges to itself
            targets = targets * self.cap
        primary = targets[0]
        name = primary.endpoint.name
        budgets = self._budgets
        if name in budgets:
            budget = budgets[name]
        else:  # one budget both records the calls and pays for the hedges (the first one stored wins)
            budget = budgets.setdefault(name, self.budget_for(primary.endpoint))
        if budget is not None:
            budget.record_call()
        delay = self.fixed_delay if self.fixed_delay is not None else self.window(name).hedge_delay(self.policy)
        run_target = run_target or self.run_target
        if primary.condition is not None or self.count_selected:
            count_start(self, spec, primary, False)
        timer = self.timer
        due = self.clock.monotonic() + delay if delay > 0 else _INF
        call = HedgedCall(self, timer, spec, log, targets, stream, budget, delay, run_target, contextvars.copy_context(), due)
        timer.pending[call] = None  # joined: the clock may claim it from now on
        try:
            if delay > 0:
                timer.lead = delay
                if due < timer.wake_at:
                    timer.wake()
            elif (race := call.claim()) is not None:  # delay=0: race them all at once
                while race.launch(spend=True):
                    pass
            if self.closed:  # checked after joining: close() sets closed, then claims what is pending
                raise closed_error()
            try:
                result = run_target(call.primary(), primary, stream, admitted)
            except AiLibError as err:
                race = call.claim()  # made now unless it exists: the race decides what follows
                if race is None:
                    raise
                return race.primary_failed(err)
            except BaseException:
                race = call.primary_done()
                if race is not None:
                    race.primary_ended()
                raise
            race = call.primary_done()
            if race is None:  # no race was made, and none will be: the primary won alone
                count_won(self, spec, primary, 0)
                return result
            return race.primary_ok(result)
        finally:
            if not call.over:  # set only by this thread, and only once no race can be made
                race = call.end()
                if race is not None:
                    race.finish()

    # -- lifecycle --------------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> None:
        """Cancel every live race and stop the timer and the executor's threads, waiting
        at most ``timeout`` seconds in all."""
        end = SYSTEM_CLOCK.monotonic() + timeout
        self.closed = True
        for call in list(self.timer.pending):  # primaries running alone get a race to abort
            call.claim()
        for race in list(self.timer.races):
            race.abort(closed_error())
        self.timer.close(timeout)
        for thread in self._pool.stop():
            thread.join(max(0.0, end - SYSTEM_CLOCK.monotonic()))

    def _after_fork_in_child(self) -> None:
        """In a forked child the executor's threads and the races in flight do not exist:
        drop them (never touching the parent's) and start afresh on demand."""
        self._pool.reset()
        self.timer._after_fork_in_child()
        for window in list(self.latency.values()):  # the samples carry over; a lock held mid-fork must not
            window._after_fork_in_child()


class _Pool:
    """A hedger's executor, started on first use. Its threads are recorded by the
    executor's initializer, so ``stop`` can name them for a bounded join."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.executor: Optional[ThreadPoolExecutor] = None
        self.threads: list[threading.Thread] = []
        self.stopped = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run ``fn(*args)`` on a pool thread; False once stopped."""
        with self.lock:
            if self.stopped:
                return False
            if self.executor is None:
                self.executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ailib-hedge", initializer=self._started)
            self.executor.submit(fn, *args)
            return True

    def _started(self) -> None:
        self.threads.append(threading.current_thread())

    def stop(self) -> list[threading.Thread]:
        """Take no more work, drop what is queued, tell the threads to end (without waiting):
        the threads, for the caller to join."""
        with self.lock:
            self.stopped = True
            executor, self.executor = self.executor, None
        if executor is None:
            return []
        executor.shutdown(wait=False, cancel_futures=True)
        return list(self.threads)


def _stop(timer: HedgeClock, pool: _Pool) -> None:
    """The finalizer of a hedger collected without ``close()``: its threads end."""
    pool.stop()
    timer.stop()


def _claim(call: HedgedCall) -> Optional[Race]:
    """The hedge clock's claim: a pending call's race (None if its primary ended alone)."""
    return call.claim()
