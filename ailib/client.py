"""AiClient (the public surface) and AiClientBuilder (routing and reliability at build time)."""

from __future__ import annotations

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
from .reliability.clock import SYSTEM_CLOCK, Clock
from .reliability.retry import NO_RETRY, RetryPolicy
from .transport import AttemptHandle, Deadlines, HttpRequest, Transport
from .types import ChatCompletionRequest, ChatCompletionResponse, Message

__all__ = ["AiClient", "AiClientBuilder"]

_UNSET: Any = object()


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
        endpoints = [self._endpoint_for(p) for p in [config.provider, *config.chain]]
        self._endpoints = endpoints
        self.metrics = as_metrics(config.metrics)
        pool_size = max((ep.options.pool_size or DEFAULT_POOL_SIZE) for ep in endpoints)
        self._transport = Transport(pool_size=pool_size, clock=config.clock)
        self._pipeline = Pipeline(
            router=self._router(endpoints),
            transport=self._transport,
            retry=_retry_policy(config, config.options),
            clock=config.clock,
            metrics=self.metrics,
            deadline=config.deadline,
        )

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

    def with_metrics(self, metrics: Any) -> AiClientBuilder:
        as_metrics(metrics)
        self._config.metrics = metrics
        return self

    def with_clock(self, clock: Clock) -> AiClientBuilder:
        """Inject a clock (tests use ``FakeClock``)."""
        self._config.clock = clock
        return self

    def build(self) -> AiClient:
        return AiClient._from_config(attrs.evolve(self._config, chain=list(self._config.chain), provider_options=dict(self._config.provider_options)))
