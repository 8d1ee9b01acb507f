"""RatioBudget: floor, ratio, sliding-window expiry, thread-safety."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailib.clock import FakeClock
from ailib.errors import ConfigurationError
from ailib.reliability.budget import RatioBudget


def spend_all(budget: RatioBudget, limit: int = 10_000) -> int:
    """Spend until refused; return how many were granted."""
    granted = 0
    while granted < limit and budget.try_spend():
        granted += 1
    return granted


def test_fresh_budget_allows_exactly_floor_extras() -> None:
    """A budget with no calls recorded grants exactly ``floor`` extra attempts."""
    budget = RatioBudget(0.1, floor=3, clock=FakeClock())
    assert spend_all(budget) == 3
    assert budget.try_spend() is False


def test_zero_floor_and_no_calls_allows_nothing() -> None:
    """floor=0 and no calls means no extra attempt at all."""
    assert RatioBudget(0.5, floor=0, clock=FakeClock()).try_spend() is False


def test_ratio_adds_one_extra_per_ten_calls() -> None:
    """Each recorded call adds ``ratio`` to the allowance (100 calls at 0.1 = 10 extras)."""
    budget = RatioBudget(0.1, floor=0, clock=FakeClock())
    for _ in range(100):
        budget.record_call()
    assert spend_all(budget) == 10


def test_floor_and_ratio_add_up() -> None:
    """The allowance is floor + ratio * calls."""
    budget = RatioBudget(0.5, floor=2, clock=FakeClock())
    for _ in range(4):
        budget.record_call()
    assert spend_all(budget) == 4


def test_fractional_allowance_rounds_down() -> None:
    """Partial allowance grants nothing until it reaches a whole extra (0.1 * 19 = 1.9 -> 1)."""
    budget = RatioBudget(0.1, floor=0, clock=FakeClock())
    for _ in range(19):
        budget.record_call()
    assert spend_all(budget) == 1
    budget.record_call()
    assert budget.try_spend() is True


def test_float_product_below_integer_still_grants() -> None:
    """0.29 * 100 is 28.999999999999996 in floats; the budget still grants 29."""
    budget = RatioBudget(0.29, floor=0, clock=FakeClock())
    for _ in range(100):
        budget.record_call()
    assert spend_all(budget) == 29


def test_spent_permits_come_back_after_the_window() -> None:
    """Permits spent more than ``window`` seconds ago no longer count against the allowance."""
    clock = FakeClock()
    budget = RatioBudget(0.1, floor=2, window=10.0, clock=clock)
    assert spend_all(budget) == 2
    clock.advance(5.0)
    assert budget.try_spend() is False
    clock.advance(5.0)
    assert spend_all(budget) == 2


def test_calls_expire_after_the_window() -> None:
    """Calls older than ``window`` stop adding to the allowance."""
    clock = FakeClock()
    budget = RatioBudget(0.5, floor=0, window=10.0, clock=clock)
    for _ in range(10):
        budget.record_call()
    clock.advance(10.0)
    assert budget.try_spend() is False


def test_calls_within_the_window_still_count() -> None:
    """Calls half a window old still add to the allowance."""
    clock = FakeClock()
    budget = RatioBudget(0.5, floor=0, window=10.0, clock=clock)
    for _ in range(10):
        budget.record_call()
    clock.advance(5.0)
    assert spend_all(budget) == 5


def test_window_slides_bucket_by_bucket() -> None:
    """Old calls drop out one bucket at a time while newer ones stay."""
    clock = FakeClock(start=0.0)
    budget = RatioBudget(1.0, floor=0, window=10.0, clock=clock)
    budget.record_call()  # bucket [0, 1)
    clock.advance(3.0)
    budget.record_call()  # bucket [3, 4)
    clock.advance(7.0)  # t = 10: the first bucket is a whole window old
    assert budget.available() == 1
    clock.advance(3.0)  # t = 13: the second too
    assert budget.available() == 0


def test_available_reports_what_try_spend_would_grant() -> None:
    """``available()`` equals the number of permits ``try_spend`` then grants."""
    budget = RatioBudget(0.25, floor=1, clock=FakeClock())
    for _ in range(8):
        budget.record_call()
    assert budget.available() == 3
    assert spend_all(budget) == 3
    assert budget.available() == 0


@pytest.mark.parametrize(
    ("ratio", "kwargs"),
    [
        (-0.1, {"floor": 1}),
        (math.nan, {"floor": 1}),
        (math.inf, {"floor": 1}),
        ("0.1", {"floor": 1}),
        (0.1, {"floor": -1}),
        (0.1, {"floor": 1.5}),
        (0.1, {"floor": True}),
        (0.1, {"floor": 1, "window": 0}),
        (0.1, {"floor": 1, "window": -5.0}),
    ],
)
def test_invalid_arguments_raise_configuration_error(ratio: object, kwargs: dict) -> None:
    """Bad ratio, floor or window raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RatioBudget(ratio, **kwargs)  # type: ignore[arg-type]


def test_concurrent_spenders_never_exceed_the_allowance() -> None:
    """16 threads spending at once are granted exactly floor + ratio * calls in total."""
    budget = RatioBudget(0.1, floor=5, clock=FakeClock())
    for _ in range(1000):
        budget.record_call()
    granted = [0] * 16
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(200):
            if budget.try_spend():
                granted[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 105


def test_concurrent_calls_and_spends_stay_within_allowance() -> None:
    """Callers recording calls while others spend never get more than floor + ratio * calls."""
    budget = RatioBudget(0.2, floor=3, clock=FakeClock())
    granted = [0] * 8
    barrier = threading.Barrier(16)

    def caller() -> None:
        barrier.wait()
        for _ in range(500):
            budget.record_call()

    def spender(i: int) -> None:
        barrier.wait()
        for _ in range(1000):
            if budget.try_spend():
                granted[i] += 1

    threads = [threading.Thread(target=caller) for _ in range(8)]
    threads += [threading.Thread(target=spender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) <= 3 + 0.2 * 4000
    assert sum(granted) + budget.available() == 3 + 800


@settings(max_examples=200, deadline=None)
@given(
    ratio=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
    floor=st.integers(min_value=0, max_value=4),
    ops=st.lists(
        st.one_of(st.just("call"), st.just("spend"), st.floats(min_value=0.0, max_value=4.0)),
        max_size=80,
    ),
)
def test_matches_a_naive_sliding_window_model(ratio: float, floor: int, ops: list) -> None:
    """Every try_spend answer equals a naive model that keeps every event with its bucket."""
    window, buckets = 10.0, 10
    width = window / buckets
    clock = FakeClock(start=0.0)
    budget = RatioBudget(ratio, floor=floor, window=window, clock=clock)
    events: list[tuple[int, str]] = []  # (bucket index, kind)
    for op in ops:
        if isinstance(op, float):
            clock.advance(op)
            continue
        now_idx = int(clock.monotonic() // width)
        live = [kind for idx, kind in events if idx > now_idx - buckets]
        if op == "call":
            budget.record_call()
            events.append((now_idx, "call"))
        else:
            expected = live.count("spend") + 1 <= floor + ratio * live.count("call") + 1e-9
            assert budget.try_spend() is expected
            if expected:
                events.append((now_idx, "spend"))
