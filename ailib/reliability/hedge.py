"""HedgePolicy and the per-endpoint latency window that ``delay="p95"`` reads."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Optional, Union

import attrs

from .._validators import fail, number
from .._value import value

__all__ = ["HedgePolicy", "LatencyWindow", "P95_MIN_SAMPLES", "P95_INITIAL_DELAY", "P95_FLOOR"]

P95_MIN_SAMPLES = 20  # below this many observations, delay="p95" uses P95_INITIAL_DELAY
P95_INITIAL_DELAY = 0.1  # seconds
P95_FLOOR = 0.001  # never hedge sooner than this


_DELAY = "seconds >= 0 or a percentile like 'p95'"
_delay_seconds = number(_DELAY, low=0)


def _check_delay(inst: Any, attr: Any, value: Any) -> None:
    if isinstance(value, str):
        if _percentile_of(value) is None:
            fail(inst, attr, _DELAY, value)
        return
    _delay_seconds(inst, attr, value)


def _percentile_of(value: str) -> Optional[float]:
    if len(value) >= 2 and value[0] == "p":
        try:
            q = float(value[1:])
        except ValueError:
            return None
        if 0 < q < 100:
            return q / 100
    return None


@value(kw_only=True)
class HedgePolicy:
    """Race or hedge a call over the next targets of its plan.

    ``delay=0`` races the first ``max_hedges + 1`` targets at once; a positive delay sends
    the next only if no answer came within it; ``"p95"`` (any ``"pNN"``) uses the serving
    endpoint's observed percentile of successful attempt latency. ``max_extra_load`` caps
    hedges per endpoint as a fraction of its recent calls (the budget starts full).
    """

    delay: Union[float, str] = attrs.field(default=0.5, validator=_check_delay)
    max_hedges: int = attrs.field(default=1, validator=number("an int >= 1", low=1, integer=True))
    max_extra_load: float = attrs.field(default=0.1, validator=number("a fraction in [0, 1]", low=0, high=1))

    @property
    def percentile(self) -> Optional[float]:
        """The latency percentile of a ``delay="pNN"`` policy (0.95 for ``"p95"``), else None."""
        return _percentile_of(self.delay) if isinstance(self.delay, str) else None


class LatencyWindow:
    """The last ``size`` successful attempt latencies of one endpoint; percentiles on demand.

    Only completed, successful attempts are recorded, so hedged-away slow attempts (which
    are cancelled) do not pull the estimate into the tail it is meant to cut.
    """

    def __init__(self, size: int = 256) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._cache: dict[float, float] = {}
        self._added = 0

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)
            self._added += 1
            if self._added % 16 == 0:
                self._cache.clear()

    def __len__(self) -> int:
        return len(self._samples)

    def _after_fork_in_child(self) -> None:
        """Keep the samples; a lock another thread held at the fork is replaced."""
        self._lock = threading.Lock()

    def percentile(self, q: float) -> Optional[float]:
        """The nearest-rank ``q`` quantile, or None with fewer than P95_MIN_SAMPLES samples."""
        with self._lock:
            n = len(self._samples)
            if n < P95_MIN_SAMPLES:
                return None
            cached = self._cache.get(q)
            if cached is not None:
                return cached
            ordered = sorted(self._samples)
            value = ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]
            self._cache[q] = value
            return value

    def hedge_delay(self, policy: HedgePolicy) -> float:
        q = policy.percentile
        if q is None:
            return float(policy.delay)
        value = self.percentile(q)
        return P95_INITIAL_DELAY if value is None else max(P95_FLOOR, value)
