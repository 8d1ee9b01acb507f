"""Assembly of one client: configuration → endpoints → state → router → pipeline.

``Config`` is everything a client is built from (the builder fills it); ``assemble``
turns it into the parts an ``AiClient`` holds. Environment variables and options are
resolved here, once, never per call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Optional, Union

import attrs

from ._embedding import EmbeddingRequest
from ._value import mutable_value
from .call import Pipeline
from .call.extras import make_extras
from .call.usage import PriceTable
from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigurationError
from .metrics import as_metrics
from .options import DEFAULT_POOL_SIZE, ConnectionOptions
from .providers._registry import resolve_provider
from .reliability.circuit import CircuitBreakerPolicy, CircuitState
from .reliability.retry import RetryPolicy
from .routing._topology import Topology, build_topology
from .routing.base import Router, StaticRouter
from .routing.context import ContextWindows
from .routing.endpoint import Endpoint, build_endpoint
from .state.memory import EndpointState, MemoryStateStore
from .transport import SocketTransport
from .types import ChatCompletionRequest

if TYPE_CHECKING:  # imported on first use: a default client never loads them
    from .reliability.hedge import HedgePolicy
    from .reliability.ratelimit import RateLimitPolicy
    from .routing.fallback import FallbackChain
    from .routing.health import HealthCheck
    from .routing.model_array import ModelArray

__all__ = [
    "Config",
    "Assembly",
    "UNSET",
    "retry_policy",
    "check_overrides",
    "apply_overrides",
    "OVERRIDE_KEYS",
    "RETRY_BUDGET_MIN_RETRIES",
    "HEDGE_BUDGET_MIN",
]


def _learning_limiter(store: Any, name: str, clock: Any) -> Any:
    """The limiter an endpoint with no configured limit gets from its store on the first
    rate-limit signal: rates learned from the provider's headers (``ratelimit.LEARNING``)."""
    from .reliability.ratelimit import LEARNING  # loaded when a provider first reports a limit

    return store.limiter(name, LEARNING, clock)


class _Unset:
    """The marker of a setting left to its default: one object, also after a pickle round trip."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

# The retry budget always allows this many retries per endpoint per 10 s window (one a
# second, and never fewer than one full retry sequence), plus retry_budget x recent calls.
RETRY_BUDGET_MIN_RETRIES = 10
# Likewise the hedge budget starts full: this many hedges per endpoint per 10 s window,
# plus max_extra_load x recent calls.
HEDGE_BUDGET_MIN = 10
log = logging.getLogger("ailib")


@mutable_value
class Config:
    """Everything a client is built from; the builder fills it, ``AiClient`` reads it.

    Mutable (the builder sets its fields one call at a time); ``evolve`` copies it.
    Adding a setting is one line here.
    """

    provider: Any  # the builder's provider (None for AiClient.with_model_array)
    chain: list[Any] = attrs.field(factory=list)  # more providers after it
    routing: Optional[str] = None  # None (failover order), "round_robin", "model_array"
    model_array: Optional[ModelArray] = None
    custom_strategy: Any = None
    fallback: Optional[FallbackChain] = None
    health_check: Optional[HealthCheck] = None
    options: Optional[ConnectionOptions] = None
    provider_options: dict[str, ConnectionOptions] = attrs.field(factory=dict)
    retry: Any = UNSET  # RetryPolicy, or UNSET for "from options / defaults"
    deadline: Optional[float] = None
    metrics: Any = None
    clock: Clock = SYSTEM_CLOCK
    breaker: Optional[CircuitBreakerPolicy] = attrs.field(factory=CircuitBreakerPolicy)
    rate_limit: Optional[RateLimitPolicy] = None  # per endpoint
    provider_rate_limits: dict[str, RateLimitPolicy] = attrs.field(factory=dict)  # per provider name
    state_store: Any = None
    hedge: Optional[HedgePolicy] = None
    prices: Optional[PriceTable] = None
    transport: Any = None  # an object with send(request, deadlines, handle); None: the socket transport
    cache: Any = None  # a cache backend (ailib.cache), or None
    cache_ttl: Optional[float] = None
    cache_reproducible_only: bool = True
    cache_owned: bool = False  # made by with_cache from a string or path: the client closes it
    cache_namespace: Optional[str] = None  # with_cache(shared_namespace=...): keys shared by every client naming it
    tracing: Any = None  # a Tracing (with_tracing); None: on once the application imports opentelemetry
    budget: Any = None  # with_budget: (usd, store or None), or a live SpendBudget shared with the client it came from
    hooks: Any = None  # with_hooks: a call.hooks.Hooks, or None
    tags: Optional[dict[str, str]] = None  # with_options(tags=...): default request tags
    context_windows: Optional[dict[str, int]] = None  # the client's own context windows (with_context_windows)
    context_check: bool = True  # the pre-call context check

    def evolve(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (``attrs.evolve``: the other values shared)."""
        return attrs.evolve(self, **changes)


