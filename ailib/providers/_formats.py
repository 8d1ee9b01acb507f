"""Wire formats by name. Each format lives in its own module exposing ``WIRE_FORMAT``."""

from __future__ import annotations

import importlib

from ..errors import ConfigurationError
from ._base import WireFormat

# format name -> module under ailib.providers
_MODULES = {
    "openai": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "cohere": "cohere",
    "openai_responses": "openai_responses",
}
_cache: dict[str, WireFormat] = {}

USER_FORMATS = ("openai", "anthropic", "gemini", "cohere", "openai_responses")


def get_wire_format(name: str) -> WireFormat:
    """The shared, stateless translator for a format name."""
    fmt = _cache.get(name)
    if fmt is not None:
        return fmt
    module_name = _MODULES.get(name)
    if module_name is None:
        raise ConfigurationError(f"unknown wire format {name!r}; expected one of {', '.join(USER_FORMATS)}")
    try:
        module = importlib.import_module(f"ailib.providers.{module_name}")
    except ImportError:
        raise ConfigurationError(f"wire format {name!r} is not available in this version of ailib") from None
    loaded: WireFormat = module.AzureOpenAIFormat() if name == "azure" else module.WIRE_FORMAT
    _cache[name] = loaded
    return loaded
