"""Reading the HTTP response headers that steer retries: Retry-After and friends."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from typing import Optional

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "cf-ray")


def parse_retry_after(headers: Mapping[str, str], now: float) -> Optional[float]:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` (seconds or HTTP-date).

    ``now`` is the current wall-clock time (for HTTP-dates). Garbage, negative or
    missing values give ``None``; a date in the past gives 0.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0 and math.isfinite(value):
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - now)
    if not math.isfinite(value) or value < 0:
        return None
    return value


def parse_should_retry(headers: Mapping[str, str]) -> Optional[bool]:
    """The server's own verdict from ``x-should-retry`` (OpenAI, Anthropic), if any."""
    raw = headers.get("x-should-retry")
    if raw is None:
        return None
    raw = raw.strip().lower()
    if raw == "true":
        return True
    if raw == "false":
        return False
    return None


def rate_limit_headers(headers: Optional[Mapping[str, str]]) -> dict[str, str]:
    """A response's rate-limit headers (``x-ratelimit-*``, ``anthropic-ratelimit-*``), names
    lower-cased; empty when it has none. Never raises."""
    if not headers:
        return {}
    try:
        return {key.lower(): value for key, value in headers.items() if isinstance(key, str) and "ratelimit" in key.lower()}
    except (AttributeError, TypeError, ValueError):  # a broken mapping must not fail the call
        return {}


# the headers that report a rate (what gives a client with no limiter one: call/guard.py)
_LIMIT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "anthropic-ratelimit-requests-limit",
)


def reports_limits(headers: Optional[Mapping[str, str]]) -> bool:
    """Whether a response reports its provider's rate limits (the ``*-limit`` headers a
    limiter learns from, ``ratelimit.parse_limits``). Looks the names up (the transport's
    mapping ignores case) rather than walking every header: this runs on every answer of a
    client with no limiter."""
    if not headers:
        return False
    try:
        return any(name in headers for name in _LIMIT_HEADERS)
    except (TypeError, ValueError):
        return False


def request_id(headers: Mapping[str, str]) -> Optional[str]:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None
