"""Live batch runs: every request as a live call through the client's full policy stack.

Requests go out on a dedicated ``ThreadPoolExecutor(concurrency)`` that is shut down before
``run_live`` returns. Pauses: an error raised before anything reached the provider because
the client is protecting it (``CircuitOpenError``, ``LocalRateLimitError``, or a chain that
failed only with those) does not fail the request: the worker waits (the error's
``retry_after``, 0.05 s to 5 s) and tries again, up to ``max_pause`` seconds per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Optional

from ..errors import AiLibError, AllProvidersFailedError, CircuitOpenError, LocalRateLimitError
from ..types import ChatCompletionRequest
from ._checkpoint import Checkpoint
from ._progress import Reporter

__all__ = ["run_live", "POLL"]

_PAUSE_MIN = 0.05
_PAUSE_MAX = 5.0
POLL = 0.25  # seconds between checks while waiting on futures (keeps Ctrl-C responsive)


def run_live(
    client: Any,
    parsed: Sequence[Optional[ChatCompletionRequest]],
    todo: Sequence[int],
    results: list[Any],
    *,
    ckpt: Optional[Checkpoint],
    reporter: Reporter,
    concurrency: int,
    return_exceptions: bool,
    interrupt_timeout: float,
    max_pause: float,
) -> Optional[AiLibError]:
    """Send ``parsed[i]`` for each ``i`` in ``todo``, filling ``results[i]``; the first error
    when ``return_exceptions`` is False (then the rest is not sent), else None."""
    stop = threading.Event()
    gate = threading.Condition()  # guards ``running`` and ``halted``
    running = [0]
    halted = [False]

    def work(i: int) -> Any:
        with gate:
            if halted[0]:  # interrupted before this call began: never sent
                return None
            running[0] += 1
        try:
            req = parsed[i]
            assert req is not None
            result = _call(client, req, stop, max_pause)
            if ckpt is not None and not (stop.is_set() and _is_pause(result)):
                ckpt.write(i, result)
            return result
        finally:
            with gate:
                running[0] -= 1
                gate.notify_all()

    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ailib-batch")
    in_flight: dict[Future[Any], int] = {}
    first_error: Optional[AiLibError] = None
    next_todo = 0
    try:
        while True:
            while first_error is None and next_todo < len(todo) and len(in_flight) < 2 * concurrency:
                i = todo[next_todo]
                next_todo += 1
                in_flight[pool.submit(work, i)] = i
            if not in_flight:
                break
            finished, _ = wait(in_flight, timeout=POLL, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = in_flight.pop(fut)
                result = fut.result()  # a non-AiLibError (a bug, a disk error) propagates
                results[i] = result
                failed_now = isinstance(result, AiLibError)
                reporter.update(failed=failed_now, cost=None if failed_now else result.cost)
                if failed_now and not return_exceptions and first_error is None:
                    first_error = result
                    stop.set()
                    for queued in [f for f in in_flight if f.cancel()]:
                        del in_flight[queued]
            reporter.tick()
        pool.shutdown(wait=True)
    except BaseException:
        stop.set()
        with gate:
            halted[0] = True  # no call starts from now on, even one submitted but not yet tracked
        pool.shutdown(wait=False, cancel_futures=True)  # queued, not started: never sent
        overran = _drain(gate, running, interrupt_timeout)
        if ckpt is not None:
            ckpt.close(compact=False)
        pool.shutdown(wait=not overran, cancel_futures=True)  # joins at once unless calls overran the bound
        reporter.close()
        raise
    return first_error


def _is_pause(result: Any) -> bool:
    """True for errors raised before anything reached the provider, to protect it."""
    if isinstance(result, (CircuitOpenError, LocalRateLimitError)):
        return True
    if isinstance(result, AllProvidersFailedError):
        return bool(result.errors) and all(isinstance(e, (CircuitOpenError, LocalRateLimitError)) for e in result.errors)
    return False


def _pause_for(err: AiLibError) -> float:
    hints = [e.retry_after for e in (err.errors if isinstance(err, AllProvidersFailedError) else (err,))]
    known = [h for h in hints if h is not None]
    return min(max(min(known) if known else 0.0, _PAUSE_MIN), _PAUSE_MAX)


def _call(client: Any, req: ChatCompletionRequest, stop: threading.Event, max_pause: float) -> Any:
    """One request to its end: a response or an ``AiLibError`` (never raised)."""
    give_up: Optional[float] = None
    while True:
        try:
            return client.chat_completion(req)
        except AiLibError as err:
            if not _is_pause(err) or stop.is_set():
                return err
            now = time.monotonic()
            if give_up is None:
                give_up = now + max_pause
            pause = min(_pause_for(err), give_up - now)
            if pause <= 0 or stop.wait(pause):
                return err


def _drain(gate: threading.Condition, running: list[int], timeout: float) -> bool:
    """Wait up to ``timeout`` for the calls running to end (their results are written); a
    second Ctrl-C ends the wait. True when some are still running."""
    end = time.monotonic() + timeout
    try:
        with gate:
            while running[0]:
                left = end - time.monotonic()
                if left <= 0:
                    break
                gate.wait(min(left, POLL))
    except KeyboardInterrupt:
        pass
    return running[0] > 0
