"""ConnectionOptions: per-provider connection settings (all optional)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import attrs

from ._secrets import redact_url, redacted_headers_repr, redacted_url_repr, remember_url, secret_repr
from ._validators import check_headers, clean_key, number
from ._value import value
from .errors import ConfigurationError

__all__ = ["ConnectionOptions"]

# Defaults for fields a user leaves unset.
DEFAULT_TIMEOUT = 600.0  # total seconds per attempt (a long generation can take minutes)
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_STREAM_IDLE_TIMEOUT = 60.0
DEFAULT_POOL_SIZE = 32


_positive = number("a positive number", low=0, low_open=True, optional=True, finite=False)


def _check_url(_inst: Any, attr: Any, value: Any) -> None:
    if value is None:
        return
    remember_url(value)
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ConfigurationError(f"ConnectionOptions.{attr.name} must be an http(s) URL, got {redact_url(value)!r}")


def _clean_key(value: Any) -> Optional[str]:
    # Runs first (a converter of the first field), so no later message can show the key.
    return clean_key(value, "ConnectionOptions(api_key=...)", stacklevel=3)  # the warning points at the caller


def _check_proxy(_inst: Any, attr: Any, value: Any) -> None:
    if value is None:
        return
    remember_url(value)
    if not isinstance(value, str) or "://" not in value:
        raise ConfigurationError(f"ConnectionOptions.proxy must be a proxy URL string, got {value!r}")


def _check_headers(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    check_headers(value, "ConnectionOptions.extra_headers")


def _check_verify(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and not isinstance(value, (bool, str)):
        raise ConfigurationError("ConnectionOptions.verify must be a bool or a CA bundle path")


WIRE_APIS = ("chat", "responses", "auto")


def _check_wire_api(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and value not in WIRE_APIS:
        raise ConfigurationError(f"ConnectionOptions.wire_api must be one of {', '.join(map(repr, WIRE_APIS))}, got {value!r}")


@value(kw_only=True)
class ConnectionOptions:
    """Connection settings; ``None`` means "inherit" (builder defaults, then built-ins).

    ``timeout`` is the total per attempt; ``first_byte_timeout`` bounds the wait for the
    response headers; ``stream_idle_timeout`` the gap between two stream events.
    ``max_retries``/``retry_delay`` are the short form of ``RetryPolicy(max_attempts=
    max_retries + 1, initial_delay=retry_delay)``. ``wire_api`` (OpenAI-format providers):
    ``"chat"``, ``"responses"`` or ``"auto"`` (unset: ``"auto"``, see ``ailib.providers._wire_api``).
    """

    api_key: Optional[str] = attrs.field(default=None, repr=secret_repr, converter=_clean_key)
    base_url: Optional[str] = attrs.field(default=None, validator=_check_url, repr=redacted_url_repr)
    timeout: Optional[float] = attrs.field(default=None, validator=_positive)
    connect_timeout: Optional[float] = attrs.field(default=None, validator=_positive)
    first_byte_timeout: Optional[float] = attrs.field(default=None, validator=_positive)
    stream_idle_timeout: Optional[float] = attrs.field(default=None, validator=_positive)
    proxy: Optional[str] = attrs.field(default=None, validator=_check_proxy, repr=redacted_url_repr)
    max_retries: Optional[int] = attrs.field(default=None, validator=number("an int >= 0", low=0, integer=True, optional=True))
    retry_delay: Optional[float] = attrs.field(default=None, validator=number("a number >= 0", low=0, optional=True, finite=False))
    pool_size: Optional[int] = attrs.field(default=None, validator=number("an int >= 1", low=1, integer=True, optional=True))
    verify: Optional[Union[bool, str]] = attrs.field(default=None, validator=_check_verify)
    extra_headers: Optional[Mapping[str, str]] = attrs.field(default=None, validator=_check_headers, repr=redacted_headers_repr, hash=False)
    # OpenAI and Azure OpenAI: "chat" (/chat/completions), "responses" (/responses) or "auto"
    # (the default: models served only by the Responses API go there, every other to chat).
    wire_api: Optional[str] = attrs.field(default=None, validator=_check_wire_api)

    def merged_over(self, base: Optional[ConnectionOptions]) -> ConnectionOptions:
        """These options, with unset fields taken from ``base``."""
        if base is None:
            return self
        values = {}
        for f in attrs.fields(ConnectionOptions):
            mine = getattr(self, f.name)
            values[f.name] = mine if mine is not None else getattr(base, f.name)
        if base.extra_headers and self.extra_headers:
            values["extra_headers"] = {**base.extra_headers, **self.extra_headers}
        return ConnectionOptions(**values)
