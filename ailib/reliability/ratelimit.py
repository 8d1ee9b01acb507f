"""Client-side rate limiter: GCRA (virtual scheduling) over requests and LLM tokens.

Each bucket is one number, its theoretical arrival time ``tat``. Under the lock an
``acquire`` reserves the next free instant ``A`` (the earliest time every bucket admits
it: ``max(tat, A) + cost * interval - A <= tau``), moves each ``tat`` past ``A``, then
sleeps until ``A`` outside the lock. Callers are admitted in the order they reserved
(FIFO), every operation is O(1), and there is no background thread.

Buckets:

* requests: interval ``1 / rate``, tolerance ``tau = burst / rate`` (``burst`` requests
  may go at once from an idle limiter);
* tokens (``tokens_per_minute``): interval ``60 / tokens_per_minute`` per token, capacity
  one second's share (``tau = 1 s``: OpenAI enforces per-minute limits one second's share at
  a time, so a whole minute's tokens at once would be refused). A request costing more
  than the capacity is admitted once the bucket is full and leaves it in debt;
  ``reconcile`` corrects an estimate once the real usage is known.

Learning (``policy.adaptive``): the provider's ``x-ratelimit-limit-requests`` /
``-tokens`` (OpenAI, Groq...) and ``anthropic-ratelimit-requests-limit`` set the rate of a bucket the policy leaves unset (per minute; one second's share as the
capacity); a configured rate always wins. A client configured with no policy gets a
limiter made with ``LEARNING`` (no rate at all) on its endpoint's first rate-limit signal.

Adaptive mode scales both rates by a factor in [1/60, 1] (the burst and the token
capacity shrink with it; the burst never below 1). A 429 (``on_rate_limited``) whose
headers report limits the limiter already paces at (or under) is a resync, not a slow
down: both buckets are drained (the provider's are empty), admissions wait for the reset
of a limit reported at zero, and ``retry_after`` delays only that call's retry. Any other
429 halves the factor, at most once per second (a burst of concurrent 429s is one
signal), holds admissions for ``retry_after`` and drains the burst so traffic resumes one
request at a time; each ``on_success`` adds back 5 % of the configured rate.
``observe_headers`` also holds admissions until the provider's reset when it reports zero
requests or tokens remaining. With ``adaptive=False`` those methods do nothing.
"""

from __future__ import annotations

import calendar
import math
import re
import threading
from collections.abc import Mapping
from datetime import datetime

import attrs

from ailib._headers import rate_limit_headers
from ailib._validators import boolean, number
from ailib.clock import SYSTEM_CLOCK, Clock
from ailib.errors import ConfigurationError, LocalRateLimitError

from .._value import value

__all__ = [
    "LEARNING",
    "RateLimitPolicy",
    "RateLimiter",
    "estimate_tokens",
    "parse_limits",
    "parse_reset_duration",
    "parse_reset_timestamp",
]

_EPS = 1e-6  # one microsecond of slack against float drift in wait comparisons
_MIN_FACTOR = 1.0 / 60.0  # adaptive floor: a per-second rate falls at most to the same per minute
_DECREASE = 0.5
_INCREASE = 0.05
_DECREASE_COOLDOWN = 1.0  # seconds between two multiplicative decreases
_MAX_HOLD = 86_400.0  # a provider's reset further away than a day is treated as a day
# Public within ailib: the Redis limiter (ailib.state.redis) passes these to its Lua scripts.
WAIT_EPS, MIN_FACTOR, DECREASE, INCREASE, DECREASE_COOLDOWN, MAX_HOLD = (
    _EPS,
    _MIN_FACTOR,
    _DECREASE,
    _INCREASE,
    _DECREASE_COOLDOWN,
    _MAX_HOLD,
)
_DEFAULT_COMPLETION_TOKENS = 256
_TOKEN_TAU = 1.0  # the token bucket holds one second's share of the per-minute rate
_SAME_RATE = 1.001  # a configured rate within 0.1 % of a reported limit paces at that limit


