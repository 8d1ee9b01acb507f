"""The attrs validators every policy and options class uses; each raises ``ConfigurationError``.

The message always reads ``<Class>.<field> must be <what>, got <value>``. Booleans are never
numbers here (``True`` is not a count of retries).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Container, Mapping
from typing import Any, Callable, Optional

from ._secrets import is_secret_header, remember
from .errors import ConfigurationError

__all__ = [
    "Validator",
    "number",
    "boolean",
    "one_of",
    "fail",
    "status_set",
    "status_codes",
    "clean_key",
    "check_headers",
    "check_header_name",
]

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


# -- credentials and headers -------------------------------------------------------------------
# What an HTTP header may carry (RFC 9110): a token for the name; visible characters, spaces,
# tabs and Latin-1 letters for the value. Never CR, LF, NUL or another control character:
# http.client refuses some of them with a ValueError that quotes the whole value (a key).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_BAD_VALUE = r"[^\t\x20-\x7e\xa0-\xff]"
_EDGE_SPACE = " \t\r\n"  # what a key file or a CRLF .env leaves around a key


def _describe(char: str) -> str:
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\x00": "a NUL byte", "\t": "a tab"}
    if char in names:
        return names[char]
    code = ord(char)
    if code < 32 or 127 <= code < 160:
        return f"a control character (U+{code:04X})"
    return f"a character outside Latin-1 (U+{code:04X})"


def clean_key(key: Any, where: str, *, provider: Optional[str] = None, stacklevel: int = 2) -> Optional[str]:
    """``key`` ready for a header, read from ``where`` (``"the OPENAI_API_KEY environment variable"``).

    Whitespace around it (a key file's newline, a CRLF ``.env``'s ``\\r``) is stripped, with one
    ``UserWarning``; any other character a header cannot carry raises ``ConfigurationError``
    naming ``where`` and the character's position, never the key. ``None`` and ``""`` give None.
    ``stacklevel`` is the warning's, counted from the caller of ``clean_key``.
    """
    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigurationError(f"the API key from {where} must be a str, got {type(key).__name__}", provider=provider)
    remember(key)
    stripped = key.strip(_EDGE_SPACE)
    if stripped != key and stripped:
        remember(stripped)
        warnings.warn(
            f"ailib: the API key from {where} had whitespace around it (a newline from a key file or a CRLF .env?); it was stripped",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    bad = re.search(_BAD_VALUE, stripped)
    if bad is not None:
        raise ConfigurationError(
            f"the API key from {where} contains {_describe(bad.group())} at position {bad.start() + 1} of {len(stripped)}, "
            "which an HTTP header cannot carry; check how the key was copied or read",
            provider=provider,
        )
    return stripped or None


def check_header_name(name: Any, where: str) -> None:
    """Raise ``ConfigurationError`` unless ``name`` is a valid HTTP header name."""
    if not isinstance(name, str) or re.fullmatch(_TOKEN, name) is None:
        raise ConfigurationError(f"{where}: {name!r} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")


def check_headers(headers: Any, where: str, *, provider: Optional[str] = None) -> None:
    """Raise ``ConfigurationError`` naming the header (never a secret one's value) unless every
    name in ``headers`` is a token and every value a str an HTTP header can carry."""
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{where} must be a mapping of header names to str values", provider=provider)
    for name, value in headers.items():
        check_header_name(name, where)
        if not isinstance(value, str):
            raise ConfigurationError(f"{where}: header {name!r} must have a str value, got {type(value).__name__}", provider=provider)
        if is_secret_header(name):
            remember(value)
        bad = re.search(_BAD_VALUE, value)
        if bad is not None:
            raise ConfigurationError(
                f"{where}: header {name!r} contains {_describe(bad.group())} at position {bad.start() + 1}, "
                "which an HTTP header value cannot carry",
                provider=provider,
            )
