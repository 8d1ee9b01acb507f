"""AiClient: the public surface of one client (calls, routing views, lifecycle).

How a client is put together lives in ``_assembly``; the builder in ``_builder``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, overload

import attrs

from .errors import AiLibError, ConfigurationError, InvalidRequestError
from .metrics import Metrics
from .options import ConnectionOptions
from .providers._registry import ProviderLike, resolve_provider
from .reliability.retry import RetryPolicy
from .types import ChatCompletionRequest, ChatCompletionResponse, Message

if TYPE_CHECKING:
    from typing import Literal

    from typing_extensions import TypedDict, Unpack  # the type checker's own (typeshed); never imported at run time

    from ._assembly import Config
    from .batch import BatchContext, BatchProgress
    from .call import Pipeline
    from .call.stream import ChatStream
    from .call.usage import UsageTotal
    from .reliability._model_scope import ModelBreakers
    from .reliability.circuit import CircuitBreaker
    from .reliability.spend import SpendBudget
    from .routing.endpoint import Endpoint
    from .routing.model_array import ModelArray

    class CallOptions(TypedDict, total=False):
        """The keywords of ``AiClient.with_options`` and ``AiClientBuilder.with_options``."""

        timeout: float
        max_retries: int
        retry: RetryPolicy
        deadline: Optional[float]
        hedging: Optional[Literal[False]]
        tags: Mapping[str, str]


__all__ = ["AiClient"]

_T = TypeVar("_T")


class AiClient:
    """One client over one provider or a routed chain of them. Thread-safe; share it.

    >>> client = AiClient("openai")                     # key from OPENAI_API_KEY
    >>> client.chat("Say hi")
    """

    def __init__(self, provider: ProviderLike, *, options: Optional[ConnectionOptions] = None, metrics: Optional[Metrics] = None) -> None:
        """A client of ``provider`` (a ``Provider``, its name, or a custom provider), with
        ``options`` for its connection and ``metrics`` to report to. Raises
        ``ConfigurationError`` for an unknown provider, a missing key or a bad option."""
        from ._assembly import Config  # the call machinery loads with the first client built

        self._setup(Config(provider=provider, options=options, metrics=metrics))

    @classmethod
    def _from_config(cls, config: Config) -> AiClient:
        client = cls.__new__(cls)
        client._setup(config)
        return client

    def _setup(self, config: Config) -> None:
        from ._assembly import Assembly

        parts = Assembly(config)
        self._config = config
        self._lock = threading.Lock()
        self._closed = False
        self._view_of: Optional[AiClient] = None  # set on with_options views
        self._topology = parts.topology
        self._endpoints = list(parts.topology.endpoints)
        self.metrics = parts.metrics
        self._store = parts.store
        self._transport = parts.transport
        self._owns_transport = parts.owns_transport
        self._prices = parts.prices
        self._pipeline = parts.pipeline

    def circuit_breaker(
        self, target: Optional[ProviderLike] = None, *, model: Optional[str] = None
    ) -> Optional[CircuitBreaker | ModelBreakers]:
        """The circuit breaker of an endpoint (by name, provider, or the first), for
        inspection and manual ``isolate()`` / ``reset()``. Under ``scope="model"`` it is
        the endpoint's ``ModelBreakers``; pass ``model=`` for one model's breaker."""
        ep = self._find_endpoint(target)
        breaker = self._pipeline.states[ep.name].breaker
        if breaker is not None and model is not None:
            return breaker.for_model(model)
        return breaker

    def _find_endpoint(self, target: Optional[ProviderLike]) -> Endpoint:
        if target is None:
            return self._endpoints[0]
        name = target if isinstance(target, str) else resolve_provider(target).name
        for ep in self._endpoints:
            if name in (ep.name, ep.provider):
                return ep
        raise ConfigurationError(f"this client has no endpoint {name!r}")

    def usage_totals(self) -> dict[tuple[str, str], UsageTotal]:
        """Tokens, calls and cost so far, per ``(provider, model)``: ``{(p, m): UsageTotal}``."""
        return self._pipeline.ledger.snapshot()

    def budget(self) -> Optional[SpendBudget]:
        """The spend cap of ``AiClientBuilder.with_budget`` (``limit_usd``, ``spent_usd()``,
        ``remaining_usd()``, ``reset()``), or None without one."""
        return self._pipeline.budget

    def spent_usd(self) -> float:
        """USD spent so far: with a budget, what its ledger recorded (shared with every client
        of its store: each answer's true cost, a stream's estimate until it ends with usage);
        without one, the sum of this client's priced answers (``usage_totals``), 0.0 unpriced."""
        budget = self._pipeline.budget
        if budget is not None:
            return budget.spent_usd()
        return sum(t.cost or 0.0 for t in self.usage_totals().values())

    # -- routing views ----------------------------------------------------------------------
    def with_options(self, **overrides: Unpack[CallOptions]) -> AiClient:
        """A light view of this client for some calls: ``timeout`` (seconds per attempt),
        ``max_retries``, ``retry`` (a ``RetryPolicy``), ``deadline`` (seconds, or None for
        none), ``hedging=None`` (off) and ``tags`` (str to str: labels merged into each
        request's tags, the request's own winning; for metrics, spans and logs, never sent).
        It shares this client's connection pool, breakers, limiters, budgets, spend cap,
        hooks and usage totals; closing it is a no-op (close the parent).
        ``AiClientBuilder.with_options`` takes the same keywords for the client it builds.
        Raises ``ConfigurationError`` for another keyword or a bad value."""
        view = AiClient.__new__(AiClient)
        view.__dict__.update(self.__dict__)
        view._view_of = self
        view._pipeline = self._pipeline.view(**_view_overrides(self._pipeline, overrides))
        return view

    def fallback_chain(self) -> list[AiClient]:
        """Single-target clients, in the order this client tries its targets, sharing this
        client's options, policies and state (so a hand-written loop sees the same breakers)."""
        order = [*self._topology.endpoints, *(t.endpoint for t in self._topology.steps)]
        if self._topology.default is not None:
            order.append(self._topology.default)
        seen: set[str] = set()
        clients = []
        for ep in order:
            if ep.name in seen:
                continue
            seen.add(ep.name)
            headers = ep.spec.headers
            auth = ep.headers.get("Authorization")
            if auth is not None and auth != ep.wire.auth_headers(ep.api_key).get("Authorization"):  # a base URL's user:password@
                headers = {**headers, "Authorization": auth}
            spec = attrs.evolve(
                ep.spec, name=ep.name, base_url=ep.full_base_url, default_model=ep.default_model, api_key=ep.api_key, headers=headers
            )
            single = self._config.evolve(
                provider=spec,
                chain=[],
                routing=None,
                model_array=None,
                custom_strategy=None,
                fallback=None,
                health_check=None,
                options=ep.options,
                provider_options={},
                state_store=self._store,
                budget=self._pipeline.budget,  # the same spend cap
            )
            clients.append(AiClient._from_config(single))
        return clients

    def with_failover(self, providers: Sequence[ProviderLike]) -> AiClient:
        """A new client that tries this client's targets first, then ``providers`` in order."""
        providers = list(providers)
        if not providers:
            raise ConfigurationError("with_failover needs at least one provider")
        if self._config.model_array is not None:
            raise ConfigurationError("with_failover applies to provider chains, not to a ModelArray client")
        config = self._config.evolve(chain=[*self._config.chain, *providers], routing=None, budget=self._pipeline.budget)
        return AiClient._from_config(config)

    @classmethod
    def with_model_array(
        cls, array: ModelArray, *, options: Optional[ConnectionOptions] = None, metrics: Optional[Metrics] = None
    ) -> AiClient:
        """A client routing over ``array``'s endpoints with its strategy."""
        from .routing.model_array import ModelArray

        if not isinstance(array, ModelArray):
            raise ConfigurationError("with_model_array takes a ModelArray")
        from ._assembly import Config

        return cls._from_config(Config(provider=None, routing="model_array", model_array=array, options=options, metrics=metrics))

    # -- calls ------------------------------------------------------------------------------
    def chat_completion(
        self, request: ChatCompletionRequest, *, deadline: Optional[float] = None, cache: Optional[bool] = None
    ) -> ChatCompletionResponse:
        """Send ``request`` through every policy of this client; raises an ``AiLibError``.

        ``deadline`` (seconds) bounds this call, overriding the client's ``with_deadline``.
        ``cache=False`` bypasses the client's response cache; ``cache=True`` uses it even
        for a request that is not reproducible.
        """
        return self._pipeline.run(_as_request(request), deadline=deadline, cache=_cache_use(cache))

    def chat_completion_stream(
        self, request: ChatCompletionRequest, *, deadline: Optional[float] = None, cache: Optional[bool] = None
    ) -> ChatStream:
        """Stream the answer. Failures before the first content chunk are retried and
        raise here; after it, iteration raises ``StreamInterruptedError``. ``cache`` as for
        ``chat_completion`` (an answer from the cache is replayed as a stream)."""
        return self._pipeline.stream(_as_request(request), deadline=deadline, cache=_cache_use(cache))

    def chat_completion_batch(
        self,
        requests: Sequence[Union[ChatCompletionRequest, Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: Union[bool, Callable[[BatchProgress], None]] = False,
        return_exceptions: bool = True,
        checkpoint: Union[None, str, os.PathLike[str]] = None,
        mode: str = "live",
        shard: Union[None, str, tuple[int, int]] = None,
        cancel_remote: bool = False,
    ) -> list[Union[ChatCompletionResponse, AiLibError]]:
        """Run many requests, ``concurrency`` at a time, live or by the provider's batch API.

        Results come back in input order: a response, or the ``AiLibError`` it ended with
        (raised instead when ``return_exceptions=False``). With ``checkpoint`` (a JSONL
        path), finished results are appended as they complete and a re-run skips them.
        ``mode``: ``"live"``, ``"provider"`` or ``"auto"``; ``shard=(k, n)`` runs one
        deterministic share of the input. See ``ailib.batch``.
        """
        from .batch import run_batch

        return run_batch(
            self,
            requests,
            concurrency=concurrency,
            progress=progress,
            return_exceptions=return_exceptions,
            checkpoint=checkpoint,
            mode=mode,
            shard=shard,
            cancel_remote=cancel_remote,
        )

    def batch_context(self) -> BatchContext:
        """What a batch run needs from this client (``ailib.batch.BatchContext``): its
        endpoints in plan order, its transport and its prices. Read-only."""
        from .batch import BatchContext

        return BatchContext(endpoints=tuple(self._endpoints), transport=self._transport, prices=self._prices)

    @overload
    def chat(self, text: str, *, model: str = "auto", response_format: Optional[Mapping[str, Any]] = None) -> str: ...

    @overload
    def chat(self, text: str, *, model: str = "auto", response_format: type[_T]) -> _T: ...

    def chat(self, text: str, *, model: str = "auto", response_format: Any = None) -> Any:
        """One user message in, the answer's text out. With a pydantic model class or a dataclass
        as ``response_format``, the answer as an instance of it (``StructuredOutputError`` when it
        does not parse; ``ContentFilteredError`` on a refusal); with a dict, the JSON text."""
        if not isinstance(text, str):
            raise InvalidRequestError(f"chat takes the message text as a str, got {type(text).__name__}")
        if not isinstance(model, str):
            raise InvalidRequestError(f"model must be a str, got {type(model).__name__}")
        resp = self.chat_completion(ChatCompletionRequest(model, [Message.user(text)], response_format=response_format))
        if resp.parsed is not None:
            return resp.parsed
        return resp.first_text()

    def default_chat_model(self) -> str:
        """The model ``auto`` resolves to on this client's first target."""
        return self._endpoints[0].default_model

    def list_models(self) -> list[str]:
        """Model ids the primary provider reports (with the client's retry, breaker and metrics)."""
        return self._pipeline.list_models(self._endpoints[0])

    @property
    def provider(self) -> str:
        """The name of this client's first target's provider (``"openai"``, a custom name...)."""
        return self._endpoints[0].provider

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connection pool and any threads of this client (a view's: nothing)."""
        if self._view_of is not None:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pipeline.close()
        if self._config.cache_owned:  # a cache the builder made from a string or path
            self._config.cache.close()
        if self._owns_transport:  # a transport given to the builder is the caller's to close
            self._transport.close()

    def __enter__(self) -> AiClient:
        """The client itself; leaving the block closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client."""
        self.close()

    def __repr__(self) -> str:
        targets = ", ".join(ep.name for ep in self._endpoints)
        return f"AiClient(targets=[{targets}])"


def _cache_use(cache: Any) -> Optional[bool]:
    if cache is not None and not isinstance(cache, bool):
        raise InvalidRequestError(f"cache must be True, False or None, got {cache!r}")
    return cache


def _view_overrides(pipeline: Pipeline, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``with_options`` keywords, validated, as ``Pipeline.view`` arguments."""
    from ._assembly import check_overrides

    out = check_overrides(overrides)
    if "max_retries" in out:
        out["retry"] = _retry_with(out.get("retry", pipeline.retry), out.pop("max_retries") + 1)
    return out


_RETRY_VIEWS: dict[tuple[RetryPolicy, int], RetryPolicy] = {}


def _retry_with(policy: RetryPolicy, attempts: int) -> RetryPolicy:
    """``policy`` with ``max_attempts=attempts`` (cached: views are made per call)."""
    key = (policy, attempts)
    evolved = _RETRY_VIEWS.get(key)
    if evolved is None:
        if len(_RETRY_VIEWS) > 256:
            _RETRY_VIEWS.clear()
        evolved = _RETRY_VIEWS[key] = attrs.evolve(policy, max_attempts=attempts)
    return evolved


def _as_request(request: Any) -> ChatCompletionRequest:
    if isinstance(request, ChatCompletionRequest):
        return request
    if isinstance(request, dict):
        return ChatCompletionRequest.from_dict(request)
    raise InvalidRequestError(f"expected a ChatCompletionRequest or an OpenAI-style dict, got {type(request).__name__}")
