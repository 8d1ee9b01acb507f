"""Turn a client's routing configuration into endpoints, fallback steps and a strategy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlsplit

from .._secrets import redact_url
from .._value import value
from ..errors import ConfigurationError
from ..providers._registry import ProviderSpec, provider_for_model, resolve_provider
from .endpoint import ArrayStep, Endpoint, Target, check_model_choice, split_entry

if TYPE_CHECKING:  # imported on first use: a default client never loads them
    from .fallback import FallbackChain
    from .model_array import LoadBalancingStrategy, ModelArray, ModelEndpoint

__all__ = ["Topology", "build_topology"]

EndpointFactory = Callable[..., Endpoint]  # (provider, *, options=None, name=None, model=None, weight=1.0)


@value
class Topology:
    """A client's routing, resolved once at build."""

    endpoints: tuple[Endpoint, ...]  # routed endpoints, in declared order
    steps: tuple[Target, ...]  # FallbackChain steps after the first, as conditional targets
    default: Optional[Endpoint]  # last resort when no routed endpoint is healthy
    strategy: Optional[LoadBalancingStrategy]
    unhealthy: frozenset[str]  # endpoint names marked healthy=False
    primary_model: Optional[str]

    @property
    def all_endpoints(self) -> tuple[Endpoint, ...]:
        seen: dict[str, Endpoint] = {}
        stepped = [ep for t in self.steps for ep in (t.members if isinstance(t, ArrayStep) else (t.endpoint,))]
        for ep in (*self.endpoints, *stepped, *((self.default,) if self.default else ())):
            seen.setdefault(ep.name, ep)
        return tuple(seen.values())

    @property
    def is_single(self) -> bool:
        return len(self.endpoints) == 1 and not self.steps and not self.unhealthy


def _model_endpoint(me: ModelEndpoint, make: EndpointFactory) -> Endpoint:
    model = check_model_choice(me.model, f"ModelEndpoint {me.name!r}")
    if me.provider is not None:
        return make(me.provider, options=me.options, name=me.name, model=model, weight=me.weight)
    url = me.url or ""  # a ModelEndpoint has a url when it has no provider
    spec = ProviderSpec(
        name=me.name or urlsplit(url).netloc.rpartition("@")[2],
        env_prefix=None,
        base_url=url,
        default_model=model if isinstance(model, str) else "",
        key_required=False,
    )
    ep = make(spec, options=me.options, name=me.name, model=model, weight=me.weight)
    if not _has_credential(ep) and not is_local_url(ep.base_url):
        raise ConfigurationError(
            f"ModelEndpoint {ep.name!r} ({redact_url(ep.base_url)}) has no API key: give it "
            "options=ConnectionOptions(api_key=...) (or an Authorization header in extra_headers); only a local "
            "server (localhost, a private address, a .local/.internal or single-label host) may go without one"
        )
    return ep


_AUTH_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})


def _has_credential(ep: Endpoint) -> bool:
    """A key, ``user:password@`` in the URL, or an authorization header of the user's own."""
    return bool(ep.api_key) or any(k.lower() in _AUTH_HEADERS for k in ep.headers)


def is_local_url(url: str) -> bool:
    """Whether ``url``'s host is this machine or a private network's, where a server often
    needs no key (Ollama, vLLM, llama.cpp, LM Studio, a gateway inside the network)."""
    host = (urlsplit(url).hostname or "").lower()
    single_label = bool(host) and "." not in host and ":" not in host  # a name on the local network ("vllm", "gateway")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or single_label:
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _entry_endpoint(entry: Any, make: EndpointFactory, **kw: Any) -> Endpoint:
    """The endpoint of a chain entry: a provider, or ``(provider, model)``."""
    provider, model = split_entry(entry)
    return make(provider, model=model, **kw)


def _step_endpoint(model: str, routed: tuple[Endpoint, ...], primary: Endpoint, make: EndpointFactory) -> Endpoint:
    """The endpoint serving a fallback step's model: its provider's (added if the client
    has none yet), else the builder's own provider."""
    provider = provider_for_model(model)
    if provider is None:
        return primary
    for ep in routed:
        if ep.provider == provider.value:
            return ep
    return make(provider)


def build_topology(
    *,
    provider: Any,
    routing: Optional[str],
    chain: list[Any],
    model_array: Optional[ModelArray],
    fallback: Optional[FallbackChain],
    make: EndpointFactory,
) -> Topology:
    strategy: Optional[LoadBalancingStrategy] = None
    unhealthy: set[str] = set()
    default: Optional[Endpoint] = None
    if model_array is not None:
        if not model_array.endpoints:
            raise ConfigurationError(f"ModelArray {model_array.name!r} has no endpoints")
        routed = tuple(_model_endpoint(me, make) for me in model_array.endpoints)
        routed = _unique(routed)
        unhealthy = {ep.name for ep, me in zip(routed, model_array.endpoints) if not me.healthy}
        strategy = model_array.strategy
        if provider is not None:
            default = _entry_endpoint(provider, make, name=f"{resolve_provider(split_entry(provider)[0]).name} (default)")
    else:
        routed = _unique(tuple(_entry_endpoint(p, make) for p in [provider, *chain]))
        if routing == "round_robin":
            from .model_array import LoadBalancingStrategy

            strategy = LoadBalancingStrategy.ROUND_ROBIN
    steps: list[Target] = []
    primary_model = None
    if fallback is not None:
        fallback.validate()
        chain_steps = list(fallback.steps)
        if chain_steps[0].condition is None:  # primary(model): the model of the routed targets
            first = chain_steps.pop(0).model
            assert isinstance(first, str)  # primary(...) refuses a ModelArray
            primary_model = first
        taken = {ep.name for ep in routed}
        for step in chain_steps:
            if not isinstance(step.model, str):  # a ModelArray: its endpoints, its strategy
                members = _unique(tuple(_model_endpoint(me, make) for me in step.model.endpoints), taken)
                taken.update(ep.name for ep in members)
                steps.append(ArrayStep.of(members, step.model.strategy, step.condition, step.label))
                continue
            ep = _step_endpoint(step.model, routed, routed[0], make)
            steps.append(Target(ep, ep.resolve_model(step.model), step.condition, step.label))
    return Topology(routed, tuple(steps), default, strategy, frozenset(unhealthy), primary_model)


def _unique(endpoints: tuple[Endpoint, ...], taken: Iterable[str] = ()) -> tuple[Endpoint, ...]:
    """Endpoints keep their own state by name; a repeated name (or one in ``taken``) gets a #2, #3 suffix."""
    seen: dict[str, int] = dict.fromkeys(taken, 1)
    out: list[Endpoint] = []
    for ep in endpoints:
        n = seen.get(ep.name, 0) + 1
        seen[ep.name] = n
        out.append(ep if n == 1 else ep.renamed(f"{ep.name}#{n}"))
    return tuple(out)
