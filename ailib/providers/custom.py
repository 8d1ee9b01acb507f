"""CustomProviderBuilder: gateways and self-hosted services in any supported wire format."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

import attrs

from .._validators import check_header_name, check_headers, clean_key
from ..errors import ConfigurationError
from ._formats import USER_FORMATS
from ._registry import ProviderSpec, check_base_url

__all__ = ["CustomProviderBuilder"]

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # compiled (and cached by re) on first use


class CustomProviderBuilder:
    """Describe a provider ailib does not ship; ``build_provider()`` gives a spec usable as a Provider."""

    def __init__(self, name: str) -> None:
        if not name or not isinstance(name, str):
            raise ConfigurationError("a custom provider needs a name")
        self._spec = ProviderSpec(name=name, env_prefix=None, base_url=None, default_model="", key_required=False, stream_usage=True)

    def _set(self, **changes: Any) -> CustomProviderBuilder:
        self._spec = attrs.evolve(self._spec, **changes)
        return self

    def with_base_url(self, url: str) -> CustomProviderBuilder:
        """The provider's base URL (http or https; for the OpenAI format, up to the version segment)."""
        return self._set(base_url=check_base_url(url, self._spec.name))

    def with_api_key_env(self, variable: str) -> CustomProviderBuilder:
        """Read the key from the environment variable ``variable`` (then required); ``ConfigurationError`` for a bad name."""
        if not isinstance(variable, str) or not re.match(_ENV_NAME, variable):
            raise ConfigurationError(f"not an environment variable name: {variable!r}")
        return self._set(api_key_env=variable, key_required=True)

    def with_api_key(self, key: str) -> CustomProviderBuilder:
        """The key to send; whitespace around it is stripped (with a warning), any other
        character an HTTP header cannot carry is a ``ConfigurationError``."""
        key = clean_key(key, f"CustomProviderBuilder({self._spec.name!r}).with_api_key(...)", provider=self._spec.name) or ""
        if not key:
            raise ConfigurationError("with_api_key needs a non-empty key")
        return self._set(api_key=key, key_required=True)

    def with_default_chat_model(self, model: str) -> CustomProviderBuilder:
        """The model ``"auto"`` resolves to on this provider."""
        return self._set(default_model=model)

    def with_default_embedding_model(self, model: str) -> CustomProviderBuilder:
        """The embedding model ``AiClient.embed(model="auto")`` sends to this provider."""
        return self._set(default_embedding_model=model)

    def with_wire_format(self, fmt: str) -> CustomProviderBuilder:
        """The wire format it speaks: ``"openai"`` (default), ``"anthropic"``, ``"gemini"``, ``"cohere"`` or
        ``"openai_responses"`` (the OpenAI Responses API only: ``POST {base_url}/responses``)."""
        if fmt not in USER_FORMATS:
            raise ConfigurationError(f"unknown wire format {fmt!r}; expected one of {', '.join(USER_FORMATS)}")
        return self._set(wire_format=fmt)

    def with_headers(self, headers: Mapping[str, str]) -> CustomProviderBuilder:
        """Headers sent with every request; a name or value HTTP cannot carry (a CR or LF, say)
        is a ``ConfigurationError`` naming the header."""
        check_headers(headers, f"CustomProviderBuilder({self._spec.name!r}).with_headers", provider=self._spec.name)
        return self._set(headers={**self._spec.headers, **dict(headers)})

    def with_idempotency_header(self, name: str = "Idempotency-Key") -> CustomProviderBuilder:
        """Send a key unique to each call (the same on its retries) in header ``name``."""
        check_header_name(name, f"CustomProviderBuilder({self._spec.name!r}).with_idempotency_header")
        return self._set(idempotency_header=name)

    def with_capabilities(
        self, *, streaming: Optional[bool] = None, tools: Optional[bool] = None, images: Optional[bool] = None
    ) -> CustomProviderBuilder:
        """Declare what the provider cannot do, so such requests fail before sending."""
        changes = {k: v for k, v in dict(streaming=streaming, tools=tools, images=images).items() if v is not None}
        return self._set(**changes)

    def with_stream_usage(self, enabled: bool = True) -> CustomProviderBuilder:
        """Ask for token usage at the end of streams (OpenAI format: ``stream_options.include_usage``).

        On by default; ``with_stream_usage(False)`` for a server that rejects ``stream_options``.
        """
        return self._set(stream_usage=bool(enabled))

    def build_provider(self) -> ProviderSpec:
        """The provider, usable wherever a ``Provider`` is; ``ConfigurationError`` without a base URL."""
        if not self._spec.base_url:
            raise ConfigurationError(f"custom provider {self._spec.name!r} needs with_base_url(...)")
        return self._spec
