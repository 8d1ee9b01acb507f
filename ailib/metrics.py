"""Metrics: a small protocol, a no-op default, a thread-safe in-memory recorder.

Counter names emitted by ailib are listed in ``COUNTERS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional, Protocol, runtime_checkable

__all__ = ["Metrics", "NoopMetrics", "InMemoryMetrics", "COUNTERS", "as_metrics"]

COUNTERS = (
    "routing_mvp.request",
    "routing_mvp.selected",
    "routing_mvp.health_fail",
    "routing_mvp.fallback_default",
    "routing_mvp.no_endpoint",
    "routing_mvp.strategy_fail",
    "retry.attempt",
    "retry.exhausted",
    "retry.budget_exhausted",
    "circuit.opened",
    "circuit.half_open",
    "circuit.closed",
    "circuit.rejected",
    "ratelimit.waited",
    "ratelimit.rejected",
    "hedge.fired",
    "hedge.won",
    "hedge.cancelled",
    "fallback.step",
)

Tags = Optional[Mapping[str, str]]


@runtime_checkable
class Metrics(Protocol):
    def incr_counter(self, name: str, value: int = 1, tags: Tags = None) -> None: ...

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None: ...

    def start_timer(self, name: str, tags: Tags = None) -> Any: ...


class NoopMetrics:
    """Records nothing (the default)."""

    def incr_counter(self, name: str, value: int = 1, tags: Tags = None) -> None:
        pass

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        pass

    @contextmanager
    def start_timer(self, name: str, tags: Tags = None) -> Iterator[None]:
        yield


def _key(tags: Tags) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items())) if tags else ()


class InMemoryMetrics:
    """Thread-safe counters and observations, for tests and dashboards in-process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], int]] = {}
        self._observations: dict[str, list] = {}

    def incr_counter(self, name: str, value: int = 1, tags: Tags = None) -> None:
        key = _key(tags)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0) + value

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        with self._lock:
            self._observations.setdefault(name, []).append((seconds, dict(tags or {})))

    @contextmanager
    def start_timer(self, name: str, tags: Tags = None) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(name, time.perf_counter() - start, tags)

    def counter(self, name: str, **tags: str) -> int:
        """A counter's total over all tags, or over the series matching ``tags``."""
        with self._lock:
            series = self._counters.get(name, {})
            want = set(tags.items())
            return sum(v for k, v in series.items() if want <= set(k))

    def observations(self, name: str) -> list:
        with self._lock:
            return [s for s, _ in self._observations.get(name, [])]

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded: ``{"counters": {name: {tags: value}}, "observations": {name: count}}``."""
        with self._lock:
            return {
                "counters": {n: {",".join(f"{k}={v}" for k, v in key): val for key, val in s.items()} for n, s in self._counters.items()},
                "totals": {n: sum(s.values()) for n, s in self._counters.items()},
                "observations": {n: len(v) for n, v in self._observations.items()},
            }


class _Adapted:
    """Wraps a user's object that has ``incr_counter`` (and maybe ``start_timer``) only."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def incr_counter(self, name: str, value: int = 1, tags: Tags = None) -> None:
        try:
            self._inner.incr_counter(name, value, tags)
        except TypeError:
            self._inner.incr_counter(name, value)

    def observe(self, name: str, seconds: float, tags: Tags = None) -> None:
        observe = getattr(self._inner, "observe", None)
        if observe is not None:
            observe(name, seconds, tags)

    def start_timer(self, name: str, tags: Tags = None) -> Any:
        start = getattr(self._inner, "start_timer", None)
        if start is not None:
            try:
                timer = start(name, tags)
            except TypeError:
                timer = start(name)
            if timer is not None and hasattr(timer, "__enter__"):
                return timer
        return NoopMetrics().start_timer(name)


def as_metrics(obj: Any) -> Any:
    """A ``Metrics`` for ``obj``: itself if it is complete, else an adapter; None → NoopMetrics."""
    if obj is None:
        return NoopMetrics()
    if all(callable(getattr(obj, m, None)) for m in ("incr_counter", "observe", "start_timer")):
        return obj
    if callable(getattr(obj, "incr_counter", None)):
        return _Adapted(obj)
    from .errors import ConfigurationError

    raise ConfigurationError(f"metrics object {type(obj).__name__} has no incr_counter method")
