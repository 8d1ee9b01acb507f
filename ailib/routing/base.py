"""Routing's base types: a ``Router`` turns a request into an ordered plan of targets.

A plan is a list of ``Target`` (endpoint + model [+ the condition of a FallbackChain
step]). Building a plan never does I/O: health verdicts, breaker states and latency
statistics are read, never fetched (the first plans of a health-checked client wait, at most
the probe timeout, for the first verdicts, which the probes fetch on their own threads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Protocol

from ..types import ChatCompletionRequest
from .endpoint import Endpoint, Target

__all__ = ["Router", "StaticRouter", "RoutingStrategy", "Target", "Endpoint"]


class RoutingStrategy(Protocol):
    """A custom routing strategy (``AiClientBuilder.with_strategy``): orders the endpoints
    a call may use. Endpoints it leaves out are tried after the ones it returns; a strategy
    that raises or returns nothing usable leaves the order as it was."""

    def select(self, endpoints: Sequence[Endpoint], request: ChatCompletionRequest) -> Sequence[Endpoint]:
        """The endpoints to try for ``request``, best first (a subset of ``endpoints``)."""
        ...


class Router:
    """Turns a request into an ordered plan of targets.

    ``multi_target``: the client has more than one target (routing counters apply).
    ``observes``: the router wants ``on_start(ep)`` / ``on_end(ep, seconds, ok)`` around
    every attempt (in-flight counts, latency and error statistics).
    """

    multi_target = False
    observes = False

    def plan(self, request: ChatCompletionRequest) -> list[Target]:
        raise NotImplementedError

    def endpoints(self) -> Sequence[Endpoint]:
        raise NotImplementedError

    def close(self) -> None:
        """Release anything the router runs in the background (health probes)."""

    def rest(self, ep: Endpoint, until: float) -> None:
        """Keep ``ep`` out of first place until ``until`` (monotonic seconds): it asked to
        be left alone (a 429's Retry-After) and the call fell over instead of waiting."""

    def rest_remaining(self, ep: Endpoint) -> float:
        """Seconds left of ``ep``'s rest (0.0: none)."""
        return 0.0

    def expected_latency(self, ep: Endpoint) -> Optional[float]:
        """``ep``'s observed latency (EWMA of successful attempts, seconds), or None when unknown."""
        return None


class StaticRouter(Router):
    """Always the same endpoints, in order (one endpoint: a single-target client)."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self._endpoints = tuple(endpoints)
        self.multi_target = len(self._endpoints) > 1
        self._plans: dict[str, list[Target]] = {}

    def plan(self, request: ChatCompletionRequest) -> list[Target]:
        model = request.model
        plan = self._plans.get(model)
        if plan is None:
            if len(self._plans) > 4096:  # callers with unbounded model names: stay bounded
                self._plans.clear()
            plan = self._plans[model] = [Target(ep, ep.resolve_model(model)) for ep in self._endpoints]
        return list(plan)

    def endpoints(self) -> Sequence[Endpoint]:
        return self._endpoints
