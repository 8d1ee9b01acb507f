"""The rules of a call's outcome: which errors move on to the next target, and which
error a failed call raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from ..errors import (
    AiLibError,
    AllProvidersFailedError,
    CircuitOpenError,
    DeadlineExceededError,
    LocalRateLimitError,
    NetworkError,
    TimeoutError,
)
from ..types import Attempt

__all__ = ["HedgeCancelledError", "closed_error", "moves_on", "final_error", "short", "timeout_step"]


class HedgeCancelledError(AiLibError):
    """Internal: the attempt lost a race and was cancelled (never raised to callers)."""


def closed_error() -> AiLibError:
    """What a call on a closed client raises, at once: not retryable, no attempt made."""
    return NetworkError("the client is closed; build a new client to make calls", request_sent=False, should_retry=False)


def moves_on(err: AiLibError) -> bool:
    """Whether failover (or a hedge) proceeds to the next target after ``err``."""
    if isinstance(err, (DeadlineExceededError, HedgeCancelledError)):
        return False
    return err.is_retryable() or isinstance(err, (CircuitOpenError, LocalRateLimitError, TimeoutError))


def final_error(last: AiLibError, errors: Sequence[AiLibError], attempts: Sequence[Attempt], multi: bool) -> AiLibError:
    """A single target's own error; a chain that stopped early on a non-retryable error
    (or the deadline), that error; a chain where every target tried failed,
    ``AllProvidersFailedError`` with the errors in attempt order."""
    recorded = tuple(attempts)
    if isinstance(last, DeadlineExceededError) or not multi or not moves_on(last) or len(errors) < 2:
        last.attempts = recorded
        return last
    names = ", ".join(f"{e.provider}: {type(e).__name__}" for e in errors)
    return AllProvidersFailedError(
        f"all {len(errors)} targets failed ({names})", errors=list(errors), attempts=recorded, status_code=last.status_code
    )


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
