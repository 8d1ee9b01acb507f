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

__all__ = ["Price", "PriceTable", "UsageTotal", "UsageLedger"]

PRICES_ENV = "AILIB_PRICES"  # a JSON object, or the path of a JSON file


@value
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1_000_000


def _price(key: str, value: Any) -> Price:
    try:
        if isinstance(value, Mapping):
            p = Price(float(value["input"]), float(value["output"]))
        else:
            inp, out = value
            p = Price(float(inp), float(out))
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError(f"price for {key!r} must be (input, output) or {{'input': x, 'output': y}} per million tokens") from None
    if p.input_per_million < 0 or p.output_per_million < 0:
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

    def cost(self, provider: str, model: str, usage: Optional[Usage]) -> Optional[float]:
        price = self.lookup(provider, model)
        if price is None or usage is None:
            return None
        return price.cost(usage.prompt_tokens, usage.completion_tokens)

    def estimate(self, provider: str, model: str, request: ChatCompletionRequest, body_chars: int) -> Optional[float]:
        """Estimated cost of ``request`` before sending (prompt ~ chars/4, output = max_tokens or 256)."""
        price = self.lookup(provider, model)
        if price is None:
            return None
        from ..reliability.ratelimit import estimate_tokens  # the limiter's module: loaded on first use

        prompt = estimate_tokens(body_chars, 0)
        completion = request.max_tokens or 256
        return price.cost(prompt, completion)


@mutable_value
class UsageTotal:
    """Totals for one provider/model on one client."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Optional[float] = None


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
            if cost is not None:
                t.cost = (t.cost or 0.0) + cost

    def snapshot(self) -> dict[tuple[str, str], UsageTotal]:
        with self._lock:
            self._fold()
            return {key: attrs.evolve(t) for key, t in self._totals.items()}


_FOLD_AT = 256  # entries waiting before an add sums them