OVERRIDE_KEYS = frozenset({"timeout", "max_retries", "retry", "deadline", "hedging", "tags"})


def _seconds(name: str, value: Any, *, none_ok: bool) -> Optional[float]:
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ConfigurationError(f"with_options({name}=...) needs a number of seconds > 0, got {value!r}")
    return float(value)


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of ``with_options`` (client and builder alike), validated: ``timeout``
    and ``deadline`` as floats (``deadline=None``: none), ``retry`` a ``RetryPolicy``,
    ``max_retries`` an int >= 0, ``hedging`` False. ConfigurationError for anything else."""
    unknown = set(overrides) - OVERRIDE_KEYS
    if unknown:
        raise ConfigurationError(f"with_options takes {', '.join(sorted(OVERRIDE_KEYS))}; not {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "timeout" in overrides:
        out["timeout"] = _seconds("timeout", overrides["timeout"], none_ok=False)
    if "deadline" in overrides:
        out["deadline"] = _seconds("deadline", overrides["deadline"], none_ok=True)
    if "retry" in overrides:
        if not isinstance(overrides["retry"], RetryPolicy):
            raise ConfigurationError("with_options(retry=...) takes a RetryPolicy")
        out["retry"] = overrides["retry"]
    if "max_retries" in overrides:
        n = overrides["max_retries"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigurationError(f"with_options(max_retries=...) needs an int >= 0, got {n!r}")
        out["max_retries"] = n
    if "hedging" in overrides:
        if overrides["hedging"] not in (None, False):
            raise ConfigurationError("with_options(hedging=None) turns hedging off; a HedgePolicy is set on the builder")
        out["hedging"] = False
    if "tags" in overrides:
        from .errors import InvalidRequestError
        from .types import _to_tags

        try:
            out["tags"] = _to_tags(overrides["tags"]) or {}
        except InvalidRequestError as exc:
            raise ConfigurationError(f"with_options(tags=...): {exc.message}") from None
    return out


def apply_overrides(config: Config, overrides: dict[str, Any]) -> Config:
    """``config`` with checked ``with_options`` keywords applied, as ``AiClient.with_options``
    applies them to a built client: the timeout to every endpoint, ``max_retries`` on top
    of the retry policy, ``hedging=False`` turning a HedgePolicy off."""
    if not overrides:
        return config
    changes: dict[str, Any] = {}
    options = config.options
    if "timeout" in overrides:
        t = overrides["timeout"]
        options = attrs.evolve(options or ConnectionOptions(), timeout=t)
        changes["provider_options"] = {name: attrs.evolve(o, timeout=t) for name, o in config.provider_options.items()}
    retry = overrides.get("retry", config.retry)
    if "max_retries" in overrides:
        n = overrides["max_retries"]
        if retry is UNSET:
            options = attrs.evolve(options or ConnectionOptions(), max_retries=n)
        else:
            retry = retry.with_max_attempts(n + 1)
    changes.update(options=options, retry=retry)
    if "deadline" in overrides:
        changes["deadline"] = overrides["deadline"]
    if overrides.get("hedging") is False:
        changes["hedge"] = None
    if overrides.get("tags"):
        changes["tags"] = {**(config.tags or {}), **overrides["tags"]}
    return config.evolve(**changes)


def retry_policy(config: Config, options: Optional[ConnectionOptions]) -> RetryPolicy:
    """The builder's policy, else ``RetryPolicy()`` shaped by ``max_retries``/``retry_delay``."""
    if config.retry is not UNSET:
        policy: RetryPolicy = config.retry
        return policy
    policy = RetryPolicy()
    if options is not None:
        if options.max_retries is not None:
            policy = attrs.evolve(policy, max_attempts=options.max_retries + 1)
        if options.retry_delay is not None:
            policy = attrs.evolve(policy, initial_delay=options.retry_delay, max_delay=max(policy.max_delay, options.retry_delay))
    return policy


