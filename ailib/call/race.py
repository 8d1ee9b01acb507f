"""One hedged call (``HedgedCall``) and, once it needs one, its race (``Race``).

A hedged call starts as a ``HedgedCall``: its spec, attempt log, targets and settings, and
the one lock every decision about the call takes. Its primary runs alone on the caller's
thread, and the call is only an entry in the hedge clock's ``pending`` (``timer.py``). The
race is made (``HedgedCall.claim``) only when the call needs one: its first hedge is due,
an attempt failed, the call failed, ``delay=0``, or the client closes. The caller ending
alone and a claim meet under the call's lock: exactly one of them decides, so no hedge
starts after the primary has won alone, and no race is made for a call that ended.

The race decides, under that same lock, who won, which hedges start and which branches are
cancelled, the way ``concurrent.futures.wait(FIRST_COMPLETED)`` reads: each hedge branch
(on the hedger's executor) hands its outcome in (``_publish``); the caller's thread hands in
its primary's (``primary_ok`` / ``primary_failed``), then takes the finished outcomes one at
a time (``_wait``), bounded by the call's deadline. The first success wins; every other
branch still running is cancelled through its ``CancelToken`` (its socket is shut down, its
backoff ends); a result that loses is closed, never left unread. At the end (``finish``)
the branches' ``AttemptLog``\\ s are merged into the call's in start order, under the lock,
with an attempt a cancelled branch still had in flight recorded as
``Attempt(outcome="cancelled", hedge=True)``. Nothing here relies on the GIL: every
decision, and every change to a branch's log or token, is made under the call's lock.

This module knows the hedger only through ``Host`` (what a race reads of it), so the
hedger (``hedge.py``) imports this module and not the other way round.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Optional, Protocol

from .._trace_api import NOOP_CALL
from ..clock import Clock
from ..errors import AiLibError, DeadlineExceededError, NetworkError
from ..routing.endpoint import Target
from ..types import Attempt
from .branch import AttemptLog, Branch, CancelToken
from .rules import HedgeCancelledError, moves_on, release_frames
from .spec import CallSpec

__all__ = ["Host", "HedgedCall", "Race", "RunTarget", "count_start", "count_won"]

_INF = float("inf")
# Why a losing branch was cancelled (never raised to callers). A new error per loser: the
# transport raises it in the loser's thread, and a shared instance would collect every
# loser's traceback (keeping their frames, their calls and clients alive).
_CANCELLED = "cancelled: another attempt answered first"

RunTarget = Callable[..., Any]  # (branch, target, stream[, admitted]) -> result: one target with its retries

_RUNNING, _DONE, _CANCELLED_STATE = 0, 1, 2


class Host(Protocol):
    """What a race needs of its hedger."""

    metrics: Any
    counting: bool  # whether hedge.won is worth counting (not NoopMetrics)
    count_selected: bool  # routing_mvp.selected per branch started
    cap: int  # branches running at once
    clock: Clock
    poll: Optional[float]  # how often (real seconds) an injected clock is re-read while waiting

    def submit(self, fn: Callable[..., Any], *args: Any) -> None: ...


class Registry(Protocol):
    """The hedge clock's registries (``timer.HedgeClock``)."""

    pending: dict[Any, None]
    races: dict[Any, None]


def _tags(target: Target, **more: str) -> dict[str, str]:
    """hedge.* tags: the provider, and the FallbackChain step when the target is one."""
    tags = {**more, "provider": target.endpoint.provider}
    if target.condition is not None:
        tags["step"] = target.label
    return tags


def count_start(host: Host, spec: CallSpec, target: Target, hedge: bool) -> None:
    """The counters of a branch's start (routing and fallback steps, hedge.fired)."""
    metrics = host.metrics
    if target.condition is not None:  # a FallbackChain step raced as the hedge
        metrics.incr_counter("fallback.step", tags={"step": target.label, "provider": target.endpoint.provider})
    if hedge:
        metrics.incr_counter("hedge.fired", tags=_tags(target))
        spec.trace.event("hedge.fired", provider=target.endpoint.provider)
    if host.count_selected:
        metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})


def count_won(host: Host, spec: CallSpec, target: Target, index: int) -> None:
    """hedge.won for the branch ``index`` (0: the primary) and its trace event."""
    if host.counting or spec.trace is not NOOP_CALL:
        tags = _tags(target, attempt="primary" if index == 0 else f"hedge{index}")
        host.metrics.incr_counter("hedge.won", tags=tags)
        spec.trace.event("hedge.won", **tags)


