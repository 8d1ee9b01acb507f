"""AiClient (the public surface) and AiClientBuilder (routing and reliability at build time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Optional

import attrs

from ._endpoint import Endpoint, build_endpoint
from ._pipeline import ChatStream, Pipeline, Router, StaticRouter
from ._usage import PriceTable
from .errors import ConfigurationError
from .metrics import as_metrics
from .options import DEFAULT_POOL_SIZE, ConnectionOptions
from .providers._base import error_from_response
from .providers._registry import resolve_provider
from .reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, CircuitState
from .reliability.clock import SYSTEM_CLOCK, Clock
from .reliability.hedge import HedgePolicy
from .reliability.ratelimit import RateLimitPolicy
from .reliability.retry import NO_RETRY, RetryPolicy
from .routing._topology import Topology, build_topology
from .routing.fallback import FallbackChain
from .routing.health import HealthCheck, HealthMonitor
from .routing.model_array import LoadBalancingStrategy, ModelArray
from .routing.router import ChainRouter
from .state.memory import EndpointState, MemoryStateStore
from .transport import AttemptHandle, Deadlines, HttpRequest, Transport
from .types import ChatCompletionRequest, ChatCompletionResponse, Message

__all__ = ["AiClient", "AiClientBuilder"]

_UNSET: Any = object()
# The retry budget always allows this many retries per endpoint per 10 s window (one a
# second, and never fewer than one full retry sequence), plus retry_budget x recent calls.
RETRY_BUDGET_MIN_RETRIES = 10
# Likewise the hedge budget starts full: this many hedges per endpoint per 10 s window,
# plus max_extra_load x recent calls.
HEDGE_BUDGET_MIN = 10
log = logging.getLogger("ailib")


@attrs.define
class _Config:
    """Everything a client is built from; the builder fills it, ``AiClient`` reads it."""

    provider: Any  # the builder's provider (None for AiClient.with_model_array)
    chain: list[Any] = attrs.Factory(list)  # more providers after it
    routing: Optional[str] = None  # None (failover order), "round_robin", "model_array"
    model_array: Optional[ModelArray] = None
    custom_strategy: Any = None
    fallback: Optional[FallbackChain] = None
    health_check: Optional[HealthCheck] = None
    options: Optional[ConnectionOptions] = None
    provider_options: dict[str, ConnectionOptions] = attrs.Factory(dict)
    retry: Any = _UNSET  # RetryPolicy, or _UNSET for "from options / defaults"
    deadline: Optional[float] = None
    metrics: Any = None
    clock: Clock = SYSTEM_CLOCK
    breaker: Optional[CircuitBreakerPolicy] = attrs.Factory(CircuitBreakerPolicy)
    rate_limit: Optional[RateLimitPolicy] = None  # per endpoint
    provider_rate_limits: dict[str, RateLimitPolicy] = attrs.Factory(dict)  # per provider name
    state_store: Any = None
    hedge: Optional[HedgePolicy] = None
    prices: Optional[PriceTable] = None


def _retry_policy(config: _Config, options: Optional[ConnectionOptions]) -> RetryPolicy:
    if config.retry is not _UNSET:
        return config.retry
    policy = RetryPolicy()
    if options is not None:
        if options.max_retries is not None:
            policy = attrs.evolve(policy, max_attempts=options.max_retries + 1)
        if options.retry_delay is not None:
            policy = attrs.evolve(policy, initial_delay=options.retry_delay, max_delay=max(policy.max_delay, options.retry_delay))
    return policy


class AiClient:
    """One client over one provider or a routed chain of them. Thread-safe; share it.

    >>> client = AiClient("openai")                     # key from OPENAI_API_KEY
    >>> client.chat("Say hi")
    """

    def __init__(self, provider: Any, *, options: Optional[ConnectionOptions] = None, metrics: Any = None) -> None:
        self._setup(_Config(provider=provider, options=options, metrics=metrics))

    @classmethod
    def _from_config(cls, config: _Config) -> AiClient:
        client = cls.__new__(cls)
        client._setup(config)
        return client

    def _setup(self, config: _Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._closed = False
        topology = build_topology(
            provider=config.provider,
            routing=config.routing,
            chain=config.chain,
            model_array=config.model_array,
            fallback=config.fallback,
            make=self._endpoint_for,
        )
        self._topology = topology
        self._endpoints = list(topology.endpoints)
        all_endpoints = topology.all_endpoints
        self.metrics = as_metrics(config.metrics)
        self._store = config.state_store if config.state_store is not None else MemoryStateStore()
        retry = _retry_policy(config, config.options)
        pool_size = max((ep.options.pool_size or DEFAULT_POOL_SIZE) for ep in all_endpoints)
        self._transport = Transport(pool_size=pool_size, clock=config.clock)
        states = {ep.name: self._state_for(ep, retry) for ep in all_endpoints}
        hedge = config.hedge
        self._prices = config.prices if config.prices is not None else PriceTable.from_env()
        self._pipeline = Pipeline(
            router=self._router(topology, states),
            transport=self._transport,
            retry=retry,
            clock=config.clock,
            metrics=self.metrics,
            deadline=config.deadline,
            states=states,
            hedge=hedge,
            hedge_workers=pool_size * (hedge.max_hedges + 1) if hedge is not None else 0,
            prices=self._prices,
        )

    def _state_for(self, ep: Endpoint, retry: RetryPolicy) -> EndpointState:
        config, store, clock = self._config, self._store, self._config.clock
        state = EndpointState()
        if retry.enabled and retry.retry_budget is not None:
            floor = max(retry.max_attempts - 1, RETRY_BUDGET_MIN_RETRIES)
            state.retry_budget = store.retry_budget(ep.name, retry.retry_budget, floor, clock)
        if config.breaker is not None:
            state.breaker = store.breaker(ep.name, config.breaker, clock, self._on_circuit_change)
        per_provider = config.provider_rate_limits.get(ep.provider)
        if per_provider is not None:
            state.limiter = store.limiter(f"provider:{ep.provider}", per_provider, clock)
        elif config.rate_limit is not None:
            state.limiter = store.limiter(ep.name, config.rate_limit, clock)
        if config.hedge is not None:
            state.hedge_budget = store.retry_budget(f"hedge:{ep.name}", config.hedge.max_extra_load, HEDGE_BUDGET_MIN, clock)
        return state

    def _on_circuit_change(self, name: str, old: CircuitState, new: CircuitState) -> None:
        counter = {CircuitState.OPEN: "circuit.opened", CircuitState.HALF_OPEN: "circuit.half_open", CircuitState.CLOSED: "circuit.closed"}[new]
        self.metrics.incr_counter(counter, tags={"endpoint": name})
        log.info("circuit for %s: %s -> %s", name, old.value, new.value)

    def circuit_breaker(self, target: Any = None) -> Optional[CircuitBreaker]:
        """The circuit breaker of an endpoint (by name, provider, or the first), for
        inspection and manual ``isolate()`` / ``reset()``."""
        ep = self._find_endpoint(target)
        return self._pipeline._states[ep.name].breaker

    def _find_endpoint(self, target: Any) -> Endpoint:
        if target is None:
            return self._endpoints[0]
        name = target if isinstance(target, str) else resolve_provider(target).name
        for ep in self._endpoints:
            if name in (ep.name, ep.provider):
                return ep
        raise ConfigurationError(f"this client has no endpoint {name!r}")

    def _endpoint_for(
        self, provider: Any, *, options: Optional[ConnectionOptions] = None, name: Optional[str] = None, model: Optional[str] = None, weight: float = 1.0
    ) -> Endpoint:
        """An endpoint with options merged: client defaults < provider overrides < its own."""
        spec = resolve_provider(provider)
        merged = self._config.options
        own = self._config.provider_options.get(spec.name)
        if own is not None:
            merged = own.merged_over(merged)
        if options is not None:
            merged = options.merged_over(merged)
        return build_endpoint(spec, merged, name=name, model=model, weight=weight)

    def _router(self, topology: Topology, states: dict) -> Router:
        config = self._config
        if topology.strategy is LoadBalancingStrategy.COST_BASED and self._prices is None:
            raise ConfigurationError("COST_BASED routing needs prices: with_prices({...}) or the AILIB_PRICES variable")
        if topology.is_single and config.health_check is None and config.custom_strategy is None and topology.primary_model is None:
            return StaticRouter(topology.endpoints)
        health = None
        if config.health_check is not None or topology.unhealthy:
            health = HealthMonitor(self._transport, config.clock, self.metrics, config.health_check, topology.endpoints, set(topology.unhealthy))
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
            prices=self._estimate_cost if self._prices is not None else None,
        )

    def _estimate_cost(self, ep: Endpoint, request: ChatCompletionRequest) -> Optional[float]:
        assert self._prices is not None
        model = ep.resolve_model(request.model)
        chars = sum(len(m.text()) for m in request.messages if m.content is not None)
        return self._prices.estimate(ep.provider, model, request, chars)

    def usage_totals(self) -> dict:
        """Tokens, calls and cost so far, per ``(provider, model)``: ``{(p, m): UsageTotal}``."""
        return self._pipeline.ledger.snapshot()

    # -- routing views ----------------------------------------------------------------------
    def fallback_chain(self) -> list[AiClient]:
        """Single-target clients, in the order this client tries its targets, sharing this
        client's options, policies and state (so a hand-written loop sees the same breakers)."""
        order = [*self._topology.endpoints, *(t.endpoint for t in self._topology.steps)]
        if self._topology.default is not None:
            order.append(self._topology.default)
        seen: set = set()
        clients = []
        for ep in order:
            if ep.name in seen:
                continue
            seen.add(ep.name)
            single = attrs.evolve(
                self._config,
                provider=attrs.evolve(ep.spec, name=ep.name, base_url=ep.base_url, default_model=ep.default_model, api_key=ep.api_key),
                chain=[],
                routing=None,
                model_array=None,
                custom_strategy=None,
                fallback=None,
                health_check=None,
                options=ep.options,
                provider_options={},
                state_store=self._store,
            )
            clients.append(AiClient._from_config(single))
        return clients

    def with_failover(self, providers: Sequence[Any]) -> AiClient:
        """A new client that tries this client's targets first, then ``providers`` in order."""
        providers = list(providers)
        if not providers:
            raise ConfigurationError("with_failover needs at least one provider")
        if self._config.model_array is not None:
            raise ConfigurationError("with_failover applies to provider chains, not to a ModelArray client")
        return AiClient._from_config(attrs.evolve(self._config, chain=[*self._config.chain, *providers], routing=None))

    @classmethod
    def with_model_array(cls, array: ModelArray, *, options: Optional[ConnectionOptions] = None, metrics: Any = None) -> AiClient:
        """A client routing over ``array``'s endpoints with its strategy."""
        if not isinstance(array, ModelArray):
            raise ConfigurationError("with_model_array takes a ModelArray")
        return cls._from_config(_Config(provider=None, routing="model_array", model_array=array, options=options, metrics=metrics))

    # -- calls ------------------------------------------------------------------------------
    def chat_completion(self, request: ChatCompletionRequest, *, deadline: Optional[float] = None) -> ChatCompletionResponse:
        """Send ``request`` through every policy of this client; raises an ``AiLibError``.

        ``deadline`` (seconds) bounds this call, overriding the client's ``with_deadline``.
        """
        return self._pipeline.run(_as_request(request), deadline=deadline)

    def chat_completion_stream(self, request: ChatCompletionRequest, *, deadline: Optional[float] = None) -> ChatStream:
        """Stream the answer. Failures before the first content chunk are retried and
        raise here; after it, iteration raises ``StreamInterruptedError``."""
        return self._pipeline.stream(_as_request(request), deadline=deadline)

    def chat_completion_batch(
        self,
        requests: Sequence[Any],
        *,
        concurrency: int = 8,
        progress: Any = False,
        return_exceptions: bool = True,
        checkpoint: Any = None,
        mode: str = "live",
        shard: Any = None,
        cancel_remote: bool = False,
    ) -> list:
        """Run many requests, ``concurrency`` at a time, live or by the provider's batch API.

        Results come back in input order: a response, or the ``AiLibError`` it ended with
        (raised instead when ``return_exceptions=False``). With ``checkpoint`` (a JSONL
        path), finished results are appended as they complete and a re-run skips them.
        ``mode``: ``"live"``, ``"provider"`` or ``"auto"``; ``shard=(k, n)`` runs one
        deterministic share of the input. See ``ailib.batch``.
        """
        from .batch import run_batch

        return run_batch(
            self, requests, concurrency=concurrency, progress=progress, return_exceptions=return_exceptions,
            checkpoint=checkpoint, mode=mode, shard=shard, cancel_remote=cancel_remote,
        )

    def batch_context(self) -> Any:
        """What a batch run needs from this client (``ailib.batch.BatchContext``): its
        endpoints in plan order, its transport and its prices. Read-only."""
        from .batch import BatchContext

        return BatchContext(endpoints=tuple(self._endpoints), transport=self._transport, prices=self._prices)

    def chat(self, text: str, *, model: str = "auto") -> str:
        """One user message in, the answer's text out."""
        return self.chat_completion(ChatCompletionRequest(model, [Message.user(text)])).first_text()

    def default_chat_model(self) -> str:
        """The model ``auto`` resolves to on this client's first target."""
        return self._endpoints[0].default_model

    def list_models(self) -> list[str]:
        """Model ids the primary provider reports."""
        ep = self._endpoints[0]
        clock = self._config.clock
        start = clock.monotonic()
        req = HttpRequest("GET", ep.wire.models_url(ep.base_url), ep.headers, None, ep.verify, ep.proxy)
        dl = Deadlines(ep.connect_timeout, ep.first_byte_timeout, ep.idle_timeout, start + ep.total_timeout)
        resp = self._transport.send(req, dl, AttemptHandle())
        if not 200 <= resp.status < 300:
            raise error_from_response(ep.wire, resp.status, resp.headers, resp.body, provider=ep.provider, model="", now=clock.time())
        import json

        from .errors import ProtocolError

        try:
            return ep.wire.decode_models(json.loads(resp.body))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"unexpected models list from {ep.provider}: {exc}", provider=ep.provider) from None

    @property
    def provider(self) -> str:
        return self._endpoints[0].provider

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connection pool and any threads of this client."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pipeline.close()
        self._transport.close()

    def __enter__(self) -> AiClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        targets = ", ".join(ep.name for ep in self._endpoints)
        return f"AiClient(targets=[{targets}])"