_positive = number("None or a number > 0", low=0, low_open=True, optional=True)


@value(kw_only=True)
class RateLimitPolicy:
    """Rates for one endpoint. Set ``requests_per_second`` or ``requests_per_minute`` (not
    both) and/or ``tokens_per_minute``. ``burst`` is the request bucket's capacity
    (default: one second's worth, at least 1); ``max_wait`` bounds an ``acquire``'s wait.
    """

    requests_per_second: float | None = attrs.field(default=None, validator=_positive)
    requests_per_minute: float | None = attrs.field(default=None, validator=_positive)
    tokens_per_minute: int | None = attrs.field(
        default=None, validator=number("None or an integer >= 1", low=1, integer=True, optional=True)
    )
    burst: int | None = attrs.field(default=None, validator=number("None or an integer >= 1", low=1, integer=True, optional=True))
    max_wait: float = attrs.field(default=30.0, validator=number("a number >= 0", low=0))
    adaptive: bool = attrs.field(default=True, validator=boolean)

    def __attrs_post_init__(self) -> None:
        if self.requests_per_second is not None and self.requests_per_minute is not None:
            raise ConfigurationError("RateLimitPolicy: set requests_per_second or requests_per_minute, not both")
        if self.request_rate is None:
            if self.tokens_per_minute is None:
                raise ConfigurationError("RateLimitPolicy needs requests_per_second, requests_per_minute or tokens_per_minute")
            if self.burst is not None:
                raise ConfigurationError("RateLimitPolicy.burst needs requests_per_second or requests_per_minute")

    @property
    def request_rate(self) -> float | None:
        """Configured requests per second, or None when requests are not limited."""
        if self.requests_per_second is not None:
            return float(self.requests_per_second)
        if self.requests_per_minute is not None:
            return self.requests_per_minute / 60.0
        return None

    @property
    def effective_burst(self) -> int | None:
        """The request bucket's capacity: ``burst``, else one second's worth (at least 1)."""
        rate = self.request_rate
        if rate is None:
            return None
        return self.burst if self.burst is not None else max(1, int(rate + 1e-9))


def _learning_policy() -> RateLimitPolicy:
    """A policy with no rate: a limiter made with it paces only by what the provider reports.

    Not constructible through ``RateLimitPolicy()`` (which insists on a rate, since a user
    who writes one means to set a limit); built here without the validators instead."""
    policy = object.__new__(RateLimitPolicy)
    for field in attrs.fields(RateLimitPolicy):
        object.__setattr__(policy, field.name, field.default)
    return policy


LEARNING = _learning_policy()
"""The policy of the limiter a client gets when none is configured: no rate of its own,
``max_wait`` 30 s, adaptive (rates learned from the provider's headers and 429s)."""


def estimate_tokens(request_json_chars: int, max_tokens: int | None) -> int:
    """A cheap token estimate: ~4 characters per prompt token plus the completion allowance."""
    prompt = max(0, request_json_chars + 3) // 4
    completion = max_tokens if max_tokens is not None and max_tokens >= 0 else _DEFAULT_COMPLETION_TOKENS
    return prompt + completion


# Patterns as strings: compiled (and cached by ``re``) on first use, not at import.
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)"
_DURATION = r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ms|us|µs|ns|h|m|s))+"
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_FRACTION = r"\.(\d+)"


