"""Endpoints (a provider made concrete: URL, key, headers, timeouts) and targets."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

import attrs

from .._secrets import is_secret_header, redacted_headers_repr, redacted_query_repr, redacted_url_repr, secret_repr
from .._validators import check_headers
from .._value import value
from ..errors import ConfigurationError
from ..options import DEFAULT_CONNECT_TIMEOUT, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT, ConnectionOptions
from ..providers._base import WireFormat
from ..providers._formats import get_wire_format
from ..providers._model_hint import hint_model_name
from ..providers._registry import ProviderSpec, resolve_provider, split_model
from ..providers._urls import add_query, split_base_url
from ..providers._wire_api import with_wire_api
from ..types import AUTO_MODELS
from ._serving import serves

__all__ = ["Endpoint", "Target", "build_endpoint", "split_entry", "check_model_choice", "ModelChoice"]

# The HMAC key of credential digests: a fixed label, so every process computes the same
# digest for the same key (shared caches and Redis state need that), while the digest is
# of no use anywhere else and cannot be turned back into the key.
_CREDENTIAL_LABEL = b"ailib endpoint credential v1"
# Headers that say nothing about where or as whom a request goes.
_PLAIN_HEADERS = frozenset({"content-type", "accept", "accept-encoding", "user-agent"})


def _format_name(wire: WireFormat) -> str:
    """A wire format in a repr: its name (the translator is shared and stateless)."""
    return repr(wire.name)


@value
class Endpoint:
    """One place requests can go. Static after client construction; runtime state lives elsewhere."""

    name: str
    spec: ProviderSpec
    wire: WireFormat = attrs.field(eq=False, repr=_format_name)  # the shared translator of spec.wire_format
    base_url: str = attrs.field(repr=redacted_url_repr)  # scheme://host[:port]/path: no userinfo, query or trailing slash
    api_key: Optional[str] = attrs.field(repr=secret_repr)
    headers: dict[str, str] = attrs.field(repr=redacted_headers_repr, hash=False)
    stream_headers: dict[str, str] = attrs.field(repr=redacted_headers_repr, hash=False)
    options: ConnectionOptions
    model: Optional[str] = None  # the endpoint's own model, overriding the request's
    weight: float = 1.0
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    first_byte_timeout: float = DEFAULT_TIMEOUT
    idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT
    total_timeout: float = DEFAULT_TIMEOUT
    verify: Union[bool, str] = True
    proxy: Optional[str] = attrs.field(default=None, repr=redacted_url_repr)
    base_query: str = attrs.field(
        default="", repr=redacted_query_repr
    )  # the base URL's raw query ("" when none), merged into every request URL
    models: Mapping[str, str] = attrs.field(factory=dict, hash=False)  # requested model -> this endpoint's model

    def renamed(self, name: str) -> Endpoint:
        """This endpoint under another name (its own state is kept by name)."""
        return attrs.evolve(self, name=name)

    @property
    def provider(self) -> str:
        return self.spec.name

    @property
    def default_model(self) -> str:
        return self.model or self.spec.default_model

    def chat_url(self, model: str, stream: bool) -> str:
        url = self.wire.chat_url(self.base_url, model, stream)
        return add_query(url, self.base_query) if self.base_query else url

    def models_url(self) -> str:
        return self.url(self.wire.models_url(self.base_url))

    def url(self, url: str) -> str:
        """``url`` (the base URL plus a path, maybe a query) with the base URL's query merged in."""
        return add_query(url, self.base_query)

    @property
    def full_base_url(self) -> str:
        """The base URL with its query (not its userinfo, which is in ``headers``)."""
        return f"{self.base_url}?{self.base_query}" if self.base_query else self.base_url

    def serves(self, requested: str) -> bool:
        """Whether this endpoint serves ``requested`` (see ``ailib.routing._serving``): it has
        a model of its own for it, or the name does not belong to another provider."""
        if self.model or requested in self.models:
            return True
        return serves(self.spec, requested)

    def credential_digest(self) -> str:
        """A one-way digest (HMAC-SHA-256 under a fixed label) of what authenticates this
        endpoint's requests: the API key, every secret-looking header and the base URL's
        query. Equal for equal credentials in every process; never the credential itself."""
        secrets = sorted((k.lower(), v) for k, v in self.headers.items() if is_secret_header(k))
        material = json.dumps([self.api_key, secrets, self.base_query], separators=(",", ":"), ensure_ascii=False)
        return hmac.new(_CREDENTIAL_LABEL, material.encode("utf-8"), hashlib.sha256).hexdigest()

    def identity(self) -> str:
        """A SHA-256 hex digest naming where and as whom requests go: wire format, base URL,
        the other headers that route a request (``extra_headers``, a provider's own) and
        ``credential_digest()``. Not the endpoint's or provider's name, model or timeouts:
        two endpoints with equal identities reach the same backend as the same tenant (a
        ``fallback_chain()`` client, renamed after its endpoint, keeps its identity)."""
        routing = sorted((k.lower(), v) for k, v in self.headers.items() if not is_secret_header(k) and k.lower() not in _PLAIN_HEADERS)
        material = [self.spec.wire_format, self.base_url, routing, self.credential_digest()]
        return hashlib.sha256(json.dumps(material, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()

    def resolve_model(self, requested: str) -> str:
        """The model to send: the endpoint's model map's entry for ``requested``; else the
        endpoint's own; else the request's (a ``provider/`` prefix naming this provider is
        dropped); else, for auto/default/"", the provider default."""
        mapped = self.models.get(requested) if self.models else None
        if mapped is not None:
            return mapped
        if self.model:
            return self.model
        if requested in AUTO_MODELS:
            return self.spec.default_model
        provider, name = split_model(requested)
        if provider is not None and provider.value == self.spec.name:
            return name
        return hint_model_name(requested)


@value
class Target:
    """One entry of a call's plan: where to send and which model.

    A FallbackChain step carries ``condition``: it is tried only when the latest error
    matches it (``label`` names the step, e.g. "on_timeout").
    """

    endpoint: Endpoint
    model: str
    condition: Optional[Callable[[Any], bool]] = None
    label: str = ""


@value
class ArrayStep(Target):
    """A FallbackChain step that names a ``ModelArray``: ``members`` (the array's endpoints)
    are ordered per call by the array's ``strategy``; ``endpoint`` is the first member."""

    members: tuple[Endpoint, ...] = attrs.field(kw_only=True)
    strategy: Any = attrs.field(kw_only=True)

    @classmethod
    def of(cls, members: tuple[Endpoint, ...], strategy: Any, condition: Optional[Callable[[Any], bool]], label: str) -> ArrayStep:
        """The step served by ``members`` (first member and its default model as the target)."""
        return cls(members[0], members[0].resolve_model(""), condition, label, members=members, strategy=strategy)


ModelChoice = Union[str, Mapping[str, str], None]


def check_model_choice(model: Any, where: str = "a chain entry") -> ModelChoice:
    """``model`` of a ``(provider, model)`` entry or a ``ModelEndpoint``: None, a model name
    (``"auto"`` counts as None: the provider's default), or a map from requested model names
    to this provider's; ``ConfigurationError`` for anything else."""
    if model is None or (isinstance(model, str) and model in AUTO_MODELS):
        return None
    if isinstance(model, str):
        return model
    if isinstance(model, Mapping) and model and all(isinstance(k, str) and isinstance(v, str) and v for k, v in model.items()):
        return dict(model)
    raise ConfigurationError(
        f"the model of {where} must be a model name or a non-empty map from requested model names to this provider's, got {model!r}"
    )


def split_entry(entry: Any) -> tuple[Any, ModelChoice]:
    """A chain entry: a provider (``Provider``, name, custom provider), or ``(provider, model)``
    where model is a name or a map from requested model names to this provider's."""
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ConfigurationError(f"a chain entry is a provider or (provider, model), got a tuple of {len(entry)}")
        return entry[0], check_model_choice(entry[1])
    return entry, None


def build_endpoint(
    provider: Any,
    options: Optional[ConnectionOptions] = None,
    *,
    name: Optional[str] = None,
    model: ModelChoice = None,
    weight: float = 1.0,
) -> Endpoint:
    """Resolve a provider and its options into an endpoint: key, base URL, headers, timeouts.

    Environment variables are read here, once, never per call. A missing key raises
    ``ConfigurationError`` naming the variable to set; so does a key or header that HTTP
    cannot carry. The base URL's query goes into every request URL, its ``user:password@``
    into an ``Authorization: Basic`` header (see ``ailib.providers._urls``).
    """
    spec = resolve_provider(provider)
    opts = options or ConnectionOptions()
    api_key = spec.read_api_key(opts.api_key, required=False)
    needs_key = api_key is None and spec.key_required
    try:
        base = split_base_url(spec.read_base_url(opts.base_url), spec.name)
    except ConfigurationError:
        if needs_key:  # the missing key is named first
            raise spec.missing_key() from None
        raise
    if needs_key and not base.has_credentials:  # credentials in the base URL stand for the key
        raise spec.missing_key()
    wire = with_wire_api(get_wire_format(spec.wire_format), spec, opts.wire_api)
    if not (isinstance(weight, (int, float)) and weight > 0):
        raise ConfigurationError(f"endpoint weight must be > 0, got {weight!r}")
    headers = wire.static_headers(spec, api_key, opts.extra_headers)
    if base.basic_auth is not None:
        _add_basic_auth(headers, base.basic_auth, spec.name)
    check_headers(headers, f"the headers of {spec.name}", provider=spec.name)
    stream_headers = {**headers, "Accept": wire.stream_accept, "Accept-Encoding": "identity"}
    total = opts.timeout or DEFAULT_TIMEOUT
    models: dict[str, str] = {}
    if isinstance(model, Mapping):
        models, model = dict(model), None
    return Endpoint(
        name=name or spec.name,
        spec=spec,
        wire=wire,
        base_url=base.url,
        api_key=api_key,
        headers=headers,
        stream_headers=stream_headers,
        options=opts,
        model=model,
        weight=float(weight),
        connect_timeout=min(opts.connect_timeout or DEFAULT_CONNECT_TIMEOUT, total),
        first_byte_timeout=min(opts.first_byte_timeout or total, total),
        idle_timeout=min(opts.stream_idle_timeout or DEFAULT_STREAM_IDLE_TIMEOUT, total),
        total_timeout=total,
        verify=True if opts.verify is None else opts.verify,
        proxy=opts.proxy,
        base_query=base.query,
        models=models,
    )


def _add_basic_auth(headers: dict[str, str], basic: str, name: str) -> None:
    """Send a base URL's ``user:password@`` as ``Authorization: Basic`` (as requests does),
    unless the request already has another ``Authorization`` (an API key's ``Bearer``)."""
    taken = [k for k, v in headers.items() if k.lower() == "authorization" and v != basic]
    if taken:
        raise ConfigurationError(
            f"the base URL for {name} has user:password@ (sent as Authorization: Basic), but the requests already carry "
            "an Authorization header (the API key's, or one in extra_headers); keep one of the two",
            provider=name,
        )
    for k in [k for k in headers if k.lower() == "authorization"]:
        del headers[k]
    headers["Authorization"] = basic
