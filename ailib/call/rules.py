"""The rules of a call's outcome: which errors move on to the next target, and which
error a failed call raises."""

from __future__ import annotations

import copy
import traceback
from collections.abc import Sequence
from typing import Any, Optional

from ..errors import (
    AiLibError,
    AllProvidersFailedError,
    CircuitOpenError,
    ClientClosedError,
    DeadlineExceededError,
    LocalRateLimitError,
    ModelNotFoundError,
    QuotaExceededError,
    TimeoutError,
)
from ..types import Attempt

__all__ = ["HedgeCancelledError", "closed_error", "moves_on", "final_error", "short", "timeout_step"]


class HedgeCancelledError(AiLibError):
    """Internal: the attempt lost a race and was cancelled (never raised to callers)."""


def closed_error() -> AiLibError:
    """What a call on a closed client raises, at once: not retryable, no attempt made."""
    return ClientClosedError("the client is closed; build a new client to make calls")


# Not retried on the same target, but another target may well succeed: an account out of
# credit (or a request above one provider's per-minute limit), a model this provider lacks.
_ELSEWHERE = (CircuitOpenError, LocalRateLimitError, TimeoutError, QuotaExceededError, ModelNotFoundError)


def moves_on(err: AiLibError) -> bool:
    """Whether failover (or a hedge) proceeds to the next target after ``err``: retryable
    errors, and those only another target can fix (``_ELSEWHERE``)."""
    if isinstance(err, (DeadlineExceededError, HedgeCancelledError)):
        return False
    return err.is_retryable() or isinstance(err, _ELSEWHERE)


def final_error(last: AiLibError, errors: Sequence[AiLibError], attempts: Sequence[Attempt], multi: bool) -> AiLibError:
    """A single target's own error; a chain that stopped early on a non-retryable error
    (or the deadline), that error; a chain where every target tried failed,
    ``AllProvidersFailedError`` with the errors in attempt order."""
    recorded = tuple(attempts)
    if isinstance(last, DeadlineExceededError) or not multi or not moves_on(last) or len(errors) < 2:
        return carrying(last, recorded)
    names = ", ".join(f"{e.provider}: {type(e).__name__}" for e in errors)
    return AllProvidersFailedError(
        f"all {len(errors)} targets failed ({names})", errors=list(errors), attempts=recorded, status_code=last.status_code
    )


def release_frames(err: AiLibError) -> None:
    """Let go of the locals of the finished frames in the tracebacks of a failed call's
    error, its causes and its attempts' errors (the code and line of each stay).

    Those frames hold the call (its request, headers, errors, attempts) and so lead back
    to the errors: cycles that only the garbage collector frees, whose pauses stop every
    thread (200 threads timing out: a p99 of +100 ms). They also hold what an error
    tracker capturing locals must not see: prompts, and headers with the key.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        if isinstance(e, AiLibError):
            todo.extend(a.error for a in e.attempts if a.error is not None)
            todo.extend(getattr(e, "errors", ()))


def carrying(err: AiLibError, attempts: tuple[Attempt, ...]) -> AiLibError:
    """``err`` with ``attempts``; a copy of it (same class, fields and traceback) when one of
    the attempts records ``err`` itself. An error that records itself is a reference cycle
    that only the garbage collector frees, with every frame of its traceback: a failing
    call would leave that much garbage, and collecting it pauses every thread."""
    if not any(a.error is err for a in attempts):
        err.attempts = attempts
        return err
    twin = copy.copy(err)
    twin.attempts = attempts
    return twin.with_traceback(err.__traceback__)


_TIMEOUT: Optional[TimeoutError] = None  # what a hedge stands in for (made on first use)


def timeout_step(steps: Sequence[Any]) -> Any:
    """The first FallbackChain step a timeout would select (``on_timeout``, a matching
    ``on_condition``, ``always``), or None."""
    global _TIMEOUT
    if _TIMEOUT is None:
        _TIMEOUT = TimeoutError("the hedge delay passed", phase="hedge")
    timeout = _TIMEOUT
    for target in steps:
        if target.condition is not None and target.condition(timeout):
            return target
    return None


def short(err: AiLibError) -> str:
    """``Type: message`` for log lines."""
    return f"{type(err).__name__}: {err}"
