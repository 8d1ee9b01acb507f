"""Usage totals per provider/model, and the optional price table that gives costs."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, Optional

import attrs

from .._fork import register_after_fork
from .._value import mutable_value, value
from ..errors import ConfigurationError
from ..types import ChatCompletionRequest, Usage

__all__ = ["Price", "PriceTable", "UsageTotal", "UsageLedger", "count_usage"]

PRICES_ENV = "AILIB_PRICES"  # a JSON object, or the path of a JSON file


CACHED_INPUT_FACTOR = 0.1  # a cached read without its own price: 0.1 x input (Anthropic's documented rate)
CACHE_WRITE_FACTOR = 1.25  # a cache write without its own price: 1.25 x input (Anthropic's 5-minute write)
CACHE_WRITE_1H_FACTOR = 2.0  # a 1-hour cache write without its own price: 2 x input (Anthropic's documented rate)
_KINDS = ("input", "output", "cached_input", "cache_write", "cache_write_1h")


@value
class Price:
    """USD per million input (prompt) and output (completion) tokens, and per million cached
    input tokens (read from a prompt cache), cache-write tokens and 1-hour cache-write tokens.

    Unset, a cached read costs ``CACHED_INPUT_FACTOR`` (0.1) x input, a cache write
    ``CACHE_WRITE_FACTOR`` (1.25) x input and a 1-hour cache write ``CACHE_WRITE_1H_FACTOR`` (2)
    x input: Anthropic's documented rates (5-minute writes at 1.25 x, 1-hour writes at 2 x).
    Other rates (OpenAI's gpt-4o reads at 0.5 x, gpt-4.1 and o-series at 0.25 x) need
    ``cached_input`` / ``cache_write`` / ``cache_write_1h`` in the table.
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: Optional[float] = None
    cache_write_per_million: Optional[float] = None
    cache_write_1h_per_million: Optional[float] = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost of ``prompt_tokens`` uncached input and ``completion_tokens`` output, in USD."""
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1_000_000

    def usage_cost(self, usage: Usage) -> float:
        """Cost of ``usage`` in USD: cached reads, cache writes and 1-hour cache writes (the part of the
        writes ``cache_write_1h_tokens`` counts) at their own prices, the rest of the prompt at the
        input price, every completion token (reasoning included) at the output price."""
        cached = usage.cached_tokens or 0
        written = usage.cache_write_tokens or 0
        written_1h = min(usage.cache_write_1h_tokens or 0, written)
        uncached = max(usage.prompt_tokens - cached - written, 0)
        read_price = (
            self.input_per_million * CACHED_INPUT_FACTOR if self.cached_input_per_million is None else self.cached_input_per_million
        )
        write_price = self.input_per_million * CACHE_WRITE_FACTOR if self.cache_write_per_million is None else self.cache_write_per_million
        write_1h_price = (
            self.input_per_million * CACHE_WRITE_1H_FACTOR if self.cache_write_1h_per_million is None else self.cache_write_1h_per_million
        )
        writes = (written - written_1h) * write_price + written_1h * write_1h_price
        return self.cost(uncached, usage.completion_tokens) + (cached * read_price + writes) / 1_000_000


def _price(key: str, value: Any) -> Price:
    try:
        if isinstance(value, Mapping):
            unknown = set(value) - set(_KINDS)
            if unknown:
                raise ConfigurationError(f"price for {key!r} has unknown kinds {sorted(map(str, unknown))}; kinds are {', '.join(_KINDS)}")
            extra = [None if value.get(k) is None else float(value[k]) for k in _KINDS[2:]]
            p = Price(float(value["input"]), float(value["output"]), *extra)
        else:
            if isinstance(value, (str, bytes)) or not 2 <= len(value) <= 4:  # cache_write_1h: only by name
                raise TypeError
            floats = [float(v) for v in value]
            p = Price(*floats)
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError(
            f"price for {key!r} must be (input, output[, cached_input[, cache_write]]) or "
            f"{{'input': x, 'output': y, 'cached_input': z, 'cache_write': w, 'cache_write_1h': h}} per million tokens"
        ) from None
    if any(v is not None and v < 0 for v in attrs.astuple(p)):
        raise ConfigurationError(f"price for {key!r} must not be negative")
    return p


class PriceTable:
    """Prices keyed by ``"provider/model"`` or ``"model"`` (the provider-specific key wins)."""

    def __init__(self, prices: Mapping[str, Any]) -> None:
        if not isinstance(prices, Mapping):
            raise ConfigurationError("prices must map model names to (input, output) per million tokens")
        self._prices = {str(k): _price(str(k), v) for k, v in prices.items()}

    @classmethod
    def from_env(cls) -> Optional[PriceTable]:
        raw = os.environ.get(PRICES_ENV)
        if not raw:
            return None
        text = raw
        if not raw.lstrip().startswith("{"):
            try:
                with open(raw, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise ConfigurationError(f"{PRICES_ENV} names a file that cannot be read: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{PRICES_ENV} is not valid JSON: {exc}") from None
        return cls(data)

    def lookup(self, provider: str, model: str) -> Optional[Price]:
        return self._prices.get(f"{provider}/{model}") or self._prices.get(model)

    def cost(self, provider: str, model: str, usage: Optional[Usage], requested: Optional[str] = None) -> Optional[float]:
        """Cost of ``usage`` in USD, priced by ``model`` (the model the provider reported) when the
        table has it, else by ``requested`` (the name the call asked for: an alias such as
        ``gpt-4o`` answered by ``gpt-4o-2024-08-06``); None when neither has a price."""
        if usage is None:
            return None
        price = self.lookup(provider, model)
        if price is None and requested and requested != model:
            price = self.lookup(provider, requested)
        return None if price is None else price.usage_cost(usage)

    def estimate(self, provider: str, model: str, request: ChatCompletionRequest, body_chars: int) -> Optional[float]:
        """Estimated cost of ``request`` before sending (prompt ~ chars/4, output = max_tokens or 256)."""
        price = self.lookup(provider, model)
        if price is None:
            return None
        from ..reliability.ratelimit import estimate_tokens  # the limiter's module: loaded on first use

        prompt = estimate_tokens(body_chars, 0)
        completion = request.max_tokens or 256
        return price.cost(prompt, completion)


def count_usage(
    metrics: Any, provider: str, model: str, usage: Optional[Usage], cost: Optional[float], extra: Optional[Mapping[str, str]] = None
) -> None:
    """One successful call's ``tokens`` (per ``kind``) and ``cost_usd`` counters (see ``ailib.metrics``),
    with the call's ``extra`` tags (its request tags) besides ailib's own."""
    more = dict(extra) if extra else {}
    if usage is not None:
        kinds = (
            ("input", usage.prompt_tokens),
            ("output", usage.completion_tokens),
            ("cached", usage.cached_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("reasoning", usage.reasoning_tokens),
        )
        for kind, n in kinds:
            if n is not None:
                metrics.incr_counter("tokens", n, {**more, "provider": provider, "model": model, "kind": kind})
    if cost is not None:
        metrics.incr_counter("cost_usd", cost, {**more, "provider": provider, "model": model})


@mutable_value
class UsageTotal:
    """Totals for one provider/model on one client (details a provider did not report count as 0)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Optional[float] = None
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0


class UsageLedger:
    """Thread-safe running totals per (provider, model).

    Every call adds to it, so ``add`` takes no lock (under many threads a lock there is a
    convoy that halves throughput): it appends to a list (atomic) and the entries are
    summed under the lock by ``snapshot``, or once ``_FOLD_AT`` are waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], UsageTotal] = {}
        self._pending: list[tuple[str, str, Optional[Usage], Optional[float]]] = []
        register_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the totals carry over

    def add(self, provider: str, model: str, usage: Optional[Usage], cost: Optional[float]) -> None:
        pending = self._pending
        pending.append((provider, model, usage, cost))
        if len(pending) >= _FOLD_AT and self._lock.acquire(blocking=False):  # else whoever holds it folds
            try:
                self._fold()
            finally:
                self._lock.release()

    def _fold(self) -> None:
        """Sum the waiting entries into the totals (the lock held)."""
        pending = self._pending
        n = len(pending)
        batch = pending[:n]
        del pending[:n]  # only those taken: entries appended meanwhile wait for the next fold
        totals = self._totals
        for provider, model, usage, cost in batch:
            t = totals.get((provider, model))
            if t is None:
                t = totals[(provider, model)] = UsageTotal()
            t.calls += 1
            if usage is not None:
                t.prompt_tokens += usage.prompt_tokens
                t.completion_tokens += usage.completion_tokens
                t.total_tokens += usage.total_tokens
                t.cached_tokens += usage.cached_tokens or 0
                t.cache_write_tokens += usage.cache_write_tokens or 0
                t.reasoning_tokens += usage.reasoning_tokens or 0
                t.cache_write_1h_tokens += usage.cache_write_1h_tokens or 0
            if cost is not None:
                t.cost = (t.cost or 0.0) + cost

    def snapshot(self) -> dict[tuple[str, str], UsageTotal]:
        with self._lock:
            self._fold()
            return {key: attrs.evolve(t) for key, t in self._totals.items()}


_FOLD_AT = 256  # entries waiting before an add sums them
