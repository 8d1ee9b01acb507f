"""AiClient: the public surface of one client (calls, routing views, lifecycle).

How a client is put together lives in ``_assembly``; the builder in ``_builder``.
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, overload
from urllib.parse import urlsplit

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
    from .routing.endpoint import Endpoint
    from .routing.model_array import ModelArray

    class CallOptions(TypedDict, total=False):
        """The keywords of ``AiClient.with_options`` and ``AiClientBuilder.with_options``."""

        timeout: float
        max_retries: int
        retry: RetryPolicy
        deadline: Optional[float]
        hedging: Optional[Literal[False]]


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
        self._overrides: dict[str, Any] = {}  # a view's with_options keywords (a pickle carries them)
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

    # -- routing views ----------------------------------------------------------------------
    def with_options(self, **overrides: Unpack[CallOptions]) -> AiClient:
        """A light view of this client for some calls: ``timeout`` (seconds per attempt),
        ``max_retries``, ``retry`` (a ``RetryPolicy``), ``deadline`` (seconds, or None for
        none) and ``hedging=None`` (off). It shares this client's connection pool, breakers,
        limiters, budgets and usage totals; closing it is a no-op (close the parent).
        ``AiClientBuilder.with_options`` takes the same keywords for the client it builds.
        Raises ``ConfigurationError`` for another keyword or a bad value."""
        view = AiClient.__new__(AiClient)
        view.__dict__.update(self.__dict__)
        view._view_of = self
        view._overrides = {**self._overrides, **overrides}
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
                provider=(spec, dict(ep.models)) if ep.models else spec,  # a model map goes along
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

    def with_failover(self, providers: Sequence[ProviderLike]) -> AiClient:
        """A new client that tries this client's targets first, then ``providers`` in order."""
        providers = list(providers)
        if not providers:
            raise ConfigurationError("with_failover needs at least one provider")
        if self._config.model_array is not None:
            raise ConfigurationError("with_failover applies to provider chains, not to a ModelArray client")
        return AiClient._from_config(self._config.evolve(chain=[*self._config.chain, *providers], routing=None))

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
        requests: Iterable[Union[ChatCompletionRequest, Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: Union[bool, Callable[[BatchProgress], None]] = False,
        return_exceptions: bool = True,
        checkpoint: Union[None, str, os.PathLike[str]] = None,
        mode: str = "live",
        shard: Union[None, str, tuple[int, int]] = None,
        cancel_remote: bool = False,
        executor: Optional[Executor] = None,
    ) -> list[Union[ChatCompletionResponse, AiLibError]]:
        """Run many requests, ``concurrency`` at a time, live or by the provider's batch API.

        Results come back in input order: a response, or the ``AiLibError`` it ended with
        (raised instead when ``return_exceptions=False``). With ``checkpoint`` (a JSONL
        path), finished results are appended as they complete and a re-run skips them.
        ``mode``: ``"live"``, ``"provider"`` or ``"auto"``; ``shard=(k, n)`` runs one
        deterministic share of the input (``"auto"``: from the job engine's environment).
        ``executor``: any ``concurrent.futures.Executor`` to run the live calls on (a
        process pool, Dask's ``client.get_executor()``, Ray's...; this client is pickled to
        it, see ``__reduce__``); None: a thread pool of ``concurrency`` threads. See
        ``ailib.batch``.
        """
        from .batch import run_batch

        return run_batch(self, requests, **_batch_options(locals()))

    def chat_completion_batch_iter(
        self,
        requests: Iterable[Union[ChatCompletionRequest, Mapping[str, Any]]],
        *,
        concurrency: int = 8,
        progress: Union[bool, Callable[[BatchProgress], None]] = False,
        return_exceptions: bool = True,
        checkpoint: Union[None, str, os.PathLike[str]] = None,
        mode: str = "live",
        shard: Union[None, str, tuple[int, int]] = None,
        cancel_remote: bool = False,
        executor: Optional[Executor] = None,
    ) -> Iterator[tuple[int, Union[ChatCompletionResponse, AiLibError]]]:
        """``chat_completion_batch`` as an iterator: ``(input index, result)`` as each request
        finishes (those resumed from ``checkpoint`` first), not in input order. Leaving the
        loop early stops the batch: queued requests are not sent, the calls in flight are
        waited for (up to 30 s) and written to the checkpoint."""
        from .batch import iter_batch

        return iter_batch(self, requests, **_batch_options(locals()))

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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the configuration the client was built from, never a key, for the workers of
        Celery, Dask, Ray or a process pool (``chat_completion_batch(executor=...)``).

        Unpickling builds the client again, reading each key again from its source there
        (``OPENAI_API_KEY``..., ``CustomProviderBuilder.with_api_key_env``); the tasks of one
        process share one rebuilt client per original. A client holding a literal credential
        (``ConnectionOptions(api_key=...)``, ``with_api_key(...)``, a credential header, a
        password in a URL) raises ``pickle.PicklingError`` naming it: the key would travel in
        the pickle. A ``RedisStateStore`` travels as its URL and namespace, so limits, breakers
        and budgets stay shared; metrics and a cache that cannot be pickled stay behind (warned).
        """
        import uuid

        from ._assembly import apply_overrides, check_overrides

        config = self._config
        if self._overrides:
            config = apply_overrides(config, check_overrides(self._overrides))
        problem = _literal_credential(config)
        if problem is not None:
            raise pickle.PicklingError(
                f"this AiClient holds a literal credential ({problem}), which a pickle would carry: give the key "
                "through the environment (the provider's <PREFIX>_API_KEY, or CustomProviderBuilder.with_api_key_env(...)), "
                "so each process reads it where the client is unpickled"
            )
        changes = {name: None for name in ("metrics", "cache") if not _picklable(getattr(config, name), name)}
        if changes:
            config = config.evolve(**changes, cache_owned=False if "cache" in changes else config.cache_owned)
        token = self.__dict__.setdefault("_token", uuid.uuid4().hex)
        return _rebuild_client, (f"{token}:{sorted(self._overrides.items())!r}", config)


_REBUILT: OrderedDict[str, AiClient] = OrderedDict()  # the clients unpickled in this process, by origin
_REBUILT_LOCK = threading.Lock()
_REBUILT_MAX = 16


def _rebuild_client(token: str, config: Config) -> AiClient:
    """An unpickled client: built from ``config`` once per origin ``token`` in this process."""
    with _REBUILT_LOCK:
        client = _REBUILT.get(token)
        if client is not None and not client._closed:
            _REBUILT.move_to_end(token)
            return client
    client = AiClient._from_config(config)
    with _REBUILT_LOCK:
        _REBUILT[token] = client
        while len(_REBUILT) > _REBUILT_MAX:
            _REBUILT.popitem(last=False)  # not closed: a task may still use it; its pool ends with it
    return client


def _picklable(value: Any, name: str) -> bool:
    if value is None:
        return True
    try:
        pickle.dumps(value)
    except Exception as exc:  # any failure of a third-party object's pickling
        warnings.warn(
            f"AiClient pickled without its {name} ({type(value).__name__} cannot be pickled: {type(exc).__name__}); "
            f"the unpickled client has no {name}",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    return True


def _literal_credential(config: Any) -> Optional[str]:
    """Where ``config`` holds a literal key, credential header or URL password, or None."""
    from ._secrets import is_secret_header
    from .providers._registry import ProviderSpec

    seen: set[int] = set()

    def url_secret(url: Any) -> bool:
        try:
            return isinstance(url, str) and urlsplit(url).password is not None
        except ValueError:
            return False

    def headers_secret(headers: Any) -> bool:
        return isinstance(headers, Mapping) and any(isinstance(k, str) and is_secret_header(k) for k in headers)

    def walk(value: Any, depth: int) -> Optional[str]:
        if depth > 12 or id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
            return None
        seen.add(id(value))
        if isinstance(value, ConnectionOptions):
            if value.api_key:
                return "ConnectionOptions(api_key=...)"
            if headers_secret(value.extra_headers):
                return "a credential header in ConnectionOptions(extra_headers=...)"
            if url_secret(value.base_url) or url_secret(value.proxy):
                return "a password in a ConnectionOptions URL"
        if isinstance(value, ProviderSpec):
            if value.api_key:
                return f"{value.name}'s with_api_key(...)"
            if headers_secret(value.headers):
                return f"a credential header of {value.name}"
            if url_secret(value.base_url):
                return f"a password in {value.name}'s base URL"
        if url_secret(getattr(value, "url", None)):
            return "a password in a ModelEndpoint URL"
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, (list, tuple, set, frozenset)):
            children = value
        elif attrs.has(type(value)):
            children = (getattr(value, a.name, None) for a in attrs.fields(type(value)))
        elif type(value).__module__.startswith("ailib.") and hasattr(value, "__dict__"):
            children = vars(value).values()
        else:
            return None
        for child in children:
            found = walk(child, depth + 1)
            if found is not None:
                return found
        return None

    return walk(config, 0)


def _batch_options(given: dict[str, Any]) -> dict[str, Any]:
    """The batch keywords of ``chat_completion_batch``'s ``locals()``."""
    names = ("concurrency", "progress", "return_exceptions", "checkpoint", "mode", "shard", "cancel_remote", "executor")
    return {name: given[name] for name in names}


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
        evolved = _RETRY_VIEWS[key] = policy.with_max_attempts(attempts)
    return evolved


def _as_request(request: Any) -> ChatCompletionRequest:
    if isinstance(request, ChatCompletionRequest):
        return request
    if isinstance(request, dict):
        return ChatCompletionRequest.from_dict(request)
    raise InvalidRequestError(f"expected a ChatCompletionRequest or an OpenAI-style dict, got {type(request).__name__}")
