"""AiClientBuilder: compose routing and reliability at build time; ``build()`` validates."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from .clock import Clock
from .errors import ConfigurationError
from .metrics import Metrics, as_metrics
from .options import ConnectionOptions
from .providers._registry import ProviderLike, resolve_provider
from .reliability.circuit import CircuitBreakerPolicy
from .reliability.retry import NO_RETRY, RetryPolicy

if TYPE_CHECKING:  # imported on first use
    from typing_extensions import Unpack  # the type checker's own (typeshed); never imported at run time

    from .cache import Cache
    from .call.usage import PriceTable
    from .client import AiClient, CallOptions
    from .reliability.hedge import HedgePolicy
    from .reliability.ratelimit import RateLimitPolicy
    from .routing.base import RoutingStrategy
    from .routing.fallback import FallbackChain
    from .routing.health import HealthCheck
    from .routing.model_array import ModelArray
    from .state import StateStore
    from .transport import BaseTransport

__all__ = ["AiClientBuilder"]

# A chain entry: a provider, or (provider, model name) / (provider, {requested model: its model}).
ChainEntry = Union[ProviderLike, tuple[ProviderLike, Union[str, Mapping[str, str]]]]


def _override_keys() -> frozenset[str]:
    from ._assembly import OVERRIDE_KEYS

    return OVERRIDE_KEYS


class AiClientBuilder:
    """Compose routing and reliability at build time; ``build()`` validates the whole."""

    def __init__(self, provider: ChainEntry) -> None:
        """A builder whose client tries ``provider`` first (a ``Provider``, its name, or a
        custom provider; or ``(provider, model)`` as a chain entry); ``ConfigurationError``
        for an unknown one."""
        from ._assembly import Config  # the call machinery loads with the first client built
        from .routing.endpoint import split_entry

        resolve_provider(split_entry(provider)[0])  # fail early on an unknown provider or a bad (provider, model)

        self._config = Config(provider=provider)
        self._overrides: dict[str, Any] = {}  # with_options keywords, applied by build()

    def _set_routing(self, kind: str) -> None:
        current = self._config.routing
        if current is not None and current != kind:
            raise ConfigurationError(f"two routing strategies: {current} and {kind}; choose one")
        if self._config.custom_strategy is not None and kind != "failover":
            raise ConfigurationError(f"two routing strategies: a custom strategy and {kind}; choose one")
        self._config.routing = kind

    def _add_chain(self, providers: Sequence[ChainEntry], kind: str) -> AiClientBuilder:
        providers = list(providers) if not isinstance(providers, (str, bytes)) else [providers]
        if not providers:
            raise ConfigurationError(f"an empty {kind.replace('_', ' ')} chain")
        from .routing.endpoint import split_entry

        for p in providers:
            resolve_provider(split_entry(p)[0])
        self._set_routing(kind)
        self._config.chain.extend(providers)
        return self

    def with_round_robin_chain(self, providers: Sequence[ChainEntry]) -> AiClientBuilder:
        """Rotate calls over [provider, *providers]; a failed call fails over to the others.
        An entry may be ``(provider, model)``: that provider's model, or a map from requested
        model names to its own (``(Provider.GROQ, {"gpt-4o": "llama-3.3-70b-versatile"})``)."""
        return self._add_chain(providers, "round_robin")

    def with_failover_chain(self, providers: Sequence[ChainEntry]) -> AiClientBuilder:
        """Try provider, then each of ``providers`` in order (entries as in ``with_round_robin_chain``)."""
        return self._add_chain(providers, "failover")

    def with_model_array(self, array: ModelArray) -> AiClientBuilder:
        """Route over ``array``'s endpoints; the builder's provider is the last resort when
        none of them is healthy."""
        from .routing.model_array import ModelArray  # imported on first use

        if not isinstance(array, ModelArray):
            raise ConfigurationError("with_model_array takes a ModelArray")
        if not array.endpoints:
            raise ConfigurationError(f"ModelArray {array.name!r} has no endpoints")
        self._set_routing("model_array")
        self._config.model_array = array
        return self

    def with_strategy(self, strategy: Union[ProviderLike, RoutingStrategy]) -> AiClientBuilder:
        """A custom provider (tried after the builder's provider) or a routing strategy
        object with ``select(endpoints, request) -> ordered endpoints``."""
        if callable(getattr(strategy, "select", None)):
            if self._config.custom_strategy is not None:
                raise ConfigurationError("two custom routing strategies; choose one")
            if self._config.routing not in (None, "failover"):
                raise ConfigurationError(f"two routing strategies: {self._config.routing} and a custom strategy; choose one")
            self._config.custom_strategy = strategy
            return self
        return self._add_chain([cast("ProviderLike", strategy)], self._config.routing or "failover")

    def fallback(self, chain: FallbackChain) -> AiClientBuilder:
        """Walk ``chain``'s steps on failure: each names the model to try next for the
        errors it matches (``ConfigurationError`` for a second chain or an invalid one)."""
        from .routing.fallback import FallbackChain  # imported on first use

        if not isinstance(chain, FallbackChain):
            raise ConfigurationError("fallback takes a FallbackChain")
        if self._config.fallback is not None:
            raise ConfigurationError("a client takes one FallbackChain")
        chain.validate()
        self._config.fallback = chain
        return self

    def with_health_check(self, check: HealthCheck) -> AiClientBuilder:
        """Probe unhealthy endpoints as ``check`` says, putting them back once a probe passes."""
        from .routing.health import HealthCheck  # imported on first use

        if not isinstance(check, HealthCheck):
            raise ConfigurationError("with_health_check takes a HealthCheck")
        self._config.health_check = check
        return self

    def with_connection_options(self, options: ConnectionOptions) -> AiClientBuilder:
        """Connection defaults (key, base URL, timeouts, proxy, retries, pool...) for every
        provider of the client; ``with_provider_options`` overrides them for one provider."""
        if not isinstance(options, ConnectionOptions):
            raise ConfigurationError(f"with_connection_options takes a ConnectionOptions, not {type(options).__name__}")
        self._config.options = options
        return self

    def with_options(self, options: Optional[ConnectionOptions] = None, **overrides: Unpack[CallOptions]) -> AiClientBuilder:
        """This client's options, as ``AiClient.with_options`` takes them: ``timeout``
        (seconds per attempt), ``max_retries``, ``retry`` (a ``RetryPolicy``), ``deadline``
        (seconds, or None) and ``hedging=None`` (off), applied at ``build()`` over every
        other setting, exactly as ``client.with_options(...)`` would apply them to the built
        client. A ``ConnectionOptions`` (positionally or as ``options=``) is ``with_connection_options``.
        """
        if options is None and not overrides:
            raise ConfigurationError("with_options takes a ConnectionOptions or keywords: " + ", ".join(sorted(_override_keys())))
        if options is not None:
            self.with_connection_options(options)
        if overrides:
            from ._assembly import check_overrides

            self._overrides.update(check_overrides(overrides))
        return self

    def with_provider_options(self, provider: ProviderLike, options: ConnectionOptions) -> AiClientBuilder:
        """Connection options for one provider of the client, over ``with_connection_options``'s."""
        if not isinstance(options, ConnectionOptions):
            raise ConfigurationError("with_provider_options takes a ConnectionOptions")
        self._config.provider_options[resolve_provider(provider).name] = options
        return self

    def with_retry(self, policy: RetryPolicy) -> AiClientBuilder:
        """Retry failed attempts as ``policy`` says (default: ``RetryPolicy()``)."""
        if not isinstance(policy, RetryPolicy):
            raise ConfigurationError("with_retry takes a RetryPolicy")
        self._config.retry = policy
        return self

    def without_retry(self) -> AiClientBuilder:
        """One attempt per target: no retries."""
        self._config.retry = NO_RETRY
        return self

    def with_deadline(self, seconds: float) -> AiClientBuilder:
        """One budget of ``seconds`` over every attempt, wait and fallback of a call."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigurationError(f"with_deadline needs a positive number of seconds, got {seconds!r}")
        self._config.deadline = float(seconds)
        return self

    def with_circuit_breaker(self, policy: CircuitBreakerPolicy) -> AiClientBuilder:
        """A circuit breaker per endpoint with ``policy`` (default: ``CircuitBreakerPolicy()``)."""
        if not isinstance(policy, CircuitBreakerPolicy):
            raise ConfigurationError("with_circuit_breaker takes a CircuitBreakerPolicy")
        self._config.breaker = policy
        return self

    def without_circuit_breaker(self) -> AiClientBuilder:
        """No circuit breaker: every call reaches its endpoints."""
        self._config.breaker = None
        return self

    def with_rate_limit(self, policy: RateLimitPolicy, *, provider: Optional[ProviderLike] = None) -> AiClientBuilder:
        """A rate limit per endpoint, or one shared by every endpoint of ``provider``."""
        from .reliability.ratelimit import RateLimitPolicy  # loaded by the first rate-limited client

        if not isinstance(policy, RateLimitPolicy):
            raise ConfigurationError("with_rate_limit takes a RateLimitPolicy")
        if provider is None:
            self._config.rate_limit = policy
        else:
            self._config.provider_rate_limits[resolve_provider(provider).name] = policy
        return self

    def with_state_store(self, store: StateStore) -> AiClientBuilder:
        """Share breakers, buckets and budgets with every client given the same store."""
        for method in ("retry_budget", "breaker", "limiter"):
            if not callable(getattr(store, method, None)):
                raise ConfigurationError(f"a state store needs a {method}() method")
        self._config.state_store = store
        return self

    def with_hedging(self, policy: HedgePolicy) -> AiClientBuilder:
        """Race or hedge each call over the next targets of its plan (the same endpoint
        when there is only one)."""
        from .reliability.hedge import HedgePolicy  # imported on first use

        if not isinstance(policy, HedgePolicy):
            raise ConfigurationError("with_hedging takes a HedgePolicy")
        self._config.hedge = policy
        return self

    def with_prices(self, prices: Union[PriceTable, Mapping[str, Any]]) -> AiClientBuilder:
        """USD per million tokens, ``{"gpt-4o-mini": (0.15, 0.60), "anthropic/claude-3-haiku":
        {"input": 0.25, "output": 1.25, "cached_input": 0.03, "cache_write": 0.30, "cache_write_1h": 0.50}}``;
        gives ``response.cost`` and COST_BASED routing. Cached reads, cache writes and 1-hour cache
        writes without their own price cost 0.1 x, 1.25 x and 2 x input (``Price``). Without it, the ``AILIB_PRICES`` environment
        variable (JSON, or a JSON file's path)."""
        from .call.usage import PriceTable

        self._config.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        return self

    def with_transport(self, transport: BaseTransport) -> AiClientBuilder:
        """Send every request through ``transport``: an object with one method,
        ``send(request, deadlines, handle)`` (``ailib.testing.MockTransport`` runs the whole
        pipeline in-process). The client does not close a transport it was given."""
        if not callable(getattr(transport, "send", None)):
            raise ConfigurationError("with_transport takes an object with a send(request, deadlines, handle) method")
        self._config.transport = transport
        return self

    def with_cache(
        self,
        backend: Union[str, os.PathLike[str], Cache],
        *,
        ttl: Optional[float] = None,
        reproducible_only: bool = True,
        shared_namespace: Optional[str] = None,
    ) -> AiClientBuilder:
        """Answer repeated requests from a cache: ``"memory"`` (in-process LRU), a
        ``redis://`` URL, a SQLite file (any other string, or a ``Path``), or a cache object
        (``ailib.cache``). By default only reproducible requests (temperature 0 or a seed)
        are cached; ``reproducible_only=False`` caches all. ``ttl`` in seconds.

        Entries are private to this client's endpoints and credentials: keys include each
        endpoint's base URL and a one-way digest of its key, so a client of another base
        URL or with another key never gets them. ``shared_namespace="name"`` shares
        entries instead with every client naming the same namespace (keyed by provider,
        model and request only), whatever their URLs and keys."""
        from .cache import make_cache
        from .cache.memory import _check_ttl

        _check_ttl(ttl)
        if shared_namespace is not None and (not isinstance(shared_namespace, str) or not shared_namespace):
            raise ConfigurationError(f"with_cache(shared_namespace=...) takes a non-empty string, got {shared_namespace!r}")
        made = make_cache(backend)
        c = self._config
        c.cache, c.cache_ttl, c.cache_reproducible_only, c.cache_owned = made, ttl, bool(reproducible_only), made is not backend
        c.cache_namespace = shared_namespace
        return self

    def with_tracing(self, enabled: bool = True, *, capture_content: Optional[bool] = None, tracer_provider: Any = None) -> AiClientBuilder:
        """OpenTelemetry spans per call and per attempt (on by default when
        ``opentelemetry-api`` is installed; ``False`` turns them off). ``capture_content``
        records prompts and answers; ``tracer_provider`` replaces the global one."""
        from ._tracing import Tracing

        self._config.tracing = Tracing(enabled, tracer_provider=tracer_provider, capture_content=capture_content)
        return self

    def with_metrics(self, metrics: Metrics) -> AiClientBuilder:
        """Report counters and timings to ``metrics`` (an object with only ``incr_counter``
        is adapted); ``ConfigurationError`` when it has no ``incr_counter``."""
        as_metrics(metrics)
        self._config.metrics = metrics
        return self

    def with_context_windows(self, windows: Optional[Mapping[str, int]] = None, *, check: bool = True) -> AiClientBuilder:
        """Context windows in tokens (``{"my-model": 32768}``; a name also covers its
        ``-``/``:``/``@`` suffixed versions) for the pre-call context check, over the built-in
        table; ``check=False`` turns the check off. A request whose estimate (characters / 4
        + ``max_tokens``) exceeds its target model's window is not sent: it goes to the step a
        ``ContextLengthExceededError`` selects, or raises that error."""
        from .routing.context import ContextWindows

        ContextWindows(windows)  # validates
        self._config.context_windows = {**(self._config.context_windows or {}), **dict(windows or {})}
        self._config.context_check = bool(check)
        return self

    def with_clock(self, clock: Clock) -> AiClientBuilder:
        """Inject a clock (tests use ``FakeClock``)."""
        self._config.clock = clock
        return self

    def build(self) -> AiClient:
        """The ``AiClient`` (raises ``ConfigurationError`` for invalid or conflicting settings)."""
        from ._assembly import apply_overrides
        from .client import AiClient

        c = self._config
        config = c.evolve(chain=list(c.chain), provider_options=dict(c.provider_options), provider_rate_limits=dict(c.provider_rate_limits))
        return AiClient._from_config(apply_overrides(config, self._overrides))
