"""USAGE_BASED routing: how much of its rate limits each endpoint has left.

An endpoint's headroom is a share in [0, 1]: the smallest of what its provider last reported
(``remaining / limit`` of requests and tokens, from OpenAI-style ``x-ratelimit-remaining-*``
and ``x-ratelimit-limit-*`` or Anthropic's ``anthropic-ratelimit-*-remaining`` / ``-limit``
headers, good until the reported reset, 60 s when none is given) and what its own client-side
rate limiter has free now. An endpoint nothing is known of has all of it (1.0).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Optional

from ..clock import Clock
from ..reliability.ratelimit import parse_reset_duration, parse_reset_timestamp

__all__ = ["UsageTracker", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = 60.0  # seconds a reported share holds when the provider gives no reset
_KINDS = ("requests", "tokens")


def _count(value: Any) -> Optional[float]:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


class UsageTracker:
    """The last reported share of each endpoint's rate limits, and until when it holds."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._shares: dict[str, tuple[float, float]] = {}  # endpoint name -> (share left, valid until)

    def observe(self, name: str, headers: Mapping[str, str]) -> None:
        """Read a response's rate-limit headers (never raises; headers without them change nothing)."""
        try:
            found = {k.lower(): v for k, v in headers.items() if isinstance(k, str) and "ratelimit" in k.lower()}
        except (AttributeError, TypeError, ValueError):
            return
        if not found:
            return
        share: Optional[float] = None
        reset: Optional[float] = None
        now_wall = self._clock.time()
        for kind in _KINDS:
            for remaining_key, limit_key, reset_value in (
                (
                    f"x-ratelimit-remaining-{kind}",
                    f"x-ratelimit-limit-{kind}",
                    parse_reset_duration(found.get(f"x-ratelimit-reset-{kind}")),
                ),
                (
                    f"anthropic-ratelimit-{kind}-remaining",
                    f"anthropic-ratelimit-{kind}-limit",
                    parse_reset_timestamp(found.get(f"anthropic-ratelimit-{kind}-reset"), now_wall),
                ),
            ):
                remaining, limit = _count(found.get(remaining_key)), _count(found.get(limit_key))
                if remaining is None or not limit:
                    continue
                kind_share = min(1.0, remaining / limit)
                if share is None or kind_share < share:
                    share, reset = kind_share, reset_value
        if share is None:
            return
        until = self._clock.monotonic() + (reset if reset is not None and reset > 0 else DEFAULT_WINDOW)
        with self._lock:
            self._shares[name] = (share, until)

    def share(self, name: str) -> float:
        """The share left as last reported (1.0 when unknown or once its window has reset)."""
        entry = self._shares.get(name)
        if entry is None or self._clock.monotonic() >= entry[1]:
            return 1.0
        return entry[0]