def parse_reset_duration(value: object) -> float | None:
    """Seconds in an OpenAI-style reset (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1m30.5s"``, ``"2.5"``).

    None for anything else; never raises.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if re.fullmatch(_DURATION, text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in re.findall(_DURATION_PART, text))
        else:
            seconds = float(text)
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_reset_timestamp(value: object, now_wall: float) -> float | None:
    """Seconds from ``now_wall`` (epoch seconds) until an RFC 3339 timestamp; None if unparsable.

    A timestamp without an offset is taken as UTC.
    """
    if not isinstance(value, str):
        return None
    # Normalise for every supported Python: exactly six fraction digits, "+00:00" for "Z".
    text = re.sub(_FRACTION, lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip())
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        offset = moment.utcoffset()
        epoch = calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6
        if offset is not None:
            epoch -= offset.total_seconds()
    except (ValueError, OverflowError, TypeError):
        return None
    seconds = epoch - now_wall
    return seconds if math.isfinite(seconds) else None


def _parse_count(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        count = float(value.strip())
    except ValueError:
        return None
    return count if math.isfinite(count) else None


def parse_limits(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    """The provider's reported (requests per minute, tokens per minute), None where absent.

    Requests from ``x-ratelimit-limit-requests`` (OpenAI, Groq, ...) or
    ``anthropic-ratelimit-requests-limit``; tokens from ``x-ratelimit-limit-tokens`` only.
    OpenAI counts a request's prompt plus ``max_tokens`` against that limit, as the token
    bucket does; Anthropic limits input and output tokens apart and reports the stricter
    of them as ``anthropic-ratelimit-tokens-limit``, which the bucket's prompt + ``max_tokens``
    estimate would overrun many times, so it is not learned. Any letter case; non-positive
    or unparsable values are None; this never raises.
    """
    return _limits(rate_limit_headers(headers))


def _limits(found: Mapping[str, str]) -> tuple[float | None, float | None]:
    rpm = _parse_count(found.get("x-ratelimit-limit-requests"))
    if rpm is None:
        rpm = _parse_count(found.get("anthropic-ratelimit-requests-limit"))
    tpm = _parse_count(found.get("x-ratelimit-limit-tokens"))
    return (rpm if rpm is not None and rpm > 0 else None), (tpm if tpm is not None and tpm > 0 else None)


_HEADER_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")


class RateLimiter:
    """A thread-safe GCRA limiter for one endpoint (see the module docstring)."""

    def __init__(self, policy: RateLimitPolicy, *, name: str = "", clock: Clock = SYSTEM_CLOCK) -> None:
        self.policy = policy
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        rate = policy.request_rate
        burst = policy.effective_burst
        self._req_interval = 1.0 / rate if rate is not None else None
        self._req_tau = burst / rate if rate is not None and burst is not None else 0.0
        tpm = policy.tokens_per_minute
        self._tok_interval = 60.0 / tpm if tpm is not None else None
        self._tok_tau = _TOKEN_TAU
        # what the provider reported (None: nothing yet); they set the buckets the policy leaves unset
        self.learned_rpm: float | None = None
        self.learned_tpm: float | None = None
        # --- state: plain fields, all changed under self._lock ---
        self._tat_req = -math.inf
        self._tat_tok = -math.inf
        self._hold_until = -math.inf
        self._factor = 1.0
        self._last_decrease = -math.inf

    @property
    def counts_tokens(self) -> bool:
        """Whether a token bucket is in force (configured, or learned from the provider)."""
        return self._tok_interval is not None

    def _learn(self, rpm: float | None, tpm: float | None) -> bool:
        """Set the buckets the policy leaves unset from the provider's reported limits.
        Whether any changed. Lock held."""
        changed = False
        policy = self.policy
        if rpm is not None and policy.request_rate is None and rpm != self.learned_rpm:
            self.learned_rpm = rpm
            rate = rpm / 60.0
            self._req_interval = 1.0 / rate
            self._req_tau = max(1.0, math.floor(rate + 1e-9)) / rate  # one second's worth, at least 1
            changed = True
        if tpm is not None and policy.tokens_per_minute is None and tpm != self.learned_tpm:
            self.learned_tpm = tpm
            self._tok_interval = 60.0 / tpm
            changed = True
        return changed

    def _at_reported(self, rpm: float | None, tpm: float | None) -> bool:
        """Whether the limiter paces at or under the reported limits (at least one reported).
        Lock held."""
        if rpm is None and tpm is None:
            return False
        if rpm is not None and (self._req_interval is None or 60.0 / self._req_interval > rpm * _SAME_RATE):
            return False
        return not (tpm is not None and (self._tok_interval is None or 60.0 / self._tok_interval > tpm * _SAME_RATE))

    @property
    def effective_rate(self) -> float | None:
        """Requests per second admitted now (configured or learned rate times the adaptive factor)."""
        interval = self._req_interval
        return None if interval is None else self._factor / interval

    @property
    def factor(self) -> float:
        """The adaptive factor in [1/60, 1] applied to every configured rate."""
        return self._factor

    def acquire(self, tokens: int = 0, *, max_wait: float | None = None) -> float:
        """Wait for a slot for one request costing ``tokens``; return the wait (0.0 if none).

        The return value is the wait reserved at entry; the sleep itself goes through the
        clock and ends at the reserved instant.

        Raises ``LocalRateLimitError`` (``retry_after`` = the wait needed), reserving
        nothing, when the wait would exceed ``max_wait`` (default ``policy.max_wait``).
        """
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens!r}")
        limit = self.policy.max_wait if max_wait is None else max_wait
        with self._lock:
            now = self._clock.monotonic()
            factor = self._factor
            wait = self._hold_until - now
            req_interval = self._req_interval
            if req_interval is not None:
                req_step = req_interval / factor
                req_tau = max(self._req_tau, req_step)
                need = max(self._tat_req, now) + req_step - req_tau - now
                wait = max(wait, need)
            tok_interval = self._tok_interval
            if tok_interval is not None:
                tok_step = tokens * tok_interval / factor
                tok_tau = self._tok_tau
                need = max(self._tat_tok, now) + min(tok_step, tok_tau) - tok_tau - now
                wait = max(wait, need)
            if wait <= _EPS:
                wait = 0.0
            admitted = wait <= limit + _EPS
            if admitted:
                at = now + wait
                if req_interval is not None:
                    self._tat_req = max(self._tat_req, at) + req_step
                if tok_interval is not None:
                    self._tat_tok = max(self._tat_tok, at) + tok_step
        if not admitted:
            raise LocalRateLimitError(f"rate limiter {self.name} cannot admit within {limit:g}s", retry_after=wait)
        if wait > 0.0:
            delay = at - self._clock.monotonic()
            if delay > 0.0:
                self._clock.sleep(delay)
        return wait

    def reconcile(self, estimated: int, actual: int) -> None:
        """Correct the token bucket by ``actual - estimated`` (refund or extra charge)."""
        if self._tok_interval is None or actual == estimated:
            return
        with self._lock:
            now = self._clock.monotonic()
            # A tat in the past reads as a full bucket, so a refund cannot overfill it.
            self._tat_tok = max(self._tat_tok, now) + (actual - estimated) * self._tok_interval / self._factor

    # --- adaptation ----------------------------------------------------------------

    def on_rate_limited(self, retry_after: float | None = None, headers: Mapping[str, str] | None = None) -> None:
        """The provider said 429 (its response ``headers`` when known).

        When those headers report limits this limiter already paces at (and no token limit
        it cannot pace by, like Anthropic's), the provider's bucket is simply empty: drain
        both buckets (and wait for the reset of a limit it reports at zero), rate unchanged; ``retry_after`` then delays only the retry of the
        call that got the 429 (the retry policy's wait). Otherwise halve the rates, hold for
        ``retry_after`` and drain the request burst.
        """
        if not self.policy.adaptive:
            return
        found = rate_limit_headers(headers)
        rpm, tpm = _limits(found)
        # a token limit the provider reports but the bucket cannot follow (Anthropic's) may be
        # the one this 429 is about: only a 429 at limits all paced here is a resync
        unpaced_tokens = tpm is None and any("tokens" in key for key in found)
        with self._lock:
            self._learn(rpm, tpm)
            resync = self._at_reported(rpm, tpm) and not unpaced_tokens
        if resync:  # Retry-After still delays the retry of the call that got the 429
            self._drain(self._reported_hold(found) or 0.0)
            return
        self._slow_down(retry_after)

    def _slow_down(self, retry_after: float | None) -> None:
        """Halve the rates (once per cooldown), hold for ``retry_after``, drain the burst."""
        with self._lock:
            now = self._clock.monotonic()
            if now - self._last_decrease >= _DECREASE_COOLDOWN:
                self._factor = max(_MIN_FACTOR, self._factor * _DECREASE)
                self._last_decrease = now
            if retry_after is not None and isinstance(retry_after, (int, float)) and retry_after > 0:
                self._hold(now, float(retry_after))
            if self._req_interval is not None:
                step = self._req_interval / self._factor
                start = max(now, self._hold_until)
                self._tat_req = max(self._tat_req, start + max(self._req_tau, step) - step)

    def _drain(self, hold: float) -> None:
        """Both buckets empty as of ``hold`` seconds from now (the provider's own state)."""
        with self._lock:
            now = self._clock.monotonic()
            if hold > 0:
                self._hold(now, hold)
            start = max(now, self._hold_until)
            if self._req_interval is not None:
                step = self._req_interval / self._factor
                self._tat_req = max(self._tat_req, start + max(self._req_tau, step) - step)
            if self._tok_interval is not None:
                self._tat_tok = max(self._tat_tok, start + self._tok_tau)

    def on_success(self) -> None:
        """A call succeeded: add back 5 % of the configured rate, up to the configured rate."""
        if self._factor >= 1.0 or not self.policy.adaptive:
            return
        with self._lock:
            self._factor = min(1.0, self._factor + _INCREASE)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn the provider's limits and hold until its reset when nothing is left.

        Reads ``x-ratelimit-limit-*`` / ``-remaining-*`` / ``-reset-*`` (OpenAI, Groq:
        durations like ``"6m0s"``) and ``anthropic-ratelimit-*-limit`` / ``-remaining`` /
        ``-reset`` (RFC 3339). A reported limit sets the rate of a bucket the policy leaves
        unset. Unparsable values are ignored; this never raises.
        """
        if not self.policy.adaptive:
            return
        found = rate_limit_headers(headers)
        if not found:
            return
        rpm, tpm = _limits(found)
        if rpm is not None or tpm is not None:
            with self._lock:
                self._learn(rpm, tpm)
        hold = self._reported_hold(found)
        if hold is not None and hold > 0:
            with self._lock:
                self._hold(self._clock.monotonic(), hold)

    def _reported_hold(self, found: Mapping[str, str]) -> float | None:
        """The longest reported reset of a limit with nothing remaining, in seconds."""
        hold: float | None = None
        for kind in _HEADER_KINDS:
            remaining = _parse_count(found.get(f"x-ratelimit-remaining-{kind}"))
            if remaining is not None and remaining <= 0:
                seconds = parse_reset_duration(found.get(f"x-ratelimit-reset-{kind}"))
                if seconds is not None:
                    hold = max(hold or 0.0, seconds)
            remaining = _parse_count(found.get(f"anthropic-ratelimit-{kind}-remaining"))
            if remaining is not None and remaining <= 0:
                seconds = parse_reset_timestamp(found.get(f"anthropic-ratelimit-{kind}-reset"), self._clock.time())
                if seconds is not None:
                    hold = max(hold or 0.0, seconds)
        return hold

    def _hold(self, now: float, seconds: float) -> None:
        """No admission before ``now + seconds`` (capped at a day). Lock held."""
        self._hold_until = max(self._hold_until, now + min(seconds, _MAX_HOLD))

    def headroom(self) -> float:
        """The share of its buckets free now, in [0, 1] (0 while held; USAGE_BASED routing)."""
        with self._lock:
            now = self._clock.monotonic()
            if self._hold_until > now:
                return 0.0
            share = 1.0
            if self._req_interval is not None:
                tau = max(self._req_tau, self._req_interval / self._factor)
                share = min(share, 1.0 - min(1.0, max(0.0, self._tat_req - now) / tau))
            if self._tok_interval is not None:
                share = min(share, 1.0 - min(1.0, max(0.0, self._tat_tok - now) / self._tok_tau))
            return share

    estimate_tokens = staticmethod(estimate_tokens)

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, policy={self.policy!r})"
