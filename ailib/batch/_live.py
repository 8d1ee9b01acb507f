"""Live batch runs: every request as a live call through the client's full policy stack.

Requests go out on a dedicated ``ThreadPoolExecutor(concurrency)`` that is shut down before
``iter_live`` ends, or on the caller's ``Executor`` (threads, processes, Dask, Ray...).
Each result is written to the checkpoint by its future's done-callback as the call ends (on
the thread that ends it), before the calling thread sees or yields it. Pauses: an error raised before anything reached the provider because
the client is protecting it (``CircuitOpenError``, ``LocalRateLimitError``, or a chain that
failed only with those) does not fail the request: the worker waits (the error's
``retry_after``, 0.05 s to 5 s) and tries again, up to ``max_pause`` seconds per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional

from ..errors import AiLibError, AllProvidersFailedError, CircuitOpenError, LocalRateLimitError
from ..types import ChatCompletionRequest
from ._checkpoint import Checkpoint
from ._progress import Reporter

__all__ = ["iter_live", "call_remote", "POLL"]

log = logging.getLogger("ailib")

_PAUSE_MIN = 0.05
_PAUSE_MAX = 5.0
POLL = 0.25  # seconds between checks while waiting on futures (keeps Ctrl-C responsive)


def iter_live(
    client: Any,
    parsed: Mapping[int, ChatCompletionRequest],
    todo: Sequence[int],
    *,
    ckpt: Optional[Checkpoint],
    reporter: Reporter,
    concurrency: int,
    return_exceptions: bool,
    interrupt_timeout: float,
    max_pause: float,
    executor: Optional[Executor] = None,
) -> Generator[tuple[int, Any], None, Optional[AiLibError]]:
    """Send ``parsed[i]`` for each ``i`` in ``todo``; yield ``(i, result)`` as each finishes
    (written to the checkpoint first). Returns the first error when ``return_exceptions`` is
    False (then the rest is not sent and errors are not yielded), else None.

    ``executor``: where the calls run (any ``concurrent.futures.Executor``; the function
    and its arguments, the client included, are pickled by executors of other processes);
    None: a ``ThreadPoolExecutor(concurrency)`` of this run. At most ``2 * concurrency``
    calls are submitted at a time either way.
    """
    stop = threading.Event()
    gate = threading.Condition()  # guards ``halted``
    halted = [False]

    def work(i: int) -> Any:
        with gate:
            if halted[0]:  # interrupted before this call began: never sent
                return None
        return _call(client, parsed[i], stop, max_pause)

    own = executor is None
    pool: Executor = ThreadPoolExecutor(concurrency, thread_name_prefix="ailib-batch") if executor is None else executor
    in_flight: dict[Future[Any], int] = {}
    first_error: Optional[AiLibError] = None
    next_todo = 0

    write_errors: list[BaseException] = []
    write_lock = threading.Lock()
    visits: set[Future[Any]] = set()  # futures one of (done-callback, finish) has recorded

    def record(i: int, fut: Future[Any]) -> None:
        """Write the result of a finished call once: from its done-callback as the call ends (on
        the thread that ends it, even while the caller is busy between results), or from
        ``finish`` if the caller saw it first (a future wakes waiters before its callbacks)."""
        with write_lock:
            if fut in visits:  # the second visit: the first one wrote
                visits.discard(fut)
                return
            visits.add(fut)
            if ckpt is None or fut.cancelled() or fut.exception() is not None:
                return
            result = fut.result()
            if result is None or (stop.is_set() and _is_pause(result)):
                return  # never sent, or paused by the interruption: sent again by a re-run
            try:
                ckpt.write(i, result)
            except BaseException as exc:  # a disk error: raised on the calling thread by finish()
                write_errors.append(exc)

    def finish(fut: Future[Any]) -> Any:
        i = in_flight.pop(fut)
        result = fut.result()  # a non-AiLibError (a bug) propagates
        record(i, fut)
        if write_errors:
            raise write_errors[0]
        return i, result

    try:
        while True:
            while first_error is None and next_todo < len(todo) and len(in_flight) < 2 * concurrency:
                i = todo[next_todo]
                next_todo += 1
                fut = pool.submit(work, i) if own else pool.submit(call_remote, client, parsed[i], max_pause, i)
                in_flight[fut] = i
                fut.add_done_callback(lambda f, i=i: record(i, f))  # type: ignore[misc]
            if not in_flight:
                break
            finished, _ = wait(in_flight, timeout=POLL, return_when=FIRST_COMPLETED)
            for fut in finished:
                i, result = finish(fut)
                failed_now = isinstance(result, AiLibError)
                reporter.update(failed=failed_now, cost=None if failed_now else result.cost)
                if failed_now and not return_exceptions:
                    if first_error is None:
                        first_error = result
                        stop.set()
                        for queued in [f for f in in_flight if f.cancel()]:
                            del in_flight[queued]
                    continue
                yield i, result
            reporter.tick()
        if own:
            pool.shutdown(wait=True)
    except BaseException:
        stop.set()
        with gate:
            halted[0] = True  # no call starts from now on, even one submitted but not yet tracked
        for queued in [f for f in in_flight if f.cancel()]:  # queued, not started: never sent
            del in_flight[queued]
        if own:
            pool.shutdown(wait=False, cancel_futures=True)
        try:
            _drain(in_flight, finish, interrupt_timeout)
        finally:
            if ckpt is not None:
                ckpt.close(compact=False)
            if own:
                pool.shutdown(wait=not in_flight, cancel_futures=True)  # joins at once unless calls overran the bound
            reporter.close()
        raise
    return first_error


def call_remote(client: Any, req: ChatCompletionRequest, max_pause: float, index: int) -> Any:
    """One request to its end on an executor's worker: a response or an ``AiLibError`` (never raised).

    ``index`` (unused here) makes every task's arguments distinct, so an executor that
    deduplicates identical tasks (Dask's ``pure=True`` default) still sends a request that
    appears twice in the batch twice."""
    return _call(client, req, threading.Event(), max_pause)


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


def _drain(in_flight: dict[Future[Any], int], finish: Callable[[Future[Any]], Any], timeout: float) -> None:
    """Wait up to ``timeout`` for the calls in flight to end, writing their results; a
    second Ctrl-C ends the wait. What is still running is left in ``in_flight``."""
    end = time.monotonic() + timeout
    try:
        while in_flight:
            left = end - time.monotonic()
            if left <= 0:
                break
            done, _ = wait(in_flight, timeout=min(left, POLL), return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    finish(fut)
                except Exception as exc:  # a call's own bug, or a disk error: it must not hide the interruption
                    log.warning("batch: a call in flight at the interruption failed: %r", exc)
    except KeyboardInterrupt:
        pass
