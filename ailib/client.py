"""AiClient (the public surface) and AiClientBuilder (routing and reliability at build time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Optional

import attrs

from ._endpoint import Endpoint, build_endpoint
from ._pipeline import ChatStream, Pipeline, Router, StaticRouter
from .errors import ConfigurationError
from .metrics import as_metrics
from .options import DEFAULT_POOL_SIZE, ConnectionOptions
from .providers._base import error_from_response
from .providers._registry import resolve_provider
from .reliability.circuit import CircuitBreaker, CircuitBreakerPolicy, CircuitState
from .reliability.clock import SYSTEM_CLOCK, Clock
from .reliability.ratelimit import RateLimitPolicy
from .reliability.retry import NO_RETRY, RetryPolicy
from .state.memory import EndpointState, MemoryStateStore
from .transport import AttemptHandle, Deadlines, HttpRequest, Transport
from .types import ChatCompletionRequest, ChatCompletionResponse, Message

__all__ = ["AiClient", "AiClientBuilder"]

_UNSET: Any = object()
# The retry budget always allows this many retries per endpoint per 10 s window (one a
# second, and never fewer than one full retry sequence), plus retry_budget x recent calls.
RETRY_BUDGET_MIN_RETRIES = 10
log = logging.getLogger("ailib")


@attrs.define
class _Config:
    """Everything a client is built from; the builder fills it, ``AiClient`` reads it."""

    provider: Any
    chain: list[Any] = attrs.Factory(list)
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
        endpoints = _unique_names([self._endpoint_for(p) for p in [config.provider, *config.chain]])
        self._endpoints = endpoints
        self.metrics = as_metrics(config.metrics)
        self._store = config.state_store if config.state_store is not None else MemoryStateStore()
        retry = _retry_policy(config, config.options)
        pool_size = max((ep.options.pool_size or DEFAULT_POOL_SIZE) for ep in endpoints)
        self._transport = Transport(pool_size=pool_size, clock=config.clock)
        self._pipeline = Pipeline(
            router=self._router(endpoints),
            transport=self._transport,
            retry=retry,
            clock=config.clock,
            metrics=self.metrics,
            deadline=config.deadline,
            states={ep.name: self._state_for(ep, retry) for ep in endpoints},
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

    def _endpoint_for(self, provider: Any) -> Endpoint:
        spec = resolve_provider(provider)
        base = self._config.options
        own = self._config.provider_options.get(spec.name)
        options = own.merged_over(base) if own is not None else base
        return build_endpoint(spec, options)

    def _router(self, endpoints: Sequence[Endpoint]) -> Router:
        return StaticRouter(endpoints)

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
    ) -> list:
        """Run many requests through every policy of this client, ``concurrency`` at a time.

        Results come back in input order: a response, or the ``AiLibError`` it ended with
        (raised instead when ``return_exceptions=False``). With ``checkpoint`` (a JSONL
        path), finished results are appended as they complete and a re-run skips them.
        """
        from .batch import run_batch

        return run_batch(
            self, requests, concurrency=concurrency, progress=progress, return_exceptions=return_exceptions, checkpoint=checkpoint
        )

    def chat(self, text: str, *, model: str = "auto") -> str:
        """One user message in, the answer's text out."""
        return self.chat_completion(ChatCompletionRequest(model, [Message.user(text)])).first_text()

    def default_chat_model(self) -> str:
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
        self._transport.close()

    def __enter__(self) -> AiClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        targets = ", ".join(ep.name for ep in self._endpoints)
        return f"AiClient(targets=[{targets}])"


def _unique_names(endpoints: list[Endpoint]) -> list[Endpoint]:
    """Endpoints keep their own state by name; a repeated name gets a #2, #3 suffix."""
    seen: dict[str, int] = {}
    out = []
    for ep in endpoints:
        n = seen.get(ep.name, 0) + 1
        seen[ep.name] = n
        out.append(ep if n == 1 else attrs.evolve(ep, name=f"{ep.name}#{n}"))
    return out


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
