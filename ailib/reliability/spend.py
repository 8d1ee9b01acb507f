"""Spend caps: the money spent so far (a ``SpendLedger``, shareable) and one client's cap
over it (``SpendBudget``).

Before an attempt is sent, its estimated cost is *held* (reserved) if the spent amount,
the holds of attempts in flight and the estimate together stay within the cap; else the
attempt is refused. When the attempt ends, its hold is *settled*: released, and the
attempt's true cost (from the usage the provider reported) added to the spent amount.
Holds make the check safe under concurrency: two threads (or processes, through Redis)
cannot both pass a check that only one of them fits in.

The ledger is the shared part (``MemoryStateStore.spend_ledger()`` for the clients of one
store in a process, ``RedisStateStore.spend_ledger()`` for every process on one Redis
namespace); the cap belongs to each client, so two clients with different caps may share
one ledger (each refuses by its own cap).
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Optional

from .._fork import register_after_fork
from ..errors import ConfigurationError

__all__ = ["Hold", "SpendLedger", "SpendBudget", "check_budget_usd", "EPSILON_USD"]

EPSILON_USD = 1e-12  # float slack when comparing sums of costs with a cap


class Hold:
    """A reservation of ``amount`` USD for one attempt in flight (``SpendLedger.hold``)."""

    __slots__ = ("id", "amount", "shared")

    def __init__(self, id: int, amount: float, shared: bool = False) -> None:
        self.id = id
        self.amount = amount
        self.shared = shared  # taken from Redis (a RedisSpendLedger), not from local state

    def __repr__(self) -> str:
        return f"Hold(id={self.id}, amount={self.amount!r})"


class SpendLedger:
    """Thread-safe running spend, in USD, and the holds of attempts in flight (in this process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent = 0.0
        self._holds: dict[int, float] = {}
        self._ids = itertools.count(1)
        register_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the spend carries over; the parent's holds are not the child's
        self._holds = {}

    def hold(self, amount: float, limit: float, lease: float) -> tuple[Optional[Hold], float, float]:
        """Reserve ``amount`` when spent + held + amount stays within ``limit``: the hold (None
        when refused), and the spent and held amounts seen. ``lease``: seconds after which a
        hold left by a process that died is dropped (shared ledgers only)."""
        with self._lock:
            held = sum(self._holds.values())
            if self._spent + held + amount > limit + EPSILON_USD:
                return None, self._spent, held
            hid = next(self._ids)
            self._holds[hid] = amount
            return Hold(hid, amount), self._spent, held

    def settle(self, hold: Hold, cost: float) -> None:
        """Release ``hold`` and add ``cost`` (the attempt's true cost) to the spend."""
        with self._lock:
            self._holds.pop(hold.id, None)
            self._spent = max(0.0, self._spent + cost)

    def release(self, hold: Hold) -> None:
        """Release ``hold`` with nothing spent (the attempt failed before any answer)."""
        with self._lock:
            self._holds.pop(hold.id, None)

    def add(self, cost: float) -> None:
        """Add ``cost`` (may be negative: a correction) to the spend, never below 0."""
        with self._lock:
            self._spent = max(0.0, self._spent + cost)

    def spent(self) -> float:
        """USD spent so far."""
        with self._lock:
            return self._spent

    def held(self) -> float:
        """USD held by attempts in flight."""
        with self._lock:
            return sum(self._holds.values())

    def reset(self) -> None:
        """Start again from 0 spent (holds in flight are kept)."""
        with self._lock:
            self._spent = 0.0


def check_budget_usd(usd: object) -> float:
    """A cap in USD: a finite number >= 0 (``ConfigurationError`` otherwise)."""
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd) or usd < 0:
        raise ConfigurationError(f"with_budget needs a finite number of USD >= 0, got {usd!r}")
    return float(usd)


class SpendBudget:
    """One client's spend cap of ``limit_usd`` over a ``SpendLedger`` (its own, or a shared
    store's). ``AiClient.budget()`` returns it; thread-safe."""

    def __init__(self, limit_usd: float, ledger: SpendLedger, store: Any = None) -> None:
        self.limit_usd = check_budget_usd(limit_usd)
        self.ledger = ledger
        self.store = store  # the state store the ledger came from (with_budget(store=...)), or None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its cap and its store (a ``RedisStateStore`` travels as its URL): the copy
        spends from that store's ledger, or, without a store, from a new ledger of its own."""
        return (_rebuild_budget, (self.limit_usd, self.store))

    def spent_usd(self) -> float:
        """USD spent so far on the ledger (by every client sharing it)."""
        return self.ledger.spent()

    def remaining_usd(self) -> float:
        """What is left of the cap, not counting holds in flight (never below 0)."""
        return max(0.0, self.limit_usd - self.ledger.spent())

    def reset(self) -> None:
        """Start the ledger again from 0 spent (for every client sharing it)."""
        self.ledger.reset()

    def __repr__(self) -> str:
        return f"SpendBudget(limit_usd={self.limit_usd!r}, spent_usd={self.spent_usd()!r})"


def _rebuild_budget(limit_usd: float, store: Any) -> SpendBudget:
    return SpendBudget(limit_usd, store.spend_ledger() if store is not None else SpendLedger(), store)