class Assembly:
    """The parts of one client, built from a ``Config``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.topology: Topology = build_topology(
            provider=config.provider,
            routing=config.routing,
            chain=config.chain,
            model_array=config.model_array,
            fallback=config.fallback,
            make=self.endpoint_for,
        )
        all_endpoints = self.topology.all_endpoints
        self.metrics = as_metrics(config.metrics)
        self.store = config.state_store if config.state_store is not None else MemoryStateStore()
        retry = retry_policy(config, config.options)
        pool_size = max((ep.options.pool_size or DEFAULT_POOL_SIZE) for ep in all_endpoints)
        self.owns_transport = config.transport is None
        self.transport = SocketTransport(pool_size=pool_size, clock=config.clock) if config.transport is None else config.transport
        states = {ep.name: self.state_for(ep, retry) for ep in all_endpoints}
        hedge = config.hedge
        self.prices = config.prices if config.prices is not None else PriceTable.from_env()
        self.budget = self.spend_budget()
        self.pipeline = Pipeline(
            router=self.router(states),
            transport=self.transport,
            retry=retry,
            clock=config.clock,
            metrics=self.metrics,
            deadline=config.deadline,
            states=states,
            hedge=hedge,
            hedge_workers=pool_size * (hedge.max_hedges + 1) if hedge is not None else 0,
            prices=self.prices,
            context=ContextWindows(config.context_windows) if config.context_check else None,
            extras=make_extras(self.response_cache(), config.tracing, next(iter(self.topology.endpoints), None), self.prices is not None),
            budget=self.budget,
            hooks=config.hooks.with_metrics(self.metrics) if config.hooks is not None else None,
            tags=config.tags,
        )

    def spend_budget(self) -> Any:
        """The client's ``SpendBudget`` (``with_budget``), or None."""
        spec = self.config.budget
        if spec is None:
            return None
        from .reliability.spend import SpendBudget, SpendLedger  # only a client with a budget loads it

        if self.prices is None:
            raise ConfigurationError(
                "with_budget needs prices to estimate and count spend: with_prices({...}) or the AILIB_PRICES variable"
            )
        if isinstance(spec, SpendBudget):
            return spec
        usd, store = spec
        return SpendBudget(usd, store.spend_ledger() if store is not None else SpendLedger(), store)

    def response_cache(self) -> Any:
        if self.config.cache is None:
            return None
        from .cache import ResponseCache

        c = self.config
        return ResponseCache(
            c.cache,
            metrics=self.metrics,
            ttl=c.cache_ttl,
            reproducible_only=c.cache_reproducible_only,
            clock=c.clock,
            scope=self.cache_scope(),
        )

    def cache_scope(self) -> str:
        """What a cache key is scoped to: ``"ns:<name>"`` for a shared namespace; else a
        digest of the identity (base URL, routing headers, credential digest) of every
        endpoint this client may send to, so another endpoint or key never shares an entry."""
        if self.config.cache_namespace is not None:
            return "ns:" + self.config.cache_namespace
        import hashlib

        ids = [ep.identity() for ep in self.topology.all_endpoints]
        return "ep:" + hashlib.sha256(" ".join(ids).encode("ascii")).hexdigest()

    def endpoint_for(
        self,
        provider: Any,
        *,
        options: Optional[ConnectionOptions] = None,
        name: Optional[str] = None,
        model: Optional[str] = None,
        weight: float = 1.0,
    ) -> Endpoint:
        """An endpoint with options merged: client defaults < provider overrides < its own."""
        spec = resolve_provider(provider)
        merged = self.config.options
        own = self.config.provider_options.get(spec.name)
        if own is not None:
            merged = own.merged_over(merged)
        if options is not None:
            merged = options.merged_over(merged)
        return build_endpoint(spec, merged, name=name, model=model, weight=weight)

    def state_for(self, ep: Endpoint, retry: RetryPolicy) -> EndpointState:
        config, store, clock = self.config, self.store, self.config.clock
        scoped = getattr(store, "scoped", None)  # also a client's own store: fallback_chain() clients share it
        if callable(scoped):  # objects apart from those of endpoints with the same name elsewhere
            store = scoped(ep.identity()[:16])
        state = EndpointState()
        if retry.enabled and retry.retry_budget is not None:
            floor = max(retry.max_attempts - 1, RETRY_BUDGET_MIN_RETRIES)
            state.retry_budget = store.retry_budget(ep.name, retry.retry_budget, floor, clock)
        policy = config.breaker
        if policy is not None and policy.scope == "model":
            from .reliability._model_scope import ModelBreakers

            state.breaker = ModelBreakers(ep.name, policy, lambda name: store.breaker(name, policy, clock, self.on_circuit_change))
        elif policy is not None:
            state.breaker = store.breaker(ep.name, policy, clock, self.on_circuit_change)
        per_provider = config.provider_rate_limits.get(ep.provider)
        if per_provider is not None:
            state.limiter = store.limiter(f"provider:{ep.provider}", per_provider, clock)
        elif config.rate_limit is not None:
            state.limiter = store.limiter(ep.name, config.rate_limit, clock)
        else:  # adaptive by default: a limiter learned from the provider's first rate-limit signal
            state.learn = partial(_learning_limiter, store, ep.name, clock)
        if config.hedge is not None:
            state.hedge_budget = store.retry_budget(f"hedge:{ep.name}", config.hedge.max_extra_load, HEDGE_BUDGET_MIN, clock)
        return state

    def on_circuit_change(self, name: str, old: CircuitState, new: CircuitState) -> None:
        counter = {CircuitState.OPEN: "circuit.opened", CircuitState.HALF_OPEN: "circuit.half_open", CircuitState.CLOSED: "circuit.closed"}[
            new
        ]
        self.metrics.incr_counter(counter, tags={"endpoint": name})
        log.info("circuit for %s: %s -> %s", name, old.value, new.value)

    def router(self, states: dict[str, EndpointState]) -> Router:
        config, topology = self.config, self.topology
        if topology.strategy is not None and topology.strategy.name == "COST_BASED" and self.prices is None:
            raise ConfigurationError("COST_BASED routing needs prices: with_prices({...}) or the AILIB_PRICES variable")
        if topology.is_single and config.health_check is None and config.custom_strategy is None and topology.primary_model is None:
            return StaticRouter(topology.endpoints)
        from .routing.router import ChainRouter  # routed clients only

        health = None
        if config.health_check is not None or topology.unhealthy:
            from .routing.health import HealthMonitor

            health = HealthMonitor(self.probe, config.clock, self.metrics, config.health_check, topology.endpoints, set(topology.unhealthy))
        return ChainRouter(
            topology.endpoints,
            topology.strategy,
            metrics=self.metrics,
            breakers=lambda ep: states[ep.name].breaker,
            health=health,
            steps=topology.steps,
            default=topology.default,
            custom=config.custom_strategy,
            primary_model=topology.primary_model,
            prices=self.estimate_cost if self.prices is not None else None,
            clock=config.clock,
            limiters=lambda ep: states[ep.name].limiter,
        )

    def probe(self, ep: Endpoint, check: HealthCheck) -> bool:
        """A health probe through the client's transport (run off the caller's thread)."""
        return self.pipeline.wire.probe(ep, check)

    def estimate_cost(self, ep: Endpoint, request: Union[ChatCompletionRequest, EmbeddingRequest]) -> Optional[float]:
        assert self.prices is not None
        model = ep.resolve_model(request.model)
        if isinstance(request, EmbeddingRequest):  # its embedding model, its texts
            from .call.embed_rules import embedding_model
            from .routing.endpoint import Target

            price = self.prices.lookup(ep.provider, embedding_model(Target(ep, model), request))
            return None if price is None else price.cost(sum(len(text) for text in request.input) // 4 + 1, 0)  # input only
        chars = sum(len(m.text()) for m in request.messages if m.content is not None)
        return self.prices.estimate(ep.provider, model, request, chars)