def _drop_frames(err: AiLibError) -> None:
    """Let go of the frames of an error nobody will read (a branch's cancellation)."""
    release_frames(err)
    err.__traceback__ = None


class HedgedCall:
    """One hedged call while it runs: its lock, what its race would need, and the race once
    made. Its primary's branch is made from it (``primary``); ``attempt_failed`` is the
    observer every branch of the call is given (``Branch.watch``)."""

    __slots__ = (
        "host", "registry", "spec", "log", "targets", "stream", "budget", "delay", "run_target", "context", "lock",
        "token", "due", "race", "over",
    )  # fmt: skip

    def __init__(
        self,
        host: Host,
        registry: Registry,
        spec: CallSpec,
        log: AttemptLog,
        targets: list[Target],
        stream: bool,
        budget: Any,
        delay: float,
        run_target: RunTarget,
        context: Any,
        due: float,
    ) -> None:
        self.host = host
        self.registry = registry
        self.spec = spec
        self.log = log  # the call's log: the primary records into it, the race merges the hedges' into it
        self.targets = targets
        self.stream = stream
        self.budget = budget
        self.delay = delay
        self.run_target = run_target
        self.context = context  # the caller's (its trace span): hedges run in it
        self.lock = threading.Lock()  # every decision about this call, and every hedge branch's log and token
        self.token = CancelToken(self.lock)  # the primary's
        self.due = due  # when the first hedge starts (read by the hedge clock)
        self.race: Optional[Race] = None
        self.over = False  # the caller has finished with the call: no race from now on

    def primary(self) -> Branch:
        """The primary's branch (run on the caller's thread, into the call's log)."""
        return Branch(self.spec, self.log, self.token, False, self.attempt_failed)

    def claim(self) -> Optional[Race]:
        """The call's race, made now if its primary still runs alone; None once the call
        has ended. Decided under the call's lock, against the caller's ``end``."""
        registry = self.registry
        with self.lock:
            race = self.race
            if race is None and not self.over:
                race = self.race = Race(self)
                race.due = self.due
                registry.races[race] = None
                registry.pending.pop(self, None)
            return race

    def primary_done(self) -> Optional[Race]:
        """The primary ended: None if no race was made (the call is then over, out of the
        registry, and no race ever will be), else the race, which decides what follows."""
        with self.lock:
            race = self.race
            if race is None:
                self.over = True
                self.registry.pending.pop(self, None)
            return race

    def end(self) -> Optional[Race]:
        """The caller is done with the call (whatever the outcome): no race from now on.
        The race it had, if any, now out of the registries, for the caller to ``finish``."""
        registry = self.registry
        self.token.release()  # the primary has ended
        with self.lock:
            self.over = True
            race, self.race = self.race, None  # the race's branches watch this call: no cycle left
            registry.pending.pop(self, None)
            if race is not None:
                registry.races.pop(race, None)
        return race

    def attempt_failed(self, err: AiLibError) -> None:
        """A failed attempt of any branch (even one about to be retried) starts the next
        hedge at once, unless its error ends the call (a 401 is not hedged around)."""
        if moves_on(err):
            race = self.claim()
            if race is not None:
                race.launch(spend=False)


class _Runner:
    """One target's branch in a race; ``state`` changes under the race's lock."""

    __slots__ = ("branch", "target", "index", "state")

    def __init__(self, branch: Branch, target: Target, index: int) -> None:
        self.branch = branch
        self.target = target
        self.index = index
        self.state = _RUNNING  # then _DONE (its outcome is in) or _CANCELLED_STATE (it lost while running)


