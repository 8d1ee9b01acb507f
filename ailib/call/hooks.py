"""Per-call hooks (``AiClientBuilder.with_hooks``): the user's own callbacks around each
attempt and each call, which never break a call.

* ``before_attempt(request, provider, model)``: before each wire attempt is sent, once the
  limiter, breaker and budget have admitted it.
* ``after_attempt(request, attempt)``: after each attempt, with its ``Attempt`` record
  (outcome ``ok``, ``error``, ``cancelled`` or ``skipped``: refused before sending).
* ``after_call(request, response, error)``: once per call, with the response (a
  ``ChatCompletionResponse``, or for a stream the ``ChatStream`` at its commit point; an
  answer from the cache too) and ``error`` None, or ``response`` None and the
  ``AiLibError`` the call raises.

``request`` is the request as sent (with the tags of ``with_options(tags=...)`` merged
in). The attempt hooks run on the thread that makes the attempt: the caller's, except a
hedge's attempts, which run on the hedger's threads. ``after_call`` runs on the caller's
thread. An exception from a hook is caught: the first one of each hook is logged at
WARNING with its traceback (later ones at DEBUG), counted as ``hook.error`` (tag
``hook``), and the call goes on as if the hook had returned.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from ..errors import ConfigurationError

__all__ = ["Hooks"]

log = logging.getLogger("ailib")

_NAMES = ("before_attempt", "after_attempt", "after_call")


class Hooks:
    """The three optional hooks of a client, each called safely (see the module docstring)."""

    __slots__ = ("before_attempt", "after_attempt", "after_call", "metrics", "_warned")

    def __init__(
        self,
        before_attempt: Optional[Callable[..., Any]] = None,
        after_attempt: Optional[Callable[..., Any]] = None,
        after_call: Optional[Callable[..., Any]] = None,
        metrics: Any = None,
    ) -> None:
        for name, fn in zip(_NAMES, (before_attempt, after_attempt, after_call)):
            if fn is not None and not callable(fn):
                raise ConfigurationError(f"with_hooks({name}=...) takes a callable or None, got {type(fn).__name__}")
        self.before_attempt = before_attempt
        self.after_attempt = after_attempt
        self.after_call = after_call
        self.metrics = metrics
        self._warned: set[str] = set()  # hooks whose failure was logged at WARNING already

    def with_metrics(self, metrics: Any) -> Hooks:
        """The same hooks, counting ``hook.error`` on ``metrics``."""
        return Hooks(self.before_attempt, self.after_attempt, self.after_call, metrics)

    @property
    def any(self) -> bool:
        return self.before_attempt is not None or self.after_attempt is not None or self.after_call is not None

    def call(self, name: str, *args: Any) -> None:
        """Run the hook ``name`` (if set) with ``args``; an exception from it is logged, never raised."""
        fn = getattr(self, name)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            first = name not in self._warned
            self._warned.add(name)  # a set's add is atomic: at worst two threads both warn once
            log.log(logging.WARNING if first else logging.DEBUG, "ailib hook %s raised; the call goes on", name, exc_info=True)
            if self.metrics is not None:
                self.metrics.incr_counter("hook.error", tags={"hook": name})

    def __repr__(self) -> str:
        set_ = ", ".join(f"{n}={getattr(self, n)!r}" for n in _NAMES if getattr(self, n) is not None)
        return f"Hooks({set_})"
