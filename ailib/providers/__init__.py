"""Provider registry and wire formats. Providers are translators, not clients: no I/O here."""

from ._registry import PROVIDERS, Provider, ProviderSpec, resolve_provider
from .custom import CustomProviderBuilder

__all__ = ["PROVIDERS", "Provider", "ProviderSpec", "resolve_provider", "CustomProviderBuilder"]
