"""The spend cap around each attempt: estimate and hold its cost before sending, settle
it with the true cost after (``AiClientBuilder.with_budget``).

The estimate prices the request by the client's price table for the target's provider
and model: input tokens as the encoded body's characters / 4, output tokens as
``max_tokens`` (else ``DEFAULT_OUTPUT_TOKENS``, plus the thinking budget when
``reasoning`` is asked), times ``n``. A model without a price is refused before sending
(``ConfigurationError``): a cap cannot admit what it cannot price. The true cost is the
answer's (``PriceTable.cost``: cached, cache-write and reasoning tokens as reported); an
answer without usage, and a stream until it ends with usage, is charged its estimate.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import AiLibError, BudgetExceededError, ConfigurationError
from ..reliability.spend import Hold, SpendBudget
from ..routing.endpoint import Target
from ..types import ChatCompletionRequest, reasoning_budget
from .branch import Branch
from .spec import Primed
from .usage import Price, PriceTable

__all__ = ["Spender", "estimate_cost", "DEFAULT_OUTPUT_TOKENS"]

DEFAULT_OUTPUT_TOKENS = 256  # output tokens estimated for a request without max_tokens (as the rate limiter's)
_MAX_LEASE = 3600.0  # a shared hold left by a process that died is dropped after at most this long


def estimate_cost(price: Price, request: ChatCompletionRequest, body_chars: int) -> float:
    """The most ``request`` is expected to cost in USD: ``body_chars`` / 4 input tokens at
    the input price, and its output bound at the output price."""
    prompt = max(0, body_chars + 3) // 4
    if request.max_tokens is not None:
        output = request.max_tokens
    else:
        output = DEFAULT_OUTPUT_TOKENS + (reasoning_budget(request.reasoning) if request.reasoning is not None else 0)
    return price.cost(prompt, output * (request.n or 1))


class Spender:
    """Holds each attempt's estimated cost on the client's budget, and settles it."""

    def __init__(self, budget: SpendBudget, prices: PriceTable, record_skip: Callable[[Branch, Target, AiLibError], None]) -> None:
        self.budget = budget
        self.prices = prices
        self.record_skip = record_skip

    def admit(self, branch: Branch, target: Target, body_size: Callable[[], int]) -> Hold:
        """Hold the attempt's estimated cost, or raise (recorded as a skipped attempt)
        ``BudgetExceededError`` when it does not fit, ``ConfigurationError`` for a model
        without a price."""
        ep = target.endpoint
        price = self.prices.lookup(ep.provider, target.model)
        if price is None:
            err: AiLibError = ConfigurationError(
                f"no price for {ep.provider}/{target.model}: a client with a budget sends only calls it can price "
                "(add it with with_prices or AILIB_PRICES)"
            )
            self.record_skip(branch, target, err)
            raise err
        estimate = estimate_cost(price, branch.spec.request, body_size())
        budget = self.budget
        lease = min(_MAX_LEASE, ep.total_timeout + 60.0) if math.isfinite(ep.total_timeout) else _MAX_LEASE
        hold, spent, held = budget.ledger.hold(estimate, budget.limit_usd, lease)
        if hold is None:
            err = BudgetExceededError(
                f"spend budget of ${budget.limit_usd:.6g} would be exceeded: ${spent:.6g} spent, ${held:.6g} held by calls "
                f"in flight, this attempt estimated at ${estimate:.6g}",
                limit_usd=budget.limit_usd,
                spent_usd=spent,
                held_usd=held,
                estimate_usd=estimate,
            )
            self.record_skip(branch, target, err)
            raise err
        return hold

    def settle(self, hold: Hold, result: Any, target: Target) -> None:
        """The attempt answered: its true cost replaces its hold (a stream, and an answer
        without usage, is charged the estimate; ``Primed.charged`` says how much)."""
        cost = None
        if isinstance(result, Primed):
            result.charged = hold.amount
        elif result.usage is not None:
            cost = self.prices.cost(target.endpoint.provider, getattr(result.value, "model", target.model), result.usage, target.model)
        self.budget.ledger.settle(hold, hold.amount if cost is None else cost)

    def release(self, hold: Hold) -> None:
        """The attempt failed (nothing answered): its hold is released."""
        self.budget.ledger.release(hold)

    def correct(self, charged: float, cost: float) -> None:
        """A stream charged ``charged`` at its commit point ended costing ``cost``."""
        if cost != charged:
            self.budget.ledger.add(cost - charged)