class Race:
    """One hedged call's branches, the hedges still to start, the winner, and the finished
    outcomes the caller has not taken yet. Every field changes under ``lock`` (the call's)."""

    __slots__ = ("call", "host", "lock", "_cond", "runners", "next", "running", "decided", "aborted", "done", "due")

    def __init__(self, call: HedgedCall) -> None:
        self.call = call
        self.host = call.host
        self.lock = call.lock
        self._cond = threading.Condition(call.lock)
        self.runners = [_Runner(call.primary(), call.targets[0], 0)]
        self.next = 1  # index of the next target to start (the primary runs already)
        self.running = 1  # branches started whose failure the caller has not taken yet
        self.decided = False  # a winner is known, or the race is over: no hedge starts
        self.aborted: Optional[AiLibError] = None  # the client closed
        self.done: deque[tuple[_Runner, bool, Any]] = deque()  # finished hedges: (runner, ok, result or error)
        self.due = _INF  # when the next hedge starts (read by the hedge clock)

    # -- starting hedges ---------------------------------------------------------------------
    def _start_locked(self, spend: bool) -> Optional[_Runner]:
        """With the lock held: the next target as a new hedge branch, if one is left, under
        the cap, the race undecided and (``spend``) the hedge budget allows it."""
        call = self.call
        if self.decided or self.next >= len(call.targets) or self.running >= self.host.cap:
            return None
        if spend and call.budget is not None and not call.budget.try_spend():
            return None
        target = call.targets[self.next]
        self.next += 1
        branch = Branch(call.spec, AttemptLog(call.lock), CancelToken(call.lock), True, call.attempt_failed)
        runner = _Runner(branch, target, len(self.runners))
        self.runners.append(runner)
        self.running += 1
        count_start(self.host, call.spec, target, True)
        return runner

    def _submit(self, runner: _Runner) -> None:
        try:
            self.host.submit(self.call.context.copy().run, self._work, runner)
        except AiLibError as err:  # the client closed meanwhile
            self._publish(runner, False, err)

    def launch(self, *, spend: bool) -> bool:
        """Start the next hedge on the executor if the race allows one (see ``_start_locked``)."""
        with self.lock:
            runner = self._start_locked(spend)
        if runner is None:
            return False
        self._submit(runner)
        return True

    def on_due(self) -> None:
        """The delay passed without an answer (on the hedge clock's thread): hedge, and arm
        the next delay if more may follow."""
        with self.lock:
            runner = self._start_locked(True)
            if runner is not None and self.next < len(self.call.targets) and self.running < self.host.cap:
                self.due = self.host.clock.monotonic() + self.call.delay
        if runner is not None:
            self._submit(runner)

    # -- outcomes ------------------------------------------------------------------------------
    def _losers_locked(self, winner: Optional[_Runner]) -> list[_Runner]:
        """With the lock held: every other branch still running, now cancelled."""
        losers = [r for r in self.runners if r is not winner and r.state == _RUNNING]
        for r in losers:
            r.state = _CANCELLED_STATE
        return losers

    def _cancel(self, losers: list[_Runner]) -> None:
        """Cancel the branches marked lost (outside the lock: a cancel shuts a socket down)."""
        for r in losers:
            r.branch.token.cancel(HedgeCancelledError(_CANCELLED))
            self.host.metrics.incr_counter("hedge.cancelled", tags={"provider": r.target.endpoint.provider})

    def _work(self, runner: _Runner) -> None:
        """A hedge branch, on the executor: its target with its retries, then its outcome."""
        try:
            result = self.call.run_target(runner.branch, runner.target, self.call.stream)
        except AiLibError as err:
            self._publish(runner, False, err)
            return
        except BaseException as exc:
            self._publish(runner, False, NetworkError(f"hedged attempt failed unexpectedly: {type(exc).__name__}: {exc}"))
            return
        self._publish(runner, True, result)

    def _publish(self, runner: _Runner, ok: bool, payload: Any) -> None:
        """A hedge's outcome: a success wins unless the race is decided (the others are then
        cancelled at once, which also wakes the caller's primary); a failure is handed to
        the caller. A branch that lost, or a success that came second, is closed here."""
        runner.branch.token.release()  # the branch has ended (this is its own thread)
        losers: list[_Runner] = []
        with self.lock:
            keep = runner.state == _RUNNING
            if keep:
                runner.state = _DONE
                if ok:
                    keep = not self.decided
                    if keep:
                        self.decided = True
                        losers = self._losers_locked(runner)
                if keep:
                    self.done.append((runner, ok, payload))
                    self._cond.notify()
        if not keep:
            if ok:
                payload.close()
            else:  # a loser's cancellation, read by nobody: its frames hold its token, which holds it
                _drop_frames(payload)
        self._cancel(losers)

    # -- the caller's side --------------------------------------------------------------------
    def primary_ok(self, result: Any) -> Any:
        """The primary answered: it wins unless a hedge did; the winner's result."""
        primary = self.runners[0]
        with self.lock:
            won = primary.state == _RUNNING and not self.decided
            if won:
                self.decided = True
            if primary.state == _RUNNING:
                primary.state = _DONE
        if won:
            count_won(self.host, self.call.spec, primary.target, 0)
            return result
        result.close()  # a hedge answered first; its result is waiting
        return self._wait()

    def primary_failed(self, err: AiLibError) -> Any:
        """The primary failed: start the next target, or wait for the hedges, or raise."""
        primary = self.runners[0]
        with self.lock:
            lost = primary.state == _CANCELLED_STATE
            primary.state = _DONE
        if lost:
            _drop_frames(err)  # its cancellation: its frames hold the primary's token, which holds it
        else:
            self._failed(err)
        return self._wait()

    def primary_ended(self) -> None:
        """The primary ended with an exception that is not the call's (KeyboardInterrupt...)."""
        with self.lock:
            self.runners[0].state = _DONE

    def _failed(self, err: AiLibError) -> None:
        """A branch ended with ``err`` (taken by the caller): raise it, or start the next
        target; when no branch is left running and none can start, raise it."""
        self.call.log.errors.append(err)
        if isinstance(err, DeadlineExceededError) or not moves_on(err):
            raise err
        with self.lock:
            self.running -= 1
            runner = self._start_locked(False)
            give_up = runner is None and self.running <= 0 and not self.decided
        if runner is not None:
            self._submit(runner)
        elif give_up:
            raise err

    def _wait(self) -> Any:
        """After the primary: take the hedges' outcomes as they finish, the first success
        wins (bounded by the call's deadline)."""
        spec, clock, poll = self.call.spec, self.host.clock, self.host.poll
        cond = self._cond
        while True:
            with cond:
                while not self.done:
                    if self.aborted is not None:
                        raise self.aborted
                    timeout: Optional[float] = None
                    if spec.deadline != _INF:
                        timeout = spec.deadline - clock.monotonic()
                        if timeout <= 0:
                            provider = self.runners[0].target.endpoint.provider
                            raise DeadlineExceededError("the call's deadline ran out while racing", provider=provider)
                    if poll is not None:
                        timeout = poll if timeout is None else min(timeout, poll)
                    cond.wait(timeout)
                runner, ok, payload = self.done.popleft()
            if ok:
                count_won(self.host, spec, runner.target, runner.index)
                return payload
            self._failed(payload)

    # -- the end -------------------------------------------------------------------------------
    def abort(self, err: AiLibError) -> None:
        """The client is closing: cancel every branch and end the caller's wait with ``err``."""
        with self.lock:
            self.decided = True
            self.aborted = err
            losers = self._losers_locked(None)
            self._cond.notify_all()
        self._cancel(losers)

    def finish(self) -> None:
        """After the primary (on the caller's thread): cancel the losers, merge every
        branch's attempts into the call's log (in start order), and close any result
        nobody will read."""
        with self.lock:
            self.decided = True  # from here on no hedge starts
            losers = self._losers_locked(self.runners[0])
            hedges = self.runners[1:]
        self._cancel(losers)
        if not hedges:  # no hedge started: the primary recorded into the call's log itself
            return
        clock = self.host.clock
        now, wall = clock.monotonic(), clock.time()
        merged: list[Attempt] = []
        with self.lock:
            for r in hedges:
                recorded, in_flight = r.branch.log.close_locked()
                r.branch.log.clear()  # merged: a thread's frames still holding the branch lead to none of it
                merged.extend(recorded)
                for a in recorded:  # a hedge's error: its frames hold its branch, whose log holds it
                    if a.error is not None:
                        release_frames(a.error)
                if r.state == _CANCELLED_STATE and in_flight is not None:
                    ep = r.target.endpoint
                    merged.append(
                        Attempt(ep.provider, r.target.model, wall - (now - in_flight), now - in_flight, "cancelled", None, True, ep.name)
                    )
            unread = [payload for _r, ok, payload in self.done if ok]
            for _r, ok, payload in self.done:
                if not ok:
                    release_frames(payload)
            self.done.clear()
        attempts = self.call.log.attempts  # the caller's own (the primary's records)
        attempts.extend(merged)
        attempts.sort(key=lambda a: a.started_at)
        for payload in unread:
            payload.close()