def _as_request(request: Any) -> ChatCompletionRequest:
    if isinstance(request, ChatCompletionRequest):
        return request
    if isinstance(request, dict):
        return ChatCompletionRequest.from_dict(request)
    from .errors import InvalidRequestError

    raise InvalidRequestError(f"expected a ChatCompletionRequest or an OpenAI-style dict, got {type(request).__name__}")


class AiClientBuilder:
    """Compose routing and reliability at build time; ``build()`` validates the whole."""

    def __init__(self, provider: Any) -> None:
        resolve_provider(provider)  # fail early on an unknown provider
        self._config = _Config(provider=provider)

    def _set_routing(self, kind: str) -> None:
        current = self._config.routing
        if current is not None and current != kind:
            raise ConfigurationError(f"two routing strategies: {current} and {kind}; choose one")
        if self._config.custom_strategy is not None and kind != "failover":
            raise ConfigurationError(f"two routing strategies: a custom strategy and {kind}; choose one")
        self._config.routing = kind

    def _add_chain(self, providers: Sequence[Any], kind: str) -> AiClientBuilder:
        providers = list(providers) if not isinstance(providers, (str, bytes)) else [providers]
        if not providers:
            raise ConfigurationError(f"an empty {kind.replace('_', ' ')} chain")
        for p in providers:
            resolve_provider(p)
        self._set_routing(kind)
        self._config.chain.extend(providers)
        return self

    def with_round_robin_chain(self, providers: Sequence[Any]) -> AiClientBuilder:
        """Rotate calls over [provider, *providers]; a failed call fails over to the others."""
        return self._add_chain(providers, "round_robin")

    def with_failover_chain(self, providers: Sequence[Any]) -> AiClientBuilder:
        """Try provider, then each of ``providers`` in order."""
        return self._add_chain(providers, "failover")

    def with_model_array(self, array: ModelArray) -> AiClientBuilder:
        """Route over ``array``'s endpoints; the builder's provider is the last resort when
        none of them is healthy."""
        if not isinstance(array, ModelArray):
            raise ConfigurationError("with_model_array takes a ModelArray")
        if not array.endpoints:
            raise ConfigurationError(f"ModelArray {array.name!r} has no endpoints")
        self._set_routing("model_array")
        self._config.model_array = array
        return self

    def with_strategy(self, strategy: Any) -> AiClientBuilder:
        """A custom provider (tried after the builder's provider) or a routing strategy
        object with ``select(endpoints, request) -> ordered endpoints``."""
        if callable(getattr(strategy, "select", None)):
            if self._config.custom_strategy is not None:
                raise ConfigurationError("two custom routing strategies; choose one")
            if self._config.routing not in (None, "failover"):
                raise ConfigurationError(f"two routing strategies: {self._config.routing} and a custom strategy; choose one")
            self._config.custom_strategy = strategy
            return self
        return self._add_chain([strategy], self._config.routing or "failover")

    def fallback(self, chain: FallbackChain) -> AiClientBuilder:
        if not isinstance(chain, FallbackChain):
            raise ConfigurationError("fallback takes a FallbackChain")
        if self._config.fallback is not None:
            raise ConfigurationError("a client takes one FallbackChain")
        chain.validate()
        self._config.fallback = chain
        return self

    def with_health_check(self, check: HealthCheck) -> AiClientBuilder:
        if not isinstance(check, HealthCheck):
            raise ConfigurationError("with_health_check takes a HealthCheck")
        self._config.health_check = check
        return self

    def with_options(self, options: ConnectionOptions) -> AiClientBuilder:
        if not isinstance(options, ConnectionOptions):
            raise ConfigurationError("with_options takes a ConnectionOptions")
        self._config.options = options
        return self

    def with_provider_options(self, provider: Any, options: ConnectionOptions) -> AiClientBuilder:
        if not isinstance(options, ConnectionOptions):
            raise ConfigurationError("with_provider_options takes a ConnectionOptions")
        self._config.provider_options[resolve_provider(provider).name] = options
        return self

    def with_retry(self, policy: RetryPolicy) -> AiClientBuilder:
        if not isinstance(policy, RetryPolicy):
            raise ConfigurationError("with_retry takes a RetryPolicy")
        self._config.retry = policy
        return self

    def without_retry(self) -> AiClientBuilder:
        self._config.retry = NO_RETRY
        return self

    def with_deadline(self, seconds: float) -> AiClientBuilder:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigurationError(f"with_deadline needs a positive number of seconds, got {seconds!r}")
        self._config.deadline = float(seconds)
        return self

    def with_circuit_breaker(self, policy: CircuitBreakerPolicy) -> AiClientBuilder:
        if not isinstance(policy, CircuitBreakerPolicy):
            raise ConfigurationError("with_circuit_breaker takes a CircuitBreakerPolicy")
        self._config.breaker = policy
        return self

    def without_circuit_breaker(self) -> AiClientBuilder:
        self._config.breaker = None
        return self

    def with_rate_limit(self, policy: RateLimitPolicy, *, provider: Any = None) -> AiClientBuilder:
        """A rate limit per endpoint, or one shared by every endpoint of ``provider``."""
        if not isinstance(policy, RateLimitPolicy):
            raise ConfigurationError("with_rate_limit takes a RateLimitPolicy")
        if provider is None:
            self._config.rate_limit = policy
        else:
            self._config.provider_rate_limits[resolve_provider(provider).name] = policy
        return self

    def with_state_store(self, store: Any) -> AiClientBuilder:
        """Share breakers, buckets and budgets with every client given the same store."""
        for method in ("retry_budget", "breaker", "limiter"):
            if not callable(getattr(store, method, None)):
                raise ConfigurationError(f"a state store needs a {method}() method")
        self._config.state_store = store
        return self

    def with_hedging(self, policy: HedgePolicy) -> AiClientBuilder:
        """Race or hedge each call over the next targets of its plan (the same endpoint
        when there is only one)."""
        if not isinstance(policy, HedgePolicy):
            raise ConfigurationError("with_hedging takes a HedgePolicy")
        self._config.hedge = policy
        return self

    def with_prices(self, prices: Any) -> AiClientBuilder:
        """USD per million tokens, ``{"gpt-4o-mini": (0.15, 0.60), "anthropic/claude-3-haiku":
        {"input": 0.25, "output": 1.25}}``; gives ``response.cost`` and COST_BASED routing.
        Without it, the ``AILIB_PRICES`` environment variable (JSON, or a JSON file's path)."""
        self._config.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        return self

    def with_metrics(self, metrics: Any) -> AiClientBuilder:
        as_metrics(metrics)
        self._config.metrics = metrics
        return self

    def with_clock(self, clock: Clock) -> AiClientBuilder:
        """Inject a clock (tests use ``FakeClock``)."""
        self._config.clock = clock
        return self

    def build(self) -> AiClient:
        c = self._config
        return AiClient._from_config(
            attrs.evolve(c, chain=list(c.chain), provider_options=dict(c.provider_options), provider_rate_limits=dict(c.provider_rate_limits))
        )
