"""The attrs validators every policy and options class uses; each raises ``ConfigurationError``.

The message always reads ``<Class>.<field> must be <what>, got <value>``. Booleans are never
numbers here (``True`` is not a count of retries).
"""

from __future__ import annotations

import math
from collections.abc import Container
from typing import Any, Callable, Optional

from .errors import ConfigurationError

__all__ = ["Validator", "number", "boolean", "one_of", "fail", "status_set", "status_codes"]

Validator = Callable[[Any, Any, Any], None]


def fail(instance: Any, attribute: Any, what: str, value: Any) -> None:
    """Raise the standard ``ConfigurationError`` for ``attribute`` of ``instance``."""
    raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be {what}, got {value!r}")


def number(
    what: str,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
    finite: bool = True,
) -> Validator:
    """A validator accepting a number in ``[low, high]`` (``(`` / ``)`` with ``*_open``).

    ``integer`` accepts ``int`` only; ``optional`` accepts ``None``; ``finite=False`` lets
    ``inf`` through (NaN never passes). ``what`` describes the accepted values in messages.
    """
    kinds: Any = int if integer else (int, float)

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None and optional:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or math.isnan(value)
            or (finite and math.isinf(value))
            or (low is not None and (value < low or (low_open and value == low)))
            or (high is not None and (value > high or (high_open and value == high)))
        ):
            fail(instance, attribute, what, value)

    return check


def boolean(instance: Any, attribute: Any, value: Any) -> None:
    """A validator accepting ``True`` or ``False`` only."""
    if not isinstance(value, bool):
        fail(instance, attribute, "a bool", value)


def one_of(choices: Container[Any], what: str) -> Validator:
    """A validator accepting only members of ``choices``."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value not in choices:
            fail(instance, attribute, what, value)

    return check


def status_set(value: Any) -> Any:
    """A converter: an iterable of status codes becomes a ``frozenset``; None and anything
    else pass through unchanged (``status_codes`` then accepts or rejects them)."""
    if value is None or isinstance(value, (str, bytes, frozenset)):
        return value
    try:
        return frozenset(value)
    except TypeError:
        return value


def status_codes(instance: Any, attribute: Any, value: Any) -> None:
    """A validator accepting None or a non-empty set of HTTP status codes (ints 100-599)."""
    if value is None:
        return
    if (
        not isinstance(value, frozenset)
        or not value
        or any(isinstance(c, bool) or not isinstance(c, int) or not 100 <= c <= 599 for c in value)
    ):
        fail(instance, attribute, "None or a non-empty collection of HTTP status codes (ints 100-599)", value)
