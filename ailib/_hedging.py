"""Race and hedged requests: run a call's first targets concurrently, keep the first success.

A branch runs one target through the pipeline (rate limiter, breaker, retries). The
next branch starts when ``delay`` passes without an answer (spending the endpoint's hedge
budget), or at once when an attempt fails. The first success wins; every other branch is
cancelled: its socket is shut down through its attempt handle and its in-flight attempt
is recorded as ``Attempt(outcome="cancelled", hedge=...)`` before the caller returns, so a
loser never delays the caller. Branches run on one bounded executor per client.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Optional

from ._endpoint import Target
from .errors import AiLibError, DeadlineExceededError, NetworkError
from .reliability.hedge import HedgePolicy, LatencyWindow
from .types import Attempt

if TYPE_CHECKING:
    from ._pipeline import Pipeline, _Call

__all__ = ["Hedger", "HedgeCancelledError"]

log = logging.getLogger("ailib")


class HedgeCancelledError(AiLibError):
    """Internal: the attempt lost a race and was cancelled (never raised to callers)."""


_CANCELLED = HedgeCancelledError("cancelled: another attempt answered first")


class _Branch:
    __slots__ = ("call", "target", "index", "hedge", "lock", "done", "cancelled")

    def __init__(self, call: _Call, target: Target, index: int, hedge: bool) -> None:
        self.call = call
        self.target = target
        self.index = index
        self.hedge = hedge
        self.lock = threading.Lock()
        self.done = False
        self.cancelled = False

    def cancel(self) -> bool:
        """Cancel if still running; True if this branch was live and is now cancelled."""
        with self.lock:
            if self.done or self.cancelled:
                return False
            self.cancelled = True
        self.call.cancel(_CANCELLED)
        return True


class Hedger:
    """Runs the unconditional targets of a plan as a race/hedge (see module docstring)."""

    def __init__(self, pipeline: Pipeline, policy: HedgePolicy, *, max_workers: int) -> None:
        self.pipeline = pipeline
        self.policy = policy
        self.max_workers = max_workers
        self._executor: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._active: set = set()
        self._closed = False
        self.latency: dict = {}  # endpoint name -> LatencyWindow

    def window(self, name: str) -> LatencyWindow:
        w = self.latency.get(name)
        if w is None:
            w = self.latency.setdefault(name, LatencyWindow())
        return w

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise NetworkError("the client is closed", request_sent=False)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ailib-hedge")
            return self._executor

    def close(self) -> None:
        """Cancel every live branch and join the executor's threads."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            active = list(self._active)
        for br in active:
            br.cancel()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # -- one call ---------------------------------------------------------------------------------
    def run(self, call: _Call, targets: list, stream: bool) -> Any:
        pipeline, policy = self.pipeline, self.policy
        clock, metrics = pipeline.clock, pipeline.metrics
        if len(targets) == 1:  # a single target hedges to itself
            targets = targets * (policy.max_hedges + 1)
        pending = deque(targets)
        cap = policy.max_hedges + 1
        events: queue.SimpleQueue = queue.SimpleQueue()
        branches: list = []
        primary = targets[0].endpoint
        budget = pipeline.hedge_budget(primary)
        if budget is not None:
            budget.record_call()
        delay = self.window(primary.name).hedge_delay(policy)

        def launch(hedge: bool) -> None:
            target = pending.popleft()
            br = _Branch(call.fork(hedge), target, len(branches), hedge)
            br.call.on_failure = lambda err, br=br: events.put(("attempt_failed", br, err))
            branches.append(br)
            with self._lock:
                self._active.add(br)
            if hedge:
                metrics.incr_counter("hedge.fired", tags={"provider": target.endpoint.provider})
            if pipeline.router.multi_target:
                metrics.incr_counter("routing_mvp.selected", tags={"provider": target.endpoint.provider})
            self._pool().submit(self._work, br, stream, events)

        launch(False)
        running = 1
        next_hedge = clock.monotonic() + delay
        try:
            while True:
                now = clock.monotonic()
                wake = call.deadline
                if pending and running < cap:
                    wake = min(wake, next_hedge)
                timeout = None if wake == float("inf") else max(0.0, wake - now)
                try:
                    kind, br, payload = events.get(timeout=timeout)
                except queue.Empty:
                    now = clock.monotonic()
                    if now >= call.deadline:
                        raise DeadlineExceededError("the call's deadline ran out while racing", provider=primary.provider) from None
                    if pending and running < cap and now >= next_hedge:
                        target = pending[0]
                        spend = pipeline.hedge_budget(target.endpoint)
                        if spend is None or spend.try_spend():
                            launch(True)
                            running += 1
                            next_hedge = now + delay
                        else:
                            next_hedge = float("inf")  # over the extra-load budget: no delayed hedges
                    continue
                if kind == "attempt_failed":
                    if pending and running < cap:  # a failed attempt sends the next hedge at once
                        launch(True)
                        running += 1
                    continue
                if kind == "ok":
                    metrics.incr_counter(
                        "hedge.won", tags={"attempt": "primary" if br.index == 0 else f"hedge{br.index}", "provider": br.target.endpoint.provider}
                    )
                    return payload
                # a branch ended with an error
                running -= 1
                call.errors.append(payload)
                if isinstance(payload, DeadlineExceededError) or not _moves_on(payload):
                    raise payload
                if pending and running < cap:
                    launch(True)
                    running += 1
                elif running == 0:
                    raise payload
        finally:
            self._finish(call, branches)
            self._drain(events)

    def _finish(self, call: _Call, branches: list) -> None:
        """Cancel the losers and merge every branch's attempts into the call, in start order."""
        now = self.pipeline.clock.monotonic()
        wall = self.pipeline.clock.time()
        attempts: list = []
        for br in branches:
            live = br.cancel()
            if live:
                self.pipeline.metrics.incr_counter("hedge.cancelled", tags={"provider": br.target.endpoint.provider})
            recorded, in_flight = br.call.freeze()
            attempts.extend(recorded)
            if live and in_flight:
                ep = br.target.endpoint
                started = br.call.attempt_start
                attempts.append(
                    Attempt(ep.provider, br.target.model, wall - (now - started), now - started, "cancelled", None, True, ep.name)
                )
            with self._lock:
                self._active.discard(br)
        attempts.sort(key=lambda a: a.started_at)
        call.attempts[:] = attempts

    def _work(self, br: _Branch, stream: bool, events: queue.SimpleQueue) -> None:
        try:
            result = self.pipeline._run_target(br.call, br.target, stream)
        except AiLibError as err:
            self._publish(br, events, "error", err)
            return
        except BaseException as exc:
            self._publish(br, events, "error", NetworkError(f"hedged attempt failed unexpectedly: {type(exc).__name__}: {exc}"))
            return
        if not self._publish(br, events, "ok", result):
            self.pipeline.discard(result)

    @staticmethod
    def _publish(br: _Branch, events: queue.SimpleQueue, kind: str, payload: Any) -> bool:
        """Hand a branch's outcome to the caller unless it was cancelled. Under the branch's
        lock, so a result is either queued before ``_finish`` cancels the branch (and then
        drained by ``_drain``) or sees the cancellation here: never left behind unread."""
        with br.lock:
            if br.cancelled:
                return False
            br.done = True
            events.put((kind, br, payload))
            return True

    def _drain(self, events: queue.SimpleQueue) -> None:
        """Release results that arrived after the race was decided (a second stream that
        also opened): nobody will read them, so their connections are closed now."""
        while True:
            try:
                kind, _br, payload = events.get_nowait()
            except queue.Empty:
                return
            if kind == "ok":
                self.pipeline.discard(payload)


def _moves_on(err: AiLibError) -> bool:
    from ._pipeline import _moves_on as moves_on

    return moves_on(err)
