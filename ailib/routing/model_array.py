"""ModelEndpoint, ModelArray and the load-balancing strategies they use."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Optional, Union

import attrs

from .._secrets import redact_url, redacted_url_repr, remember_url
from .._validators import number
from .._value import value
from ..errors import ConfigurationError
from ..options import ConnectionOptions
from ..providers._registry import ProviderLike
from .endpoint import check_model_choice

__all__ = ["LoadBalancingStrategy", "ModelEndpoint", "ModelArray"]


class LoadBalancingStrategy(enum.Enum):
    """How a ModelArray picks the endpoint for each call (the rest are its failover order)."""

    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    LEAST_CONNECTIONS = "least_connections"
    HEALTH_BASED = "health_based"
    LATENCY_BASED = "latency_based"
    COST_BASED = "cost_based"
    USAGE_BASED = "usage_based"  # the most rate-limit headroom left (provider headers, the client's limiter)


@value
class ModelEndpoint:
    """One endpoint of a ModelArray: a provider (built-in or custom) or the URL of an
    OpenAI-compatible endpoint, optionally pinned to a model (``model="name"``) or given a
    map from requested model names to its own (``model={"gpt-4o": "llama-3.3-70b"}``).

    ``healthy=False`` keeps it out of rotation until a health probe passes.
    """

    name: Optional[str] = None
    url: Optional[str] = attrs.field(default=None, repr=redacted_url_repr)
    provider: Optional[ProviderLike] = attrs.field(default=None, kw_only=True)
    # a model name, or a map from requested model names to this endpoint's
    model: Union[str, Mapping[str, str], None] = attrs.field(default=None, kw_only=True, hash=False)
    weight: float = attrs.field(default=1.0, kw_only=True, validator=number("a finite number > 0", low=0, low_open=True))
    healthy: bool = attrs.field(default=True, kw_only=True)
    options: Optional[ConnectionOptions] = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        remember_url(self.url)
        if (self.url is None) == (self.provider is None):
            raise ConfigurationError("a ModelEndpoint needs exactly one of url= or provider=")
        if self.url is not None and not str(self.url).lower().startswith(("http://", "https://")):
            raise ConfigurationError(f"ModelEndpoint url must be http(s), got {redact_url(self.url)!r}")
        check_model_choice(self.model, f"ModelEndpoint {self.name!r}")


class ModelArray:
    """A named set of endpoints routed by a ``LoadBalancingStrategy``."""

    def __init__(self, name: str, strategy: LoadBalancingStrategy = LoadBalancingStrategy.ROUND_ROBIN) -> None:
        if not isinstance(strategy, LoadBalancingStrategy):
            raise ConfigurationError(f"strategy must be a LoadBalancingStrategy, got {strategy!r}")
        self.name = name
        self.strategy = strategy
        self.endpoints: list[ModelEndpoint] = []

    def add_endpoint(self, endpoint: Union[ModelEndpoint, tuple[ProviderLike, Union[str, Mapping[str, str]]]]) -> ModelArray:
        """Add ``endpoint`` (a ``ModelEndpoint``, or ``(provider, model)`` for
        ``ModelEndpoint(provider=..., model=...)``) to the array; returns the array."""
        if isinstance(endpoint, tuple) and len(endpoint) == 2:
            endpoint = ModelEndpoint(provider=endpoint[0], model=endpoint[1])
        if not isinstance(endpoint, ModelEndpoint):
            raise ConfigurationError("add_endpoint takes a ModelEndpoint or (provider, model)")
        self.endpoints.append(endpoint)
        return self

    def with_strategy(self, strategy: LoadBalancingStrategy) -> ModelArray:
        """Route with ``strategy``; returns the array."""
        if not isinstance(strategy, LoadBalancingStrategy):
            raise ConfigurationError(f"strategy must be a LoadBalancingStrategy, got {strategy!r}")
        self.strategy = strategy
        return self

    def __repr__(self) -> str:
        return f"ModelArray({self.name!r}, {self.strategy.name}, endpoints={len(self.endpoints)})"
