"""The link between a Redis store and Redis: up (shared state) or down (local fallback)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from ...reliability.circuit import CircuitState

__all__ = ["LOCAL", "Link", "text", "transitions"]

log = logging.getLogger("ailib")

LOCAL: Any = object()  # "use local state": what Link.run returns instead of a result


class Link:
    """Whether a store uses Redis right now; shared by every object of the store.

    Up: every operation goes to Redis. The first failure marks it down and logs one
    warning; while down, ``run`` returns ``LOCAL`` at once, except that one operation per
    ``retry_interval`` (real seconds) tries Redis again and, on success, marks it up.
    """

    def __init__(self, where: str, retry_interval: float, errors: tuple[type[BaseException], ...]) -> None:
        self._where = where
        self._retry_interval = retry_interval
        self._errors = errors
        self._lock = threading.Lock()
        self._up = True
        self._probing = False
        self._retry_at = 0.0

    @property
    def up(self) -> bool:
        return self._up

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's may have been held) and no probe in flight."""
        self._lock = threading.Lock()
        self._probing = False

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` against Redis, or ``LOCAL`` when Redis is not usable."""
        probe = False
        if not self._up:
            with self._lock:
                if not self._up:
                    if self._probing or time.monotonic() < self._retry_at:
                        return LOCAL
                    self._probing = probe = True
        try:
            result = fn(*args, **kwargs)
        except self._errors as exc:
            self._failed(exc)
            return LOCAL
        except BaseException:
            if probe:
                with self._lock:
                    self._probing = False
            raise
        if probe:
            with self._lock:
                self._up, self._probing = True, False
            log.info("Redis state store %s is reachable again; using shared state", self._where)
        return result

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            was_up = self._up
            self._up, self._probing = False, False
            self._retry_at = time.monotonic() + self._retry_interval
        if was_up:
            log.warning(
                "Redis state store %s is unreachable (%s: %s); using local in-process state, retrying every %gs",
                self._where,
                type(exc).__name__,
                exc,
                self._retry_interval,
            )


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def transitions(values: list[Any]) -> list[tuple[CircuitState, CircuitState]]:
    it = iter(text(v) for v in values)
    return [(CircuitState(old), CircuitState(new)) for old, new in zip(it, it)]
