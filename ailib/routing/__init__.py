"""Routing: ModelArray strategies, failover and round-robin chains, FallbackChain, health checks."""

from .fallback import FallbackChain
from .health import HealthCheck
from .model_array import LoadBalancingStrategy, ModelArray, ModelEndpoint

__all__ = ["FallbackChain", "HealthCheck", "LoadBalancingStrategy", "ModelArray", "ModelEndpoint"]
