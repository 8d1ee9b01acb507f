"""HedgePolicy validation and the latency window behind delay="p95"."""

from __future__ import annotations

import attrs
import pytest

from ailib import ConfigurationError, HedgePolicy
from ailib.reliability.hedge import P95_FLOOR, P95_INITIAL_DELAY, P95_MIN_SAMPLES, LatencyWindow


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(delay=-1),
        dict(delay="p100"),
        dict(delay="fast"),
        dict(delay=float("nan")),
        dict(max_hedges=0),
        dict(max_extra_load=1.5),
        dict(max_extra_load=-0.1),
    ],
)
def test_invalid_policies_are_rejected(kwargs):
    """Bad hedge settings raise ConfigurationError, also through attrs.evolve."""
    with pytest.raises(ConfigurationError):
        HedgePolicy(**kwargs)
    with pytest.raises(ConfigurationError):
        attrs.evolve(HedgePolicy(), **kwargs)


def test_percentile_names():
    """'p95' and 'p99.9' name quantiles; numbers are fixed delays."""
    assert HedgePolicy(delay="p95").percentile == 0.95
    assert HedgePolicy(delay="p99.9").percentile == pytest.approx(0.999)
    assert HedgePolicy(delay=0.2).percentile is None


def test_window_uses_initial_delay_until_enough_samples():
    """With fewer than P95_MIN_SAMPLES observations, p95 hedging waits P95_INITIAL_DELAY."""
    w = LatencyWindow()
    for _ in range(P95_MIN_SAMPLES - 1):
        w.add(0.01)
    assert w.hedge_delay(HedgePolicy(delay="p95")) == P95_INITIAL_DELAY


def test_window_nearest_rank_percentile():
    """The p95 of 1..100 ms is 95 ms (nearest rank); p50 is 50 ms."""
    w = LatencyWindow()
    for i in range(1, 101):
        w.add(i / 1000)
    assert w.percentile(0.95) == pytest.approx(0.095) and w.percentile(0.5) == pytest.approx(0.05)
    assert w.hedge_delay(HedgePolicy(delay="p95")) == pytest.approx(0.095)


def test_window_keeps_only_the_most_recent_samples():
    """Old samples age out: after 256 fast ones, earlier slow ones no longer count."""
    w = LatencyWindow(size=256)
    for _ in range(256):
        w.add(1.0)
    for _ in range(256):
        w.add(0.01)
    assert w.percentile(0.99) == pytest.approx(0.01)


def test_floor():
    """A p95 of zero never makes hedges fire instantly."""
    w = LatencyWindow()
    for _ in range(P95_MIN_SAMPLES):
        w.add(0.0)
    assert w.hedge_delay(HedgePolicy(delay="p95")) == P95_FLOOR


def test_fixed_delay_ignores_the_window():
    """A numeric delay is used as given."""
    assert LatencyWindow().hedge_delay(HedgePolicy(delay=0.25)) == 0.25
