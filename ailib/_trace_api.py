"""The tracing interface the call path sees: a call's trace and an attempt's trace.

These base classes are the no-ops (tracing off, OpenTelemetry absent or not recording);
``ailib/_tracing.py`` implements them on OpenTelemetry. Kept apart so the call path
imports only this (stdlib-free) module and never ``_tracing`` until tracing is used.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["CallTrace", "AttemptTrace", "NOOP_CALL", "NOOP_ATTEMPT"]


class AttemptTrace:
    """One wire attempt's span (this base class is the no-op)."""

    __slots__ = ()

    def end(self, outcome: str = "ok", error: Optional[BaseException] = None) -> None:
        """``outcome``: "ok", "error" or "cancelled" (a hedge that lost: no error status)."""


class CallTrace:
    """One call's span (this base class is the no-op)."""

    __slots__ = ()

    def activate(self) -> Any:
        return None

    def deactivate(self, token: Any) -> None:
        pass

    def attempt(self, provider: str, model: str, *, hedge: bool = False, endpoint: str = "") -> AttemptTrace:
        return NOOP_ATTEMPT

    def event(self, name: str, **attrs: Any) -> None:
        pass

    def cached(self, hit: bool) -> None:
        pass

    def finish(self, response: Any) -> None:
        pass

    def finish_stream(self, stream: Any) -> None:
        pass

    def fail(self, error: BaseException, *, error_type: Optional[str] = None) -> None:
        pass


NOOP_ATTEMPT = AttemptTrace()
NOOP_CALL = CallTrace()
