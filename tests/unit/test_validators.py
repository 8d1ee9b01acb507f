"""ailib._validators: the one number validator every policy and options class uses."""

from __future__ import annotations

import math
import re

import attrs
import pytest

from ailib import (
    CircuitBreakerPolicy,
    ConnectionOptions,
    HealthCheck,
    HedgePolicy,
    ModelEndpoint,
    RateLimitPolicy,
    RetryPolicy,
)
from ailib._validators import boolean, number, one_of
from ailib.errors import ConfigurationError


@attrs.frozen
class Sample:
    count: int = attrs.field(default=1, validator=number("an int >= 1", low=1, integer=True))
    ratio: float = attrs.field(default=0.5, validator=number("a fraction in (0, 1)", low=0, high=1, low_open=True, high_open=True))
    wait: float = attrs.field(default=0.0, validator=number("a number >= 0 or None", low=0, optional=True, finite=False))
    flag: bool = attrs.field(default=True, validator=boolean)
    mode: str = attrs.field(default="a", validator=one_of(("a", "b"), "'a' or 'b'"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", 0),
        ("count", 1.0),
        ("count", True),
        ("count", "2"),
        ("ratio", 0),
        ("ratio", 1),
        ("ratio", math.nan),
        ("ratio", math.inf),
        ("wait", -0.1),
        ("wait", math.nan),
        ("wait", False),
        ("flag", 1),
        ("mode", "c"),
    ],
)
def test_bad_values_raise_configuration_error_naming_the_field(field, value):
    """A value outside the rule raises ConfigurationError saying '<Class>.<field> must be ..., got <value>'."""
    with pytest.raises(ConfigurationError, match=rf"^Sample\.{field} must be .+, got {re.escape(repr(value))}$"):
        Sample(**{field: value})


def test_good_values_pass():
    """Bounds, open/closed ends, None for optional fields and inf where allowed all pass."""
    Sample(count=7, ratio=0.999, wait=None, flag=False, mode="b")
    Sample(wait=math.inf)
    Sample(wait=0)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (RetryPolicy, {"max_attempts": 0}),
        (RetryPolicy, {"initial_delay": math.nan}),
        (RetryPolicy, {"multiplier": 0.5}),
        (RetryPolicy, {"jitter": "sometimes"}),
        (RetryPolicy, {"retry_budget": -1}),
        (RetryPolicy, {"respect_retry_after": "yes"}),
        (CircuitBreakerPolicy, {"failure_threshold": True}),
        (CircuitBreakerPolicy, {"failure_ratio": 1.5}),
        (CircuitBreakerPolicy, {"window": 0}),
        (RateLimitPolicy, {"requests_per_second": -1}),
        (RateLimitPolicy, {"requests_per_second": 1, "burst": 0}),
        (RateLimitPolicy, {"requests_per_second": 1, "adaptive": 1}),
        (HedgePolicy, {"delay": "fast"}),
        (HedgePolicy, {"delay": -1}),
        (HedgePolicy, {"max_hedges": 0}),
        (HedgePolicy, {"max_extra_load": 2}),
        (ConnectionOptions, {"timeout": 0}),
        (ConnectionOptions, {"timeout": math.nan}),
        (ConnectionOptions, {"max_retries": -1}),
        (ConnectionOptions, {"pool_size": 2.5}),
        (ConnectionOptions, {"retry_delay": -0.5}),
        (HealthCheck, {"interval": 0}),
    ],
)
def test_every_policy_validates_with_the_shared_rule(cls, kwargs):
    """Each policy/options class rejects a bad value with ConfigurationError naming its class and field."""
    field = [k for k in kwargs if k not in ("requests_per_second",)][-1] if len(kwargs) > 1 else next(iter(kwargs))
    with pytest.raises(ConfigurationError, match=rf"^{cls.__name__}\.{field} must be "):
        cls(**kwargs)


def test_model_endpoint_weight_must_be_finite_and_positive():
    """ModelEndpoint.weight rejects 0, inf and booleans."""
    for bad in (0, math.inf, True):
        with pytest.raises(ConfigurationError, match=r"^ModelEndpoint\.weight must be a finite number > 0"):
            ModelEndpoint(url="http://127.0.0.1:1/v1", weight=bad)
