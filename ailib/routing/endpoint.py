"""Endpoints (a provider made concrete: URL, key, headers, timeouts) and targets."""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from .._frozen import Frozen
from .._secrets import redact_url
from .._validators import check_headers
from ..errors import ConfigurationError
from ..options import DEFAULT_CONNECT_TIMEOUT, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT, ConnectionOptions
from ..providers._base import WireFormat
from ..providers._formats import get_wire_format
from ..providers._model_hint import hint_model_name
from ..providers._registry import ProviderSpec, resolve_provider, split_model
from ..providers._urls import add_query, split_base_url
from ..types import AUTO_MODELS

__all__ = ["Endpoint", "Target", "build_endpoint"]


class Endpoint(Frozen):
    """One place requests can go. Static after client construction; runtime state lives elsewhere.

    Immutable and equal only to itself (a ``Frozen``, not attrs, for import time).
    """

    __slots__ = (
        "name",
        "spec",
        "wire",
        "base_url",
        "api_key",
        "headers",
        "stream_headers",
        "options",
        "model",
        "weight",
        "connect_timeout",
        "first_byte_timeout",
        "idle_timeout",
        "total_timeout",
        "verify",
        "proxy",
        "base_query",
    )
    name: str
    spec: ProviderSpec
    wire: WireFormat
    base_url: str  # scheme://host[:port]/path: no userinfo, query or trailing slash
    api_key: Optional[str]
    headers: dict[str, str]
    stream_headers: dict[str, str]
    options: ConnectionOptions
    model: Optional[str]  # the endpoint's own model, overriding the request's
    weight: float
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    total_timeout: float
    verify: Union[bool, str]
    proxy: Optional[str]
    base_query: str  # the base URL's raw query ("" when none), merged into every request URL

    def __init__(
        self,
        name: str,
        spec: ProviderSpec,
        wire: WireFormat,
        base_url: str,
        api_key: Optional[str],
        headers: dict[str, str],
        stream_headers: dict[str, str],
        options: ConnectionOptions,
        model: Optional[str] = None,
        weight: float = 1.0,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        first_byte_timeout: float = DEFAULT_TIMEOUT,
        idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        total_timeout: float = DEFAULT_TIMEOUT,
        verify: Union[bool, str] = True,
        proxy: Optional[str] = None,
        base_query: str = "",
    ) -> None:
        _set = object.__setattr__
        _set(self, "name", name)
        _set(self, "spec", spec)
        _set(self, "wire", wire)
        _set(self, "base_url", base_url)
        _set(self, "api_key", api_key)
        _set(self, "headers", headers)
        _set(self, "stream_headers", stream_headers)
        _set(self, "options", options)
        _set(self, "model", model)
        _set(self, "weight", weight)
        _set(self, "connect_timeout", connect_timeout)
        _set(self, "first_byte_timeout", first_byte_timeout)
        _set(self, "idle_timeout", idle_timeout)
        _set(self, "total_timeout", total_timeout)
        _set(self, "verify", verify)
        _set(self, "proxy", proxy)
        _set(self, "base_query", base_query)

    __eq__ = object.__eq__  # by identity, as before (attrs eq=False)
    __hash__ = object.__hash__

    def renamed(self, name: str) -> Endpoint:
        """This endpoint under another name (its own state is kept by name)."""
        values = dict(zip(self.__slots__, self._values()))
        values["name"] = name
        return Endpoint(**values)

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

    def resolve_model(self, requested: str) -> str:
        """The model to send: the endpoint's own; else the request's (a ``provider/`` prefix
        naming this provider is dropped); else, for auto/default/"", the provider default."""
        if self.model:
            return self.model
        if requested in AUTO_MODELS:
            return self.spec.default_model
        provider, name = split_model(requested)
        if provider is not None and provider.value == self.spec.name:
            return name
        return hint_model_name(requested)

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r}, provider={self.spec.name!r}, base_url={redact_url(self.full_base_url)!r})"


class Target(Frozen):
    """One entry of a call's plan: where to send and which model.

    A FallbackChain step carries ``condition``: it is tried only when the latest error
    matches it (``label`` names the step, e.g. "on_timeout"). Immutable; equal only to itself.
    """

    __slots__ = ("endpoint", "model", "condition", "label")
    endpoint: Endpoint
    model: str
    condition: Optional[Callable[[Any], bool]]
    label: str

    def __init__(self, endpoint: Endpoint, model: str, condition: Optional[Callable[[Any], bool]] = None, label: str = "") -> None:
        _set = object.__setattr__
        _set(self, "endpoint", endpoint)
        _set(self, "model", model)
        _set(self, "condition", condition)
        _set(self, "label", label)

    __eq__ = object.__eq__  # by identity, as before (attrs eq=False)
    __hash__ = object.__hash__


class ArrayStep(Target):
    """A FallbackChain step that names a ``ModelArray``: ``members`` (the array's endpoints)
    are ordered per call by the array's ``strategy``; ``endpoint`` is the first member."""

    __slots__ = ("members", "strategy")
    members: tuple[Endpoint, ...]
    strategy: Any

    def __init__(self, members: tuple[Endpoint, ...], strategy: Any, condition: Optional[Callable[[Any], bool]], label: str) -> None:
        super().__init__(members[0], members[0].resolve_model(""), condition, label)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "strategy", strategy)


def build_endpoint(
    provider: Any,
    options: Optional[ConnectionOptions] = None,
    *,
    name: Optional[str] = None,
    model: Optional[str] = None,
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
    wire = get_wire_format(spec.wire_format)
    if not (isinstance(weight, (int, float)) and weight > 0):
        raise ConfigurationError(f"endpoint weight must be > 0, got {weight!r}")
    headers = wire.static_headers(spec, api_key, opts.extra_headers)
    if base.basic_auth is not None:
        _add_basic_auth(headers, base.basic_auth, spec.name)
    check_headers(headers, f"the headers of {spec.name}", provider=spec.name)
    stream_headers = {**headers, "Accept": wire.stream_accept, "Accept-Encoding": "identity"}
    total = opts.timeout or DEFAULT_TIMEOUT
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
